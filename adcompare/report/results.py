"""Reading asv results into flat measurements the report can group and plot.

Layout (asv 0.6): ``results/benchmarks.json`` (name → type, unit, param_names, …; rewritten on
every run), ``results/<machine>/machine.json``, ``results/<machine>/<commit8>-<env>.json`` with
``results[name]`` a row in ``result_columns`` order whose ``result`` is a flat list over the
product of ``params`` (asv's order: the first parameter varies slowest; each value a ``repr``).
NaN marks a skipped combination, None a failed one. adcompare adds a sidecar
``results/<machine>/adcompare-env-<commit8>.json`` with what machine.json cannot hold (threads,
BLAS kernel, versions, GPU).

Only the newest commit of each machine is plotted; every run is listed in the metadata table.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from adcompare.cases import parse_case
from adcompare.errors import UserError

SIDECAR_PREFIX = "adcompare-env-"

# The benchmarks the report reads, by the role they play. Parameter names are the suite's own
# (from benchmarks.json); these are the fallback when benchmarks.json does not list one.
TIME = "time_operators.Operators.time_operator"
CROSSOVER = "time_operators.Crossover.time_jacobian"
TAPE = "memory.TapeMemory.track_tape_bytes"
PEAK = "memory.PeakDeviceMemory.track_peak_device_bytes"
RATIO = "ratios.CostRatios.track_cost_ratio"
PREPARE = "compile.Prepare.track_prepare_seconds"
FIRST_CALL = "compile.FirstCall.timeraw_first_call"

KNOWN = {
    TIME: (("target", "dtype", "case", "operator"), "seconds"),
    CROSSOVER: (("target", "dtype", "case", "operator"), "seconds"),
    TAPE: (("target", "dtype", "case"), "bytes"),
    PEAK: (("target", "dtype", "case", "operator"), "bytes"),
    RATIO: (("target", "dtype", "case", "operator"), "ratio"),
    PREPARE: (("target", "dtype", "case", "operator"), "seconds"),
    FIRST_CALL: (("target", "case", "operator"), "seconds"),
}


@dataclasses.dataclass(frozen=True)
class Run:
    """One asv results file: one machine, one commit, one environment."""

    machine: str
    commit: str
    date_ms: int | None          # asv's `date`: the commit's date, JavaScript milliseconds
    env_name: str
    python: str
    machine_info: dict[str, Any]  # machine.json
    env: dict[str, Any]           # the adcompare sidecar, {} when absent
    path: Path
    started_ms: int | None        # earliest benchmark start in the file

    @property
    def short_commit(self) -> str:
        return self.commit[:8]

    @property
    def date(self) -> str:
        return format_ms(self.date_ms)

    @property
    def started(self) -> str:
        return format_ms(self.started_ms)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One number: a benchmark at one parameter combination in one run."""

    benchmark: str
    params: dict[str, Any]
    value: float
    unit: str
    run: Run

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclasses.dataclass
class ResultSet:
    """Everything the report shows: the runs, and the measurements of each machine's newest commit."""

    root: Path
    runs: list[Run]               # all runs, sorted by machine then date
    latest: list[Run]             # the runs whose numbers are plotted
    measurements: list[Measurement]
    outcomes: dict[str, Counter]  # benchmark -> Counter(ok / skipped / failed)
    benchmarks: dict[str, dict]   # benchmarks.json (minus "version")

    @property
    def machines(self) -> list[str]:
        return list(dict.fromkeys(r.machine for r in self.latest))

    def of(self, benchmark: str) -> list[Measurement]:
        return [m for m in self.measurements if m.benchmark == benchmark]


def format_ms(ms: int | float | None) -> str:
    if ms is None or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return "unknown"
    stamp = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        return json.loads(text)  # asv writes NaN / Infinity literals; Python's json reads them
    except ValueError as err:
        raise UserError(f"corrupt results file {path}: {err}") from None


def _decode_param(text: Any) -> Any:
    """asv stores parameter values as their repr: "'torch:cpu'" -> 'torch:cpu', "3" -> 3."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _as_number(value: Any) -> float | None:
    """A finite float, or None for asv's skipped (NaN) / failed (None) markers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _param_names(name: str, meta: dict | None, count: int) -> list[str]:
    names = list((meta or {}).get("param_names") or KNOWN.get(name, ((), ""))[0])
    if len(names) != count:  # unknown benchmark or changed signature: positional names
        names = [f"param{i + 1}" for i in range(count)]
    return names


def _unit(name: str, meta: dict | None) -> str:
    if meta and meta.get("unit"):
        return str(meta["unit"])
    if name in KNOWN:
        return KNOWN[name][1]
    leaf = name.rsplit(".", 1)[-1]
    return "seconds" if leaf.startswith(("time_", "timeraw_")) else "unknown"


def _machine_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "machine.json").is_file())


def _load_sidecars(machine_dir: Path) -> dict[str, dict]:
    sidecars = {}
    for path in sorted(machine_dir.glob(SIDECAR_PREFIX + "*.json")):
        data = _read_json(path)
        if not isinstance(data, dict):
            raise UserError(f"corrupt environment file {path}: expected a JSON object")
        sidecars[path.stem[len(SIDECAR_PREFIX):]] = data
    return sidecars


