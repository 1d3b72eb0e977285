"""One run merged into the results folder: adcompare's figures file and run record first (they
hold every number and what it was measured on), then asv's results file, each written whole.

A user's problem is one version of their function: its figures carry the source and its hash,
and a run of a changed function drops the older version's figures of that problem (from the
figures file, and from asv's file the numbers no current figure backs) instead of mixing them."""

from __future__ import annotations

import ast
import datetime
import itertools
import os
from pathlib import Path

from adcompare.errors import UserError
from adcompare.ids import problem_of
from adcompare.measure.estimates import MeasuredFigure
from adcompare.measure.jobs import FigureSpec
from adcompare.problems import get_problem
from adcompare.problems.user_code import shown
from adcompare.run.checkout import write_config
from adcompare.run.plan import Skipped, figure_name
from adcompare.store import asv as asvresults, environment, figures_file as FF
from adcompare.store.files import CorruptFile, read_json, removal_hint, write_atomically, write_json
from adcompare.store.folder import python_tag


def valid_or_aside(path: Path, log) -> dict | None:
    """The file's JSON; a corrupt one is renamed to `<name>.corrupt` (never deleted) and None."""
    try:
        return read_json(path)
    except CorruptFile as err:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log(f"adcompare run: {path} was corrupt ({err}); kept as {aside}; remove it with: {removal_hint(aside)}")
        return None


def user_sources(specs) -> dict[str, tuple[str, str | None]]:
    """{problem: (source, sha256)} of the users' problems among the figures' cases."""
    names = {problem_of(case) for spec in specs if isinstance(case := spec.param_dict().get("case"), str)}
    out = {}
    for name in sorted(n for n in names if n):
        try:
            problem = get_problem(name)
        except UserError:     # a problem no longer registered: not this run's
            continue
        if problem.source is not None:
            out[name] = (problem.source, problem.source_hash)
    return out


def write_figures(results: Path, machine: str, commit: str, figures: list[MeasuredFigure], skipped: list[Skipped],
                  record: dict, log) -> Path:
    """The figures file of the commit, with this run's figures replacing their older values (and
    every figure of an older version of a user's problem dropped, which one stderr line says)."""
    path = results / machine / FF.file_name(commit)
    old = valid_or_aside(path, log)
    sources = user_sources([f.spec for f in figures] + [s.figure for s in skipped])
    measured = FF.with_sources([FF.figure_record(f, record["id"], record["quick"]) for f in figures
                                if f.status == "ok"], sources)
    unavailable = FF.with_sources([FF.unavailable_record(f.spec, f.status, f.reason or "", record["id"])
                                   for f in figures if f.status != "ok"] + FF.skipped_records(skipped, record["id"]),
                                  sources)
    old, dropped = FF.drop_changed(old, sources)
    for name, count in dropped.items():
        if count:
            source, digest = sources[name]
            log(f"adcompare run: {name} changed ({shown(source)}, sha256 {(digest or 'unknown')[:12]}): dropped "
                f"{count} figure{'s' * (count != 1)} of its older version from {path}; they are not mixed with "
                "the new ones")
    write_json(path, FF.merge_file(old, machine, commit, measured, unavailable))
    return path


def stale_entries(benchmarks: dict, figures_file: dict | None, problems) -> list[Skipped]:
    """asv combinations of these (user) problems that no record of the figures file backs: numbers
    of an older version of the function (or of asv's own runner, which records no hash), set to
    n/a in asv's file so the report never shows them beside the new ones."""
    problems = set(problems)
    if not problems:
        return []
    records = [r for section in ("figures", "unavailable") for r in (figures_file or {}).get(section) or []
               if isinstance(r, dict) and isinstance(r.get("params"), dict)]
    out = []
    for name, bench in benchmarks.items():
        names = list(bench.get("param_names") or ())
        if "case" not in names:
            continue
        axes = [list(values) for values in bench.get("params") or ()]
        at = names.index("case")
        axes[at] = [v for v in axes[at] if problem_of(str(ast.literal_eval(v))) in problems]
        backed = {tuple(repr(r["params"].get(k)) for k in names) for r in records if r.get("benchmark") == name}
        for combo in itertools.product(*axes):
            if combo not in backed:
                params = tuple(ast.literal_eval(v) for v in combo)
                out.append(Skipped(FigureSpec(name, params, "", ()), "measured from an older version of the function"))
    return out


def write_record(results: Path, machine: str, commit: str, record: dict, env_info: dict, log) -> Path:
    """The sidecar of the commit: the environment, and this run's record appended to its runs."""
    sidecar = environment.sidecar_path(results, machine, commit)
    old = valid_or_aside(sidecar, log) or {}
    runs = old.get("runs") or ([old["run"]] if isinstance(old.get("run"), dict) else [])
    info = {**env_info, "runs": [*runs, record]}
    info.pop("run", None)
    write_json(sidecar, info)
    return sidecar


def write_asv_results(root: Path, results: Path, scratch: Path, machine: str, machine_info: dict, commit: str,
                      figures: list[MeasuredFigure], skipped: list[Skipped], started: float,
                      durations: dict[str, float], log, benchmarks: dict | None = None) -> None:
    """asv's results file of the commit (asv's own discovery and `Results` class, so asv's pages,
    `asv compare` and history read it), machine.json and benchmarks.json. `benchmarks`: asv's
    definitions to use instead of discovering the suite's (whose parameters are the grid's; a
    figure outside them is left out of asv's file)."""
    staged = scratch / "results"
    config = write_config(root, staged, scratch / "html", scratch)
    if benchmarks is None:
        benchmarks = asvresults.discover(config, commit, staged)
    else:
        write_json(staged / "benchmarks.json", {**benchmarks, "version": 2})
    python = python_tag()
    machine_dir = results / machine
    target = machine_dir / f"{commit[:8]}-{asvresults.env_name(python)}.json"
    machine_dir.mkdir(parents=True, exist_ok=True)
    previous = target if valid_or_aside(target, log) is not None else None
    when = datetime.datetime.fromtimestamp(started, tz=datetime.timezone.utc)
    users = user_sources([f.spec for f in figures])
    if users:
        recorded = read_json(machine_dir / FF.file_name(commit), missing_ok=True)
        skipped = list(skipped) + stale_entries(benchmarks, recorded, users)
    res, missing = asvresults.build(machine_info, commit, asvresults.commit_date_ms(root, commit), python,
                                    benchmarks, figures, skipped, previous, when, durations)
    if missing:
        log(f"adcompare run: {len(missing)} figures are not in the benchmark suite's parameters (not in asv's "
            f"file; they are in the figures file), e.g. {figure_name(missing[0].spec)}")
    res.save(str(staged))
    written = staged / res._filename
    read_json(written, missing_ok=False)   # asv wrote it; it must parse before it replaces anything
    write_atomically(target, written.read_text(encoding="utf-8"))
    write_json(machine_dir / "machine.json", machine_info)
    write_atomically(results / "benchmarks.json", (staged / "benchmarks.json").read_text(encoding="utf-8"))
