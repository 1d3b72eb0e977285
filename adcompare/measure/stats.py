"""Estimates with 95 % confidence intervals from independent processes, and what follows from them.

A figure (a ratio, a time) is measured in P independent processes; each gives one estimate. The
process is the unit of replication (Kalibera & Jones, ISMM 2013): rounds inside one process share
its memory layout, its JIT code and the machine's state during those seconds, so more rounds
cannot shrink the between-process variance, and a confidence interval built from rounds alone
claims a precision the next run will not reproduce. So:

- the figure is the geometric mean of the P process estimates (times and ratios are positive,
  and their noise is multiplicative);
- its 95 % CI is Student's t on the logs with P − 1 degrees of freedom;
- a ratio whose CI contains 1 is a tie;
- quantities derived from several figures (the crossover point, a log–log slope) get their CI
  by a parametric bootstrap: each figure drawn from its own t distribution, the derived
  quantity recomputed, the 2.5 and 97.5 percentiles taken.

Everything here is plain arithmetic on numbers; no timing happens in this module.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
# Student's t 97.5 % quantiles for 1 … 30 degrees of freedom (two-sided 95 %).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)
_Z975 = 1.959964
BOOTSTRAP_DRAWS = 4000
BOOTSTRAP_SEED = 20261201


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975   # Cornish–Fisher expansion, accurate to 1e-4 beyond 30 df
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A positive figure on the log scale: ln value, its standard error and degrees of freedom.

    `log_se` is 0 for a deterministic figure (tape bytes) and None when it is unknown (one
    process and nothing to estimate the spread from)."""

    log_mean: float
    log_se: float | None
    df: int
    processes: int

    @property
    def value(self) -> float:
        return math.exp(self.log_mean)

    @property
    def ci(self) -> tuple[float, float] | None:
        """The 95 % confidence interval, or None when the spread is unknown."""
        if self.log_se is None:
            return None
        if self.log_se == 0:
            return self.value, self.value
        half = t975(self.df) * self.log_se
        return math.exp(self.log_mean - half), math.exp(self.log_mean + half)

    def draws(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` bootstrap draws of ln value from the estimate's t distribution (a figure whose
        spread is unknown has none to draw from: derived quantities then have no CI either)."""
        if self.log_se is None:
            raise ValueError("an estimate without a spread (one process) cannot be bootstrapped")
        if self.log_se == 0:
            return np.full(size, self.log_mean)
        return self.log_mean + self.log_se * rng.standard_t(self.df, size)


def combine(log_estimates: Sequence[float], fallback_se: float | None = None,
            fallback_df: int = 1) -> Estimate:
    """The figure from P process estimates (each ln of a positive number): their mean, and the
    standard error of the mean with P − 1 degrees of freedom. With one process there is no
    between-process spread; `fallback_se` (e.g. from that process's rounds) is used, if given."""
    logs = [float(v) for v in log_estimates]
    if not logs:
        raise ValueError("no estimates to combine")
    p = len(logs)
    mean = statistics.fmean(logs)
    if p == 1:
        return Estimate(mean, fallback_se, fallback_df, 1)
    return Estimate(mean, statistics.stdev(logs) / math.sqrt(p), p - 1, p)


def exact(value: float) -> Estimate:
    """A deterministic figure (counted, not timed): its CI is the value itself."""
    return Estimate(math.log(value) if value > 0 else -math.inf, 0.0, 1, 1)


def repeated(values: Sequence[float]) -> Estimate:
    """A counted figure read several times in one process (a peak of memory): the mean of the
    logs, and its standard error over the readings. Identical readings give an exact figure; a
    zero reading (no page touched) has no logarithm, so then the median stands without a spread."""
    if len(set(values)) == 1:
        return exact(values[0])
    if min(values) <= 0:
        median = statistics.median(values)
        return Estimate(math.log(median) if median > 0 else -math.inf, None, 1, 1)
    logs = [math.log(v) for v in values]
    return Estimate(statistics.fmean(logs), statistics.stdev(logs) / math.sqrt(len(logs)), len(logs) - 1, 1)


def relative_halfwidth(ci: tuple[float, float] | None) -> float:
    """Half the CI's width as a fraction of the value, on the log scale: √(hi/lo) − 1."""
    if ci is None or ci[0] <= 0:
        return math.inf
    return math.sqrt(ci[1] / ci[0]) - 1


def is_tie(ci: tuple[float, float] | None) -> bool:
    """A ratio whose 95 % CI contains 1 (or whose CI is unknown) names no winner."""
    return ci is None or ci[0] <= 1.0 <= ci[1]


def _percentiles(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return float(lo), float(hi)


@dataclasses.dataclass(frozen=True)
class Crossover:
    """Where t_fwd/t_rev crosses 1 along the aspect ratio n:m (as n/m), with its 95 % CI.

    `point` is None when the estimates do not cross inside the grid. A bound is None when at
    least 2.5 % of the bootstrap draws cross nowhere inside the grid on that side (the CI is open
    there); `beyond` then says which mode won everywhere in those draws."""

    point: float | None
    low: float | None
    high: float | None
    beyond: str = ""          # "", "forward everywhere", "reverse everywhere"


def _first_crossing(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Per row of ys (draws × cells), the x where y first changes sign from − to +, linearly
    interpolated; −inf if y is positive at every cell, +inf if negative at every cell. A row
    that starts positive and turns negative crosses nowhere a forward-winning user would look,
    so the first sign change in either direction is taken."""
    out = np.full(ys.shape[0], np.nan)
    sign = np.sign(ys)
    for i in range(len(xs) - 1):
        a, b = ys[:, i], ys[:, i + 1]
        hit = np.isnan(out) & ((sign[:, i] == 0) | (sign[:, i] != sign[:, i + 1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(b != a, xs[i] - a * (xs[i + 1] - xs[i]) / (b - a), xs[i])
        out[hit] = x[hit]
    last_zero = np.isnan(out) & (sign[:, -1] == 0)
    out[last_zero] = xs[-1]
    undecided = np.isnan(out)
    out[undecided & (ys[:, 0] > 0)] = -np.inf     # reverse wins everywhere: crossing left of grid
    out[undecided & (ys[:, 0] < 0)] = np.inf      # forward wins everywhere: crossing right of grid
    return out


def crossover(aspects: Sequence[float], factors: Sequence[Estimate]) -> Crossover:
    """The crossover point of t_fwd/t_rev along n/m from per-cell estimates (any order)."""
    order = np.argsort(aspects)
    xs = np.log2(np.asarray(aspects, dtype=float)[order])
    cells = [factors[i] for i in order]
    point = _first_crossing(xs, np.array([[c.log_mean for c in cells]]))[0]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = np.stack([c.draws(rng, BOOTSTRAP_DRAWS) for c in cells], axis=1)
    crossings = _first_crossing(xs, draws)
    lo_q, hi_q = (1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2
    low, high = (float(q) for q in np.quantile(crossings, [lo_q, hi_q], method="inverted_cdf"))
    sides = [name for bound, name in ((low, "reverse everywhere"), (high, "forward everywhere"))
             if bound == (-math.inf if name.startswith("reverse") else math.inf)]
    if low == math.inf:          # even the lowest draws cross right of the grid
        sides = ["forward everywhere"]
    elif high == -math.inf:
        sides = ["reverse everywhere"]
    beyond = " or ".join(sides)
    return Crossover(float(2 ** point) if math.isfinite(point) else None,
                     float(2 ** low) if math.isfinite(low) else None,
                     float(2 ** high) if math.isfinite(high) else None, beyond)


def loglog_slope(sizes: Sequence[float], times: Sequence[Estimate]) -> tuple[float, tuple[float, float]]:
    """The least-squares slope of ln t against ln n, and its 95 % CI by parametric bootstrap.

    A slope of 1 is cost linear in n; 0 is a flat per-call overhead."""
    if len(sizes) < 2 or len(set(sizes)) < 2:
        raise ValueError("a slope needs at least two distinct sizes")
    x = np.log(np.asarray(sizes, dtype=float))
    xc = x - x.mean()
    weights = xc / float(xc @ xc)
    slope = float(weights @ np.array([t.log_mean for t in times]))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = np.stack([t.draws(rng, BOOTSTRAP_DRAWS) for t in times], axis=1) @ weights
    return slope, _percentiles(draws)
