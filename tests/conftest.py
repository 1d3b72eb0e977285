"""Shared test helpers, the `--exhaustive` option and the matrix tests' parametrization."""

import numpy as np
import pytest

import matrix


def pytest_addoption(parser):
    parser.addoption(matrix.EXHAUSTIVE, action="store_true",
                     help="matrix tests run their full product instead of a pairwise covering design")


def pytest_generate_tests(metafunc):
    """`@pytest.mark.product("problem", "target", "operator", "dtype", valid=f)`: the test runs on
    a pairwise covering design of the valid combinations, or on all of them with --exhaustive
    ("target" is the two arguments backend, device)."""
    marker = metafunc.definition.get_closest_marker("product")
    if marker is None:
        return
    names = marker.args
    combos = matrix.combinations(names, marker.kwargs.get("valid", lambda values: True),
                                 metafunc.config.getoption(matrix.EXHAUSTIVE))
    argnames = [arg for n in names for arg in (("backend", "device") if n == "target" else (n,))]
    flat = [tuple(v for n, x in zip(names, c) for v in (x if n == "target" else (x,))) for c in combos]
    metafunc.parametrize(argnames, flat, ids=["-".join(map(str, c)) for c in flat])


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
# (small cases, API and CLI) and its share of the covering design of the oracle matrix; the
# per-backend workload and sparse modules skip it; and the --exhaustive product of
# tests/test_backends.py samples it: the operators of COMPILED_SAMPLE in float64. The rest skip
# saying so; ADCOMPARE_TEST_COMPILED=all runs everything.
COMPILED_SAMPLE = ("primal", "vjp", "jvp", "jacobian-fwd", "jacobian-rev")
COMPILED_ALL_ENV = "ADCOMPARE_TEST_COMPILED"
HEAVY_MODULES = ("test_workload_", "test_sparse_jacobian")


def _slow_compiler(name) -> bool:
    from adcompare.backends import get_backend
    from adcompare.errors import UserError

    try:
        return get_backend(str(name)).slow_compile
    except UserError:
        return False


def pytest_collection_modifyitems(config, items):
    import os

    if os.environ.get(COMPILED_ALL_ENV) == "all":
        return
    exhaustive = config.getoption(matrix.EXHAUSTIVE)
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if not _slow_compiler(params.get("backend")):
            continue
        module = item.module.__name__.rsplit(".", 1)[-1]
        heavy = module.startswith(HEAVY_MODULES)
        sampled_out = exhaustive and module == "test_backends" and (
            params.get("operator", "vjp") not in COMPILED_SAMPLE or params.get("dtype", "float64") != "float64")
        if heavy or sampled_out:
            item.add_marker(pytest.mark.skip(
                reason=f"{params['backend']} compiles for seconds per case: covered by tests/test_torch_compile.py "
                       f"and the covering design of tests/test_backends.py ({COMPILED_ALL_ENV}=all runs it all)"))
