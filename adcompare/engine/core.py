"""The tracing core: a `Primitive`, the `Tracer` base class and `bind`, which routes a call.

Every differentiable operation is a `Primitive` called through `bind(prim, args, params)`:
- with no traced argument, `bind` runs the numpy implementation directly (the fast path);
- otherwise the argument with the highest `level` decides: a forward-mode `Dual` computes
  the tangent eagerly, a reverse-mode `Var` records a tape entry, a `Pattern` (sparsity
  detection, `sparsity.py`) propagates which inputs each element depends on. Each handler first binds the
  primitive on its arguments' values, which may themselves be tracers of a lower level: that
  is how transforms nest (forward-over-reverse, reverse-over-reverse, reverse-over-forward).

Levels are unique, increasing integers handed out by every transform call, so a transform
started inside another always outranks it (no perturbation confusion).
"""

from __future__ import annotations

import itertools

import numpy as np

_levels = itertools.count(1)


def new_level() -> int:
    """A level above every level in use: each jvp/vjp call gets its own."""
    return next(_levels)


class Primitive:
    """One row of the primitive table: numpy implementation + JVP rule(s) + per-argument VJP rules
    + a sparsity-pattern rule.

    jvp:  a tuple with one rule per argument, `rule(t, ans, *args, **params) -> tangent`, whose
          contributions are summed (arguments without tangent skipped); or a single callable
          `rule(tangents, ans, *args, **params)` for n-ary structural primitives (stack, concat)
          that need all tangents at once (missing ones are None).
    vjp:  indexable by argument position, `rule(g, ans, *args, **params) -> cotangent`.
    broadcasts: the primitive broadcasts its arguments numpy-style, so tangents are broadcast to
          the output shape before the JVP rule and cotangents summed back (`unbroadcast`) after
          the VJP rule, once, in the transforms rather than in every rule.
    saves: what the VJP rules read besides shapes, so what a recording must keep alive:
          "args", "ans", "both" or "none" (e.g. sin needs x, exp and tanh their output, add
          nothing). Everything else is kept as a `ShapeOnly` stand-in, so it can be freed.
    pattern: `rule(patterns, ans, *args, **params) -> dependencies of ans`, where patterns[i]
          is argument i's boolean dependency matrix (size × n) or None for a constant, already
          broadcast to the output for a broadcasting primitive (`sparsity.py`).

    Tangents and cotangents carry ONE leading batch axis: (k,) + shape. Rules are written with
    the engine's own ops, so they are themselves differentiable.
    """

    __slots__ = ("name", "impl", "jvp", "vjp", "pattern", "broadcasts", "saves_args", "saves_ans")

    def __init__(self, name, impl, jvp, vjp, saves, broadcasts=False, pattern=None):
        if saves not in ("args", "ans", "both", "none"):
            raise ValueError(f"primitive {name}: saves must be args, ans, both or none, got {saves!r}")
        self.name, self.impl, self.jvp, self.vjp, self.broadcasts = name, impl, jvp, vjp, broadcasts
        self.pattern = pattern
        self.saves_args, self.saves_ans = saves in ("args", "both"), saves in ("ans", "both")

    def __call__(self, *args, **params):
        return bind(self, args, params)

    def __repr__(self):
        return f"Primitive({self.name})"


class Tracer:
    """Base of the traced array types. Operators are attached by `namespace` (they are its ops).

    `__array_ufunc__ = None` makes numpy return NotImplemented for `ndarray ⊕ tracer`, so Python
    falls back to the tracer's reflected operator (`A @ x`, `2.0 * x` with a numpy A).
    """

    __slots__ = ()
    __array_ufunc__ = None
    __array_priority__ = 1000

    # subclasses define `value`, `level` and `process(prim, args, params)`

    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def size(self):
        return self.value.size

    def __len__(self):
        return len(self.value)

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "a traced engine array cannot be converted to numpy inside a differentiated function; "
            "use the engine namespace (engine.xp) for every operation on it"
        )

    def __bool__(self):
        raise TypeError("the truth value of a traced engine array is not defined; compare its value")

    def __float__(self):
        raise TypeError("float() of a traced engine array would drop its derivative")


class ShapeOnly:
    """What a recording keeps of a value its VJP rule does not read: shape and dtype, no data."""

    __slots__ = ("shape", "dtype")

    def __init__(self, value):
        self.shape, self.dtype = value.shape, value.dtype

    @property
    def ndim(self):
        return len(self.shape)


def bind(prim: Primitive, args, params):
    """Apply `prim`: numpy directly, or through the highest-level tracer among `args`."""
    top = None
    for a in args:
        if isinstance(a, Tracer) and (top is None or a.level > top.level):
            top = a
    if top is None:
        return prim.impl(*args, **params)
    return top.process(prim, args, params)


def value_of(x):
    """The plain numpy value under any number of tracer layers (for non-differentiable uses)."""
    while isinstance(x, Tracer):
        x = x.value
    return x
