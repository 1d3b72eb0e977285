"""The engine's transforms: golden numbers, HVPs by nesting, tape memory, and edge cases."""

import numpy as np
import pytest

from adcompare import engine
from adcompare.backends.namespace import numpy_namespace
from adcompare.oracles import fd_hvp, random_direction, relative_error
from adcompare.problems import all_problems, instance

xp = engine.xp


def problem_function(inst):
    return lambda x: inst.f(xp, x, inst.constants)


# --- golden numbers (issue 2) ---------------------------------------------------------------
@pytest.mark.parametrize("v, expected", [((1.0, 1.0, 1.0), (5.0, 18.0, 34.0)),
                                         ((3.0, 2.0, 1.0), (10.0, 34.0, 42.0))])
def test_poly3_golden_vjp_in_both_modes(v, expected):
    inst = instance("poly3")
    f, x, v = problem_function(inst), np.array([1.0, 2.0, 3.0]), np.array(v)
    np.testing.assert_allclose(engine.vjp(f, x)[1](v), expected, rtol=1e-15)
    np.testing.assert_allclose(engine.jacrev(f)(x).T @ v, expected, rtol=1e-15)
    np.testing.assert_allclose(engine.jacfwd(f)(x).T @ v, expected, rtol=1e-15)
    # forward mode's own vᵀJ: n JVPs with the unit tangents in one pass, then contracted with v
    np.testing.assert_allclose(engine.jvp(f, x, np.eye(3))[1] @ v, expected, rtol=1e-15)


def test_square_vjp_with_ones_is_twice_x():
    inst = instance("square", 5)
    f, x = problem_function(inst), np.linspace(-2.0, 3.0, 5)
    np.testing.assert_allclose(engine.vjp(f, x)[1](np.ones(5)), 2 * x, rtol=1e-15)
    np.testing.assert_allclose(engine.jvp(f, x, np.ones(5))[1], 2 * x, rtol=1e-15)
    np.testing.assert_allclose(engine.jacfwd(f)(x).T @ np.ones(5), 2 * x, rtol=1e-15)


# --- Hessian-vector products by nesting ---------------------------------------------------------
HVPS = [engine.hvp_fwd_rev, engine.hvp_rev_rev, engine.hvp_rev_fwd]
SCALAR = [p.instance() for p in all_problems() if p.instance().m == 1]


def test_registry_has_a_scalar_problem():
    assert SCALAR


@pytest.mark.parametrize("hvp", HVPS, ids=lambda h: h.__name__)
@pytest.mark.parametrize("inst", SCALAR, ids=lambda i: i.label())
def test_hvp_of_scalar_problems_matches_differenced_gradients(inst, hvp):
    f, x, t = problem_function(inst), inst.x0, random_direction(inst.n, seed=5)
    reference = fd_hvp(inst, x, t, engine.grad(f))        # central differences of the exact ∇f
    assert relative_error(hvp(f, x, t), reference) < 1e-6
    np.testing.assert_allclose(hvp(f, x, t), engine.hvp_fwd_rev(f, x, t), rtol=1e-12)


@pytest.mark.parametrize("hvp", HVPS, ids=lambda h: h.__name__)
def test_hvp_matches_an_analytic_hessian(hvp):
    # f = Σ sin(x_i)·x_{i+1}² + exp(x₀ x₁):  H assembled by hand below.
    def f(z):
        return xp.reshape(xp.sum(xp.sin(z[:-1]) * z[1:] ** 2) + xp.exp(z[0] * z[1]), (1,))

    x, t = np.array([0.3, -0.7, 1.1, 0.4]), np.array([1.0, -2.0, 0.5, 3.0])
    H = np.zeros((4, 4))
    for i in range(3):
        H[i, i] += -np.sin(x[i]) * x[i + 1] ** 2
        H[i + 1, i + 1] += 2 * np.sin(x[i])
        H[i, i + 1] += 2 * np.cos(x[i]) * x[i + 1]
        H[i + 1, i] += 2 * np.cos(x[i]) * x[i + 1]
    e = np.exp(x[0] * x[1])
    H[0, 0] += x[1] ** 2 * e
    H[1, 1] += x[0] ** 2 * e
    H[0, 1] += e * (1 + x[0] * x[1])
    H[1, 0] += e * (1 + x[0] * x[1])
    np.testing.assert_allclose(hvp(f, x, t), H @ t, rtol=1e-13)
    # a batch of tangents through the forward-over-reverse pass: the whole Hessian at once
    if hvp is engine.hvp_fwd_rev:
        np.testing.assert_allclose(hvp(f, x, np.eye(4)), H, rtol=1e-13)


def test_nested_jacobians_give_the_hessian_and_third_derivatives():
    f = lambda z: xp.reshape(xp.sum(z**4), (1,))  # noqa: E731
    x = np.array([1.0, -2.0, 0.5])
    grad = lambda z: engine.jacrev(f)(z)[0]  # noqa: E731
    np.testing.assert_allclose(engine.jacfwd(grad)(x), np.diag(12 * x**2), rtol=1e-15)
    np.testing.assert_allclose(engine.jacrev(grad)(x), np.diag(12 * x**2), rtol=1e-15)
    third = engine.jacfwd(lambda z: engine.jacrev(grad)(z)[0])(x)    # ∂/∂x of H's first row
    np.testing.assert_allclose(third, np.diag([24 * x[0], 0.0, 0.0]), atol=1e-14)


