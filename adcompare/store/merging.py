"""Results folders merged into one: the shards of a CI matrix (`adcompare run --shard K/N`), or
runs made on several machines, joined as `adcompare merge DIR...` does.

Each source folder has the layout `adcompare run` writes (results/<machine>/...). Per machine and
commit, the figures files are merged as a rerun's are (a figure measured in a later source
replaces the same figure from an earlier one; the rest are kept), the environment records' runs
are appended (each run once), and asv's results are merged figure by figure (a measured value
never gives way to a combination the other source could not run). Every source file is read and
validated before anything is written; each target file is then written whole
(`files.write_atomically`), under the target's run lock.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from adcompare.errors import UserError
from adcompare.store import figures_file as FF, identity
from adcompare.store.environment import SIDECAR_PREFIX
from adcompare.store.files import CorruptFile, read_json, write_atomically, write_json
from adcompare.store.folder import HTML


def _load(path: Path) -> Any:
    try:
        return read_json(path, missing_ok=False)
    except CorruptFile as err:
        raise UserError(f"cannot merge {path}: it {err}") from None


def _machine_folders(source: Path) -> list[Path]:
    if not source.is_dir():
        raise UserError(f"{source} is not a results folder (not a directory)")
    folders = sorted(p for p in source.iterdir() if p.is_dir() and p.name != HTML and not p.name.startswith("."))
    if not any((p / "machine.json").is_file() for p in folders):
        raise UserError(f"{source} holds no machine's results (expected {source}/<machine>/machine.json)")
    return folders


def _merged_runs(old: dict | None, new: dict) -> dict:
    """The environment record: the first source's environment, every source's runs once each."""
    runs = list((old or {}).get("runs") or [])
    seen = {r.get("id") for r in runs}
    runs += [r for r in new.get("runs") or [] if r.get("id") not in seen]
    return {**new, **(old or {}), "runs": runs}


def _is_value(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _merged_asv(target: Path, source: Path) -> str:
    """asv's results file of one machine, commit and environment with `source`'s figures merged in:
    per benchmark, each parameter combination takes the source's value where it has one."""
    from asv.results import Results

    merged = Results.load(str(target))
    other = Results.load(str(source))
    for key in other.get_all_result_keys():
        if key not in merged.get_all_result_keys():
            for attr in ("_results", "_samples", "_stats", "_benchmark_params", "_started_at", "_duration",
                         "_benchmark_version", "_profiles"):
                if key in getattr(other, attr):
                    getattr(merged, attr)[key] = getattr(other, attr)[key]
            continue
        if merged._benchmark_params[key] != other._benchmark_params[key]:
            raise UserError(f"cannot merge {source}: benchmark {key} has other parameters than in {target} "
                            "(results of different versions of the suite)")
        for i, value in enumerate(other._results[key]):
            if _is_value(value) or not _is_value(merged._results[key][i]):
                for attr in ("_results", "_samples", "_stats"):
                    row = getattr(other, attr).get(key)
                    if row is not None and getattr(merged, attr).get(key) is not None:
                        getattr(merged, attr)[key][i] = row[i]
        merged._started_at[key] = max(merged._started_at.get(key) or 0, other._started_at.get(key) or 0)
    scratch = target.parent / f".merge-{target.name}"
    scratch.mkdir(exist_ok=True)
    try:
        merged.save(str(scratch))
        [written] = list(scratch.glob("*/*.json"))
        return written.read_text(encoding="utf-8")
    finally:
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)


def merge_folders(sources: list[Path], target: Path, log=print) -> list[str]:
    """Merge every source folder into `target` (created if missing); returns the machines merged."""
    plan = []
    for source in sources:
        for folder in _machine_folders(Path(source)):
            files = sorted(folder.glob("*.json"))
            for path in files:
                _load(path)                        # every file validated before any is written
            plan.append((folder, files))
    machines = []
    for folder, files in plan:
        dest = target / folder.name
        dest.mkdir(parents=True, exist_ok=True)
        machine = _load(folder / "machine.json")
        fingerprint = machine.get("fingerprint") if isinstance(machine, dict) else None
        if fingerprint:
            identity.check(target, folder.name, fingerprint)
        for path in files:
            out = dest / path.name
            if path.name == "machine.json":
                if not out.is_file():
                    write_json(out, machine)
            elif path.name.startswith(FF.FIGURES_PREFIX):
                new = _load(path)
                old = read_json(out)
                write_json(out, FF.merge_file(old, new.get("machine", folder.name), new.get("commit", ""),
                                              new.get("figures", []), new.get("unavailable", [])))
            elif path.name.startswith(SIDECAR_PREFIX):
                write_json(out, _merged_runs(read_json(out), _load(path)))
            elif out.is_file():
                write_atomically(out, _merged_asv(out, path))
            else:
                write_atomically(out, path.read_text(encoding="utf-8"))
        benchmarks = folder.parent / "benchmarks.json"
        if benchmarks.is_file():
            write_atomically(target / "benchmarks.json", benchmarks.read_text(encoding="utf-8"))
        machines.append(folder.name)
        log(f"adcompare merge: {folder} -> {dest}")
    return list(dict.fromkeys(machines))
