"""One run merged into the results folder: adcompare's figures file and run record first (they
hold every number and what it was measured on), then asv's results file, each written whole."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from adcompare.measure.estimates import MeasuredFigure
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


def write_figures(results: Path, machine: str, commit: str, figures: list[MeasuredFigure], skipped: list[Skipped],
                  record: dict, log) -> Path:
    """The figures file of the commit, with this run's figures replacing their older values."""
    path = results / machine / FF.file_name(commit)
    old = valid_or_aside(path, log)
    measured = [FF.figure_record(f, record["id"], record["quick"]) for f in figures if f.status == "ok"]
    unavailable = [FF.unavailable_record(f.spec, f.status, f.reason or "", record["id"])
                   for f in figures if f.status != "ok"] + FF.skipped_records(skipped, record["id"])
    write_json(path, FF.merge_file(old, machine, commit, measured, unavailable))
    return path


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
                      durations: dict[str, float], log) -> None:
    """asv's results file of the commit (asv's own discovery and `Results` class, so asv's pages,
    `asv compare` and history read it), machine.json and benchmarks.json."""
    staged = scratch / "results"
    config = write_config(root, staged, scratch / "html", scratch)
    benchmarks = asvresults.discover(config, commit, staged)
    python = python_tag()
    machine_dir = results / machine
    target = machine_dir / f"{commit[:8]}-{asvresults.env_name(python)}.json"
    machine_dir.mkdir(parents=True, exist_ok=True)
    previous = target if valid_or_aside(target, log) is not None else None
    when = datetime.datetime.fromtimestamp(started, tz=datetime.timezone.utc)
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