def test_hvp_needs_a_scalar_function():
    with pytest.raises(ValueError, match="one output"):
        engine.hvp_fwd_rev(lambda z: z * z, np.ones(3), np.ones(3))


# --- reverse-mode memory --------------------------------------------------------------------
def test_tape_grows_linearly_with_lorenz96_steps():
    recorded = {}
    for steps in (1, 2, 4, 8):
        inst = instance("lorenz96", 16, steps=steps)
        _, pullback = engine.vjp(problem_function(inst), inst.x0)
        recorded[steps] = (pullback.tape_bytes, pullback.tape_length)
    per_step_bytes, per_step_length = recorded[1]
    assert per_step_bytes > 0
    for steps, (nbytes, length) in recorded.items():
        assert nbytes == steps * per_step_bytes
        assert length == steps * per_step_length


def test_tape_bytes_count_saved_residuals_not_the_input_or_constants():
    A = np.ones((50, 4))
    _, pullback = engine.vjp(lambda z: xp.sin(A @ z[1:]) + 1.0, np.ones(5))
    # matmul saves its arguments, but z[1:] is a view of the input and A a constant: free.
    # sin saves its input A @ z[1:] (50 float64); its output, read by no rule, is not kept.
    assert pullback.tape_bytes == 50 * 8


def test_values_no_rule_reads_are_freed_after_recording():
    import weakref

    kept = []

    def f(z):
        u = xp.sin(z) * 2.0        # u is read by no rule: tanh saves its output, not its input
        kept.append(weakref.ref(u.value))
        return xp.tanh(u)

    _, pullback = engine.vjp(f, np.linspace(0.0, 1.0, 1000))
    assert kept[0]() is None                      # the buffer of u is gone
    np.testing.assert_allclose(pullback(np.ones(1000)),
                               2 * np.cos(np.linspace(0.0, 1.0, 1000))
                               * (1 - np.tanh(2 * np.sin(np.linspace(0.0, 1.0, 1000))) ** 2), rtol=1e-14)


# --- API edge cases ---------------------------------------------------------------------------
def test_pullback_is_reusable_and_batched_pullback_equals_single_ones():
    inst = instance("mlp", 4)
    f, x = problem_function(inst), inst.x0
    _, pullback = engine.vjp(f, x)
    v = random_direction(inst.m, seed=7)
    first, second = pullback(v), pullback(v)
    np.testing.assert_array_equal(first, second)
    # a batch runs as one matrix product instead of k vector products: same sums, other order
    np.testing.assert_allclose(pullback(np.stack([v, 2 * v])), [first, 2 * first], rtol=1e-13)


def test_functions_that_ignore_their_input_have_zero_derivatives():
    f = lambda z: np.arange(3.0)  # noqa: E731
    y, y_dot = engine.jvp(f, np.ones(2), np.ones(2))
    np.testing.assert_array_equal(y_dot, np.zeros(3))
    y, pullback = engine.vjp(f, np.ones(2))
    np.testing.assert_array_equal(pullback(np.ones(3)), np.zeros(2))
    np.testing.assert_array_equal(engine.jacrev(f)(np.ones(2)), np.zeros((3, 2)))


def test_identity_function():
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(engine.jacrev(lambda z: z)(x), np.eye(2))
    np.testing.assert_array_equal(engine.jacfwd(lambda z: z)(x), np.eye(2))


def test_python_scalars_do_not_upcast_float32():
    x = np.array([1.0, 2.0], dtype=np.float32)
    f = lambda z: 2.5 * z**2 + 1.0 / z - 3  # noqa: E731
    y, pullback = engine.vjp(f, x)
    assert y.dtype == pullback(np.ones(2)).dtype == np.float32
    assert engine.jvp(f, x, np.ones(2))[1].dtype == np.float32


def test_direction_of_the_wrong_shape_is_refused():
    f = lambda z: z * z  # noqa: E731
    with pytest.raises(ValueError, match=r"tangent must have shape \(3,\)"):
        engine.jvp(f, np.ones(3), np.ones(4))
    _, pullback = engine.vjp(f, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent must have shape \(3,\)"):
        pullback(np.ones((2, 2)))


def test_namespace_is_plain_numpy_on_constants():
    x = np.linspace(0.1, 1.0, 4)
    assert isinstance(xp.sin(x), np.ndarray)
    np.testing.assert_array_equal(xp.roll(x, 1), np.roll(x, 1))
    np.testing.assert_array_equal(xp.stack([x, x]), np.stack([x, x]))
    for p in all_problems():
        inst = p.instance()
        plain = numpy_namespace(p)          # numpy with the two loops (Python loops)
        np.testing.assert_allclose(inst.f(xp, inst.x0), inst.f(plain, inst.x0), rtol=1e-15)
