"""The primitive table: each primitive's numpy implementation, JVP, VJP and pattern rules, side by side.

Conventions (they make one rule serve the single and the batched case):
- a tangent t or cotangent g has ONE leading batch axis: shape (k,) + shape of the value;
- axes are stored negative, so an axis still names the same dimension after a batch axis is
  prepended (sum, max, roll, stack, concat, getitem use `Ellipsis` + trailing entries);
- rules are written with the engine's own ops (the names below), never raw numpy on tracers,
  so a rule applied to traced values is recorded/differentiated again: that is nesting;
- elementwise binary primitives are marked `broadcasts=True`: the transforms broadcast tangents
  to the output shape before the JVP rule and apply `unbroadcast` after the VJP rule.

Rules receive `ans` (the output) so exp/tanh/sqrt/div reuse it instead of recomputing, and
each primitive declares what its VJP rules read (`saves`), which is all a recording keeps.
The pattern rules (sparsity detection, `sparsity.py`) map the arguments' dependency matrices to
the output's; `pattern="moves"` is the rule structural primitives share (the op applied to
element indices).
"""

from __future__ import annotations

import builtins

import numpy as np

from adcompare.engine import sparsity
from adcompare.engine.core import Primitive, value_of

PRIMITIVES: dict[str, Primitive] = {}
elementwise = sparsity.elementwise


def defprim(name, impl, jvp, vjp, saves, broadcasts=False, pattern=None) -> Primitive:
    """Add one row to the table; the returned primitive is also the op that applies it."""
    if pattern is None:
        raise ValueError(f"primitive {name}: every primitive needs a pattern rule")
    if pattern == "moves":
        pattern = sparsity.moves(impl)
    prim = Primitive(name, impl, jvp, vjp, saves, broadcasts, pattern)
    PRIMITIVES[name] = prim
    return prim


class PerArgument:
    """VJP rules of an n-ary primitive: `rules[i]` is `rule(i, g, ans, *args, **params)` with i bound."""

    __slots__ = ("rule",)

    def __init__(self, rule):
        self.rule = rule

    def __getitem__(self, i):
        return lambda g, ans, *args, **params: self.rule(i, g, ans, *args, **params)


def _reduce_impl(reducer):
    # np.sum of a 1-D array is a numpy scalar; keep 0-d ndarrays so `.nbytes`, `.shape` and
    # in-place-free semantics are uniform.
    return lambda x, axis, keepdims: np.asarray(reducer(x, axis=axis, keepdims=keepdims))


def _stack_impl(*xs, axis):
    return np.stack(xs, axis=axis)


