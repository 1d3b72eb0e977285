"""The report's sections: one module per section, discovered on import, laid out by ORDER.

A section module defines ``ORDER`` (an int; the page shows sections in ascending order) and
``build(ctx: Context) -> Section``. Adding a section is adding one module here; nothing else
needs editing. `common` holds what sections share (Context, Section, hover text, notes).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from adcompare.report.sections.common import Context, Section  # noqa: F401

SHARED = {"common", "charts"}   # helpers, not sections


def modules() -> list[ModuleType]:
    """Every section module, in page order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in SHARED or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not isinstance(getattr(module, "ORDER", None), int) or not callable(getattr(module, "build", None)):
            raise RuntimeError(f"section module {module.__name__} needs ORDER (int) and build(ctx)")
        found.append(module)
    return sorted(found, key=lambda m: (m.ORDER, m.__name__))
