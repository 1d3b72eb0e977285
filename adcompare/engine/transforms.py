"""The transforms: jvp, vjp, jacfwd, jacrev, grad and the three Hessian-vector products.

Inputs and outputs are plain numpy at the top level. Inside another transform they may be
tracers of the outer level, which is what makes the HVPs compositions of two transforms:
  H t = J_{∇f}(x) t              forward-over-reverse  (jvp of grad)
      = ∇ₓ⟨∇f(x), t⟩ = Hᵀ t       reverse-over-reverse  (vjp of grad; H is symmetric)
      = ∇ₓ (f'(x) t)              reverse-over-forward  (grad of a jvp)
A direction with one more leading axis than x (tangents) or y (cotangents) is a batch of k
directions, all propagated in the same single pass.
"""

from __future__ import annotations

import numpy as np

from adcompare.engine import primitives as P
from adcompare.engine.core import Tracer, new_level, value_of
from adcompare.engine.forward import Dual
from adcompare.engine.reverse import Var, backward_sweep, tape_bytes
from adcompare.errors import choose_from


def _input(x):
    """x as an array of a floating dtype (tracers of an outer transform pass unchanged)."""
    if isinstance(x, Tracer):
        return x
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _direction(d, like, what):
    """(d batched to (k,) + shape, whether it was given batched); d cast to like's dtype."""
    shape, dtype = np.shape(like), value_of(like).dtype
    if not isinstance(d, Tracer):
        d = np.asarray(d, dtype=dtype)
    if np.shape(d) == shape:
        return P.reshape(d, shape=(1,) + shape), False
    if np.ndim(d) == len(shape) + 1 and np.shape(d)[1:] == shape:
        return d, True
    raise ValueError(f"engine: {what} must have shape {shape} or (k, *{shape}), got {np.shape(d)}")


def _unbatch(d, batched):
    return d if batched else P.getitem(d, idx=(Ellipsis, 0) + (slice(None),) * (np.ndim(d) - 1))


def _output(y):
    """Tracers of an outer transform unchanged; anything else as an ndarray (not a numpy scalar)."""
    return y if isinstance(y, Tracer) else np.asarray(y)


def jvp(fun, x, t):
    """(f(x), J t) by one forward pass; t of shape (k, n) gives J tᵀ as (k, m) in the same pass."""
    x = _input(x)
    t, batched = _direction(t, x, "the tangent")
    level = new_level()
    y = fun(Dual(x, t, level))
    if isinstance(y, Dual) and y.level == level:
        y, y_dot = _output(y.value), y.tangent
    else:                                       # f does not depend on x
        y = _output(y)
        y_dot = np.zeros(np.shape(t)[:1] + np.shape(y), dtype=value_of(y).dtype)
    return y, _output(_unbatch(y_dot, batched))


class Pullback:
    """v ↦ vᵀJ from one recording; reusable (the tape is kept, cotangents are not).

    `tape_bytes` is what the recording holds for the sweep (the reverse-mode memory metric) and
    `tape_length` the number of recorded primitive calls.
    """

    __slots__ = ("tape", "x", "y", "level")

    def __init__(self, tape, x, y, level):
        self.tape, self.x, self.y, self.level = tape, x, y, level

    def __call__(self, v):
        y = self.y
        v, batched = _direction(v, y, "the cotangent")
        x_bar = None
        if isinstance(y, Var) and y.level == self.level:
            y.node.grad = v
            backward_sweep(self.tape)
            x_bar, self.x.node.grad = self.x.node.grad, None
        if x_bar is None:                       # f does not depend on x
            x_bar = np.zeros(np.shape(v)[:1] + np.shape(self.x), dtype=value_of(self.x).dtype)
        return _output(_unbatch(x_bar, batched))

    @property
    def tape_bytes(self) -> int:
        return tape_bytes(self.tape, self.x)

    @property
    def tape_length(self) -> int:
        return len(self.tape)


def vjp(fun, x):
    """(f(x), pullback): records f once on a tape; pullback(v) sweeps it with v ((m,) or (k, m))."""
    x = _input(x)
    level, tape = new_level(), []
    x_var = Var(x, level, tape)
    y = fun(x_var)
    value = _output(y.value if isinstance(y, Var) and y.level == level else y)
    return value, Pullback(tape, x_var, y, level)


def jacfwd(fun):
    """x ↦ J (m, n) from ONE forward pass carrying the n unit tangents."""
    def jacobian(x):
        x = _input(x)
        n = np.size(value_of(x))
        _, jt = jvp(fun, x, np.eye(n, dtype=value_of(x).dtype).reshape((n,) + np.shape(x)))
        return P.matrix_transpose(jt) if np.ndim(jt) == 2 else jt
    return jacobian


def jacrev(fun):
    """x ↦ J (m, n) from ONE recording and ONE sweep carrying the m unit cotangents."""
    def jacobian(x):
        y, pullback = vjp(fun, x)
        m = np.size(value_of(y))
        return pullback(np.eye(m, dtype=value_of(y).dtype).reshape((m,) + np.shape(y)))
    return jacobian


GRAD_MODES = ("fwd", "rev")


def grad(fun, mode: str = "rev"):
    """x ↦ ∇f(x) for f with a single output (shape () or (1,)), shaped like x: mode "rev" is one
    reverse pass, "fwd" one forward pass carrying the n unit tangents (vector mode). Either nests
    inside any transform (the nested-AD interface problems reach as `xp.grad`): each call takes a
    level of its own, so an inner gradient's perturbation never mixes with an outer one's."""
    if mode not in GRAD_MODES:
        raise choose_from("xp.grad mode", mode, GRAD_MODES)
    return _reverse_gradient(fun) if mode == "rev" else _forward_gradient(fun)


def _reverse_gradient(fun):
    def gradient(x):
        y, pullback = vjp(fun, x)
        _check_scalar(y)
        return pullback(np.ones(np.shape(y), dtype=value_of(y).dtype))
    return gradient


def _forward_gradient(fun):
    def gradient(x):
        x = _input(x)
        shape = np.shape(x)
        n = int(np.prod(shape, dtype=int))
        y, y_dot = jvp(fun, x, np.eye(n, dtype=value_of(x).dtype).reshape((n,) + shape))
        _check_scalar(y)
        return P.reshape(y_dot, shape=shape)
    return gradient


def _check_scalar(y):
    if np.size(value_of(y)) != 1:
        raise ValueError(f"engine: grad needs a function with one output, got shape {np.shape(y)}")


def hvp_fwd_rev(fun, x, t):
    """H t as the JVP of the gradient (forward-over-reverse)."""
    return jvp(grad(fun), x, t)[1]


def hvp_rev_rev(fun, x, t):
    """H t as the VJP of the gradient, Hᵀ t = H t (reverse-over-reverse)."""
    return vjp(grad(fun), x)[1](t)


def hvp_rev_fwd(fun, x, t):
    """H t as the gradient of x ↦ f'(x) t (reverse-over-forward)."""
    return grad(lambda z: jvp(fun, z, t)[1])(x)
