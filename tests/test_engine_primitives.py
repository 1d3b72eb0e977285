"""Every primitive's JVP and VJP rule against finite differences, broadcasting and batching included.

Each case is a small function of one or more array arguments, packed into one flat input vector
so the engine's transforms (which take a 1-D x) can differentiate it. For every case:
- jacfwd (ONE forward pass with n tangents) and jacrev (ONE sweep with m cotangents) match central
  differences (normwise rtol 1e-6: h = 1e-6 gives O(h²) truncation and O(ε/h) ≈ 1e-10 rounding);
- a single JVP and a single VJP match J t and vᵀJ of that Jacobian;
- a batch of k = 3 directions gives exactly the k single passes.
"""

import math

import numpy as np
import pytest

from adcompare import engine
from adcompare.engine import primitives as P
from adcompare.oracles import relative_error

FD_RTOL = 1e-6


def _c(*shape):
    """A fixed constant array (never differentiated)."""
    return np.linspace(-1.0, 2.0, math.prod(shape)).reshape(shape)


# (label, function of (xp, *args), shapes of the args). Inputs are drawn from [0.5, 1.5], inside
# every primitive's domain (log, sqrt, division) and away from kinks (abs, max without ties).
CASES = [
    ("negative", lambda xp, a: -a, [(4,)]),
    ("exp", lambda xp, a: xp.exp(a), [(4,)]),
    ("log", lambda xp, a: xp.log(a), [(2, 3)]),
    ("sin", lambda xp, a: xp.sin(a), [(4,)]),
    ("cos", lambda xp, a: xp.cos(a), [(2, 3)]),
    ("tanh", lambda xp, a: xp.tanh(a), [(4,)]),
    ("sqrt", lambda xp, a: xp.sqrt(a), [(4,)]),
    ("abs", lambda xp, a: xp.abs(a - 1.0), [(4,)]),
    ("power int", lambda xp, a: a**3, [(4,)]),
    ("power negative", lambda xp, a: a**-2, [(4,)]),
    ("power float", lambda xp, a: a**0.5, [(4,)]),
    ("square", lambda xp, a: xp.square(a), [(4,)]),
    ("constant base", lambda xp, a: 2.0**a, [(4,)]),
    ("power 0 is constant", lambda xp, a: a**0 + a, [(4,)]),
    ("add", lambda xp, a, b: a + b, [(4,), (4,)]),
    ("subtract", lambda xp, a, b: a - b, [(4,), (4,)]),
    ("multiply", lambda xp, a, b: a * b, [(4,), (4,)]),
    ("divide", lambda xp, a, b: a / b, [(4,), (4,)]),
    ("scalar ⊕ vector", lambda xp, s, b: s * b + s / b - (s - b), [(), (4,)]),
    ("vector ⊕ scalar", lambda xp, a, s: a * s + a / s - (a - s), [(4,), ()]),
    ("(m,1) ⊕ (n,)", lambda xp, a, b: a * b + a / b - (a - b), [(3, 1), (4,)]),
    ("(n,) ⊕ (m,1)", lambda xp, a, b: a * b + a / b - (a - b), [(4,), (3, 1)]),
    ("python scalars", lambda xp, a: 2.0 - a + 3.0 / a + 0.5 * a, [(4,)]),
    ("numpy constant", lambda xp, a: _c(3, 1) * a + a / (2.0 + _c(4)), [(4,)]),
    ("same argument twice", lambda xp, a: a * a, [(4,)]),
    ("where", lambda xp, a, b: xp.where(_c(3, 1) > 0, a, b), [(4,), (3, 1)]),
    ("sum all", lambda xp, a: xp.sum(a), [(3, 4)]),
    ("sum axis", lambda xp, a: xp.sum(a, axis=0), [(3, 4)]),
    ("sum keepdims", lambda xp, a: xp.sum(a, axis=-1, keepdims=True) * a, [(3, 4)]),
    ("mean", lambda xp, a: xp.mean(a, axis=1), [(3, 4)]),
    ("max all", lambda xp, a: xp.max(a), [(3, 4)]),
    ("max axis", lambda xp, a: xp.max(a, axis=1), [(3, 4)]),
    ("max keepdims", lambda xp, a: a - xp.max(a, axis=0, keepdims=True), [(3, 4)]),
    ("reshape", lambda xp, a: xp.reshape(a, (3, 2)), [(2, 3)]),
    ("reshape -1", lambda xp, a: xp.reshape(a, (2, -1)), [(6,)]),
    ("broadcast_to", lambda xp, a: xp.broadcast_to(a, (2, 3, 4)), [(3, 1)]),
    ("matrix_transpose", lambda xp, a: xp.matrix_transpose(a) @ _c(2), [(2, 3)]),
    ("roll", lambda xp, a: xp.roll(a, 2), [(5,)]),
    ("roll axis", lambda xp, a: xp.roll(a, -1, axis=1), [(2, 3)]),
    ("roll flattened", lambda xp, a: xp.roll(a, 1), [(2, 3)]),
    ("getitem int", lambda xp, a: xp.stack([a[1], a[0] * a[3]]), [(4,)]),
    ("getitem slices", lambda xp, a: a[1:] * a[:-1] + a[::-1][1:], [(4,)]),
    ("getitem 2-D", lambda xp, a: a[1, :2] + a[:, 1][1:], [(3, 4)]),
    ("scatter", lambda xp, a: P.scatter(a, idx=(Ellipsis, slice(1, 3)), shape=(5,)), [(2,)]),
    ("stack", lambda xp, a, b: xp.stack([a, b, a * b]), [(4,), (4,)]),
    ("stack axis 1 with a constant", lambda xp, a: xp.stack([a, _c(3)], axis=1), [(3,)]),
    ("concat", lambda xp, a, b: xp.concat([a, b, _c(2)]), [(2,), (3,)]),
    ("concat axis 1", lambda xp, a, b: xp.concat([a, b], axis=1), [(2, 2), (2, 3)]),
    ("constant @ vector", lambda xp, a: _c(3, 4) @ a, [(4,)]),
    ("matrix @ vector", lambda xp, a, b: a @ b, [(3, 4), (4,)]),
    ("vector @ matrix", lambda xp, a, b: a @ b, [(4,), (4, 2)]),
    ("matrix @ matrix", lambda xp, a, b: a @ b, [(3, 4), (4, 2)]),
    ("vector @ vector", lambda xp, a, b: a @ b, [(4,), (4,)]),
    ("stack @ stack", lambda xp, a, b: a @ b, [(2, 3, 4), (2, 4, 2)]),
    ("matrix @ stack", lambda xp, a, b: a @ b, [(3, 4), (2, 4, 2)]),
    ("stack @ matrix", lambda xp, a, b: a @ b, [(2, 3, 4), (4, 2)]),
    ("stack @ broadcast stack", lambda xp, a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
    ("constant stack @ stack", lambda xp, a: _c(2, 3, 4) @ a, [(2, 4, 2)]),
    ("take", lambda xp, a: xp.take(a, np.array([2, 0, 2, 1])) * a[0], [(3,)]),
    ("take axis 0 of a matrix", lambda xp, a: xp.take(a, np.array([1, 1, 0]), axis=0), [(2, 3)]),
    ("take axis 1", lambda xp, a: xp.take(a, np.array([0, 2, 2, 0, 1]), axis=-1), [(2, 3)]),
    ("take_add", lambda xp, a: P.take_add(a, indices=np.array([0, 3, 0]), axis=-1, size=4), [(3,)]),
    ("zeros_like and ones_like", lambda xp, a: xp.stack([a, xp.zeros_like(a), xp.ones_like(a) * a]), [(3,)]),
]


def packed(fn, shapes):
    """fn over the arguments packed into one flat vector; returns (f(xp, x), n)."""
    sizes = [math.prod(s) for s in shapes]
    offsets = np.cumsum([0] + sizes)

    def f(xp, x):
        args = [xp.reshape(x[offsets[i]:offsets[i + 1]], shape) for i, shape in enumerate(shapes)]
        return xp.reshape(fn(xp, *args), (-1,))

    return f, int(offsets[-1])


def case_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, n), rng.standard_normal(n), rng.standard_normal((3, n))