def _load_run(path: Path, machine_info: dict, sidecars: dict[str, dict],
              benchmarks: dict[str, dict]) -> tuple[Run, list[tuple[str, list, list, str]]]:
    data = _read_json(path)
    try:
        columns = data["result_columns"]
        rows = data["results"]
        commit = str(data["commit_hash"])
        col = {key: i for i, key in enumerate(columns)}
        if not isinstance(rows, dict) or "result" not in col or "params" not in col:
            raise TypeError
    except (KeyError, TypeError):
        raise UserError(f"corrupt results file {path}: not an asv results file "
                        "(needs commit_hash, result_columns, results)") from None
    machine = str((data.get("params") or {}).get("machine") or machine_info.get("machine") or path.parent.name)
    table = []
    started = []
    for name, row in rows.items():
        if not isinstance(row, list):
            raise UserError(f"corrupt results file {path}: row {name!r} is not a list")
        row = row + [None] * (len(columns) - len(row))  # asv trims trailing None columns
        values, params = row[col["result"]], row[col["params"]] or []
        if "started_at" in col and isinstance(row[col["started_at"]], (int, float)):
            started.append(row[col["started_at"]])
        if values is None:  # every combination failed: asv compresses to None
            values = [None] * math.prod(len(p) for p in params)
        combos = list(itertools.product(*[[_decode_param(v) for v in p] for p in params]))
        if len(combos) != len(values):
            raise UserError(f"corrupt results file {path}: {name} has {len(values)} results "
                            f"for {len(combos)} parameter combinations")
        meta = benchmarks.get(name)
        table.append((name, [dict(zip(_param_names(name, meta, len(params)), c)) for c in combos],
                      values, _unit(name, meta)))
    run = Run(
        machine=machine,
        commit=commit,
        date_ms=data.get("date"),
        env_name=str(data.get("env_name") or "unknown"),
        python=str(data.get("python") or "unknown"),
        machine_info=machine_info,
        env=sidecars.get(commit[:8], {}),
        path=path,
        started_ms=min(started) if started else None,
    )
    return run, table


def _newest_commit(runs: list[Run]) -> str:
    return max(runs, key=lambda r: (r.date_ms or 0, r.started_ms or 0)).commit


def load_results(results_dir: str | Path) -> ResultSet:
    """Read an asv results directory; UserError (one line) when it is missing, empty or corrupt."""
    root = Path(results_dir)
    if not root.exists():
        raise UserError(f"results directory {root} does not exist; run `adcompare run` first")
    if not root.is_dir():
        raise UserError(f"results path {root} is not a directory")
    benchmarks = {}
    if (root / "benchmarks.json").is_file():
        benchmarks = _read_json(root / "benchmarks.json")
        if not isinstance(benchmarks, dict):
            raise UserError(f"corrupt results file {root / 'benchmarks.json'}: expected a JSON object")
        benchmarks = {k: v for k, v in benchmarks.items() if isinstance(v, dict)}

    runs: list[Run] = []
    tables: dict[Path, list] = {}
    for machine_dir in _machine_dirs(root):
        machine_info = _read_json(machine_dir / "machine.json")
        if not isinstance(machine_info, dict):
            raise UserError(f"corrupt results file {machine_dir / 'machine.json'}: expected a JSON object")
        sidecars = _load_sidecars(machine_dir)
        for path in sorted(machine_dir.glob("*.json")):
            if path.name == "machine.json" or path.name.startswith(SIDECAR_PREFIX):
                continue
            run, table = _load_run(path, machine_info, sidecars, benchmarks)
            runs.append(run)
            tables[path] = table
    if not runs:
        raise UserError(f"no asv results in {root} (expected {root}/<machine>/<commit>-<env>.json "
                        "next to machine.json); run `adcompare run` first")
    runs.sort(key=lambda r: (r.machine, r.date_ms or 0, r.started_ms or 0, r.env_name))

    by_machine: dict[str, list[Run]] = {}
    for run in runs:
        by_machine.setdefault(run.machine, []).append(run)
    latest = [r for group in by_machine.values() for r in group if r.commit == _newest_commit(group)]

    # Several environments of one machine at its newest commit: the most recently started run's
    # number wins where they overlap, so a chart never gets two points for one combination.
    chosen: dict[tuple, Measurement] = {}
    outcomes: dict[str, Counter] = {}
    for run in sorted(latest, key=lambda r: r.started_ms or 0):
        for name, combos, values, unit in tables[run.path]:
            count = outcomes.setdefault(name, Counter())
            for params, raw in zip(combos, values):
                value = _as_number(raw)
                if value is None:
                    count["failed" if raw is None else "skipped"] += 1
                    continue
                count["ok"] += 1
                key = (run.machine, name, tuple(sorted((k, repr(v)) for k, v in params.items())))
                chosen[key] = Measurement(name, params, value, unit, run)
    return ResultSet(root, runs, latest, list(chosen.values()), outcomes, benchmarks)


def parsed(m: Measurement) -> tuple[str, int, dict[str, int]] | None:
    """(problem, n, options) of the measurement's case, or None if it has no readable case."""
    try:
        return parse_case(str(m.get("case")))
    except UserError:
        return None


def family_label(problem: str, opts: dict[str, int]) -> str:
    return problem + "".join(f", {k}={v}" for k, v in sorted(opts.items()))
