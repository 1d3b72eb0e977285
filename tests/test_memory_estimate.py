"""Memory estimates that hold: the estimate (`adcompare.footprint`) covers the peak resident memory
measured (`adcompare.measure.memory`) for every registered problem's products and batched
Jacobians, on numpy and on samples of torch and jax; and a size that cannot fit, or a depth that
would run for hours, is refused in one line, at once, before anything of its size is allocated."""

from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np
import pytest

import adcompare as ad
from adcompare import footprint, limits, sparse
from adcompare.backends import Unavailable, get_backend
from adcompare.cli import main as cli_main
from adcompare.engine.sparsity import PatternTooLarge
from adcompare.families.cases import case_id
from adcompare.ids import Case
from adcompare.measure import memory
from adcompare.measure.frameworks import PRELOAD_ENV
from adcompare.measure.prepared import prepared
from adcompare.operators import get_operator
from adcompare.problems import Problem, all_problems, get_problem

pytestmark = pytest.mark.skipif(memory.unavailable_reason() is not None,
                                reason=str(memory.unavailable_reason()))

MB = 2**20
PRODUCTS = ("primal", "vjp", "jvp")
JACOBIANS = ("jacobian-fwd", "jacobian-rev")
# Instances whose arrays take tens of MB, so that the peak is theirs and not the framework's: one
# for the products, one for the batched Jacobians (n or m directions times the working size).
SIZES = {
    "affine": ({"n": 1500}, {"n": 700}),
    "ba": ({"c": 16, "p": 1024, "o": 60_000}, {"c": 4, "p": 16, "o": 256}),
    "brusselator": ({"N": 400}, {"N": 25}),
    "fanout": ({"n": 32, "m": 100_000}, {"n": 16, "m": 1500}),
    "gmm": ({"d": 10, "k": 25, "N": 4000}, {"d": 4, "k": 10, "N": 600}),
    "ht": ({"points": 60_000}, {"points": 300}),
    "lorenz96": ({"n": 60_000, "steps": 4}, {"n": 400, "steps": 2}),
    "lse": ({"n": 2_000_000}, {"n": 1500}),
    "lstm": ({"l": 2, "b": 4096, "c": 16}, {"l": 1, "b": 64, "c": 16}),
    "mlp": ({"n": 20_000}, {"n": 800}),
    "ode": ({"n": 60_000, "s": 2}, {"n": 400, "s": 2}),
    "poly3": ({"n": 3}, {"n": 3}),
    "rosenbrock": ({"n": 1_000_000}, {"n": 1500}),
    "softmax": ({"n": 1_000_000}, {"n": 1200}),
    "square": ({"n": 2_000_000}, {"n": 1500}),
}
# A deeper instance of each problem with a depth option: the tape grows with it.
DEEPER = {"lorenz96": {"n": 10_000, "steps": 32}, "ode": {"n": 10_000, "s": 16}, "lstm": {"l": 2, "b": 1024, "c": 64}}
# A problem not listed (a new one) is measured at the largest instance of its sweep whose
# estimated arrays stay within this.
GENERIC_BUDGET = 256 * MB
# Samples on other frameworks (each costs a framework's first calls): where their peaks came
# closest to the estimate when it was calibrated.
SAMPLES = [
    ("torch-func", "softmax", 0, "vjp"), ("torch-func", "affine", 0, "jvp"), ("torch", "lorenz96", 2, "vjp"),
    ("torch", "lstm", 2, "vjp"), ("torch-func", "ba", 1, "jacobian-rev"), ("torch", "square", 1, "jacobian-fwd"),
    ("jax", "square", 1, "jacobian-fwd"), ("jax", "square", 0, "vjp"),
]
# What a framework's own first calls may add beyond the estimated arrays (measured on poly3: 4 MB
# numpy, ≤ 25 MB torch; at the SAMPLES' sizes torch's pools add up to ~245 MiB beyond the arrays'
# model: torch-func's softmax:10⁶ VJP, 457 MiB against 214 MiB of arrays); eager jax compiles each
# primitive it meets, so its figure is checked against the whole estimate, FRAMEWORK_BYTES included.
OWN = {"numpy": 16 * MB, "torch": 320 * MB, "torch-func": 320 * MB}


