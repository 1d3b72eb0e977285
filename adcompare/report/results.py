"""Reading asv results, and adcompare's figures beside them, into flat measurements.

Layout (asv 0.6): ``results/benchmarks.json`` (name → type, unit, param_names, …; rewritten on
every run), ``results/<machine>/machine.json``, ``results/<machine>/<commit8>-<env>.json`` with
``results[name]`` a row in ``result_columns`` order whose ``result`` is a flat list over the
product of ``params`` (asv's order: the first parameter varies slowest; each value a ``repr``).
NaN marks a skipped combination, None a failed one. adcompare adds, per machine and commit,
``adcompare-env-<commit8>.json`` (what machine.json cannot hold: threads, BLAS kernel, versions,
GPU, the runs merged into the commit) and ``adcompare-figures-<commit8>.json`` (each figure with
its 95 % CI, `adcompare.store.figures_file`).

Only the newest commit of each machine is plotted; every run is listed in the metadata table.
Results are read defensively: a file that cannot be used (not UTF-8, truncated, not asv's
format) is skipped and named in `ResultSet.problems` with the command that removes it; a machine
folder without machine.json is still read; a timing ≤ 0 is kept aside as invalid. Only when no
valid results remain is that a `UserError`.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import itertools
import math
from collections import Counter
from pathlib import Path
from typing import Any

from adcompare.errors import UserError
from adcompare.families import all_benchmarks
from adcompare.families.cost_ratios import COST_RATIO
from adcompare.families.crossover import CROSSOVER
from adcompare.families.first_call import FIRST_CALL_SECONDS
from adcompare.families.noise_floor import NOISE_FLOOR
from adcompare.families.peak_device_memory import PEAK as PEAK_BYTES
from adcompare.families.prepare import PREPARE_SECONDS
from adcompare.families.tape import TAPE as TAPE_BYTES
from adcompare.families.time_per_call import SECONDS
from adcompare.ids import Case
from adcompare.store.figures_file import FIGURES_PREFIX, FigureRecord, Part, params_key, parse_figures
from adcompare.store.files import CorruptFile, quoted, read_json as read_file

SIDECAR_PREFIX = "adcompare-env-"
OURS_PREFIX = "adcompare-"        # our own files beside asv's; unknown ones are not asv results
PAGES_FOLDER = "html"             # asv publish (and this report) write here, inside the results

# The benchmarks the report reads, by the role they play (each family declares its own).
TIME = SECONDS.name
CROSSOVER = CROSSOVER.name
RATIO = COST_RATIO.name
AA = NOISE_FLOOR.name
TAPE = TAPE_BYTES.name
PEAK = PEAK_BYTES.name
PREPARE = PREPARE_SECONDS.name
FIRST_CALL = FIRST_CALL_SECONDS.name


def known(name: str) -> tuple[tuple[str, ...], str] | None:
    """(parameter names, unit) of a benchmark some family declares: the fallback when
    benchmarks.json does not list it."""
    b = all_benchmarks().get(name)
    return (b.param_names, b.unit) if b else None


POSITIVE_UNITS = ("seconds", "ratio")   # a time or a ratio of times is > 0; bytes may be 0


class BadFile(Exception):
    """A results file the report cannot use; the message says why."""


@dataclasses.dataclass(frozen=True)
class FileIssue:
    """Something wrong with the results that the page must say: a file skipped (`remove`: the
    page gives the command that deletes it) or a gap (machine.json missing, records ignored)."""

    path: Path
    message: str
    remove: bool = True

    @property
    def command(self) -> str:
        return f"rm {quoted(self.path)}" if self.remove else ""

    def line(self) -> str:
        """One line for stderr."""
        if self.remove:
            return f"adcompare report: skipped {self.path}: {self.message}; remove it with: {self.command}"
        return f"adcompare report: {self.path}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Run:
    """One asv results file: one machine, one commit, one environment."""

    machine: str
    commit: str
    date_ms: int | None          # asv's `date`: the commit's date, JavaScript milliseconds
    env_name: str
    python: str
    machine_info: dict[str, Any]  # machine.json, {} when missing or unreadable
    env: dict[str, Any]           # the adcompare sidecar, {} when absent
    path: Path
    started_ms: int | None        # earliest benchmark start in the file
    machine_note: str = ""        # why machine.json gave nothing ("machine.json is missing")

    @property
    def short_commit(self) -> str:
        return self.commit[:8]

    @property
    def date(self) -> str:
        return format_ms(self.date_ms)

    @property
    def started(self) -> str:
        return format_ms(self.started_ms)

    @property
    def records(self) -> list[dict]:
        return sidecar_runs(self.env)

    @property
    def quick(self) -> bool:
        """Every run merged into this commit was `adcompare run --quick`: smoke-test numbers."""
        records = self.records
        return bool(records) and all(r.get("quick") is True for r in records)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One number: a benchmark at one parameter combination in one run, with its figure (value,
    95 % CI, flags) where the figures file has one."""

    benchmark: str
    params: dict[str, Any]
    value: float                   # the figure's value where recorded, else asv's
    unit: str
    run: Run
    figure: FigureRecord | None = None   # None: an older result, asv's number with no CI recorded

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    @property
    def ci(self) -> tuple[float, float] | None:
        return self.figure.ci if self.figure else None

    @property
    def flags(self) -> tuple[str, ...]:
        return self.figure.flags if self.figure else ()

    @property
    def noisy(self) -> tuple[str, ...]:
        return self.figure.noisy if self.figure else ()

    @property
    def parts(self) -> dict[str, Part]:
        return self.figure.parts if self.figure else {}

    @property
    def quick(self) -> bool:
        return self.figure.quick if self.figure else self.run.quick


