"""llsq (GradBench's linear least-squares objective) against oracles that share no code with it.

- The objective and gradient vs plain-Python transcriptions of GradBench's reference loops
  (t_i, sign(t_i) and the powers by repeated multiplication, no numpy), and a hand-worked
  3-point case (t = −1, 0, 1: sign(0) = 0 and t⁰ = 1 at t = 0).
- The default x is GradBench's: its generator transcribed (one legacy numpy generator seeded
  31337, rand(128) per point count in order of N·m); GradBench's first instance is recorded.
- The closed-form gradient vs central differences (exact up to rounding for a quadratic), vs
  the engine in both modes, and zero at numpy's least-squares solution.
- Every available backend's gradient through the public API vs the closed form (1e-10);
  torch-compile on one small case, with ADCOMPARE_TEST_COMPILED=all (see COMPILED).
"""

import numpy as np
import pytest

import adcompare as ad
from adcompare import engine
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.errors import UserError
from adcompare.oracles import AD_RTOL, fd_jacobian, relative_error
from adcompare.problems import get_problem

GRADIENT_RTOL = 1e-10
# Slow compilers (torch-compile: Inductor builds C++, and a process's first compile probes the
# CPU for ~15 s) are tried on one small case only, gated like the suite's other compiled checks
# (conftest: ADCOMPARE_TEST_COMPILED=all); tests/test_backends.py's covering design reaches them.
COMPILED = [b for b in backend_names() if getattr(get_backend(b), "slow_compile", False)]
BACKENDS = [b for b in backend_names() if b not in COMPILED]
GRADBENCH_POINTS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196, 16392]


# --- independent oracles: GradBench's reference loops, in plain Python ---------------------------
def sample(i, points):
    return -1 + i * 2 / (points - 1)


def sign(t):
    return float((0 < t) - (t < 0))


def residuals(x, points):
    out = []
    for i in range(points):
        t = sample(i, points)
        r, power = sign(t), 1.0
        for xj in x:
            r -= xj * power
            power *= t
        out.append(r)
    return out


def objective_loops(x, points):
    return sum(r * r for r in residuals(x, points)) / 2


def gradient_loops(x, points):
    grad = [0.0] * len(x)
    for i, r in enumerate(residuals(x, points)):
        t, power = sample(i, points), 1.0
        for j in range(len(x)):
            grad[j] -= r * power
            power *= t
    return np.array(grad)


def gradbench_inputs():
    """GradBench's eval transcribed: {N: x} for its point counts at m = 128."""
    rng = np.random.RandomState(31337)
    combinations = sorted([(n, m) for n in GRADBENCH_POINTS for m in [128]], key=lambda v: v[0] * v[1])
    return {n: rng.rand(m) for n, m in combinations}


# --- the objective -------------------------------------------------------------------------------
def test_three_point_case_by_hand():
    """t = (−1, 0, 1), s = (−1, 0, 1). y(1, 0, 0) = ½(4 + 1 + 0), y(0, 1, 0) = 0, y(0, 0, 1) =
    ½(4 + 0 + 0); ∇y(1, 0, 0) = −Vᵀ(−2, −1, 0) with V's rows (1, −1, 1), (1, 0, 0), (1, 1, 1)."""
    cases = [([1.0, 0.0, 0.0], 2.5, [3.0, -2.0, 2.0]), ([0.0, 1.0, 0.0], 0.0, [0.0, 0.0, 0.0]),
             ([0.0, 0.0, 1.0], 2.0, [2.0, -2.0, 2.0])]
    for x, y, grad in cases:
        assert ad.primal("llsq", x, N=3)[0] == y
        np.testing.assert_array_equal(ad.vjp("llsq", x, [1.0], N=3), grad)


def test_default_x_is_gradbench_draws():
    inputs = gradbench_inputs()
    for points in (16, 1024, 16392):
        np.testing.assert_array_equal(ad.instance("llsq", 128, N=points).x0, inputs[points])
    # a size outside GradBench's list: the draw GradBench makes when run with that size alone
    np.testing.assert_array_equal(ad.instance("llsq", 5, N=7).x0, np.random.RandomState(31337).rand(5))


