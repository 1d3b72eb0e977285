"""kmeans (GradBench's k-means cost and Newton direction) against oracles that share no code with it.

- The cost vs a plain-Python transcription of GradBench's reference objective (squared
  distances by differences, the minimum by comparison), and GradBench's first instance recorded.
- The default instance is GradBench's: its generator transcribed (one legacy numpy generator
  seeded 31337, rand(N, d) per run in order of k·N·d, centroids = the last k points).
- The module's closed forms (gradient, Hessian diagonal, direction = gradient ⊘ diagonal) vs a
  transcription of GradBench's hand-written `dir` (cluster sizes and sums by loops), vs central
  differences, vs the engine; the degenerate k = N runs and an empty cluster.
- Every available backend: the gradient vs the closed form (1e-10), and H·1 by each of the three
  HVPs vs the closed-form diagonal (H is diagonal, so H·1 is its diagonal), with GradBench's
  direction ∇f ⊘ H·1 formed from them; torch-compile on one small case, with
  ADCOMPARE_TEST_COMPILED=all (see COMPILED).
"""

import numpy as np
import pytest

import adcompare as ad
from adcompare import engine
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.errors import UserError
from adcompare.oracles import AD_RTOL, fd_jacobian, relative_error
from adcompare.problems import get_problem
from adcompare.problems.kmeans import direction, hessian_diagonal

GRADIENT_RTOL = 1e-10
# Slow compilers (torch-compile: Inductor builds C++, and a process's first compile probes the
# CPU for ~15 s) are tried on one small case only, gated like the suite's other compiled checks
# (conftest: ADCOMPARE_TEST_COMPILED=all); tests/test_backends.py's covering design reaches them.
COMPILED = [b for b in backend_names() if getattr(get_backend(b), "slow_compile", False)]
BACKENDS = [b for b in backend_names() if b not in COMPILED]
HVP_MODES = ["fwd-rev", "rev-rev", "rev-fwd"]
SMALL = [dict(k=1, d=1, N=1), dict(k=2, d=3, N=7), dict(k=3, d=2, N=10), dict(k=4, d=2, N=25)]
SMALL_IDS = ["k{k}-d{d}-N{N}".format(**s) for s in SMALL]


# --- independent oracles: GradBench's reference loops, in plain Python ---------------------------
def squared_distance(a, b):
    return sum((ai - bi) * (ai - bi) for ai, bi in zip(a, b))


def cost_loops(points, centroids):
    return sum(min(squared_distance(p, c) for c in centroids) for p in points)


def clusters_loops(points, centroids):
    """(sizes, sums) with each point given to its nearest centroid (the first on a tie)."""
    sizes, sums = [0] * len(centroids), [[0.0] * len(points[0]) for _ in centroids]
    for p in points:
        best, owner = float("inf"), -1
        for j, c in enumerate(centroids):
            dist = squared_distance(p, c)
            if dist < best:
                best, owner = dist, j
        sizes[owner] += 1
        sums[owner] = [s + v for s, v in zip(sums[owner], p)]
    return sizes, sums


def direction_loops(points, centroids):
    """GradBench's hand-written `dir`: −(cluster sum / cluster size − centroid)."""
    sizes, sums = clusters_loops(points, centroids)
    return np.array([[-(s / size - c) for s, c in zip(total, centroid)]
                     for size, total, centroid in zip(sizes, sums, centroids)]).ravel()


def gradient_loops(points, centroids):
    sizes, sums = clusters_loops(points, centroids)
    return np.array([[2 * (size * c - s) for s, c in zip(total, centroid)]
                     for size, total, centroid in zip(sizes, sums, centroids)]).ravel()


def gradbench_inputs(count):
    """GradBench's eval transcribed, its first `count` runs: {(k, N, d): (points, centroids)}."""
    rng = np.random.RandomState(31337)
    runs = sorted([(k, n, d) for k in [10, 100, 1000] for n in [1000, 10000] for d in [8, 16]],
                  key=lambda v: v[0] * v[1] * v[2])
    out = {}
    for k, n, d in runs[:count]:
        points = rng.rand(n, d).tolist()
        out[k, n, d] = points, points[-k:]
    return out


def shaped(inst, x):
    return inst.constants["points"].tolist(), np.asarray(x).reshape(inst.options["k"], inst.options["d"]).tolist()