@dataclasses.dataclass
class ResultSet:
    """Everything the report shows: the runs, and the measurements of each machine's newest commit."""

    root: Path
    runs: list[Run]               # all runs, sorted by machine then date
    latest: list[Run]             # the runs whose numbers are plotted
    measurements: list[Measurement]   # valid numbers only
    outcomes: dict[str, Counter]  # benchmark -> Counter(ok / skipped / failed / invalid)
    benchmarks: dict[str, dict]   # benchmarks.json (minus "version")
    problems: list[FileIssue] = dataclasses.field(default_factory=list)
    invalid: list[Measurement] = dataclasses.field(default_factory=list)   # ≤ 0 where > 0 is required

    @property
    def machines(self) -> list[str]:
        return list(dict.fromkeys(r.machine for r in self.latest))

    def of(self, benchmark: str) -> list[Measurement]:
        return [m for m in self.measurements if m.benchmark == benchmark]

    def invalid_of(self, benchmark: str) -> list[Measurement]:
        return [m for m in self.invalid if m.benchmark == benchmark]


def sidecar_runs(env: dict[str, Any]) -> list[dict]:
    """The run records of a sidecar: `runs` (one per run merged into the commit) or, in older
    sidecars, the one `run` object."""
    runs = env.get("runs")
    if isinstance(runs, list):
        return [r for r in runs if isinstance(r, dict)]
    run = env.get("run")
    return [run] if isinstance(run, dict) else []


def format_ms(ms: int | float | None) -> str:
    if ms is None or isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return "unknown"
    try:
        stamp = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "unknown"
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def read_json(path: Path) -> Any:
    """The parsed file, or BadFile saying why it cannot be: unreadable, not UTF-8, not JSON."""
    try:
        return read_file(path, missing_ok=False)
    except CorruptFile as err:
        raise BadFile(str(err)) from None


def _decode_param(text: Any) -> Any:
    """asv stores parameter values as their repr: "'torch:cpu'" -> 'torch:cpu', "3" -> 3."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _as_number(value: Any) -> float | None:
    """A finite float, or None for asv's skipped (NaN) / failed (None) markers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def is_valid(value: float, unit: str) -> bool:
    """A time or ratio must be > 0 (a log axis and every ratio need it); bytes ≥ 0."""
    return value > 0 if unit in POSITIVE_UNITS else value >= 0 if unit == "bytes" else True


def _param_names(name: str, meta: dict | None, count: int) -> list[str]:
    names = list((meta or {}).get("param_names") or (known(name) or ((), ""))[0])
    if len(names) != count:  # unknown benchmark or changed signature: positional names
        names = [f"param{i + 1}" for i in range(count)]
    return [str(n) for n in names]


def unit_of(name: str, meta: dict | None) -> str:
    if meta and meta.get("unit"):
        return str(meta["unit"])
    if known(name):
        return known(name)[1]
    leaf = name.rsplit(".", 1)[-1]
    return "seconds" if leaf.startswith(("time_", "timeraw_")) else "unknown"


def _machine_dirs(root: Path) -> list[Path]:
    """Every folder that holds results: all but asv's published pages and hidden folders."""
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and p.name != PAGES_FOLDER and not p.name.startswith("."))