@pytest.mark.parametrize("label, fn, shapes", CASES, ids=[c[0] for c in CASES])
def test_rules_match_finite_differences(label, fn, shapes, fd_jacobian):
    f, n = packed(fn, shapes)
    x, t, _ = case_inputs(n)
    ref = fd_jacobian(lambda z: f(np, z), x)
    g = lambda z: f(engine.xp, z)  # noqa: E731
    assert relative_error(engine.jacfwd(g)(x), ref) < FD_RTOL
    assert relative_error(engine.jacrev(g)(x), ref) < FD_RTOL
    y, y_dot = engine.jvp(g, x, t)
    np.testing.assert_allclose(y, f(np, x), rtol=1e-15)
    assert relative_error(y_dot, ref @ t) < FD_RTOL
    v = np.cos(np.arange(ref.shape[0]))
    assert relative_error(engine.vjp(g, x)[1](v), v @ ref) < FD_RTOL


@pytest.mark.parametrize("label, fn, shapes", CASES, ids=[c[0] for c in CASES])
def test_batched_directions_equal_single_passes(label, fn, shapes):
    f, n = packed(fn, shapes)
    x, _, ts = case_inputs(n, seed=1)
    g = lambda z: f(engine.xp, z)  # noqa: E731
    _, batched = engine.jvp(g, x, ts)
    np.testing.assert_allclose(batched, [engine.jvp(g, x, t)[1] for t in ts], rtol=1e-14, atol=1e-15)
    y, pullback = engine.vjp(g, x)
    vs = np.random.default_rng(2).standard_normal((3, y.size))
    np.testing.assert_allclose(pullback(vs), [pullback(v) for v in vs], rtol=1e-14, atol=1e-15)


