"""Forward mode: dual arrays (value, batched tangent), computed eagerly, no tape.

A `Dual` carries its value and a tangent of shape (k,) + value.shape: k directions at once
("vector mode"), so a forward-mode Jacobian is one pass carrying the n unit tangents.
For y = f(x₁, …, x_r):  ẏ = Σᵢ ∂f/∂xᵢ · ẋᵢ, one JVP rule per argument, zero tangents
skipped.
The single-direction case is k = 1: a (1, n) tangent costs what an (n,) one does (measured).
"""

from __future__ import annotations

from adcompare.engine.core import Tracer, bind
from adcompare.engine.primitives import broadcast_batched


class Dual(Tracer):
    """A value together with k tangents, at one transform level."""

    __slots__ = ("value", "tangent", "level")

    def __init__(self, value, tangent, level):
        self.value, self.tangent, self.level = value, tangent, level

    def process(self, prim, args, params):
        level = self.level
        values, tangents, nested = [], [], False
        for a in args:
            if isinstance(a, Dual) and a.level == level:
                tangents.append(a.tangent)
                a = a.value
            else:
                tangents.append(None)
            nested = nested or isinstance(a, Tracer)
            values.append(a)
        # values are plain numpy unless an outer transform's tracers are involved (nesting)
        ans = bind(prim, values, params) if nested else prim.impl(*values, **params)
        rules = prim.jvp
        if callable(rules):                       # n-ary structural primitive: all tangents at once
            return Dual(ans, rules(tangents, ans, *values, **params), level)
        out = None
        for rule, t in zip(rules, tangents):
            if t is None:
                continue
            if prim.broadcasts and t.shape[1:] != ans.shape:
                t = broadcast_batched(t, ans.shape)
            contribution = rule(t, ans, *values, **params)
            out = contribution if out is None else out + contribution
        return Dual(ans, out, level)

    def __repr__(self):
        return f"Dual(level={self.level}, value={self.value!r}, tangent={self.tangent!r})"