def moved(inst, seed=0):
    """The default centroids moved a little, so no centroid sits exactly on a point."""
    return inst.x0 + 0.01 * np.random.default_rng(seed).standard_normal(inst.n)


# --- the objective -------------------------------------------------------------------------------
def test_default_instance_is_gradbench_recipe():
    inputs = gradbench_inputs(4)
    for k, N, d in [(10, 1000, 8), (100, 1000, 8)]:            # GradBench's first and fourth runs
        points, centroids = inputs[k, N, d]
        inst = ad.instance("kmeans", k=k, d=d, N=N)
        np.testing.assert_array_equal(inst.constants["points"], points)
        np.testing.assert_array_equal(inst.x0, np.ravel(centroids))
        assert inst.n == k * d
    # a size outside GradBench's list: the draw GradBench makes when run with that size alone
    points = np.random.RandomState(31337).rand(10, 2)
    np.testing.assert_array_equal(ad.instance("kmeans", k=3, d=2, N=10).x0, points[-3:].ravel())


def test_gradbench_first_run_cost_matches_reference_loops():
    points, centroids = gradbench_inputs(1)[10, 1000, 8]
    expected = cost_loops(points, centroids)
    assert ad.primal("kmeans", k=10, d=8, N=1000)[0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(609.3389875892321, rel=1e-13)       # recorded from the loops


@pytest.mark.parametrize("size", SMALL, ids=SMALL_IDS)
def test_cost_matches_reference_loops(size):
    inst = ad.instance("kmeans", **size)
    for x in (inst.x0, moved(inst)):
        assert ad.primal("kmeans", x, **size)[0] == pytest.approx(cost_loops(*shaped(inst, x)), rel=1e-12, abs=1e-14)


# --- the closed forms ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", SMALL, ids=SMALL_IDS)
def test_closed_forms_vs_gradbench_dir_and_differences(size):
    inst = ad.instance("kmeans", **size)
    x = moved(inst)
    points, centroids = shaped(inst, x)
    closed = inst.closed_form_jacobian(x)
    assert closed.shape == (1, inst.n)
    assert relative_error(closed[0], gradient_loops(points, centroids)) < 1e-13
    assert relative_error(closed, fd_jacobian(inst, x)) < inst.problem.fd_rtol
    sizes, _ = clusters_loops(points, centroids)
    np.testing.assert_array_equal(hessian_diagonal(x, inst.constants), np.repeat(2.0 * np.array(sizes), size["d"]))
    np.testing.assert_allclose(direction(x, inst.constants), direction_loops(points, centroids), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(direction(x, inst.constants), closed[0] / hessian_diagonal(x, inst.constants),
                               rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("size", SMALL, ids=SMALL_IDS)
def test_closed_form_gradient_vs_engine_both_modes(size):
    inst = ad.instance("kmeans", **size)
    f, x = (lambda z: inst.f(engine.xp, z)), moved(inst)
    closed = inst.closed_form_jacobian(x)
    assert relative_error(engine.jacrev(f)(x), closed) <= AD_RTOL["float64"]
    assert relative_error(engine.jacfwd(f)(x), closed) <= AD_RTOL["float64"]


def test_hessian_is_the_diagonal():
    """H t = diag(H) ⊙ t for any t (the engine's forward-over-reverse HVP)."""
    inst = ad.instance("kmeans", k=4, d=3, N=30)
    x, t = moved(inst), np.random.default_rng(7).standard_normal(12)
    np.testing.assert_allclose(ad.hvp("kmeans", x, t, k=4, d=3, N=30), hessian_diagonal(x, inst.constants) * t,
                               rtol=1e-13)


def test_every_point_a_centroid():
    """k = N (GradBench's k = 1000, N = 1000 runs): cost, gradient and direction are all 0."""
    inst = ad.instance("kmeans", k=5, d=3, N=5)
    assert abs(ad.primal("kmeans", k=5, d=3, N=5)[0]) < 1e-14
    assert np.abs(ad.vjp("kmeans", None, [1.0], k=5, d=3, N=5)).max() < 1e-14
    np.testing.assert_array_equal(direction(inst.x0, inst.constants), np.zeros(15))
    np.testing.assert_array_equal(hessian_diagonal(inst.x0, inst.constants), np.full(15, 2.0))


def test_empty_cluster():
    """A centroid far from every point owns none: zero gradient and Hessian there, direction NaN."""
    inst = ad.instance("kmeans", k=3, d=2, N=10)
    x = np.array(moved(inst))
    x[2:4] = [50.0, 50.0]
    grad = ad.vjp("kmeans", x, [1.0], k=3, d=2, N=10)
    np.testing.assert_array_equal(grad[2:4], [0.0, 0.0])
    np.testing.assert_array_equal(hessian_diagonal(x, inst.constants)[2:4], [0.0, 0.0])
    newton = direction(x, inst.constants)
    assert np.isnan(newton[2:4]).all() and np.isfinite(newton[[0, 1, 4, 5]]).all()


# --- every backend -------------------------------------------------------------------------------
BACKEND_SIZE = dict(k=4, d=3, N=30)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gradient_agrees(backend):
    inst = ad.instance("kmeans", **BACKEND_SIZE)
    x = moved(inst)
    try:
        grad = ad.vjp("kmeans", x, [1.0], backend=backend, **BACKEND_SIZE)
        value = ad.primal("kmeans", x, backend=backend, **BACKEND_SIZE)
    except Unavailable as err:
        pytest.skip(str(err))
    assert relative_error(grad, inst.closed_form_jacobian(x)[0]) <= GRADIENT_RTOL
    assert value[0] == pytest.approx(cost_loops(*shaped(inst, x)), rel=1e-12)


@pytest.mark.parametrize("mode", HVP_MODES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_hvp_of_ones_is_the_hessian_diagonal(backend, mode):
    """H·1 = diag(H) = 2|S_j|, and GradBench's direction ∇f ⊘ H·1 from the backend's own products."""
    inst = ad.instance("kmeans", **BACKEND_SIZE)
    x, ones = moved(inst), np.ones(inst.n)
    try:
        diagonal = ad.prepare(f"hvp-{mode}", "kmeans", x, ones, backend=backend, **BACKEND_SIZE)()
        grad = ad.vjp("kmeans", x, [1.0], backend=backend, **BACKEND_SIZE)
    except Unavailable as err:
        pytest.skip(str(err))
    expected = hessian_diagonal(x, inst.constants)
    assert np.all(expected > 0)                       # every centroid owns a point here
    assert relative_error(diagonal, expected) <= GRADIENT_RTOL
    assert relative_error(grad / diagonal, direction(x, inst.constants)) <= GRADIENT_RTOL


@pytest.mark.slow
@pytest.mark.parametrize("backend", COMPILED)
def test_compiled_gradient_on_a_small_case(backend):
    """A slow compiler on one case (each prepare compiles for seconds)."""
    size = dict(k=2, d=2, N=6)
    inst = ad.instance("kmeans", **size)
    x = moved(inst)
    try:
        grad = ad.vjp("kmeans", x, [1.0], backend=backend, **size)
    except Unavailable as err:
        pytest.skip(str(err))
    assert relative_error(grad, gradient_loops(*shaped(inst, x))) <= GRADIENT_RTOL


# --- sizes ---------------------------------------------------------------------------------------
def test_sweep_is_gradbench_runs_up_to_1_6_million_differences():
    problem = get_problem("kmeans")
    runs = {(kw["k"], kw["N"], kw["d"]) for kw in problem.sweep()}
    gradbench = {(k, n, d) for k in (10, 100, 1000) for n in (1000, 10000) for d in (8, 16)}
    assert runs == {(k, n, d) for k, n, d in gradbench if k * n * d <= 16 * 10**5}
    assert len(runs) == 6
    ns = [problem.resolve(**kw)[0] for kw in problem.sweep()]
    assert ns == sorted(ns)
    assert problem.main_instance() in problem.sweep()


def test_n_follows_from_k_and_d_and_k_needs_points():
    assert ad.instance("kmeans", k=5, d=4, N=9).n == 20
    with pytest.raises(UserError, match="n is fixed by the options"):
        ad.instance("kmeans", 7, k=5, d=4, N=9)
    with pytest.raises(UserError, match="at least as many points"):
        ad.instance("kmeans", k=5, d=2, N=4)