def _parse_run(path: Path, data: Any, benchmarks: dict[str, dict]) -> tuple[dict, list[tuple]]:
    """(header fields, [(benchmark, combos, values, unit)]) of an asv results file; BadFile if it is not one."""
    try:
        columns = data["result_columns"]
        rows = data["results"]
        commit = data["commit_hash"]
        col = {key: i for i, key in enumerate(columns)}
        if not isinstance(rows, dict) or not isinstance(commit, str) or "result" not in col or "params" not in col:
            raise TypeError
    except (KeyError, TypeError):
        raise BadFile("is not an asv results file (needs commit_hash, result_columns, results)") from None
    table, started = [], []
    for name, row in rows.items():
        try:
            row = list(row) + [None] * (len(columns) - len(row))  # asv trims trailing None columns
            values, params = row[col["result"]], row[col["params"]] or []
            params = [[_decode_param(v) for v in p] for p in params]
            if values is None:  # every combination failed: asv compresses to None
                values = [None] * math.prod(len(p) for p in params)
            combos = list(itertools.product(*params))
            if not isinstance(values, list) or len(combos) != len(values):
                raise ValueError
        except (TypeError, ValueError):
            raise BadFile(f"is not an asv results file (benchmark {name!r} has a malformed row)") from None
        if "started_at" in col and _as_number(row[col["started_at"]]) is not None:
            started.append(row[col["started_at"]])
        meta = benchmarks.get(name)
        names = _param_names(name, meta, len(params))
        table.append((name, [dict(zip(names, c)) for c in combos], values, unit_of(name, meta)))
    header = {"commit": commit, "date": data.get("date") if _as_number(data.get("date")) is not None else None,
              "env_name": str(data.get("env_name") or "unknown"), "python": str(data.get("python") or "unknown"),
              "machine": (data.get("params") or {}).get("machine") if isinstance(data.get("params"), dict) else None,
              "started": min(started) if started else None}
    return header, table


def _newest_commit(runs: list[Run]) -> str:
    return max(runs, key=lambda r: (r.date_ms or 0, r.started_ms or 0)).commit


