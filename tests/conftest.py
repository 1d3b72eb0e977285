"""Shared test helpers, the `--exhaustive` option and the matrix tests' parametrization."""

from pathlib import Path

import numpy as np
import pytest

import matrix


def pytest_addoption(parser):
    parser.addoption(matrix.EXHAUSTIVE, action="store_true",
                     help="matrix tests run their full product instead of a pairwise covering design")


def pytest_generate_tests(metafunc):
    """`@pytest.mark.product("problem", "target", "operator", "dtype", valid=f, cover=pairs)`: the
    test runs on a pairwise covering design of the valid combinations (of the factor pairs in
    `cover` only, where given), or on all of them with --exhaustive ("target" is the two arguments
    backend, device)."""
    marker = metafunc.definition.get_closest_marker("product")
    if marker is None:
        return
    names = marker.args
    combos = matrix.combinations(names, marker.kwargs.get("valid", lambda values: True),
                                 metafunc.config.getoption(matrix.EXHAUSTIVE), cover=marker.kwargs.get("cover"))
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


# --- expensive results made once per test session, whatever the number of xdist workers -------------
ROOT = Path(__file__).resolve().parents[1]


def once_per_session(tmp_path_factory, name: str, make):
    """`make(folder) -> dict` run by the first worker that gets here, its JSON answer cached for
    the others (pytest-xdist runs a session fixture once per worker; a file lock in the shared
    base temp folder makes it once per session)."""
    import json

    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent
    folder, answer = shared / name, shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not answer.is_file():
            folder.mkdir(exist_ok=True)
            answer.write_text(json.dumps(make(folder)))
    return folder, json.loads(answer.read_text())
# A quick main-grid run of the numpy engine on the problems the pipeline tests read: square's two
# sizes and lorenz96's depths (time, ratios, tape bytes), ba and brusselator (the sparse family),
# gmm and ode (workloads).
PIPELINE_PROBLEMS = ("square", "lorenz96", "ba", "brusselator", "gmm", "ode")


def adcompare_run(results: Path, *args: str, machine: str | None = "test-box", timeout: int = 600, env=None):
    """`adcompare run` into `results` as a user runs it (a subprocess from the checkout); machine
    None: no --machine (a cluster's workers name their own)."""
    import os
    import subprocess
    import sys

    named = ["--machine", machine] if machine else []
    return subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(results), *named, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """(results folder, the finished process) of one quick run that several test files read; a
    test that changes results copies the folder first."""
    import subprocess

    pytest.importorskip("asv")
    args = ["--quick", "--backend", "numpy"] + [a for p in PIPELINE_PROBLEMS for a in ("--problem", p)]

    def make(folder):
        done = adcompare_run(folder / "results", *args)
        return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    folder, answer = once_per_session(tmp_path_factory, "pipeline", make)
    done = subprocess.CompletedProcess(args, answer["returncode"], answer["stdout"], answer["stderr"])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return folder / "results", done


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


def exhaustive_only(item) -> bool:
    """A case marked `pytest.mark.product` without factors: it runs in the exhaustive tier only
    (`--exhaustive`), where CI selects it with `-m product`."""
    return any(mark.name == "product" and not mark.args for mark in item.iter_markers())


def pytest_collection_modifyitems(config, items):
    import os

    exhaustive = config.getoption(matrix.EXHAUSTIVE)
    if not exhaustive:
        later = [item for item in items if exhaustive_only(item)]
        if later:
            config.hook.pytest_deselected(items=later)
            items[:] = [item for item in items if not exhaustive_only(item)]
    if os.environ.get(COMPILED_ALL_ENV) == "all":
        return
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
