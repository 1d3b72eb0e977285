"""Property tests: random compositions of the engine's primitives against finite differences.

A program is a random list of steps; each step applies one op (a primitive, or a primitive
wrapped so it stays in its domain and bounded, e.g. log(2 + sin a)) to values computed earlier.
Every program is differentiated in both modes and checked against central differences, and its
three nested HVPs are checked against each other and against differenced gradients.
"""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adcompare import engine
xp = engine.xp
FD_RTOL = 1e-5   # central differences at h = 1e-6 through up to 8 composed steps


def close(a, ref, rtol):
    """‖a − ref‖∞ ≤ rtol · max(‖ref‖∞, 1): inputs are O(1), so where the exact derivative is 0 the
    differences' O(h²) residue is judged on the scale 1, not as a 100 % relative error."""
    return np.max(np.abs(a - ref), initial=0.0) <= rtol * max(np.max(np.abs(ref), initial=0.0), 1.0)


def _matrix(n):
    return np.cos(np.arange(n * n).reshape(n, n)) / np.sqrt(n)


def _mask(n):
    return np.arange(n) % 2 == 0


# name -> (xp, a, b) -> value of shape (n,). Each name is (or wraps) one primitive of the table.
OPS = {
    "sin": lambda xp, a, b: xp.sin(a),
    "cos": lambda xp, a, b: xp.cos(a),
    "tanh": lambda xp, a, b: xp.tanh(a),
    "exp": lambda xp, a, b: xp.exp(xp.tanh(a)),
    "log": lambda xp, a, b: xp.log(2.0 + xp.sin(a)),
    "sqrt": lambda xp, a, b: xp.sqrt(1.0 + a * a),
    "negative": lambda xp, a, b: -a,
    "power": lambda xp, a, b: xp.tanh(a) ** 3,
    "add": lambda xp, a, b: a + b,
    "subtract": lambda xp, a, b: a - 0.5 * b,
    "multiply": lambda xp, a, b: a * xp.tanh(b),
    "divide": lambda xp, a, b: a / (2.0 + xp.sin(b)),
    "where": lambda xp, a, b: xp.where(_mask(a.shape[0]), a, b),
    "sum": lambda xp, a, b: a * xp.tanh(xp.sum(b)),
    "max": lambda xp, a, b: a - xp.max(b),
    "broadcast": lambda xp, a, b: xp.sum(xp.reshape(xp.tanh(a), (-1, 1)) * b, axis=0),
    "roll": lambda xp, a, b: xp.roll(a, 1) * b,
    "getitem+concat": lambda xp, a, b: xp.concat([a[1:], b[:1]]),
    "stack": lambda xp, a, b: xp.sum(xp.stack([a, xp.tanh(b)], axis=1), axis=1),
    "matmul": lambda xp, a, b: _matrix(a.shape[0]) @ a,
    "matrix_transpose": lambda xp, a, b: xp.matrix_transpose(xp.stack([a, b])) @ np.array([0.5, -1.0]),
}

steps = st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 99), st.integers(0, 99)),
                 min_size=1, max_size=8)
inputs = st.integers(2, 5).flatmap(
    lambda n: st.lists(st.floats(-1.5, 1.5), min_size=n, max_size=n).map(np.array))


def smooth_at(prog, x, gap=1e-3):
    """False where a `max` step sees a (near-)tie: max is not differentiable there."""
    values = [x]
    for name, i, j in prog:
        b = values[j % len(values)]
        if name == "max" and np.sort(b)[-1] - np.sort(b)[-2] < gap:
            return False
        values.append(OPS[name](np, values[i % len(values)], b))
    return True


def program(prog):
    """The function x ↦ last value, on any namespace."""
    def f(xp, x):
        values = [x]
        for name, i, j in prog:
            values.append(OPS[name](xp, values[i % len(values)], values[j % len(values)]))
        return values[-1]
    return f


@settings(max_examples=80, deadline=None)
@given(prog=steps, x=inputs)
def test_random_programs_match_finite_differences(prog, x, fd_jacobian):
    assume(smooth_at(prog, x))
    f = program(prog)
    g = lambda z: f(xp, z)  # noqa: E731
    reference = fd_jacobian(lambda z: f(np, z), x)
    assert close(engine.jacfwd(g)(x), reference, FD_RTOL)
    assert close(engine.jacrev(g)(x), reference, FD_RTOL)


@settings(max_examples=40, deadline=None)
@given(prog=steps, x=inputs)
def test_random_programs_nested_hvps_agree(prog, x):
    assume(smooth_at(prog, x))
    f = program(prog)
    scalar = lambda z: xp.reshape(xp.sum(f(xp, z) ** 2), (1,))  # noqa: E731
    t = np.linspace(-1.0, 1.0, x.size)
    hvps = [hvp(scalar, x, t) for hvp in (engine.hvp_fwd_rev, engine.hvp_rev_rev, engine.hvp_rev_fwd)]
    grad = engine.grad(scalar)
    h = 1e-5
    reference = (grad(x + h * t) - grad(x - h * t)) / (2 * h)
    for hv in hvps:
        assert close(hv, hvps[0], 1e-12)
        assert close(hv, reference, 1e-4)
