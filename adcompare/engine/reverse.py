"""Reverse mode: a flat tape recorded in execution order, swept backwards with batched cotangents.

Recording order is a topological order, so the sweep is a plain `for entry in reversed(tape)`:
no graph search, no recursion. Each `Var` holds its cotangent (k, ...) while it is live; the
sweep frees it as soon as the entry that produced the Var has been processed.
For y = f(x₁, …, x_r):  x̄ᵢ += ∂f/∂xᵢᵀ · ȳ, one VJP rule per argument.
"""

from __future__ import annotations

import numpy as np

from adcompare.engine.core import Tracer, bind, value_of
from adcompare.engine.primitives import unbroadcast


class Var(Tracer):
    """A value recorded on a tape at one transform level; `grad` is its cotangent during a sweep."""

    __slots__ = ("value", "level", "tape", "grad")

    def __init__(self, value, level, tape):
        self.value, self.level, self.tape, self.grad = value, level, tape, None

    def process(self, prim, args, params):
        level = self.level
        values, parents, nested = [], [], False
        for i, a in enumerate(args):
            if isinstance(a, Var) and a.level == level:
                parents.append((i, a))
                a = a.value
            nested = nested or isinstance(a, Tracer)
            values.append(a)
        # values are plain numpy unless an outer transform's tracers are involved (nesting)
        ans = bind(prim, values, params) if nested else prim.impl(*values, **params)
        out = Var(ans, level, self.tape)
        self.tape.append((prim, params, values, parents, out))
        return out

    def __repr__(self):
        return f"Var(level={self.level}, value={self.value!r})"


def backward_sweep(tape):
    """Propagate the cotangents already seeded on the output Vars back to the input Vars."""
    for prim, params, values, parents, out in reversed(tape):
        g = out.grad
        if g is None:                             # the output does not depend on this entry
            continue
        out.grad = None
        ans = out.value
        rules = prim.vjp
        for i, var in parents:
            contribution = rules[i](g, ans, *values, **params)
            if prim.broadcasts:
                shape = values[i].shape
                if contribution.shape[1:] != shape:
                    contribution = unbroadcast(contribution, shape)
            var.grad = contribution if var.grad is None else var.grad + contribution


def tape_bytes(tape, x=None) -> int:
    """Bytes the recording keeps alive for the sweep: the distinct buffers of its intermediates.

    Every residual a rule reads is an argument or output of some entry; arguments are either
    earlier outputs, the input x or constants, which exist without AD and are not counted.
    Views (slices, reshapes) share their base's buffer, so the base is counted, once.
    """
    excluded = {id(_buffer(value_of(x)))} if x is not None else set()
    seen = {}
    for *_, out in tape:
        buf = _buffer(value_of(out.value))
        if buf is not None and id(buf) not in excluded:
            seen[id(buf)] = buf.nbytes
    return sum(seen.values())


def _buffer(a):
    """The array that owns a's memory (None for non-arrays)."""
    if not isinstance(a, np.ndarray):
        return np.asarray(a) if isinstance(a, np.generic) else None
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a