def test_every_primitive_of_the_table_is_exercised():
    recorded = set()
    for _, fn, shapes in CASES:
        f, n = packed(fn, shapes)
        _, pullback = engine.vjp(lambda z: f(engine.xp, z), case_inputs(n)[0])
        recorded |= {entry[0].name for entry in pullback.tape}
    assert recorded == set(P.PRIMITIVES)


def test_max_splits_the_cotangent_over_ties():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    f = lambda z: engine.xp.reshape(engine.xp.max(z), (1,))  # noqa: E731
    np.testing.assert_array_equal(engine.vjp(f, x)[1](np.array([1.0])), [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(engine.jvp(f, x, np.array([0.0, 2.0, 4.0, 8.0]))[1], [3.0])


def test_unbroadcast_sums_new_and_stretched_axes():
    g = np.arange(24.0).reshape(2, 3, 4)  # batch of 2 cotangents of shape (3, 4)
    np.testing.assert_array_equal(P.unbroadcast(g, (4,)), g.sum(axis=1))
    np.testing.assert_array_equal(P.unbroadcast(g, (3, 1)), g.sum(axis=2, keepdims=True))
    np.testing.assert_array_equal(P.unbroadcast(g, ()), g.sum(axis=(1, 2)))
    assert P.unbroadcast(g, (3, 4)) is g


@pytest.mark.parametrize("bad, message", [
    (lambda xp, x: x[np.array([0, 1])], "integer and slice"),
    (lambda xp, x: x ** x, "exponent"),
    (lambda xp, x: np.sin(x), "ufunc"),
    (lambda xp, x: xp.matmul(xp.reshape(x, (1, 1, 4)), x), "at least 2-D"),
    (lambda xp, x: xp.take(x, np.array([0.0, 1.0])), "integer index"),
])
def test_unsupported_uses_fail_clearly(bad, message):
    with pytest.raises((TypeError, ValueError, IndexError), match=message):
        engine.vjp(lambda z: bad(engine.xp, z), np.ones(4))
