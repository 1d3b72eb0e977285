"""`adcompare run --commits A..B`: asv's own runner over a range of commits, in asv-built
virtualenvs (asv.conf.json reads each commit's lock of tested versions), one process per figure;
its results written into scratch, checked, then merged file by file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from adcompare.errors import UserError
from adcompare.run.checkout import asv, measurement_env, new_scratch, register_machine, write_config
from adcompare.run.plan import Plan
from adcompare.run.publish import publish
from adcompare.store.files import read_json, write_atomically

MAX_REGEX_CHARS = 100_000      # one argv string may not exceed 128 KiB on Linux


def bench_regexes(plan: Plan) -> list[str]:
    """asv -b patterns matching exactly the plan's figures ('benchmark(param, ...)'), chunked
    so no single argument exceeds MAX_REGEX_CHARS."""
    by_benchmark: dict[str, list] = {}
    for f in plan.figures:
        by_benchmark.setdefault(f.benchmark, []).append(f)
    patterns = []
    for name, figs in by_benchmark.items():
        head, tail = "^" + re.escape(name) + r"\((?:", r")\)$"
        chunk: list[str] = []
        size = len(head) + len(tail)
        for f in figs:
            inner = re.escape(", ".join(repr(v) for v in f.params))
            if chunk and size + len(inner) + 1 > MAX_REGEX_CHARS:
                patterns.append(head + "|".join(chunk) + tail)
                chunk, size = [], len(head) + len(tail)
            chunk.append(inner)
            size += len(inner) + 1
        if chunk:
            patterns.append(head + "|".join(chunk) + tail)
    return patterns


def check_range(root: Path, commits: str) -> int:
    """The number of commits in a git range, checked before asv sees it: UserError for a value
    that would be read as an option, a range git does not know, or one with no commit in it."""
    if not commits or commits.startswith("-"):
        raise UserError(f"--commits must be a git range such as v0.1..main, got {commits!r}")
    done = subprocess.run(["git", "rev-list", "--count", commits, "--"], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["git does not know it"])[0].removeprefix("fatal: ")
        raise UserError(f"--commits {commits!r} is not a range of this repository: {why}")
    count = int(done.stdout.strip() or 0)
    if count == 0:
        raise UserError(f"--commits {commits!r} holds no commit (A..B is the commits after A up to B)")
    return count


def history(root: Path, results: Path, machine: str, plan: Plan, commits: str, grid: str, quick: bool) -> int:
    """asv's runner over `commits` (already checked by `check_range`); 0 if asv succeeded."""
    scratch = new_scratch(root)
    staged = scratch / "results"
    try:
        if (results / machine).is_dir():
            shutil.copytree(results / machine, staged / machine)
        config = write_config(root, staged, scratch / "html", scratch)
        register_machine(machine)
        env = measurement_env(grid, root, scratch)
        cmd = ["run", commits, "--machine", machine, "--launch-method", "spawn", "--show-stderr",
               "--record-samples"] + (["--quick"] if quick else [])
        for pattern in bench_regexes(plan):
            cmd += ["-b", pattern]
        status = asv(config, *cmd, env=env).returncode
        for path in sorted(staged.glob("*/*.json")) + [staged / "benchmarks.json"]:
            if path.is_file():
                read_json(path)
                write_atomically(results / path.relative_to(staged), path.read_text(encoding="utf-8"))
        publish(root, results, scratch, log=lambda line: print(line, file=sys.stderr))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if status == 0 else 1