def declared_or_plain(problem) -> bool:
    """Whether the estimate's arrays are held to the measured peak on their own: the problem
    declares what it builds (`Problem.evaluation`), or the default's few dozen operations fit it;
    a nested problem's loops run as many steps as its data decide, which no default can know."""
    return type(problem).evaluation is not Problem.evaluation or not problem.nested


def _arrays_estimate(problem, kw, operator) -> int:
    n, options = problem.resolve(**kw)
    return footprint.operator_bytes(get_operator(operator), problem, n, options) - footprint.FRAMEWORK_BYTES


def _generic(problem, operators) -> dict:
    """The largest instance of the sweep (or the main one) whose estimated arrays for every one of
    `operators` stay within GENERIC_BUDGET; the smallest where none does."""
    candidates = [*problem.sweep(), problem.main_instance()]
    sized = sorted((max(_arrays_estimate(problem, kw, op) for op in operators), i) for i, kw in enumerate(candidates))
    fitting = [i for size, i in sized if size <= GENERIC_BUDGET]
    return candidates[fitting[-1] if fitting else sized[0][1]]


def instances(problem) -> list[dict]:
    """The problem's measured instances: products', Jacobians' and, with a depth option, a deeper one."""
    if problem.name in SIZES:
        sizes = list(SIZES[problem.name])
    else:
        sizes = [_generic(problem, PRODUCTS), _generic(problem, JACOBIANS)]
    return sizes + ([DEEPER[problem.name]] if problem.name in DEEPER else [])


def _calibration() -> list[tuple[str, str, str]]:
    out = []
    for problem in all_problems():
        sizes = instances(problem)
        for which, kw in enumerate(sizes):
            case = case_id(problem, **kw)
            for operator in (JACOBIANS if which == 1 else PRODUCTS):
                out.append(("numpy", case, operator))
    for target, name, which, operator in SAMPLES:      # other frameworks: the exhaustive tier
        if name in SIZES and get_backend(target).missing_reason() is None:
            problem = get_problem(name)
            out.append(pytest.param(target, case_id(problem, **instances(problem)[which]), operator,
                                    marks=pytest.mark.product))
    return out


@pytest.fixture(scope="module", autouse=True)
def preload_only_what_is_measured():
    """The measuring children fork from a server that preloads these frameworks only (torch-compile's
    toolchain would cost seconds and is not measured here)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PRELOAD_ENV, "numpy,torch,torch-func,jax")
        yield


def _allocate_80_mb():
    np.ones(10**7)


def test_the_peak_of_a_known_allocation():
    """np.ones(10⁷) is 80 MB of float64: the child's peak beyond its baseline reads that, plus at
    most a few pages of interpreter bookkeeping."""
    peak = memory.peak_bytes(_allocate_80_mb)
    assert 80_000_000 <= peak < 80_000_000 + 8 * MB


def test_a_failing_call_is_reported_not_measured():
    with pytest.raises(memory.MeasurementFailed, match="ZeroDivisionError"):
        memory.peak_bytes(divmod, 1, 0)


@pytest.mark.parametrize("target, case, operator", _calibration(),
                         ids=lambda v: str(v).replace(":", "_"))
# (every problem on numpy in the default tier; the samples on torch, torch-func and jax, each a
# framework's first calls in a fresh process, in --exhaustive)
def test_the_estimate_covers_the_measured_peak(target, case, operator):
    """Building the instance, preparing the operator (its warm-up included) and running it once,
    in a fresh child process: the estimate covers the peak, and its arrays alone cover the peak
    beyond what the framework's own first calls take."""
    parsed = Case.parse(case)
    problem = get_problem(parsed.problem)
    n, options = problem.resolve(parsed.n, **parsed.opts)
    backend = get_backend(target)
    estimate = footprint.operator_bytes(get_operator(operator), problem, n, options,
                                        backend.compiles and not backend.compiles_loops)
    peak = memory.operator_peak_bytes(f"{target}:cpu", "float64", case, operator)
    shown = f"{operator} on {case} ({target}): estimate {estimate / MB:.0f} MiB, measured {peak / MB:.0f} MiB"
    assert estimate >= peak, shown
    if target in OWN and declared_or_plain(problem):
        assert estimate - footprint.FRAMEWORK_BYTES + OWN[target] >= peak, shown


