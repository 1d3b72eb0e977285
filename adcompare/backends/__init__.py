"""Backends: one module per framework adapter, discovered on import. Frameworks import lazily.

Adding a backend is adding one module that defines a `Backend` subclass decorated with
`@register_backend`; nothing else needs editing.
"""

from __future__ import annotations

import importlib
import pkgutil

from adcompare.backends.base import DTYPES, Backend, Built, Prepared, Unavailable  # noqa: F401
from adcompare.errors import choose_from

_BACKENDS: dict[str, Backend] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    if cls.name in _BACKENDS:
        raise RuntimeError(f"backend {cls.name!r} registered twice")
    _BACKENDS[cls.name] = cls()
    return cls


def backend_names() -> list[str]:
    return sorted(_BACKENDS, key=lambda k: (_BACKENDS[k].order, k))


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise choose_from("backend", name, backend_names()) from None


def all_backends() -> list[Backend]:
    return [_BACKENDS[k] for k in backend_names()]


def all_devices() -> list[str]:
    """Every device name any backend knows, in first-seen order."""
    return list(dict.fromkeys(d for b in all_backends() for d in b.devices))


for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
