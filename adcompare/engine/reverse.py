"""Reverse mode: a flat tape recorded in execution order, swept backwards with batched cotangents.

Recording order is a topological order, so the sweep is a plain `for entry in reversed(tape)`:
no graph search, no recursion. For y = f(x₁, …, x_r):  x̄ᵢ += ∂f/∂xᵢᵀ · ȳ, one VJP rule per
argument.

Memory: the tape holds a `Node` (the cotangent slot) per recorded value, never the `Var` the
user's code holds, and keeps alive only the residuals each primitive's rule reads (its
`saves`: inputs, output, both or none); the rest is a `ShapeOnly` stand-in. So an intermediate
no rule needs (the input of tanh, the output of a sum) is freed as soon as the user's code drops
it, as in PyTorch's saved tensors. Cotangents are freed as soon as their entry is processed.
"""

from __future__ import annotations

import numpy as np

from adcompare.engine.core import ShapeOnly, Tracer, bind, value_of
from adcompare.engine.primitives import unbroadcast


class Node:
    """The cotangent slot of one recorded value: (k,) + shape while the sweep needs it."""

    __slots__ = ("grad",)

    def __init__(self):
        self.grad = None


class Var(Tracer):
    """A value recorded on a tape at one transform level."""

    __slots__ = ("value", "level", "tape", "node")

    def __init__(self, value, level, tape):
        self.value, self.level, self.tape, self.node = value, level, tape, Node()

    def process(self, prim, args, params):
        level = self.level
        values, parents, nested = [], [], False
        for i, a in enumerate(args):
            if isinstance(a, Var) and a.level == level:
                parents.append((i, a.node))
                a = a.value
            nested = nested or isinstance(a, Tracer)
            values.append(a)
        # values are plain numpy unless an outer transform's tracers are involved (nesting)
        ans = bind(prim, values, params) if nested else prim.impl(*values, **params)
        out = Var(ans, level, self.tape)
        saved = values
        if not prim.saves_args:                  # constants stay (they live anyway), traced go
            saved = list(values)
            for i, _ in parents:
                saved[i] = ShapeOnly(values[i])
        self.tape.append((prim, params, saved, parents, out.node, ans if prim.saves_ans else ShapeOnly(ans)))
        return out

    def __repr__(self):
        return f"Var(level={self.level}, value={self.value!r})"


def backward_sweep(tape):
    """Propagate the cotangents already seeded on the output nodes back to the input nodes."""
    for prim, params, values, parents, out, ans in reversed(tape):
        g = out.grad
        if g is None:                             # the output does not depend on this entry
            continue
        out.grad = None
        rules = prim.vjp
        for i, node in parents:
            contribution = rules[i](g, ans, *values, **params)
            if prim.broadcasts:
                shape = values[i].shape
                if contribution.shape[1:] != shape:
                    contribution = unbroadcast(contribution, shape)
            node.grad = contribution if node.grad is None else node.grad + contribution


def tape_bytes(tape, x=None) -> int:
    """Bytes the recording keeps alive for the sweep: the distinct buffers of its saved residuals.

    Counted: the traced inputs and outputs a rule reads. Not counted: the input x and constants,
    which exist without AD. Views (slices, reshapes) share their base's buffer, so the base is
    counted, once.
    """
    excluded = {id(_buffer(value_of(x)))} if x is not None else set()
    seen = {}
    for prim, _, values, parents, _, ans in tape:
        residuals = [values[i] for i, _ in parents] if prim.saves_args else []
        if prim.saves_ans:
            residuals.append(ans)
        for r in residuals:
            buf = _buffer(value_of(r))
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
