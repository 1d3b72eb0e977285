"""The engine's array namespace (`engine.xp`): the array-API subset the problems are written in,
with the two loops and the nested gradient every problem namespace has (`backends.namespace`).

Each function normalises its arguments (axes made negative, indices made explicit) and applies
one primitive, or a short composition of primitives. Plain numpy arrays and Python scalars are
constants; on them every function is just numpy. The arithmetic operators of traced arrays are
these same functions. The loops are plain Python loops (each iteration traced, as eager frameworks
run them); `grad(fun, mode)` is the engine's gradient by either mode, which nests.
"""

from __future__ import annotations

import numbers

import numpy as np

from adcompare.engine import primitives as P
from adcompare.engine.core import Tracer, bind, value_of
from adcompare.engine.transforms import grad  # noqa: F401  (the nested-AD interface: xp.grad(fun, mode))

pi = np.pi
e = np.e
float32 = np.float32
float64 = np.float64

# Elementwise: straight from the table.
negative = P.negative
exp, log, sin, cos, tanh, sqrt, abs = P.exp, P.log, P.sin, P.cos, P.tanh, P.sqrt, P.absolute
add, subtract, multiply, divide = P.add, P.subtract, P.multiply, P.divide
matrix_transpose = P.matrix_transpose


def square(x):
    return P.power(x, p=2)


def pow(x, p):
    """x ** p for a constant number p (integer exponents are what the problems use)."""
    if isinstance(p, Tracer) or not isinstance(p, (numbers.Number, np.number)):
        if isinstance(x, numbers.Number) and not isinstance(p, numbers.Number):
            return exp(p * np.log(x))           # constant base: b^p = exp(p log b)
        raise TypeError(f"engine: the exponent of ** must be a constant number, got {type(p).__name__}")
    if p == 0:
        return np.ones_like(value_of(x))       # a constant: its derivative is zero everywhere
    return P.power(x, p=p)


def where(condition, x1, x2):
    """where(cond, x1, x2) with a constant (non-differentiated) condition."""
    return P.where(x1, x2, cond=np.asarray(value_of(condition), dtype=bool))


def _axes(axis, ndim):
    """Axes as a tuple of negative ints (None = all), so they survive a prepended batch axis."""
    if axis is None:
        return tuple(range(-ndim, 0))
    axes = axis if isinstance(axis, tuple) else (axis,)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"engine: axis {a} is out of bounds for an array of {ndim} dimensions")
    return tuple(sorted(a - ndim if a >= 0 else a for a in axes))


def sum(x, axis=None, keepdims=False):
    return P.sum(x, axis=_axes(axis, np.ndim(x)), keepdims=bool(keepdims))


def max(x, axis=None, keepdims=False):
    return P.max(x, axis=_axes(axis, np.ndim(x)), keepdims=bool(keepdims))


def mean(x, axis=None, keepdims=False):
    axes = _axes(axis, np.ndim(x))
    count = int(np.prod([np.shape(x)[a] for a in axes], dtype=int))
    return sum(x, axis=axes, keepdims=keepdims) / count


def reshape(x, shape):
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return P.reshape(x, shape=tuple(int(s) for s in shape))


def broadcast_to(x, shape):
    return P.broadcast_to(x, shape=tuple(shape))


def roll(x, shift, axis=None):
    """np.roll; axis=None rolls the flattened array (flatten, roll, restore)."""
    if axis is None:
        shape = np.shape(x)
        flat = x if len(shape) == 1 else reshape(x, (-1,))
        rolled = P.roll(flat, shift=int(shift), axis=-1)
        return rolled if len(shape) == 1 else reshape(rolled, shape)
    ndim = np.ndim(x)
    if isinstance(axis, tuple):
        return P.roll(x, shift=tuple(int(s) for s in shift), axis=_axes_in_order(axis, ndim))
    return P.roll(x, shift=int(shift), axis=_axes_in_order((axis,), ndim)[0])


def _axes_in_order(axes, ndim):
    return tuple(a - ndim if a >= 0 else a for a in axes)


def stack(arrays, axis=0):
    arrays = list(arrays)
    ndim = np.ndim(arrays[0]) + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"engine: stack axis {axis} is out of bounds for {ndim} dimensions")
    return P.stack(*arrays, axis=axis - ndim if axis >= 0 else axis)


def concat(arrays, axis=0):
    arrays = list(arrays)
    return P.concat(*arrays, axis=_axes_in_order((axis,), np.ndim(arrays[0]))[0])


concatenate = concat