def _concat_impl(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _scatter_impl(g, idx, shape):
    """Zeros of `lead + shape` with `g` written at `idx` (idx = (Ellipsis, *basic entries))."""
    kept = builtins.sum(isinstance(i, slice) for i in idx)
    out = np.zeros(g.shape[: g.ndim - kept] + tuple(shape), dtype=g.dtype)
    out[idx] = g
    return out


# --- elementwise -----------------------------------------------------------------------------
# Unary: ∂exp = exp, ∂log = 1/x, ∂sin = cos, ∂cos = −sin, ∂tanh = 1 − tanh², ∂√x = 1/(2√x).
negative = defprim("negative", np.negative, saves="none",
                   jvp=(lambda t, ans, x: -t,),
                   vjp=(lambda g, ans, x: -g,), pattern=elementwise)
exp = defprim("exp", np.exp, saves="ans",
              jvp=(lambda t, ans, x: t * ans,),
              vjp=(lambda g, ans, x: g * ans,), pattern=elementwise)
log = defprim("log", np.log, saves="args",
              jvp=(lambda t, ans, x: t / x,),
              vjp=(lambda g, ans, x: g / x,), pattern=elementwise)
sin = defprim("sin", np.sin, saves="args",
              jvp=(lambda t, ans, x: t * cos(x),),
              vjp=(lambda g, ans, x: g * cos(x),), pattern=elementwise)
cos = defprim("cos", np.cos, saves="args",
              jvp=(lambda t, ans, x: -(t * sin(x)),),
              vjp=(lambda g, ans, x: -(g * sin(x)),), pattern=elementwise)
tanh = defprim("tanh", np.tanh, saves="ans",
               jvp=(lambda t, ans, x: t * (1.0 - ans * ans),),
               vjp=(lambda g, ans, x: g * (1.0 - ans * ans),), pattern=elementwise)
sqrt = defprim("sqrt", np.sqrt, saves="ans",
               jvp=(lambda t, ans, x: t / (2.0 * ans),),
               vjp=(lambda g, ans, x: g / (2.0 * ans),), pattern=elementwise)
absolute = defprim("absolute", np.abs, saves="args",
                   jvp=(lambda t, ans, x: t * np.sign(value_of(x)),),
                   vjp=(lambda g, ans, x: g * np.sign(value_of(x)),), pattern=elementwise)
# x ** p for a constant exponent p: ∂ = p·x^(p−1). p is a parameter, never differentiated.
power = defprim("power", lambda x, p: np.power(x, p), saves="args",
                jvp=(lambda t, ans, x, p: t * (p * x ** (p - 1)),),
                vjp=(lambda g, ans, x, p: g * (p * x ** (p - 1)),), pattern=elementwise)

# Binary, broadcasting: the rules see tangents already broadcast to the output's shape, and
# return cotangents of the output's shape (summed back to each argument's shape afterwards).
add = defprim("add", np.add, saves="none",
              jvp=(lambda t, ans, x, y: t, lambda t, ans, x, y: t),
              vjp=(lambda g, ans, x, y: g, lambda g, ans, x, y: g), broadcasts=True, pattern=elementwise)
subtract = defprim("subtract", np.subtract, saves="none",
                   jvp=(lambda t, ans, x, y: t, lambda t, ans, x, y: -t),
                   vjp=(lambda g, ans, x, y: g, lambda g, ans, x, y: -g), broadcasts=True, pattern=elementwise)
multiply = defprim("multiply", np.multiply, saves="args",
                   jvp=(lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t),
                   vjp=(lambda g, ans, x, y: g * y, lambda g, ans, x, y: x * g), broadcasts=True, pattern=elementwise)
# x / y: ∂x = 1/y, ∂y = −x/y² = −ans/y.
divide = defprim("divide", np.divide, saves="both",
                 jvp=(lambda t, ans, x, y: t / y, lambda t, ans, x, y: -(t * ans) / y),
                 vjp=(lambda g, ans, x, y: g / y, lambda g, ans, x, y: -(g * ans) / y), broadcasts=True,
                 pattern=elementwise)
# where(cond, x, y) with a constant boolean cond: the derivative flows to the chosen branch; the
# pattern is both branches' (cond depends on x's values, the pattern must hold at every x).
where = defprim("where", lambda x, y, cond: np.where(cond, x, y), saves="none",
                jvp=(lambda t, ans, x, y, cond: where(t, 0.0, cond=cond),
                     lambda t, ans, x, y, cond: where(0.0, t, cond=cond)),
                vjp=(lambda g, ans, x, y, cond: where(g, 0.0, cond=cond),
                     lambda g, ans, x, y, cond: where(0.0, g, cond=cond)), broadcasts=True, pattern=elementwise)


# --- reductions --------------------------------------------------------------------------------
def _keepdims_shape(shape, axis):
    return tuple(1 if i - len(shape) in axis else s for i, s in enumerate(shape))


def _with_kept_dims(g, x, axis, keepdims):
    """The batched reduction result g reshaped so it broadcasts against (k,) + x.shape."""
    return g if keepdims else reshape(g, shape=g.shape[:1] + _keepdims_shape(x.shape, axis))


def _max_share(ans, x, axis, keepdims):
    """Where x attains its max: 1/(number of ties), else 0. The cotangent is split over ties."""
    xv, av = value_of(x), value_of(ans)
    if not keepdims:
        av = av.reshape(_keepdims_shape(xv.shape, axis))
    hit = (xv == av).astype(xv.dtype)
    return hit / hit.sum(axis=axis, keepdims=True)


def _reduced_pattern(patterns, ans, x, axis, keepdims):
    """Each result element depends on every element it reduces (for max: any of them may win)."""
    groups = np.broadcast_to(np.arange(ans.size).reshape(_keepdims_shape(x.shape, axis)), x.shape)
    return sparsity.aggregate(patterns[0], groups, ans.size)


# sum: tangent = sum of tangents; cotangent = g broadcast back over the summed axes.
sum = defprim("sum", _reduce_impl(np.sum), saves="none",
              jvp=(lambda t, ans, x, axis, keepdims: sum(t, axis=axis, keepdims=keepdims),),
              vjp=(lambda g, ans, x, axis, keepdims:
                   broadcast_to(_with_kept_dims(g, x, axis, keepdims), shape=g.shape[:1] + x.shape),),
              pattern=_reduced_pattern)
# max: a weighted sum with weights `_max_share` (a constant once x is known).
max = defprim("max", _reduce_impl(np.max), saves="both",
              jvp=(lambda t, ans, x, axis, keepdims:
                   sum(t * _max_share(ans, x, axis, keepdims), axis=axis, keepdims=keepdims),),
              vjp=(lambda g, ans, x, axis, keepdims:
                   _with_kept_dims(g, x, axis, keepdims) * _max_share(ans, x, axis, keepdims),),
              pattern=_reduced_pattern)


# --- structure (linear primitives: the tangent goes through the same op) ---------------------
reshape = defprim("reshape", lambda x, shape: np.reshape(x, shape), saves="none",
                  jvp=(lambda t, ans, x, shape: reshape(t, shape=t.shape[:1] + ans.shape),),
                  vjp=(lambda g, ans, x, shape: reshape(g, shape=g.shape[:1] + x.shape),),
                  pattern=sparsity.same)
broadcast_to = defprim("broadcast_to", lambda x, shape: np.broadcast_to(x, shape), saves="none",
                       jvp=(lambda t, ans, x, shape: broadcast_batched(t, ans.shape),),
                       vjp=(lambda g, ans, x, shape: unbroadcast(g, x.shape),), pattern="moves")
matrix_transpose = defprim("matrix_transpose", lambda x: np.swapaxes(x, -1, -2), saves="none",
                           jvp=(lambda t, ans, x: matrix_transpose(t),),
                           vjp=(lambda g, ans, x: matrix_transpose(g),), pattern="moves")
roll = defprim("roll", lambda x, shift, axis: np.roll(x, shift, axis), saves="none",
               jvp=(lambda t, ans, x, shift, axis: roll(t, shift=shift, axis=axis),),
               vjp=(lambda g, ans, x, shift, axis: roll(g, shift=_negate(shift), axis=axis),),
               pattern="moves")
# getitem with basic indices only; idx = (Ellipsis, *entries) indexes the trailing dimensions.
# Its transpose writes the cotangent into zeros (`scatter`), and scatter's transpose is getitem.
getitem = defprim("getitem", lambda x, idx: x[idx], saves="none",
                  jvp=(lambda t, ans, x, idx: getitem(t, idx=idx),),
                  vjp=(lambda g, ans, x, idx: scatter(g, idx=idx, shape=x.shape[x.ndim - len(idx) + 1:]),),
                  pattern="moves")
scatter = defprim("scatter", _scatter_impl, saves="none",
                  jvp=(lambda t, ans, g, idx, shape: scatter(t, idx=idx, shape=shape),),
                  vjp=(lambda g, ans, x, idx, shape: getitem(g, idx=idx),), pattern="moves")
stack = defprim("stack", _stack_impl, saves="none",
                jvp=lambda ts, ans, *xs, axis: stack(*_zeros_for_missing(ts, xs), axis=axis),
                vjp=PerArgument(lambda i, g, ans, *xs, axis:
                                getitem(g, idx=(Ellipsis, i) + (slice(None),) * (-axis - 1))),
                pattern="moves")
concat = defprim("concat", _concat_impl, saves="none",
                 jvp=lambda ts, ans, *xs, axis: concat(*_zeros_for_missing(ts, xs), axis=axis),
                 vjp=PerArgument(lambda i, g, ans, *xs, axis:
                                 getitem(g, idx=(Ellipsis, _concat_slice(xs, i, axis))
                                         + (slice(None),) * (-axis - 1))),
                 pattern="moves")


# take: gather along one axis with a constant integer index array (bundle adjustment's
# cameras per observation). Its transpose adds each cotangent back where it was read from
# (`take_add`, a scatter-add: an index read twice receives both contributions), and take_add's
# transpose is take again. take_add's pattern: each output element unites the rows added into it.
def _take_add_impl(g, indices, axis, size):
    moved = np.moveaxis(g, axis, 0)
    out = np.zeros((size,) + moved.shape[1:], dtype=g.dtype)
    np.add.at(out, indices, moved)
    return np.moveaxis(out, 0, axis)


def _take_add_pattern(patterns, ans, g, indices, axis, size):
    destination = np.take(np.arange(ans.size).reshape(ans.shape), indices, axis=axis)
    return sparsity.aggregate(patterns[0], destination, ans.size)


take = defprim("take", lambda x, indices, axis: np.take(x, indices, axis=axis), saves="none",
               jvp=(lambda t, ans, x, indices, axis: take(t, indices=indices, axis=axis),),
               vjp=(lambda g, ans, x, indices, axis:
                    take_add(g, indices=indices, axis=axis, size=x.shape[axis]),), pattern="moves")
take_add = defprim("take_add", _take_add_impl, saves="none",
                   jvp=(lambda t, ans, g, indices, axis, size: take_add(t, indices=indices, axis=axis, size=size),),
                   vjp=(lambda g, ans, x, indices, axis, size: take(g, indices=indices, axis=axis),),
                   pattern=_take_add_pattern)


# --- stacked matmul (both operands at least 2-D, one at least 3-D) ---------------------------
# A stack of matrix products with numpy's broadcasting of the leading (stack) dimensions, as in
# a (k, N, d) @ (k, d, d) batch of Gaussian components. Tangents and cotangents keep their own
# leading batch axis in front of the stack dimensions (`_stack_aligned` pads them with singleton
# axes so it never lines up with a stack dimension); the cotangents g @ bᵀ and aᵀ @ g are summed
# back over stack dimensions an operand was broadcast along (`unbroadcast`).
def _stack_aligned(t, stack_ndim):
    """A batched tangent (k,) + s padded to (k,) + (1, …) + s with `stack_ndim` stack dimensions."""
    missing = stack_ndim + 3 - t.ndim
    return reshape(t, shape=t.shape[:1] + (1,) * missing + t.shape[1:]) if missing > 0 else t


def _stack_ndim(a, b):
    return builtins.max(a.ndim, b.ndim) - 2


matmul_stacked = defprim(
    "matmul_stacked", np.matmul, saves="args",
    jvp=(lambda t, ans, a, b: matmul_stacked(_stack_aligned(t, _stack_ndim(a, b)), b),
         lambda t, ans, a, b: matmul_stacked(a, _stack_aligned(t, _stack_ndim(a, b)))),
    vjp=(lambda g, ans, a, b: unbroadcast(matmul_stacked(g, matrix_transpose(b)), a.shape),
         lambda g, ans, a, b: unbroadcast(matmul_stacked(matrix_transpose(a), g), b.shape)),
    pattern=sparsity.matmul)


# --- matmul (operands 1-D or 2-D) ------------------------------------------------------------
# y = a @ b; tangent t_a @ b + a @ t_b; cotangents g @ bᵀ and aᵀ @ g. A batch of k tangents or
# cotangents is folded into the rows of ONE 2-D matmul (one BLAS call, not k), by `_rows_matmul`.
def _rows_matmul(t, b):
    """t_i @ b for each batch entry i of t (t: (k,) + a.shape, a 1-D or 2-D), as one matmul."""
    if t.ndim <= 2:
        return matmul(t, b)
    k, rows = t.shape[0], t.shape[1]
    return reshape(matmul(reshape(t, shape=(k * rows, t.shape[2])), b), shape=(k, rows) + b.shape[1:])


def _left_matmul(a, t):
    """a @ t_i for each batch entry i of t (t: (k,) + b.shape, b 1-D or 2-D), as one matmul."""
    a_t = matrix_transpose(a) if a.ndim == 2 else a
    if t.ndim <= 2:                        # b is a vector: a @ t_i = t_i @ aᵀ, rows of one matmul
        return matmul(t, a_t)
    rows = _rows_matmul(matrix_transpose(t), a_t)   # t_iᵀ aᵀ = (a t_i)ᵀ
    return matrix_transpose(rows) if a.ndim == 2 else rows


def _outer(g, b):
    """g_i ⊗ b for each batch entry: (k,) + g.shape[1:] + b.shape."""
    return reshape(g, shape=g.shape + (1,) * b.ndim) * b


def _matmul_vjp_a(g, ans, a, b):
    return _outer(g, b) if b.ndim == 1 else _rows_matmul(g, matrix_transpose(b))


def _matmul_vjp_b(g, ans, a, b):
    if a.ndim == 1:                        # y = a @ b: ∂b = a ⊗ g
        g_rows = reshape(g, shape=g.shape[:1] + (1,) + g.shape[1:])
        return g_rows * reshape(a, shape=a.shape + (1,) * (b.ndim - 1))
    return _left_matmul(matrix_transpose(a), g)


matmul = defprim("matmul", np.matmul, saves="args",
                 jvp=(lambda t, ans, a, b: _rows_matmul(t, b), lambda t, ans, a, b: _left_matmul(a, t)),
                 vjp=(_matmul_vjp_a, _matmul_vjp_b), pattern=sparsity.matmul)


# --- helpers shared by the rules and the transforms --------------------------------------------
def unbroadcast(g, shape):
    """Sum a batched cotangent g, (k,) + broadcast shape, back to (k,) + shape.

    Broadcasting copies a value along the new leading axes and along the axes where `shape` has
    size 1, so its transpose sums along exactly those axes.
    """
    extra = g.ndim - 1 - len(shape)
    if extra > 0:
        g = sum(g, axis=tuple(range(1 - g.ndim, 1 - g.ndim + extra)), keepdims=False)
    ones = tuple(i - len(shape) for i, s in enumerate(shape) if s == 1 and g.shape[1 + i] != 1)
    if ones:
        g = sum(g, axis=ones, keepdims=True)
    return g


def broadcast_batched(t, shape):
    """A batched tangent t, (k,) + s, broadcast to (k,) + shape (s broadcastable to shape)."""
    missing = len(shape) + 1 - t.ndim
    if missing:
        t = reshape(t, shape=t.shape[:1] + (1,) * missing + t.shape[1:])
    return broadcast_to(t, shape=t.shape[:1] + tuple(shape))


def _negate(shift):
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


def _zeros_for_missing(tangents, xs):
    """Tangents of an n-ary op with the missing (zero) ones materialised as zeros."""
    like = next(t for t in tangents if t is not None)
    k, dtype = like.shape[0], value_of(like).dtype
    return [t if t is not None else np.zeros((k,) + np.shape(x), dtype=dtype) for t, x in zip(tangents, xs)]


def _concat_slice(xs, i, axis):
    start = int(np.sum([np.shape(x)[axis] for x in xs[:i]], dtype=int))
    return slice(start, start + np.shape(xs[i])[axis])
