"""Shared test helpers."""

import numpy as np
import pytest


def central_jacobian(f, x, step=1e-6):
    """(m, n) central differences of a numpy function f: Rⁿ → Rᵐ (float64), column by column."""
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for j in range(x.size):
        h = step * max(1.0, abs(x[j]))
        e = np.zeros_like(x)
        e[j] = h
        columns.append((np.ravel(f(x + e)) - np.ravel(f(x - e))) / (2 * h))
    return np.stack(columns, axis=1)


@pytest.fixture(scope="session")
def fd_jacobian():
    """The finite-difference oracle for functions that are not registered problems."""
    return central_jacobian


# --- slow compilers ------------------------------------------------------------------------------
# A backend with `slow_compile = True` (torch-compile: Inductor builds C++ for every operator and
# case, 2–50 s each on 2 cores) would take most of the suite's time if it ran every generic
# backend test. It runs its own tests (tests/test_torch_compile.py), the cheap ones everywhere
# (small cases, API and CLI), and in the oracle matrix of tests/test_backends.py the operators of
# COMPILED_SAMPLE in float64; the rest skip saying so. ADCOMPARE_TEST_COMPILED=all runs everything.
COMPILED_SAMPLE = ("primal", "vjp", "jvp", "jacobian-fwd", "jacobian-rev")
COMPILED_ALL_ENV = "ADCOMPARE_TEST_COMPILED"
HEAVY_MODULES = ("test_workload_", "test_sparse_jacobian")


def _slow_compiler(name) -> bool:
    from adcompare.backends import get_backend
    from adcompare.errors import UserError

    try:
        return bool(getattr(get_backend(str(name)), "slow_compile", False))
    except UserError:
        return False


def pytest_collection_modifyitems(config, items):
    import os

    if os.environ.get(COMPILED_ALL_ENV) == "all":
        return
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if not _slow_compiler(params.get("backend")):
            continue
        module = item.module.__name__.rsplit(".", 1)[-1]
        heavy = module.startswith(HEAVY_MODULES)
        sampled_out = module == "test_backends" and (params.get("operator", "vjp") not in COMPILED_SAMPLE
                                                     or params.get("dtype", "float64") != "float64")
        if heavy or sampled_out:
            item.add_marker(pytest.mark.skip(
                reason=f"{params['backend']} compiles for seconds per case: covered by tests/test_torch_compile.py "
                       f"and a sample of this matrix ({COMPILED_ALL_ENV}=all runs it all)"))
