"""ode (GradBench's ode: y₀′ = x₀, y_i′ = x_i·y_{i−1}, RK4 to t = 2) against independent oracles.

- The exact solution y_i(t) = x₀⋯x_i · t^{i+1}/(i+1)!: RK4 reproduces it exactly for i ≤ 3
  (those components are cubic or lower in t, where RK4 has no truncation error), and to its
  O(h⁴) global error for the rest.
- The closed-form Jacobian vs central differences (float64, `fd_rtol`) and vs the engine in both
  modes (AD_RTOL = 1e-11); the adjoint identity; every available backend through the public API.
Sizes stay small: the entries fall like 2^{i+1}/(i+1)! and underflow to 0 before i = 200.
"""

import math

import numpy as np
import pytest

import adcompare as ad
from adcompare import engine
from adcompare.backends import Unavailable, backend_names
from adcompare.oracles import AD_RTOL, ADJOINT_RTOL, adjoint_gap, fd_jacobian, random_direction, relative_error

SIZES = [(1, 1), (2, 3), (5, 10), (8, 2), (12, 7)]
SIZE_IDS = [f"n{n}-s{s}" for n, s in SIZES]


def exact_solution(x, t=2.0):
    """y_i(t) = x₀⋯x_i · t^{i+1}/(i+1)!."""
    return np.cumprod(x) * np.array([t ** (i + 1) / math.factorial(i + 1) for i in range(len(x))])


def engine_function(inst):
    return lambda z: inst.f(engine.xp, z)


def test_rk4_is_exact_for_the_first_four_components():
    x = np.array([0.9, 1.3, -0.7, 1.1, 0.6, 1.4])
    for s in (1, 2, 5):
        y = ad.primal("ode", x, s=s)
        np.testing.assert_allclose(y[:4], exact_solution(x)[:4], rtol=1e-14)
        assert abs(y[4] - exact_solution(x)[4]) > 1e-6 * abs(exact_solution(x)[4])   # truncation shows


def test_converges_to_the_exact_solution_at_fourth_order():
    x = np.array([0.9, 1.3, -0.7, 1.1, 0.6, 1.4])
    errors = [np.max(np.abs(ad.primal("ode", x, s=s) - exact_solution(x))) for s in (20, 40)]
    assert errors[0] < 1e-5
    assert 14 < errors[0] / errors[1] < 18          # halving h divides the error by 2⁴ = 16


def test_default_x_is_gradbench_first_input():
    """GradBench: np.random.seed(31337), then x = np.random.rand(n) (its first instance, n = 1000)."""
    inst = ad.instance("ode", 1000, s=1)
    np.testing.assert_array_equal(inst.x0, np.random.RandomState(31337).rand(1000))


@pytest.mark.parametrize("n, s", SIZES, ids=SIZE_IDS)
def test_closed_form_jacobian_vs_finite_differences(n, s):
    inst = ad.instance("ode", n, s=s)
    closed = inst.closed_form_jacobian(inst.x0)
    assert closed.shape == (n, n)
    assert relative_error(closed, fd_jacobian(inst, inst.x0)) < inst.problem.fd_rtol


@pytest.mark.parametrize("n, s", SIZES, ids=SIZE_IDS)
def test_closed_form_jacobian_vs_engine(n, s):
    inst = ad.instance("ode", n, s=s)
    x = np.linspace(-1.2, 1.5, n)                   # signs and a zero-free spread, not just [0, 1)
    f = engine_function(inst)
    closed = inst.closed_form_jacobian(x)
    rev, fwd = engine.jacrev(f)(x), engine.jacfwd(f)(x)
    assert relative_error(rev, closed) <= AD_RTOL["float64"]
    assert relative_error(fwd, closed) <= AD_RTOL["float64"]
    assert np.all(np.triu(rev, k=1) == 0)           # y_i depends on x_0 … x_i only


def test_closed_form_with_a_zero_input():
    """x_j = 0 kills every product through it, but not ∂y_i/∂x_j itself (no division by x_j)."""
    x = np.array([0.8, 0.0, 1.2, 0.5])
    inst = ad.instance("ode", 4, s=3)
    closed = inst.closed_form_jacobian(x)
    assert relative_error(engine.jacrev(engine_function(inst))(x), closed) <= AD_RTOL["float64"]
    assert closed[3, 1] != 0


@pytest.mark.parametrize("n, s", SIZES, ids=SIZE_IDS)
def test_adjoint_identity(n, s):
    inst = ad.instance("ode", n, s=s)
    f, x = engine_function(inst), inst.x0
    t, v = random_direction(n, seed=7), random_direction(n, seed=8)
    _, jt = engine.jvp(f, x, t)
    vj = engine.vjp(f, x)[1](v)
    assert adjoint_gap(v, jt, vj, t) <= ADJOINT_RTOL["float64"]


@pytest.mark.parametrize("backend", backend_names())
def test_every_backend_last_output_gradient_agrees(backend):
    """GradBench's derivative: the gradient of y_{n−1}, a VJP with v = e_{n−1}."""
    n, s = 6, 3
    inst = ad.instance("ode", n, s=s)
    v = np.zeros(n)
    v[-1] = 1.0
    try:
        grad = ad.vjp("ode", None, v, backend=backend, n=n, s=s)
        value = ad.primal("ode", None, backend=backend, n=n, s=s)
    except Unavailable as err:
        pytest.skip(str(err))
    closed = inst.closed_form_jacobian(inst.x0)
    assert relative_error(grad, closed[-1]) <= AD_RTOL["float64"]
    assert relative_error(value, ad.primal("ode", None, n=n, s=s)) <= 1e-14
