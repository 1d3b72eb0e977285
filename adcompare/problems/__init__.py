"""Problem families. Every problem module in this package registers one problem on import; a
user's problems register the same way from their own files (`@adcompare.register`,
`@adcompare.function`), loaded by `loading` and checked by `user_code`."""

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

from adcompare.problems.loading import load as load_problems  # noqa: E402,F401
from adcompare.problems.plain_function import function  # noqa: E402,F401
