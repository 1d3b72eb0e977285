"""Two runs of the same selection, compared figure by figure: how far this machine can be trusted.

For every figure both runs measured, the run-to-run difference |B/A − 1|, summarised per family
by its median and 90th percentile, and whether each run's 95 % CI contains the other run's
estimate. That share is below 95 % even on a perfectly stable machine: a CI covers the *truth*
at 95 %, and the other run's estimate is the truth plus its own noise, so the gap between two
runs' means has √2 times the spread the CI allows for. With P processes a side (Student's t on
P − 1 degrees of freedom) the share a stable machine gives is P(|T| < t₀.₉₇₅/√2): 90.7 % at
P = 3, 89.0 % at 4, 83.4 % as P grows (`replicate_coverage`); the table prints it beside the
measured share, which falls short of it where runs differ by more than their processes do. Derived
figures too: log–log slopes of time against n (their absolute difference), and crossover winners
(a flip is two runs naming different winners where neither calls the cell a tie).

Every family's benchmarks have a row (`Benchmark.compare_as`, from the family registry), time
per call relative to the reference kernel timed beside it (the drift-corrected view) among them;
counted figures (tape bytes, colours) are deterministic, so every difference should be 0.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

from adcompare.errors import UserError
from adcompare.families import Benchmark, all_benchmarks, all_families
from adcompare.ids import Case
from adcompare.measure import stats

SLOPES = "scaling slope (difference in slope)"
SLOPE_GOAL = (0.03, 0.03)      # |Δ slope|, median and p90
COVERAGE_GOAL = 0.95


def row_label(benchmark: Benchmark) -> str:
    """The reproducibility table's row of a benchmark: its `compare_as`, else its family's title."""
    if benchmark.compare_as:
        return benchmark.compare_as
    owner = next(f for f in all_families() if benchmark in f.benchmarks)
    return owner.title


def goals() -> dict[str, tuple[float, float]]:
    """The goal of each row that has one: (median, p90) of |B/A − 1|, or of |Δ slope|."""
    out = {row_label(b): b.goal for b in all_benchmarks().values() if b.goal}
    return {**out, SLOPES: SLOPE_GOAL}


@dataclasses.dataclass
class Row:
    family: str
    count: int
    median: float
    p90: float
    coverage: float | None           # share of CIs (both directions) containing the other estimate
    expected: float | None           # that share on a stable machine, from the CIs' degrees of freedom
    goal: tuple[float, float] | None

    @property
    def meets_goal(self) -> bool | None:
        if self.goal is None:
            return None
        return self.median <= self.goal[0] + 1e-12 and self.p90 <= self.goal[1] + 1e-12


@dataclasses.dataclass
class Comparison:
    rows: list[Row]
    flips: list[str]                 # crossover cells whose winner flipped (neither run a tie)
    ties_either: int                 # cells a tie in at least one run
    cells: int

    def to_dict(self) -> dict:
        return {"rows": [dataclasses.asdict(r) | {"meets_goal": r.meets_goal} for r in self.rows],
                "flips": self.flips, "ties_either": self.ties_either, "cells": self.cells,
                "coverage_goal": COVERAGE_GOAL}


def load_figures(results: Path) -> dict[tuple, dict]:
    """Every figure record of a results folder, by (machine, benchmark, params)."""
    out = {}
    for path in sorted(Path(results).glob("*/adcompare-figures-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise UserError(f"corrupt figures file {path}: {err}") from None
        for rec in data.get("figures", []):
            key = (path.parent.name, rec["benchmark"], json.dumps(rec["params"], sort_keys=True))
            out[key] = rec
    if not out:
        raise UserError(f"no figures in {results} (expected <machine>/adcompare-figures-*.json)")
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@functools.lru_cache(maxsize=None)
def replicate_coverage(df: int) -> float:
    """The chance that a 95 % CI of the mean of df + 1 processes contains the mean of as many
    further processes of the same distribution: the two means differ by √(2/P)·σ·Z, and the CI's
    half-width is t₀.₉₇₅·s/√P, so it is P(|T_df| < t₀.₉₇₅/√2)."""
    from scipy.stats import t as student_t

    return float(2 * student_t.cdf(stats.t975(df) / math.sqrt(2), df) - 1)


def _covers(rec: Mapping, value: float) -> bool | None:
    ci = rec.get("ci")
    return None if not ci else ci[0] <= value <= ci[1]


def _estimate(rec: Mapping) -> stats.Estimate:
    se = rec.get("log_se")
    return stats.Estimate(math.log(rec["value"]), se, max(1, int(rec.get("df") or 1)), int(rec.get("processes") or 1))


def _slopes(figures: Mapping[tuple, dict]) -> dict[tuple, float]:
    """Log–log slope of a time against n, per benchmark that declares `slope` and per (machine,
    target, dtype, problem, operator)."""
    sloped = {name for name, b in all_benchmarks().items() if b.slope}
    lines: dict[tuple, list[tuple[int, stats.Estimate]]] = defaultdict(list)
    for (machine, bench, _), rec in figures.items():
        if bench not in sloped or rec["value"] <= 0:
            continue
        p = rec["params"]
        case = Case.parse(p["case"])
        lines[(machine, bench, p["target"], p["dtype"], case.problem, p["operator"])].append((case.n, _estimate(rec)))
    out = {}
    for key, points in lines.items():
        if len({n for n, _ in points}) >= 2:
            out[key] = stats.loglog_slope([n for n, _ in points], [e for _, e in points])[0]
    return out


def compare(a: Mapping[tuple, dict], b: Mapping[tuple, dict]) -> Comparison:
    diffs: dict[str, list[float]] = defaultdict(list)
    covered: dict[str, list[bool]] = defaultdict(list)
    expected: dict[str, list[float]] = defaultdict(list)
    flips, ties_either, cells = [], 0, 0
    benchmarks = all_benchmarks()
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        benchmark = benchmarks.get(key[1])
        if benchmark is None or ra["value"] is None or rb["value"] is None:
            continue
        family = row_label(benchmark)
        if ra["value"] == rb["value"]:
            diffs[family].append(0.0)
        elif ra["value"] > 0:
            diffs[family].append(abs(rb["value"] / ra["value"] - 1))
        for rec, other in ((ra, rb["value"]), (rb, ra["value"])):
            hit = _covers(rec, other)
            if hit is not None and benchmark.repeated:
                covered[family].append(hit)
                expected[family].append(replicate_coverage(max(1, int(rec.get("df") or 1))))
        if benchmark.winner:
            cells += 1
            ties = [stats.is_tie(tuple(r["ci"]) if r.get("ci") else None) for r in (ra, rb)]
            if any(ties):
                ties_either += 1
            elif (ra["value"] < 1) != (rb["value"] < 1):
                flips.append(f"{key[0]} {ra['params']}")
    sa, sb = _slopes(a), _slopes(b)
    for key in set(sa) & set(sb):
        diffs[SLOPES].append(abs(sa[key] - sb[key]))
    rows = []
    labels = [row_label(b) for b in benchmarks.values()]
    order = list(dict.fromkeys([*labels, SLOPES]))
    targets = goals()
    for family in order:
        values = diffs.get(family)
        if not values:
            continue
        hits, ideal = covered.get(family), expected.get(family)
        rows.append(Row(family, len(values), statistics.median(values), _quantile(values, 0.9),
                        (sum(hits) / len(hits)) if hits else None, statistics.fmean(ideal) if ideal else None,
                        targets.get(family)))
    return Comparison(rows, flips, ties_either, cells)


def format_table(result: Comparison) -> str:
    lines = [f"{'family':38s} {'n':>5s} {'median':>8s} {'p90':>8s} {'CI covers':>10s} {'stable':>7s}  "
             "goal (median / p90)"]
    for r in result.rows:
        slope = r.family == SLOPES
        fmt = (lambda v: f"{v:8.3f}") if slope else (lambda v: f"{100 * v:7.1f}%")
        cov = "-" if r.coverage is None else f"{100 * r.coverage:9.1f}%"
        ideal = "-" if r.expected is None else f"{100 * r.expected:6.1f}%"
        goal = "" if r.goal is None else (f"≤ {r.goal[0]:.2f}" if slope else f"≤ {100 * r.goal[0]:.0f}% / {100 * r.goal[1]:.0f}%")
        mark = {True: "  met", False: "  missed", None: ""}[r.meets_goal]
        lines.append(f"{r.family:38s} {r.count:5d} {fmt(r.median)} {fmt(r.p90)} {cov:>10s} {ideal:>7s}  {goal}{mark}")
    lines.append(f"crossover winners: {len(result.flips)} flips over {result.cells} cells "
                 f"({result.ties_either} a tie in at least one run)")
    lines += [f"  flip: {f}" for f in result.flips]
    all_cov = [r for r in result.rows if r.coverage is not None]
    if all_cov:
        weight = sum(r.count for r in all_cov)
        total = sum(r.coverage * r.count for r in all_cov) / weight
        ideal = sum(r.expected * r.count for r in all_cov) / weight
        lines.append(f"CIs containing the other run's estimate: {100 * total:.1f}% (goal ≥ {100 * COVERAGE_GOAL:.0f}%; "
                     f"a stable machine with these degrees of freedom: {100 * ideal:.1f}%)")
    return "\n".join(lines)


def compare_folders(first: Path, second: Path) -> Comparison:
    return compare(load_figures(first), load_figures(second))


def common_count(a: Iterable, b: Iterable) -> int:
    return len(set(a) & set(b))
