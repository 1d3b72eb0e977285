"""GradBench's nested-AD problems (particle, saddle) on every backend: their four mode pairs (ff, fr,
rf, rr) compute the same optimum, a backend that cannot nest a pair says why (Unavailable with its
reason) instead of failing, one descent step matches a plain numpy computation of it, and
GradBench's whole runs reproduce its published check values.

Eager jax compiles every new primitive signature on first use (particle's test instance: ~10 s
per call in a fresh process, saddle's 7 s for its four pairs), jax-jit compiles each pair (6 s for
saddle's; particle's two that compile stay in the default tier, and saddle's rr is there through
its GradBench check) and torch-compile's Dynamo costs seconds per pair: those run in the
exhaustive tier, as do GradBench's whole runs on our engine (37 s for saddle, 83 s for particle).
"""

import numpy as np
import pytest

import adcompare as ad
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.problems import descent
from adcompare.problems.particle import GRADBENCH_RUN as PARTICLE_RUN
from adcompare.problems.particle import SPAN
from adcompare.problems.saddle import GRADBENCH_RUN as SADDLE_RUN

PAIRS = ("ff", "fr", "rf", "rr")
PROBLEMS = ("particle", "saddle")
# Pairs a backend cannot run, and a phrase of the reason it gives.
NOT_NESTABLE = {
    # torch.autograd.forward_ad has one dual level: no forward gradient inside a forward derivative.
    **{("torch", p, "ff"): "one dual level" for p in PROBLEMS},
    # Dynamo stops at the loops' data-dependent conditions (a graph break, refused).
    **{("torch-compile", p, m): "data-dependent branching" for p in PROBLEMS for m in PAIRS},
    # lax.while_loop has no reverse derivative, and particle's outer gradient runs through the
    # Euler loop. saddle's outer gradient does not: its inner loop's carry never depends on p₁.
    **{("jax-jit", "particle", m): "while loop" for m in ("rf", "rr")},
}
EXHAUSTIVE_ONLY = {("jax", "particle"), ("jax", "saddle"), ("jax-jit", "saddle"), ("jax-jit", "particle"),
                   ("torch", "particle")}
# GradBench's check values (its evals' `expect`), from its inputs w₀ = 0 and s = (1, 1).
PARTICLE_CHECK = 0.2071918746486116
SADDLE_CHECK = 8.246324826140356e-06


def cases():
    out = []
    for backend in backend_names():
        if get_backend(backend).missing_reason() is not None:
            continue
        for problem in PROBLEMS:
            slow = get_backend(backend).slow_compile or (backend, problem) in EXHAUSTIVE_ONLY
            out.append(pytest.param(backend, problem, marks=pytest.mark.product) if slow else (backend, problem))
    return out


def variants(problem, backend, **options):
    """{pair: f(default x)} of the pairs the backend runs, {pair: reason} of those it cannot."""
    ran, refused = {}, {}
    for pair in PAIRS:
        try:
            ran[pair] = ad.primal(problem, backend=backend, modes=pair, **options)
        except Unavailable as err:
            refused[pair] = str(err)
    return ran, refused


@pytest.mark.parametrize("backend,problem", cases())
def test_mode_pairs_agree_or_say_why_not(backend, problem):
    ran, refused = variants(problem, backend)
    expected = {m: NOT_NESTABLE[(backend, problem, m)] for m in PAIRS if (backend, problem, m) in NOT_NESTABLE}
    assert set(refused) == set(expected)
    for pair, phrase in expected.items():
        assert phrase in refused[pair].lower()
    reference = ad.primal(problem, modes="rr")      # our engine, reverse over reverse
    for pair, value in ran.items():
        np.testing.assert_allclose(value, reference, rtol=1e-14, atol=0, err_msg=pair)


def euler_miss(w, step):
    """particle's miss x₀(t_f)² by plain numpy, with the force written out by hand:
    −∇ₓ(1/‖x − q‖) = (x − q)/‖x − q‖³."""
    position, speed = np.array([0.0, 8.0]), np.array([0.75, 0.0])
    charges = np.array([[10.0, 10.0 - w], [10.0, 0.0]])
    while (position + step * speed)[1] > 0:
        d = position - charges
        force = (d / np.linalg.norm(d, axis=1)[:, None] ** 3).sum(axis=0)
        position, speed = position + step * speed, speed + step * force
    crossing = position - position[1] / speed[1] * speed
    return crossing[0] ** 2


