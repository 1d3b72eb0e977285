"""`adcompare run --check`, CI's slice of the pipeline: `asv check` of the suite, asv's own runner
on one figure per benchmark (a dry run), then a quick campaign of one job per kind and benchmark
on every target through saving, publishing and the report, into a throwaway results folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable

from adcompare.run import campaign
from adcompare.run.checkout import asv, measurement_env, new_scratch, register_machine, write_config
from adcompare.run.history import bench_regexes
from adcompare.run.plan import Plan
from adcompare.run.worker import QUICK


def check_plan(plan: Plan) -> Plan:
    """Per target, the first job of each kind and of each benchmark."""
    seen, jobs = set(), []
    for job in plan.jobs:
        keys = {(job.target, job.kind)} | {(job.target, f.benchmark) for f in job.figures}
        if keys - seen:
            jobs.append(job)
            seen |= keys
    return Plan(jobs, plan.skipped)


def check(root: Path, machine: str, plan: Plan, grid: str, pipeline: Callable[..., int]) -> int:
    """0 when every step passes; 1 (with the failing step named) otherwise. `pipeline(results,
    plan, settings, budget)` is the run's own measure-save-publish (quick settings here)."""
    scratch = new_scratch(root, "check-")
    try:
        env = measurement_env(grid, root, scratch)
        config = write_config(root, scratch / "asv-results", scratch / "asv-html", scratch)
        if asv(config, "check", "-E", f"existing:{sys.executable}", env=env).returncode != 0:
            print("adcompare run --check: asv check failed", file=sys.stderr)
            return 1
        register_machine(machine)
        one_each = Plan([j for j in check_plan(plan).jobs if j.kind != "first-call"][:8], [])
        cmd = ["run", "-E", f"existing:{sys.executable}", "--machine", machine, "--quick", "--dry-run",
               "--show-stderr", "--launch-method", "spawn"]
        for pattern in bench_regexes(one_each):
            cmd += ["-b", pattern]
        if asv(config, *cmd, env=env).returncode != 0:
            print("adcompare run --check: asv's runner failed on the benchmark classes", file=sys.stderr)
            return 1
        results = scratch / "results"
        budget = campaign.Budget(passes=1, seconds=600)
        status = pipeline(results, check_plan(plan), QUICK, budget)
        if status != 0:
            print("adcompare run --check: the pipeline failed", file=sys.stderr)
            return 1
        print("adcompare run --check: ok")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
