"""Problem families. Every module in this package registers one problem on import."""

import importlib
import pkgutil

from adcompare.problems.registry import (  # noqa: F401
    Instance,
    Problem,
    all_problems,
    get_problem,
    instance,
    problem_names,
    register,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")