# --- refusals: one line, at once, nothing of the size allocated -----------------------------------
@pytest.fixture
def machine_of_16_gib(monkeypatch):
    monkeypatch.setattr(limits, "machine_memory", lambda: 16 * 2**30)


def refused_unallocated(call, exception=ad.UserError) -> str:
    """The one-line message `call` refuses with, in under a second and under 4 MiB allocated."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(exception) as err:
            call()
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert "\n" not in message
    assert seconds < 1.0, f"took {seconds:.1f} s to refuse"
    assert peak < 4 * MB, f"allocated {peak / MB:.0f} MiB before refusing"
    return message


def one_line_exit_2(capsys, *argv: str) -> str:
    assert cli_main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err.strip()


def write(path, text: str):
    path.write_text(text)
    return path


def test_a_gmm_file_announcing_a_billion_points_is_refused_at_once(tmp_path, capsys, machine_of_16_gib):
    """ADBench's format may replicate one point N times: a 40-byte file asks for 10⁹ points."""
    path = write(tmp_path / "gmm.txt", "2 1 1000000000\n0\n0 0\n0 0 0\n0 0\n1 0\n")
    assert path.stat().st_size <= 40
    message = refused_unallocated(lambda: ad.instance("gmm", data=path))
    assert message.startswith(f"{path}: line 1: gmm: n = 6, m = 1, d = 2, k = 1, N = 1000000000 needs about ")
    assert "GiB at its peak" in message and "this machine has 16 GiB" in message
    assert one_line_exit_2(capsys, "vjp", "gmm", "--data", str(path)) == f"adcompare: error: {message}"


def test_a_ba_file_announcing_huge_observations_is_refused_at_once(tmp_path, capsys, machine_of_16_gib):
    path = write(tmp_path / "ba.txt", "2 3 2000000000\n" + " ".join(["0.1"] * 11) + "\n1 2 3\n0.9\n1 2\n")
    message = refused_unallocated(lambda: ad.instance("ba", data=path))
    assert message.startswith(f"{path}: line 1: ba: n = 2000000031, m = 6000000000, c = 2, p = 3, o = 2000000000 "
                              "needs about ")
    assert one_line_exit_2(capsys, "primal", "ba", "--data", str(path)) == f"adcompare: error: {message}"


def test_lstm_and_ht_headers_are_checked_before_allocating(tmp_path, machine_of_16_gib):
    lstm = write(tmp_path / "lstm.txt", "2 2000000000 14\n")
    assert "lstm: n = 266, m = 1, l = 2, b = 14, c = 2000000000 needs about" in \
        refused_unallocated(lambda: ad.instance("lstm", data=lstm))
    ht = write(tmp_path / "ht.txt", "2000000000 26\n")
    assert f"{ht}:1: ht: n = 26, m = 6000000000" in refused_unallocated(lambda: ad.instance("ht", data=ht))


def test_a_sparse_jacobian_of_a_huge_instance_is_refused_before_its_pattern(capsys, machine_of_16_gib):
    """square(n = 10⁸): refused from the sizes alone (x0 is not even built), not after detecting
    a pattern of 10⁸ non-zeros (which took 5.7 GB and 19 s)."""
    message = refused_unallocated(lambda: ad.jacobian("square", mode="fwd", strategy="sparse", n=10**8))
    assert message.startswith("jacobian-fwd-sparse on square(n=100000000) needs about ")
    assert "detecting its pattern" in message and "this machine has 16 GiB" in message
    line = one_line_exit_2(capsys, "jacobian", "square", "--mode", "fwd", "--strategy", "sparse", "--n", "100000000")
    assert line == f"adcompare: error: {message}"


