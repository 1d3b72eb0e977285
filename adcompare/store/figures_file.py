"""The figures file: each headline figure measured in several processes, with its 95 % CI;
written by `adcompare run` (merged into a commit's file), read by the report and the
reproducibility tool.

``results/<machine>/adcompare-figures-<commit8>.json`` sits beside asv's results::

    {"version": 1, "machine": ..., "commit": ...,
     "figures": [{"benchmark", "params", "unit", "value", "ci": [lo, hi] | null, "log_se", "df",
                  "processes", "rounds", "flags", "parts": {name: {"value", "ci"}}, "run", "quick",
                  "source", "source_hash"}]}

A figure of a user's own problem carries where the problem came from (`source`: its file or
module) and the sha256 of that file (`source_hash`). Figures of one problem name are never mixed
across versions of the function: a run that records figures under a new hash drops the older
hash's records of that problem (`drop_changed`).

`value` is the geometric mean of the process estimates, `ci` Student's t on the logs with
`df` = P − 1 (`adcompare.measure.stats`). asv's own file keeps its median for the same combination; the
report shows this file's figure where a record exists and asv's number, marked "no CI recorded",
where none does. A record that does not parse is skipped and counted, never fatal.
"""

from __future__ import annotations

import dataclasses
import math
import json
from typing import Any, Iterable, Mapping

from adcompare.ids import problem_of
from adcompare.measure import stats
from adcompare.measure.estimates import MeasuredFigure
from adcompare.measure.jobs import FigureSpec
from adcompare.measure.stats import Estimate

FIGURES_PREFIX = "adcompare-figures-"
FILE_VERSION = 1
# Flags that say a figure is noisy (shown as hollow markers and ⚠); "one-process" and "quick"
# say how it was measured and are shown as "no CI" and the smoke-test banner instead.
NOISE_FLAGS = ("wide-ci", "warmup-drift", "estimators-disagree", "machine-drift")
FLAG_MEANING = {
    "wide-ci": "the CI's half-width is beyond the family's target",
    "warmup-drift": "a process's first rounds differ from its later ones, or calibration never settled",
    "estimators-disagree": "the min-based figure and the median of per-round log-ratios disagree beyond the CI",
    "machine-drift": "the reference kernel's speed varied across the figure's processes beyond the noise",
    "one-process": "measured in one process: no between-process spread, so no CI",
    "quick": "a smoke-test number (adcompare run --quick: one process, few rounds)",
    "shared-host": "measured by one of several cluster workers on one host at once: their processes competed for it",
}


@dataclasses.dataclass(frozen=True)
class Part:
    """One arm of a figure (the forward Jacobian of a crossover cell, the primal of a ratio): seconds per call."""

    value: float
    ci: tuple[float, float] | None


@dataclasses.dataclass(frozen=True)
class FigureRecord:
    """One record of the figures file, as read back."""

    value: float
    ci: tuple[float, float] | None
    log_se: float | None
    df: int
    processes: int
    rounds: int | None
    flags: tuple[str, ...]
    parts: dict[str, Part]
    run: str | None
    quick: bool
    source: str | None = None         # a user's problem: its file or module
    source_hash: str | None = None    # and the sha256 of that file

    @property
    def exact(self) -> bool:
        """A counted figure (tape bytes): its CI is the value itself."""
        return self.ci is not None and self.ci[0] == self.ci[1] == self.value

    @property
    def estimate(self) -> Estimate | None:
        """The figure on the log scale for derived quantities (crossover point, slope); None when its
        spread is unknown, so a derived CI is never built from a figure that has none."""
        if self.value <= 0 or self.log_se is None or (self.log_se > 0 and self.df < 1):
            return None
        return Estimate(math.log(self.value), self.log_se, max(self.df, 1), self.processes)

    @property
    def noisy(self) -> tuple[str, ...]:
        return tuple(f for f in self.flags if f in NOISE_FLAGS)


def params_key(params: dict[str, Any]) -> tuple:
    """A hashable key of a parameter combination, the same for asv's decoded params and the record's."""
    return tuple(sorted((str(k), repr(v)) for k, v in params.items()))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