def test_gradbench_first_instance_matches_reference_loops():
    x = gradbench_inputs()[16]
    expected = objective_loops(list(x), 16)
    assert ad.primal("llsq", x, N=16)[0] == pytest.approx(expected, rel=1e-13)
    assert expected == pytest.approx(1970.5168637678755, rel=1e-13)      # recorded from the loops


@pytest.mark.parametrize("n, points", [(1, 2), (3, 5), (4, 2), (6, 9), (128, 256)])
def test_objective_matches_reference_loops(n, points):
    inst = ad.instance("llsq", n, N=points)
    assert ad.primal("llsq", n=n, N=points)[0] == pytest.approx(objective_loops(list(inst.x0), points), rel=1e-12)


# --- the gradient --------------------------------------------------------------------------------
@pytest.mark.parametrize("n, points", [(1, 2), (3, 5), (6, 9), (8, 4), (128, 64)])
def test_closed_form_gradient_vs_reference_loops_and_differences(n, points):
    inst = ad.instance("llsq", n, N=points)
    closed = inst.closed_form_jacobian(inst.x0)
    assert closed.shape == (1, n)
    assert relative_error(closed[0], gradient_loops(list(inst.x0), points)) < 1e-12
    assert relative_error(closed, fd_jacobian(inst, inst.x0)) < inst.problem.fd_rtol


@pytest.mark.parametrize("n, points", [(1, 2), (5, 7), (12, 33)])
def test_closed_form_gradient_vs_engine_both_modes(n, points):
    inst = ad.instance("llsq", n, N=points)
    f, x = (lambda z: inst.f(engine.xp, z)), inst.x0
    closed = inst.closed_form_jacobian(x)
    assert relative_error(engine.jacrev(f)(x), closed) <= AD_RTOL["float64"]
    assert relative_error(engine.jacfwd(f)(x), closed) <= AD_RTOL["float64"]


def test_gradient_vanishes_at_the_least_squares_solution():
    n, points = 4, 9
    t = np.array([sample(i, points) for i in range(points)])
    best = np.linalg.lstsq(np.vander(t, n, increasing=True), np.sign(t), rcond=None)[0]
    inst = ad.instance("llsq", n, N=points)
    scale = np.abs(inst.closed_form_jacobian(inst.x0)).max()
    assert np.abs(ad.vjp("llsq", best, [1.0], N=points)).max() < 1e-13 * scale
    assert np.abs(inst.closed_form_jacobian(best)).max() < 1e-13 * scale


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gradient_agrees(backend):
    n, points = 6, 11
    inst = ad.instance("llsq", n, N=points)
    try:
        grad = ad.vjp("llsq", None, [1.0], backend=backend, n=n, N=points)
        value = ad.primal("llsq", None, backend=backend, n=n, N=points)
    except Unavailable as err:
        pytest.skip(str(err))
    assert relative_error(grad, inst.closed_form_jacobian(inst.x0)[0]) <= GRADIENT_RTOL
    assert value[0] == pytest.approx(objective_loops(list(inst.x0), points), rel=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("backend", COMPILED)
def test_compiled_gradient_on_a_small_case(backend):
    """A slow compiler on one case (each prepare compiles for seconds)."""
    inst = ad.instance("llsq", 3, N=5)
    try:
        grad = ad.vjp("llsq", None, [1.0], backend=backend, n=3, N=5)
    except Unavailable as err:
        pytest.skip(str(err))
    assert relative_error(grad, gradient_loops(list(inst.x0), 5)) <= GRADIENT_RTOL


# --- sizes ---------------------------------------------------------------------------------------
def test_sweep_is_gradbench_sizes():
    problem = get_problem("llsq")
    assert problem.sweep() == [{"n": 128, "N": points} for points in GRADBENCH_POINTS]
    assert problem.main_instance() == {"n": 128, "N": 16392}


def test_one_point_is_refused():
    with pytest.raises(UserError, match="at least 2"):
        ad.instance("llsq", 3, N=1)