def test_detection_is_bounded_before_it_runs(monkeypatch):
    inst = ad.instance("square", 2_000_000)
    monkeypatch.setattr(limits, "machine_memory", lambda: 2**30)
    message = refused_unallocated(lambda: ad.sparsity_pattern("square", n=2_000_000))
    assert message.startswith("detecting the Jacobian pattern of square(n=2000000) needs about ")
    assert get_backend("numpy").why_not(get_operator("jacobian-rev-sparse"), inst, "cpu", "float64").startswith(
        "jacobian-rev-sparse on square(n=2000000) needs about ")
    monkeypatch.setattr(limits, "MAX_JACOBIAN_ELEMENTS", 1000)
    with pytest.raises(PatternTooLarge, match="more than 1000 non-zeros"):     # x's own pattern
        sparse.jacobian_pattern(ad.instance("square", 2000))


@pytest.mark.parametrize("argv, label", [
    (("vjp", "ode", "--opt", "s=100000000"), "vjp on ode(n=5, s=100000000)"),
    (("vjp", "lorenz96", "--n", "8", "--opt", "steps=100000000"), "vjp on lorenz96(n=8, steps=100000000)"),
    (("vjp", "lstm", "--opt", "c=100000000"), "vjp on lstm(n=266, l=2, b=14, c=100000000)"),
])
def test_a_huge_depth_is_refused_by_its_tape(capsys, machine_of_16_gib, argv, label):
    """Reverse mode records every step: past the machine, one line naming the estimate."""
    line = one_line_exit_2(capsys, *argv)
    assert line.startswith(f"adcompare: error: {label} needs about ")
    assert "reverse mode's record of them" in line and "this machine has 16 GiB" in line


def test_a_depth_that_fits_but_would_take_hours_is_refused(machine_of_16_gib):
    message = refused_unallocated(lambda: ad.primal("lorenz96", n=8, steps=10**7))
    assert message == ("lorenz96(n=8, steps=10000000) runs about 4.4e+08 array operations per evaluation, each "
                       "dispatched from Python (and recorded one by one by reverse mode): past 1,000,000 a call "
                       "takes hours whatever the memory; steps ≤ 22727 stays within it")
    assert ad.primal("lorenz96", n=8, steps=20).shape == (8,)


def test_a_benchmark_grid_sees_the_refusal_as_unavailable(machine_of_16_gib):
    """In a grid the same estimate is `Backend.why_not`'s reason: n/a, not an error."""
    case = "ode:5:s=100000000"
    reason = get_backend("numpy").why_not(get_operator("vjp"), Case.parse(case).instance(), "cpu", "float64")
    assert reason.startswith("vjp on ode(n=5, s=100000000) needs about ")
    with pytest.raises(Unavailable, match="needs about"):
        prepared("numpy:cpu", "float64", case, "vjp")


def test_machine_memory_is_what_a_control_group_allows(tmp_path, monkeypatch):
    cap = write(tmp_path / "memory.max", f"{2**30}\n")
    monkeypatch.setattr(limits, "CGROUP_LIMITS", (str(tmp_path / "absent"), str(cap)))
    assert limits.machine_memory() == 2**30
    write(cap, "max\n")        # cgroup v2's "no limit"
    assert limits.machine_memory() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_the_tape_grows_with_the_depth_and_the_primal_does_not():
    ode, vjp, primal = get_problem("ode"), get_operator("vjp"), get_operator("primal")

    def arrays(operator, s):
        return footprint.operator_bytes(operator, ode, 1000, {"s": s}) - footprint.FRAMEWORK_BYTES
    assert arrays(vjp, 1000) > 50 * arrays(vjp, 10)
    assert arrays(primal, 10) <= arrays(primal, 1000) < 1.01 * arrays(primal, 10)