def _ci(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    lo, hi = (_number(v) for v in value)
    if lo > hi:
        raise ValueError("CI bounds out of order")
    return lo, hi


def _count(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def _parts(node: Any) -> dict[str, Part]:
    """The arms that parse; a malformed arm is dropped without losing the figure."""
    parts = {}
    for name, part in (node or {}).items():
        try:
            parts[str(name)] = Part(_number(part["value"]), _ci(part.get("ci")))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return parts


def parse_record(record: Any) -> tuple[str, dict[str, Any], FigureRecord]:
    """(benchmark, params, figure) of one record; KeyError/TypeError/ValueError when malformed."""
    benchmark, params = record["benchmark"], record["params"]
    if not isinstance(benchmark, str) or not isinstance(params, dict):
        raise TypeError("benchmark must be a string and params an object")
    log_se = record.get("log_se")
    log_se = None if log_se is None else _number(log_se)
    if log_se is not None and log_se < 0:
        raise ValueError("negative standard error")
    flags = tuple(str(f) for f in (record.get("flags") or ()))
    quick = record.get("quick") is True or "quick" in flags
    run = record.get("run")
    figure = FigureRecord(value=_number(record["value"]), ci=_ci(record.get("ci")), log_se=log_se,
                    df=_count(record.get("df"), 0), processes=_count(record.get("processes"), 1),
                    rounds=_count(record.get("rounds"), 0) or None, flags=flags,
                    parts=_parts(record.get("parts")), run=None if run is None else str(run), quick=quick,
                    source=_text(record.get("source")), source_hash=_text(record.get("source_hash")))
    return benchmark, params, figure


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_figures(data: Any) -> tuple[dict[tuple, FigureRecord], int]:
    """{(benchmark, params_key): FigureRecord} of a figures file, and how many records were malformed.
    TypeError when the file is not a figures file at all."""
    if not isinstance(data, dict) or not isinstance(data.get("figures"), list):
        raise TypeError("not an adcompare figures file (needs a 'figures' list)")
    figures, skipped = {}, 0
    for record in data["figures"]:
        try:
            benchmark, params, figure = parse_record(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            skipped += 1
            continue
        figures[(benchmark, params_key(params))] = figure
    return figures, skipped


# --- writing ------------------------------------------------------------------------------------
def _interval(est: stats.Estimate) -> list[float] | None:
    ci = est.ci
    return None if ci is None else [ci[0], ci[1]]


def figure_record(fig: MeasuredFigure, run_id: str, quick: bool) -> dict:
    """A measured figure as the figures file holds it (see the report's reader)."""
    est = fig.estimate
    return {
        "benchmark": fig.spec.benchmark, "params": fig.spec.param_dict(), "unit": fig.unit,
        "value": est.value, "ci": _interval(est), "log_se": est.log_se, "df": est.df,
        "processes": est.processes, "rounds": fig.rounds, "flags": list(fig.flags),
        "parts": {k: {"value": v.value, "ci": _interval(v)} for k, v in fig.parts.items()},
        "run": run_id, "quick": quick,
    }


def unavailable_record(spec: FigureSpec, status: str, reason: str, run_id: str) -> dict:
    return {"benchmark": spec.benchmark, "params": spec.param_dict(), "status": status, "reason": reason,
            "run": run_id}


def file_name(commit: str) -> str:
    return f"{FIGURES_PREFIX}{commit[:8]}.json"


def merge_file(old: Mapping[str, Any] | None, machine: str, commit: str, figures: Iterable[dict],
               unavailable: Iterable[dict]) -> dict:
    """The figures file after a run: this run's records replace older ones of the same figure;
    records of figures this run did not touch are kept."""
    def key(rec):
        return rec["benchmark"], json.dumps(rec["params"], sort_keys=True)

    new_figures, new_unavailable = list(figures), list(unavailable)
    touched = {key(r) for r in new_figures + new_unavailable}
    old = old or {}
    kept_figures = [r for r in old.get("figures", []) if key(r) not in touched]
    kept_unavailable = [r for r in old.get("unavailable", []) if key(r) not in touched]
    return {"version": FILE_VERSION, "machine": machine, "commit": commit,
            "figures": kept_figures + new_figures, "unavailable": kept_unavailable + new_unavailable}


def record_problem(record: Mapping[str, Any]) -> str | None:
    """The problem a record's case names, or None (a record without a case)."""
    params = record.get("params")
    case = params.get("case") if isinstance(params, dict) else None
    return problem_of(case) if isinstance(case, str) else None


def with_sources(records: Iterable[dict], sources: Mapping[str, tuple[str, str | None]]) -> list[dict]:
    """Records with `source` and `source_hash` added where their problem is a user's
    (`sources`: problem -> (source, sha256))."""
    out = []
    for record in records:
        origin = sources.get(record_problem(record) or "")
        out.append(record if origin is None else {**record, "source": origin[0], "source_hash": origin[1]})
    return out


def drop_changed(old: Mapping[str, Any] | None, sources: Mapping[str, tuple[str, str | None]]
                 ) -> tuple[dict, dict[str, int]]:
    """The figures file without the records of a user's problem measured from another version of it
    (a source hash other than this run's), and how many figures of each problem were dropped."""
    old = dict(old or {})
    dropped: dict[str, int] = {}
    for section in ("figures", "unavailable"):
        kept = []
        for record in old.get(section) or []:
            name = record_problem(record) if isinstance(record, dict) else None
            if name in sources and record.get("source_hash") != sources[name][1]:
                dropped[name] = dropped.get(name, 0) + (section == "figures")
            else:
                kept.append(record)
        if section in old:
            old[section] = kept
    return old, dropped


def skipped_records(skipped: Iterable[Any], run_id: str) -> list[dict]:
    """Records of the plan's figures that cannot run here (`run.plan.Skipped`: figure, reason)."""
    return [unavailable_record(s.figure, "unavailable", s.reason, run_id) for s in skipped]
