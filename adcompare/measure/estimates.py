"""From process records to figures: the estimator, the 95 % CI, the noise flags.

**Estimator, per process.** Timing noise on a shared machine is positive: a neighbour, an
interrupt or a frequency dip only ever makes a block slower. So an arm's per-process estimate is
its fastest block (seconds per call of the quickest of its ~24 interleaved 10 ms blocks), and a
ratio is the ratio of the two arms' minima, both taken over the same rounds (Chen & Revels
2016; the dimensioning experiment in scripts/dimension.py: between-process spread of 1–4 % for
the minimum against 2–28 % for the median on this 2-core VM). The median of the per-round
log-ratios is kept as a cross-check.

**Across processes.** The figure is the geometric mean of its process estimates and the CI is
Student's t on their logs (adcompare.measure.stats.combine): processes, not rounds, are the
independent replicates.

**Flags** (noisy figures, shown in the report):
- ``wide-ci``: the CI's half-width exceeds WIDE_CI for the figure's kind;
- ``warmup-drift``: in at least half the processes the arm had not settled when the rounds
  began (calibration blocks still moving) or its first third of rounds was slower than its last
  third by more than DRIFT;
- ``estimators-disagree``: a ratio's min-based value and its median of per-round log-ratios
  differ by more than the CI's half-width and by more than DISAGREE;
- ``machine-drift``: the reference kernel timed beside the figure varied across its processes
  by more than MACHINE_DRIFT (the machine changed speed between them);
- ``one-process``: no between-process spread was measured (the CI comes from rounds only);
- ``quick``: a smoke-test number (`adcompare run --quick`).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any, Mapping, Sequence

from adcompare.measure import stats
from adcompare.measure.jobs import FigureSpec, Job

WIDE_CI = {"timing": 0.10, "prepare": 0.25, "first-call": 0.25}
DRIFT = 0.10
DISAGREE = 0.05
MACHINE_DRIFT = 0.05
SETTLED = 0.10
FLAGS = ("wide-ci", "warmup-drift", "estimators-disagree", "machine-drift", "one-process", "quick")


@dataclasses.dataclass
class MeasuredFigure:
    """One measured figure: its estimate over processes, flags and parts (labelled arms)."""

    spec: FigureSpec
    estimate: stats.Estimate | None
    flags: list[str]
    parts: dict[str, stats.Estimate]
    rounds: int
    samples: list[float]               # the process estimates (not logs), for asv
    status: str = "ok"                 # "ok" | "unavailable" | "failed"
    reason: str | None = None

    @property
    def unit(self) -> str:
        return self.spec.unit


def _fastest(arm: Mapping[str, Any]) -> float:
    return math.log(min(arm["seconds"]))


def _not_settled(arm: Mapping[str, Any]) -> bool:
    """Calibration ended before two blocks in a row agreed, or the rounds drifted faster."""
    warm, rounds = arm.get("warmup") or [], arm.get("seconds") or []
    unsettled = len(warm) >= 2 and abs(warm[-1] / warm[-2] - 1) > SETTLED
    third = len(rounds) // 3
    drifting = third >= 3 and min(rounds[:third]) > (1 + DRIFT) * min(rounds[-third:])
    return unsettled or drifting


def process_estimate(spec: FigureSpec, record: Mapping[str, Any]) -> dict:
    """One process's estimate of one figure: {"log", "check", "drift", "parts"} (ln values), or
    {"unavailable": reason} / {"failed": reason}."""
    arms = record["arms"]
    for name in spec.arms:
        arm = arms.get(name, {"error": f"arm {name} was not measured"})
        if "unavailable" in arm:
            return {"unavailable": arm["unavailable"]}
        if "error" in arm:
            return {"failed": arm["error"]}
    a = arms[spec.arms[0]]
    out: dict = {"check": None, "drift": False, "parts": {}}
    if spec.formula == "bytes":
        out["log"] = math.log(a["count"]) if a["count"] > 0 else -math.inf
        out["count"] = a["count"]
        out["samples"] = a.get("samples")
        return out
    if spec.formula in ("prepare", "first-call"):
        out["log"] = math.log(a["prepare"])
        return out
    if not a.get("seconds"):
        return {"failed": "no rounds were timed"}
    if spec.formula == "seconds":
        out["log"] = _fastest(a)
        out["check"] = math.log(statistics.median(a["seconds"]))
        out["drift"] = _not_settled(a)
    elif spec.formula == "ratio":
        b = arms[spec.arms[1]]
        out["log"] = _fastest(a) - _fastest(b) - math.log(spec.divisor)
        out["check"] = statistics.median(math.log(x / y) for x, y in zip(a["seconds"], b["seconds"])) \
            - math.log(spec.divisor)
        out["drift"] = _not_settled(a) or _not_settled(b)
    elif spec.formula == "sum-ratio":
        b, c = arms[spec.arms[1]], arms[spec.arms[2]]
        out["log"] = math.log(min(a["seconds"]) + min(b["seconds"])) - _fastest(c)
        out["check"] = statistics.median(math.log((x + y) / z) for x, y, z in zip(a["seconds"], b["seconds"],
                                                                                  c["seconds"]))
        out["drift"] = _not_settled(a) or _not_settled(b) or _not_settled(c)
    else:
        raise ValueError(f"unknown formula {spec.formula!r}")
    for label, name in spec.parts:
        part = arms.get(name) or {}
        if part.get("seconds"):
            out["parts"][label] = _fastest(part)
    return out


def _round_se(spec: FigureSpec, record: Mapping[str, Any]) -> tuple[float, int] | None:
    """For a one-process figure: the standard error of the mean of its per-round logs (the only
    spread there is; between-process spread is not in it, hence the `one-process` flag)."""
    arms = record["arms"]
    a = arms.get(spec.arms[0], {}).get("seconds")
    if not a or len(a) < 3:
        return None
    if spec.formula == "ratio":
        b = arms[spec.arms[1]]["seconds"]
        logs = [math.log(x / y) for x, y in zip(a, b)]
    elif spec.formula == "sum-ratio":
        b, c = arms[spec.arms[1]]["seconds"], arms[spec.arms[2]]["seconds"]
        logs = [math.log((x + y) / z) for x, y, z in zip(a, b, c)]
    else:
        logs = [math.log(x) for x in a]
    return statistics.stdev(logs) / math.sqrt(len(logs)), len(logs) - 1


def _reference_drift(records: Sequence[Mapping[str, Any]]) -> bool:
    refs = [math.log(min(r["arms"]["reference"]["seconds"])) for r in records
            if r["arms"].get("reference", {}).get("seconds")]
    return len(refs) >= 2 and statistics.stdev(refs) > MACHINE_DRIFT


def aggregate(job: Job, records: Sequence[Mapping[str, Any]], quick: bool = False) -> list[MeasuredFigure]:
    """The figures of one job from the records of its processes."""
    kind = job.kind
    drift = _reference_drift(records)
    figures = []
    for spec in job.figures:
        per = [(r, process_estimate(spec, r)) for r in records]
        ok = [(r, e) for r, e in per if "log" in e]
        if not ok:
            status = "unavailable" if any("unavailable" in e for _, e in per) else "failed"
            reason = next((e.get("unavailable") or e.get("failed") for _, e in per), "no record")
            figures.append(MeasuredFigure(spec, None, [], {}, 0, [], status, reason))
            continue
        logs = [e["log"] for _, e in ok]
        if spec.formula == "bytes":
            samples = ok[0][1]["samples"]
            estimate = stats.repeated(samples) if samples else stats.exact(ok[0][1]["count"])
            flags = []
        else:
            fallback = _round_se(spec, ok[0][0]) if len(ok) == 1 else None
            estimate = stats.combine(logs, *(fallback or (None,)))
            flags = _flags(spec, kind, estimate, ok, drift, quick)
        parts = {}
        for label, _ in spec.parts:
            values = [e["parts"][label] for _, e in ok if label in e["parts"]]
            if values:
                parts[label] = stats.combine(values)
        rounds = sum(r.get("rounds", 0) for r, _ in ok)
        figures.append(MeasuredFigure(spec, estimate, flags, parts, rounds, [math.exp(v) for v in logs]))
    return figures


def _flags(spec: FigureSpec, kind: str, estimate: stats.Estimate, ok, drift: bool, quick: bool) -> list[str]:
    flags = []
    if stats.relative_halfwidth(estimate.ci) > WIDE_CI.get(kind, WIDE_CI["timing"]):
        flags.append("wide-ci")
    if sum(e["drift"] for _, e in ok) * 2 >= len(ok) and kind == "timing":
        flags.append("warmup-drift")
    if spec.formula in ("ratio", "sum-ratio"):
        checks = [e["check"] for _, e in ok if e["check"] is not None]
        if checks:
            gap = abs(estimate.log_mean - statistics.fmean(checks))
            half = math.log1p(stats.relative_halfwidth(estimate.ci)) if estimate.ci else 0.0
            if gap > max(half, DISAGREE):
                flags.append("estimators-disagree")
    if drift:
        flags.append("machine-drift")
    if len(ok) == 1:
        flags.append("one-process")
    if quick:
        flags.append("quick")
    return flags