def test_one_particle_step_is_the_first_step_of_the_descent():
    """From w₀ = 0 the first step is w₁ = −η M′(0), η = 10⁻⁵ (M falls along it at Δt = 4, so it is
    accepted); M′ by central differences of the hand-written miss."""
    h = 1e-6
    slope = (euler_miss(h, SPAN) - euler_miss(-h, SPAN)) / (2 * h)
    assert euler_miss(-descent.FIRST_STEP * slope, SPAN) < euler_miss(0.0, SPAN)
    np.testing.assert_allclose(ad.primal("particle", modes="fr"), [-descent.FIRST_STEP * slope], rtol=1e-7)


def test_one_saddle_step_of_each_descent():
    """One step of each descent from s: ∇ₚ₁ max = 2p₁ and ∇ₚ₂(−F) = 2p₂, so both points are
    (1 − 2η) s."""
    s = np.array([0.5, -2.0])
    np.testing.assert_allclose(ad.primal("saddle", s, modes="rf"), np.tile((1 - 2 * descent.FIRST_STEP) * s, 2),
                               rtol=1e-15)


@pytest.mark.parametrize("pair", ["ff", "fr"])
def test_gradbench_particle_check_compiled(pair):
    """GradBench's whole run on jax-jit (~1 s each: its loops stay compiled loops)."""
    if get_backend("jax-jit").missing_reason() is not None:
        pytest.skip(get_backend("jax-jit").missing_reason())
    np.testing.assert_allclose(ad.primal("particle", [0.0], backend="jax-jit", modes=pair, **PARTICLE_RUN),
                               [PARTICLE_CHECK], rtol=1e-13)


def test_gradbench_saddle_check_compiled():
    if get_backend("jax-jit").missing_reason() is not None:
        pytest.skip(get_backend("jax-jit").missing_reason())
    np.testing.assert_allclose(ad.primal("saddle", [1.0, 1.0], backend="jax-jit", modes="rr", **SADDLE_RUN),
                               np.full(4, SADDLE_CHECK), rtol=1e-13)


@pytest.mark.product
@pytest.mark.parametrize("problem,x,check,run", [
    ("particle", [0.0], [PARTICLE_CHECK], PARTICLE_RUN),
    ("saddle", [1.0, 1.0], np.full(4, SADDLE_CHECK), SADDLE_RUN),
])
def test_gradbench_checks_on_our_engine(problem, x, check, run):
    np.testing.assert_allclose(ad.primal(problem, x, modes="rr", **run), check, rtol=1e-13)


def test_the_nested_modes_family_times_every_pair_in_one_job():
    """The full grid times saddle's four pairs on numpy in one job (their seconds and all six
    ratios), GradBench's whole run only where loops compile; the main grid has none."""
    from adcompare.families.nested_modes import NestedModes
    from adcompare.measure import estimates
    from adcompare.run import worker

    family = NestedModes()
    assert list(family.jobs("main", "numpy:cpu")) == []
    eager = {job.arms[0].case for job in family.jobs("full", "numpy:cpu")}
    compiled = {job.arms[0].case for job in family.jobs("full", "jax-jit:cpu")}
    assert eager == {"particle:1:iterations=1,modes=ff,rate=1", "saddle:2:iterations=1,modes=ff"}
    assert compiled == eager | {"particle:1:iterations=1000,modes=ff,rate=40", "saddle:2:iterations=1000,modes=ff"}
    [job] = [j for j in family.jobs("full", "numpy:cpu") if j.arms[0].case.startswith("saddle")]
    assert [arm.name for arm in job.arms] == list(PAIRS)
    figures = estimates.aggregate(job, [worker.run_job(job, worker.QUICK)])
    assert len(figures) == 4 + 6 and all(f.status == "ok" for f in figures)
