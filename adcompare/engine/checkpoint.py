"""Reverse mode through a loop with binomial checkpointing (Griewank's revolve).

A plain VJP of y_l = step(l−1, … step(0, y_0)) tapes all l steps: memory grows with l. With
`snaps` snapshots of the state (the start's included), the optimal schedule recomputes steps
instead: it advances (runs a step untaped) from a snapshot, stores another, reverses the part
to its right with one snapshot fewer, then the part to its left (Griewank 1992; Griewank &
Walther, ACM TOMS 26, 2000). Every step is taped exactly once, one at a time, so the memory is
`snaps` states plus one step's tape; the extra cost is the advances, whose minimum is

    t(l, s) = r·l − β(s+1, r−1),  β(s, r) = C(s+r, s),  r the least with β(s, r) ≥ l

(`min_advances`). The schedule here takes, at each split, the point that attains that minimum,
so it runs exactly t(l, s) advances (`Schedule.advances` counts them).

The step must be a function of (i, y) alone, y one array; what it closes over is constant. A
loop that also reads a differentiated parameter (ode's right-hand side reads x) carries it in
the state: y = [x; u], step returning [x; u'].

`namespace(snaps)` is `engine.xp` with a `fori_loop` that does this for a problem's f as
written: under `engine.vjp` the loop is one tape entry that keeps only its initial state, and
its VJP rule runs the schedule (the loop's output costs one more forward pass of its steps).
"""

from __future__ import annotations

import functools
import types
from math import comb
from typing import Any, Callable

import numpy as np

from adcompare.engine import namespace as engine_namespace
from adcompare.engine.core import Primitive, Tracer, bind
from adcompare.engine.reverse import Var
from adcompare.engine.transforms import vjp


def beta(s: int, r: int) -> int:
    """β(s, r) = C(s+r, s): the most steps s snapshots reverse with each step advanced ≤ r times."""
    return comb(s + r, s) if r >= 0 else 0


def repetitions(steps: int, snaps: int) -> int:
    """r: the least repetition number with β(snaps, r) ≥ steps."""
    r = 0
    while beta(snaps, r) < steps:
        r += 1
    return r


@functools.lru_cache(maxsize=None)
def min_advances(steps: int, snaps: int) -> int:
    """The fewest untaped forward steps that reverse `steps` steps with `snaps` snapshots (≥ 1)."""
    if snaps < 1:
        raise ValueError("binomial checkpointing needs at least one snapshot (the start)")
    r = repetitions(steps, snaps)
    return r * steps - beta(snaps + 1, r - 1)


@functools.lru_cache(maxsize=None)
def split(steps: int, snaps: int) -> int:
    """Where to store the next snapshot (steps after the start) on an optimal schedule: the
    first m that attains m + t(steps − m, snaps − 1) + t(m, snaps) = t(steps, snaps)."""
    best = min_advances(steps, snaps)
    for m in range(1, steps):
        if m + min_advances(steps - m, snaps - 1) + min_advances(m, snaps) == best:
            return m
    raise AssertionError(f"no optimal split for {steps} steps and {snaps} snapshots")


class Schedule:
    """One checkpointed reverse sweep of a loop: runs it and counts its advances and tapes."""

    def __init__(self, step: Callable[[int, Any], Any], snaps: int):
        if snaps < 1:
            raise ValueError("binomial checkpointing needs at least one snapshot (the start)")
        self.step, self.snaps = step, snaps
        self.advances = self.taped = 0
        self.output = None

    def _advance(self, i: int, y):
        self.advances += 1
        return self.step(i, y)

    def _tape(self, i: int, y, y_bar):
        """Tape step i from y, and pull y_bar back through it (the last step also gives y_l)."""
        out, pullback = vjp(lambda u: self.step(i, u), y)
        self.taped += 1
        if self.output is None:
            self.output = out
        return pullback(y_bar)

    def reverse(self, y, start: int, steps: int, snaps: int, y_bar):
        """The cotangent of the state at `start` (held in y), given y_bar at start + steps."""
        while steps > 1 and snaps > 1:
            m = split(steps, snaps)
            mid = y
            for i in range(start, start + m):
                mid = self._advance(i, mid)
            y_bar = self.reverse(mid, start + m, steps - m, snaps - 1, y_bar)
            del mid
            steps = m                         # then the left part, from the same snapshot
        for last in range(start + steps - 1, start - 1, -1):    # one snapshot: from the start each time
            u = y
            for i in range(start, last):
                u = self._advance(i, u)
            y_bar = self._tape(last, u, y_bar)
        return y_bar


def checkpointed_vjp(step: Callable[[int, Any], Any], y0, v, steps: int, snaps: int):
    """(y_steps, vᵀ ∂y_steps/∂y0, the schedule) for y_{i+1} = step(i, y_i), reversed with
    `snaps` snapshots on the optimal binomial schedule. `step` is written against `engine.xp`;
    v is (m,) or a batch (k, m). The same numbers as `vjp` of the whole loop, to rounding."""
    if steps < 1:
        raise ValueError("a checkpointed loop needs at least one step")
    schedule = Schedule(step, snaps)
    y_bar = schedule.reverse(np.asarray(y0), 0, steps, snaps, v)
    return schedule.output, y_bar, schedule


def _plain_loop(lower: int, upper: int, body, y):
    """The loop on plain arrays; a body that reads a traced value besides its carry is refused
    (its cotangent would be lost)."""
    for i in range(lower, upper):
        y = body(i, y)
        if isinstance(y, Tracer):
            raise ValueError("a checkpointed fori_loop's body may read only its carry and constants; "
                             "carry a differentiated parameter in the state (y = [x; u])")
    return y


def _loop_primitive(lower: int, upper: int, body, snaps: int) -> Primitive:
    """The whole loop as one primitive: its output by plain steps, its VJP by the schedule."""
    def rule(g, ans, y0):
        if isinstance(y0, Tracer) or isinstance(g, Tracer):
            raise NotImplementedError("a checkpointed fori_loop under nested transforms")
        return Schedule(lambda i, u: body(lower + i, u), snaps).reverse(y0, 0, upper - lower, snaps, g)

    return Primitive("checkpointed_fori_loop", lambda y0: _plain_loop(lower, upper, body, y0), None, (rule,), "args")


def namespace(snaps: int) -> types.SimpleNamespace:
    """`engine.xp` whose `fori_loop` is binomially checkpointed under reverse mode (an array
    carry; a tuple carry, forward mode and plain arrays run the plain loop)."""
    def fori_loop(lower, upper, body, init):
        if isinstance(init, Var) and upper - lower >= 1:
            return bind(_loop_primitive(lower, upper, body, snaps), (init,), {})
        return engine_namespace.fori_loop(lower, upper, body, init)

    public = {k: v for k, v in vars(engine_namespace).items() if not k.startswith("__")}
    return types.SimpleNamespace(**{**public, "fori_loop": fori_loop})
