"""Forward vs reverse over the n × m grid: pair the two Jacobian times, say who wins and by how
much, and locate the crossover against theory.

A full Jacobian of f: Rⁿ → Rᵐ takes n forward passes or m reverse passes, so
t_fwd / t_rev ≈ (n/m)·(c_jvp / c_vjp): the crossover sits at n = m when a JVP and a VJP cost
the same. `crossover_ratio` finds where the measured log₂(t_fwd/t_rev) crosses zero. Forward and
reverse are paired within one strategy: batched (vmap / vector mode) or a loop of single products.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Sequence

from adcompare.operators import OPERATORS
from adcompare.report import results as R
from adcompare.report.results import family_label, parsed


@dataclasses.dataclass(frozen=True)
class CrossPoint:
    """One cell of the n × m grid: a full Jacobian by forward and by reverse mode."""

    machine: str
    commit: str
    target: str
    dtype: str
    family: str
    n: int
    m: int
    t_fwd: float
    t_rev: float
    strategy: str = "batched"   # "batched" | "loop" (operators.JACOBIAN_STRATEGIES)

    @property
    def log2_ratio(self) -> float:
        """log₂(t_fwd / t_rev): negative where forward wins, positive where reverse wins."""
        return math.log2(self.t_fwd / self.t_rev)

    @property
    def winner(self) -> str:
        return "forward" if self.t_fwd < self.t_rev else "reverse"

    @property
    def factor(self) -> float:
        return max(self.t_fwd, self.t_rev) / min(self.t_fwd, self.t_rev)

    @property
    def aspect(self) -> str:
        return aspect_label(self.n, self.m)


def aspect_label(n: int, m: int) -> str:
    return f"{n / m:g}:1" if n >= m else f"1:{m / n:g}"


def crossover_points(results: R.ResultSet) -> list[CrossPoint]:
    """Pair the forward with the reverse Jacobian of one strategy at equal (machine, target,
    dtype, case)."""
    pairs: dict[tuple, dict[str, float]] = defaultdict(dict)
    commits: dict[tuple, str] = {}
    for m in results.of(R.CROSSOVER):
        case = parsed(m)
        op = OPERATORS.get(str(m.get("operator", "")))
        if case is None or op is None or op.kind != "jacobian" or m.value <= 0:
            continue
        problem, n, opts = case
        rest = {k: v for k, v in opts.items() if k != "m"}
        key = (m.run.machine, m.get("target"), m.get("dtype", "float64"), family_label(problem, rest), n,
               opts.get("m", n), op.strategy)
        pairs[key][op.mode] = m.value
        commits[key] = m.run.short_commit
    return [CrossPoint(machine, commits[key], target, dtype, family, n, m, t["fwd"], t["rev"], strategy)
            for key, t in pairs.items() if len(t) == 2
            for machine, target, dtype, family, n, m, strategy in [key]]


def crossover_ratio(points: Sequence[CrossPoint]) -> float | None:
    """n/m where log₂(t_fwd/t_rev) crosses zero, interpolated linearly in log₂(n/m); None if no crossing."""
    pts = sorted(points, key=lambda p: p.n / p.m)
    for a, b in zip(pts, pts[1:]):
        ya, yb = a.log2_ratio, b.log2_ratio
        if ya == 0:
            return a.n / a.m
        if (ya < 0) != (yb < 0):
            xa, xb = math.log2(a.n / a.m), math.log2(b.n / b.m)
            return 2 ** (xa - ya * (xb - xa) / (yb - ya))
    if pts and pts[-1].log2_ratio == 0:
        return pts[-1].n / pts[-1].m
    return None


def crossover_summary(points: Sequence[CrossPoint]) -> str:
    pts = sorted(points, key=lambda p: p.n / p.m)
    ratio = crossover_ratio(pts)
    if ratio is not None:
        label = f"{ratio:.2g}:1" if ratio >= 1 else f"1:{1 / ratio:.2g}"
        side = "forward" if ratio > 1 else "reverse"
        return f"n:m ≈ {label}" + (" (as theory)" if max(ratio, 1 / ratio) < 1.19 else f" ({side} reaches past n = m)")
    winner = pts[0].winner if pts else "?"
    return f"none in the grid: {winner} mode wins everywhere from {pts[0].aspect} to {pts[-1].aspect}"


def times(factor: float) -> str:
    """1.04 -> '1.0×', 23.4 -> '23×'."""
    return f"{factor:.1f}×" if factor < 10 else f"{factor:,.0f}×"