def matmul(x1, x2):
    """Matrix products: 1-D and 2-D operands, or stacks of matrices (both operands ≥ 2-D)."""
    d1, d2 = np.ndim(x1), np.ndim(x2)
    if 1 <= d1 <= 2 and 1 <= d2 <= 2:
        return P.matmul(x1, x2)
    if d1 >= 2 and d2 >= 2:
        return P.matmul_stacked(x1, x2)
    raise ValueError(f"engine: matmul of a {d1}-D and a {d2}-D operand; stacked products need both "
                     "operands at least 2-D (reshape a vector to a column)")


def take(x, indices, axis=None):
    """Elements of x at constant integer `indices` along `axis` (None: x must be 1-D)."""
    ndim = np.ndim(x)
    if axis is None:
        if ndim != 1:
            raise ValueError("engine: take needs an axis for an array of more than one dimension")
        axis = 0
    if not -ndim <= axis < ndim:
        raise ValueError(f"engine: take axis {axis} is out of bounds for {ndim} dimensions")
    indices = np.asarray(value_of(indices))
    if not np.issubdtype(indices.dtype, np.integer) or indices.ndim != 1:
        raise TypeError(f"engine: take needs a 1-D integer index array, got {indices.dtype} of shape "
                        f"{indices.shape}")
    return P.take(x, indices=indices, axis=axis - ndim if axis >= 0 else axis)


def zeros_like(x):
    """A constant: zeros of x's shape and dtype (no derivative flows through it)."""
    return np.zeros_like(value_of(x))


def ones_like(x):
    return np.ones_like(value_of(x))


def getitem(x, key):
    """Basic indexing: integers and slices only (no arrays, None or Ellipsis)."""
    key = key if isinstance(key, tuple) else (key,)
    ndim = np.ndim(x)
    for k in key:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer, slice)):
            raise TypeError(f"engine: only integer and slice indices are supported, got {k!r}")
    if len(key) > ndim:
        raise IndexError(f"engine: too many indices ({len(key)}) for an array of {ndim} dimensions")
    entries = tuple(int(k) if not isinstance(k, slice) else k for k in key)
    return P.getitem(x, idx=(Ellipsis,) + entries + (slice(None),) * (ndim - len(key)))


def asarray(x, dtype=None):
    """Constants as numpy arrays; traced arrays are returned unchanged."""
    return x if isinstance(x, Tracer) else np.asarray(x, dtype=dtype)


def fori_loop(lower, upper, body, init):
    """val = body(i, val) for i = lower … upper − 1 (jax.lax.fori_loop's signature), as a Python
    loop; `init` an array or a tuple of arrays."""
    val = init
    for i in range(lower, upper):
        val = body(i, val)
    return val


def while_loop(cond, body, init):
    """val = body(val) while cond(val) (jax.lax.while_loop's signature), as a Python loop: cond
    returns a boolean scalar array, read as a Python bool each iteration."""
    val = init
    while cond(val):
        val = body(val)
    return val


_NO_PARAMS: dict = {}


def _method(f, reflected=False):
    """An operator method; primitives go straight to `bind` (the hot path of every problem)."""
    if isinstance(f, P.Primitive):
        if reflected:
            return lambda self, other: bind(f, (other, self), _NO_PARAMS)
        return lambda self, other: bind(f, (self, other), _NO_PARAMS)
    return (lambda self, other: f(other, self)) if reflected else (lambda self, other: f(self, other))


# The operators of traced arrays are the functions above.
for _name, _f in [("add", add), ("sub", subtract), ("mul", multiply), ("truediv", divide),
                  ("matmul", matmul), ("pow", pow)]:
    setattr(Tracer, f"__{_name}__", _method(_f))
    setattr(Tracer, f"__r{_name}__", _method(_f, reflected=True))
Tracer.__neg__ = lambda self: bind(negative, (self,), _NO_PARAMS)
Tracer.__pos__ = lambda self: self
Tracer.__abs__ = lambda self: bind(abs, (self,), _NO_PARAMS)
Tracer.__getitem__ = getitem
Tracer.T = property(lambda self: matrix_transpose(self) if self.ndim == 2 else self)
# Comparisons are not differentiable: they return plain boolean numpy arrays (e.g. for where).
Tracer.__lt__ = lambda self, other: value_of(self) < value_of(other)
Tracer.__le__ = lambda self, other: value_of(self) <= value_of(other)
Tracer.__gt__ = lambda self, other: value_of(self) > value_of(other)
Tracer.__ge__ = lambda self, other: value_of(self) >= value_of(other)

