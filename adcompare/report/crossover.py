"""Forward vs reverse over the n × m grid: per cell the measured factor t_fwd/t_rev with its CI,
who wins (or a tie), and per series the crossover point with its CI.

A full Jacobian of f: Rⁿ → Rᵐ takes n forward passes or m reverse passes, so
t_fwd / t_rev ≈ (n/m)·(c_jvp / c_vjp): the crossover sits at n = m when a JVP and a VJP cost
the same. The benchmark `time_operators.Crossover.track_factor` records the factor itself, both
arms timed in one process, per strategy (batched: vmap / vector mode; loop: single products).
A factor whose 95 % CI contains 1 names no winner: a tie (`stats.is_tie`). The crossover point is
where log t_fwd/t_rev changes sign along log n/m, its CI by the parametric bootstrap of
`stats.crossover`, which leaves a side open when draws cross nowhere inside the grid there.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Sequence

from adcompare.measure import stats
from adcompare.report import results as R
from adcompare.report.results import family_label, parsed

FORWARD, REVERSE, TIE = "forward", "reverse", "tie"


@dataclasses.dataclass(frozen=True)
class CrossPoint:
    """One cell of the n × m grid: the factor t_fwd/t_rev of a full Jacobian."""

    measurement: R.Measurement
    family: str
    n: int
    m: int
    strategy: str               # "batched" | "loop" (operators.JACOBIAN_STRATEGIES)

    @property
    def machine(self) -> str:
        return self.measurement.run.machine

    @property
    def commit(self) -> str:
        return self.measurement.run.short_commit

    @property
    def target(self) -> str:
        return str(self.measurement.get("target"))

    @property
    def dtype(self) -> str:
        return str(self.measurement.get("dtype", "float64"))

    @property
    def ratio(self) -> float:
        """t_fwd / t_rev."""
        return self.measurement.value

    @property
    def ci(self) -> tuple[float, float] | None:
        return self.measurement.ci

    @property
    def log2_ratio(self) -> float:
        """log₂(t_fwd / t_rev): negative where forward is faster, positive where reverse is."""
        return math.log2(self.ratio)

    @property
    def faster(self) -> str:
        """The mode with the smaller time at the point estimate."""
        return FORWARD if self.ratio < 1 else REVERSE

    @property
    def verdict(self) -> str:
        """forward / reverse, or tie when the 95 % CI contains 1. Without a CI the point estimate
        decides, and `confirmed` is False: the report marks such a cell as unconfirmed."""
        if self.ci is not None and stats.is_tie(self.ci):
            return TIE
        return self.faster

    @property
    def confirmed(self) -> bool:
        return self.ci is not None

    @property
    def factor(self) -> float:
        """How many times faster the faster mode is (≥ 1)."""
        return max(self.ratio, 1 / self.ratio)

    @property
    def factor_ci(self) -> tuple[float, float] | None:
        """The CI of `factor`: of t_rev/t_fwd (1/hi, 1/lo) where forward is faster."""
        if self.ci is None or self.ci[0] <= 0:
            return None
        lo, hi = self.ci
        return (1 / hi, 1 / lo) if self.faster == FORWARD else (lo, hi)

    @property
    def aspect(self) -> str:
        return aspect_label(self.n / self.m)


def aspect_label(ratio: float, digits: str = "g") -> str:
    """n/m as "a:1" (n ≥ m) or "1:b"."""
    return f"{ratio:{digits}}:1" if ratio >= 1 else f"1:{1 / ratio:{digits}}"


def crossover_points(results: R.ResultSet) -> list[CrossPoint]:
    """Every cell of the crossover grid with a readable case and strategy."""
    points = []
    for m in results.of(R.CROSSOVER):
        case = parsed(m)
        if case is None or m.get("strategy") is None:
            continue
        problem, n, opts = case
        rest = {k: v for k, v in opts.items() if k != "m"}
        points.append(CrossPoint(m, family_label(problem, rest), n, opts.get("m", n), str(m.get("strategy"))))
    return points


def series_crossover(points: Sequence[CrossPoint]) -> tuple[stats.Crossover, bool]:
    """The crossover of one series (machine, target, family, dtype, strategy) by `stats.crossover`,
    and whether it has a CI: only when every cell has a spread, since a cell without one would
    enter the bootstrap as exact and make the CI look narrower than it is."""
    estimates = [p.measurement.figure.estimate if p.measurement.figure else None for p in points]
    with_ci = all(e is not None for e in estimates)
    if not with_ci:
        estimates = [stats.exact(p.ratio) for p in points]
    return stats.crossover([p.n / p.m for p in points], estimates), with_ci


def _open_side(name: str) -> str:
    return f"{name} everywhere in the grid"


def crossover_text(points: Sequence[CrossPoint], found: tuple[stats.Crossover, bool] | None = None) -> str:
    """'n:m ≈ 1.1:1 [0.92:1, 1.3:1] (theory n = m inside the CI)', with open sides spelled out:
    '[≥ 16:1, or forward everywhere in the grid]'; 'none in the grid: forward everywhere …'.
    `found`: the series' `series_crossover`, when already computed."""
    pts = sorted(points, key=lambda p: p.n / p.m)
    cross, with_ci = found or series_crossover(pts)
    span = f"from {pts[0].aspect} to {pts[-1].aspect}"
    if cross.point is None:
        winner = FORWARD if pts[0].ratio < 1 else REVERSE
        text = f"none in the grid: {winner} everywhere {span}"
        if not with_ci:
            return text + " (no CI: a cell has none)"
        if cross.low is not None and winner == FORWARD:
            return text + f"; 95 % CI of the crossing ≥ {aspect_label(cross.low, '.3g')}"
        if cross.high is not None and winner == REVERSE:
            return text + f"; 95 % CI of the crossing ≤ {aspect_label(cross.high, '.3g')}"
        return text
    text = f"n:m ≈ {aspect_label(cross.point, '.3g')}"
    if not with_ci:
        return text + " (no CI: a cell has none)"
    if cross.low is not None and cross.high is not None:
        text += f" [{aspect_label(cross.low, '.3g')}, {aspect_label(cross.high, '.3g')}]"
    elif cross.low is not None:
        text += f" [≥ {aspect_label(cross.low, '.3g')}, or {_open_side(FORWARD)}]"
    elif cross.high is not None:
        text += f" [≤ {aspect_label(cross.high, '.3g')}, or {_open_side(REVERSE)}]"
    else:
        text += f" [open: {_open_side(REVERSE)} or {_open_side(FORWARD)}]"
    low = cross.low if cross.low is not None else 0.0
    high = cross.high if cross.high is not None else math.inf
    if low <= 1.0 <= high:
        return text + " (theory, n = m, inside the CI)"
    side = FORWARD if cross.point > 1 else REVERSE
    return text + f" ({side} reaches past n = m)"


def verdict_counts(points: Sequence[CrossPoint]) -> dict[str, int]:
    """Cells per verdict: forward / tie / reverse, and unconfirmed (no CI) apart."""
    counts: dict[str, int] = defaultdict(int)
    for p in points:
        counts[p.verdict if p.confirmed else "unconfirmed"] += 1
    return counts
