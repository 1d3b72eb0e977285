"""Measurement families: one module per family, discovered on import (see `base.Family`).

Adding a family is adding one module here that defines a `Family` subclass decorated with
`@register_family`; the grid, asv's benchmark classes, the reproducibility tool and the report
all read this registry.
"""

from __future__ import annotations

import importlib
import pkgutil

from adcompare.errors import choose_from
from adcompare.families.base import Benchmark, Family  # noqa: F401

_FAMILIES: dict[str, Family] = {}
SHARED = {"base", "cases", "profile"}     # helpers, not families


def register_family(cls: type[Family]) -> type[Family]:
    if cls.name in _FAMILIES:
        raise RuntimeError(f"family {cls.name!r} registered twice")
    names = {b.name for f in _FAMILIES.values() for b in f.benchmarks}
    clash = names & {b.name for b in cls.benchmarks}
    if clash:
        raise RuntimeError(f"family {cls.name!r} declares benchmark {sorted(clash)[0]!r}, which another family owns")
    _FAMILIES[cls.name] = cls()
    return cls


def all_families() -> list[Family]:
    return sorted(_FAMILIES.values(), key=lambda f: (f.order, f.name))


def get_family(name: str) -> Family:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise choose_from("family", name, sorted(_FAMILIES)) from None


def all_benchmarks() -> dict[str, Benchmark]:
    """Every benchmark of every family, by asv name, in family order."""
    return {b.name: b for f in all_families() for b in f.benchmarks}


def family_of(benchmark: str) -> Family | None:
    """The family that owns an asv benchmark, or None for a name no family declares."""
    for f in all_families():
        if any(b.name == benchmark for b in f.benchmarks):
            return f
    return None


for _module in pkgutil.iter_modules(__path__):
    if _module.name not in SHARED and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