class _Reader:
    """One pass over a results folder, collecting runs, figures and problems."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[FileIssue] = []
        self.benchmarks: dict[str, dict] = {}
        self.runs: list[Run] = []
        self.tables: dict[Path, list] = {}
        self.figures: dict[tuple[Path, str], dict[tuple, FigureRecord]] = {}   # (folder, commit8) -> records
        self.figure_files: dict[tuple[Path, str], Path] = {}

    def json_object(self, path: Path, what: str) -> dict | None:
        """A file that must hold a JSON object, or None with the problem recorded."""
        try:
            data = read_json(path)
        except BadFile as err:
            self.problems.append(FileIssue(path, str(err)))
            return None
        if not isinstance(data, dict):
            self.problems.append(FileIssue(path, f"is not {what} (expected a JSON object)"))
            return None
        return data

    def read(self) -> None:
        if (self.root / "benchmarks.json").is_file():
            data = self.json_object(self.root / "benchmarks.json", "asv's benchmarks.json")
            self.benchmarks = {k: v for k, v in (data or {}).items() if isinstance(v, dict)}
        for folder in _machine_dirs(self.root):
            self.read_machine(folder)

    def read_machine(self, folder: Path) -> None:
        files = sorted(p for p in folder.glob("*.json") if p.is_file())
        if not files:
            return
        info, note = {}, ""
        machine_json = folder / "machine.json"
        if machine_json.is_file():
            info = self.json_object(machine_json, "asv's machine.json") or {}
            note = "" if info else "machine.json is unreadable"
        else:
            note = "machine.json is missing"
            self.problems.append(FileIssue(machine_json, "is missing: asv's record of the machine (CPU, RAM, OS) is "
                                         "unknown; its name comes from the results files, else the folder",
                                         remove=False))
        sidecars = {}
        for path in files:
            if path.name.startswith(SIDECAR_PREFIX):
                data = self.json_object(path, "an adcompare environment record")
                if data is not None:
                    sidecars[path.stem[len(SIDECAR_PREFIX):]] = data
            elif path.name.startswith(FIGURES_PREFIX):
                self.read_figures(folder, path)
        for path in files:
            if path.name == "machine.json" or path.name.startswith(OURS_PREFIX):
                continue
            try:
                header, table = _parse_run(path, read_json(path), self.benchmarks)
            except BadFile as err:
                self.problems.append(FileIssue(path, str(err)))
                continue
            commit = header["commit"]
            self.runs.append(Run(
                machine=str(header["machine"] or info.get("machine") or folder.name), commit=commit,
                date_ms=header["date"], env_name=header["env_name"], python=header["python"],
                machine_info=info, env=sidecars.get(commit[:8], {}), path=path, started_ms=header["started"],
                machine_note=note))
            self.tables[path] = table

    def read_figures(self, folder: Path, path: Path) -> None:
        try:
            figures, skipped = parse_figures(read_json(path))
        except BadFile as err:
            self.problems.append(FileIssue(path, f"{err}; its numbers are shown without CIs"))
            return
        except TypeError as err:
            self.problems.append(FileIssue(path, f"is {err}; its numbers are shown without CIs"))
            return
        if skipped:
            self.problems.append(FileIssue(path, f"{skipped} malformed figure record{'s' * (skipped != 1)} "
                                         "ignored (their numbers are shown as asv's, without CIs)", remove=False))
        key = (folder, path.stem[len(FIGURES_PREFIX):])
        self.figures[key] = figures
        self.figure_files[key] = path


def _no_results_error(root: Path, problems: list[FileIssue]) -> UserError:
    bad = [p for p in problems if p.remove]
    if not bad:
        return UserError(f"no asv results in {root} (expected {root}/<machine>/<commit>-<env>.json "
                         "next to machine.json); run `adcompare run` first")
    first = bad[0]
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    paths = " ".join(quoted(p.path) for p in bad)
    return UserError(f"no valid asv results in {root}: {first.path} {first.message}{more}; "
                     f"remove with: rm {paths}")


def load_results(results_dir: str | Path) -> ResultSet:
    """Read a results directory. UserError (one line) when it is missing or holds no valid results;
    bad files, gaps and invalid numbers otherwise go into `problems` / `invalid`."""
    root = Path(results_dir)
    if not root.exists():
        raise UserError(f"results directory {root} does not exist; run `adcompare run` first")
    if not root.is_dir():
        raise UserError(f"results path {root} is not a directory")
    reader = _Reader(root)
    reader.read()
    if not reader.runs:
        raise _no_results_error(root, reader.problems)
    runs = sorted(reader.runs, key=lambda r: (r.machine, r.date_ms or 0, r.started_ms or 0, r.env_name))

    by_machine: dict[str, list[Run]] = {}
    for run in runs:
        by_machine.setdefault(run.machine, []).append(run)
    latest = [r for group in by_machine.values() for r in group if r.commit == _newest_commit(group)]

    # Several environments of one machine at its newest commit: the most recently started run's
    # number wins where they overlap, so a chart never gets two points for one combination.
    chosen: dict[tuple, Measurement] = {}
    outcomes: dict[str, Counter] = {}
    used: dict[tuple[Path, str], set] = {}
    for run in sorted(latest, key=lambda r: r.started_ms or 0):
        figure_key = (run.path.parent, run.short_commit)
        figures = reader.figures.get(figure_key, {})
        seen = used.setdefault(figure_key, set())
        for name, combos, values, unit in reader.tables[run.path]:
            count = outcomes.setdefault(name, Counter())
            for params, raw in zip(combos, values):
                value = _as_number(raw)
                if value is None:
                    count["failed" if raw is None else "skipped"] += 1
                    continue
                pkey = params_key(params)
                figure = figures.get((name, pkey))
                if figure is not None:
                    seen.add((name, pkey))
                    value = figure.value
                chosen[(run.machine, name, pkey)] = Measurement(name, params, value, unit, run, figure)
    measurements, invalid = [], []
    for m in chosen.values():
        ok = is_valid(m.value, m.unit)
        (measurements if ok else invalid).append(m)
        outcomes[m.benchmark]["ok" if ok else "invalid"] += 1
    problems = list(reader.problems)
    for key, figures in reader.figures.items():
        orphans = len(set(figures) - used.get(key, set()))
        if key in used and orphans:
            problems.append(FileIssue(reader.figure_files[key], f"{orphans} figure record{'s' * (orphans != 1)} match "
                                    "no number in asv's results and are not shown", remove=False))
    return ResultSet(root, runs, latest, measurements, outcomes, reader.benchmarks, problems, invalid)


def parsed(m: Measurement) -> tuple[str, int, dict[str, int]] | None:
    """(problem, n, options) of the measurement's case, or None if it has no readable case."""
    try:
        case = Case.parse(str(m.get("case")))
        return case.problem, case.n, case.opts
    except UserError:
        return None


def family_label(problem: str, opts: dict[str, int]) -> str:
    return problem + "".join(f", {k}={v}" for k, v in sorted(opts.items()))
