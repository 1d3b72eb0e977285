"""The plan of a run: every family's jobs on each grid and target, merged where families share
a job, reduced to what can run on this machine, and narrowed by the user's filters.

A *figure* is one headline number, one asv benchmark combination: a benchmark name and its
parameters (target first). Families (`adcompare.families`) say which figures each grid wants and
which arms measure them; the plan merges the jobs that share a group (so an operator timed for
several families is one arm), keeps each figure in exactly one job (the first that has it), and
drops what cannot run here with the reason (shown as n/a). Three grids:

- `main`, the README's main command: every section of the report for every backend, sized to
  finish in about 10 min on 2 cores with figures from three processes each;
- `full`: every size of every problem, every operator where it fits; ≤ 60 min on 2 cores;
- `wide`: float32 everywhere, every aspect ratio and depth, deeper compiled cases.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Iterable, Iterator

from adcompare.backends import all_backends, get_backend
from adcompare.errors import UserError, choose_from
from adcompare.families import all_benchmarks, all_families
from adcompare.families.cases import backend_of, depth, instance_of
from adcompare.ids import Target, problem_of, target_text
from adcompare.measure.jobs import ArmSpec, FigureSpec, Job
from adcompare.operators import get_operator

GRIDS = ("main", "full", "wide")
DEFAULT_GRID = "main"
GRID_ENV = "ADCOMPARE_GRID"

# Inductor (and XLA, before problems' loops became `xp.fori_loop`) compile an unrolled
# time-stepping loop in time that grows faster than its depth (jax-jit unrolled, lorenz96:128: a
# VJP compiled in 0.5 s at 1 step, 4.7 s at 4, ~50 s at 10), and every measurement process
# compiles afresh (or reads the compile cache), so targets that unroll stop at this depth.
MAX_COMPILED_DEPTH = {"main": 2, "full": 2, "wide": 10}


def grid_from_env() -> str:
    """The grid the asv benchmark classes are built from: $ADCOMPARE_GRID, default `main`."""
    return check_grid(os.environ.get(GRID_ENV, DEFAULT_GRID))


def check_grid(grid: str) -> str:
    if grid not in GRIDS:
        raise choose_from("grid", grid, GRIDS)
    return grid


def targets() -> list[str]:
    """Every 'backend:device' any registered backend declares, in backend order."""
    return [target_text(b.name, d) for b in all_backends() for d in b.devices]


def affordable(target: str, case: str, grid: str) -> bool:
    """False for a target that compiles unrolled loops on a case deeper than the grid allows it
    to compile (a compiler that keeps loops, `Backend.compiles_loops`, has no cap)."""
    d = depth(case)
    backend = backend_of(target)
    return d is None or d <= MAX_COMPILED_DEPTH[grid] or not backend.compiles or backend.compiles_loops


@functools.lru_cache(maxsize=None)
def target_reason(target: str) -> str | None:
    """Why a target cannot run at all here (framework missing, no such device), or None."""
    where = Target.parse(target)
    backend = get_backend(where.backend)
    if where.device not in backend.devices:
        return f"{backend.name} runs on {', '.join(backend.devices)}, not {where.device!r}"
    return backend.missing_reason() or backend.device_missing_reason(where.device)


@functools.lru_cache(maxsize=None)
def why_not(target: str, dtype: str, case: str, operator: str) -> str | None:
    """Why this arm cannot run on this machine (framework, device, operator, size), or None.
    Cheap: asks the backend, which imports nothing to rule out a GPU where there is none."""
    from adcompare.backends.base import size_reason

    where = Target.parse(target)
    op = get_operator(operator)
    inst = instance_of(case)
    return get_backend(where.backend).why_not(op, inst, where.device, dtype) or size_reason(op, inst)


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A figure of the grid that cannot run on this machine, and why (shown as n/a)."""

    figure: FigureSpec
    reason: str


def _arm_reason(job: Job, arm: ArmSpec, grid: str) -> str | None:
    target = target_reason(job.target)
    if target:
        return target
    if arm.case is None:
        return None
    if not affordable(job.target, arm.case, grid):
        return (f"{job.target} compiles {arm.case} only up to depth {MAX_COMPILED_DEPTH[grid]} in the "
                f"{grid} grid (compile time grows faster than the depth)")
    if arm.family:
        return None     # a family's probe decides for itself when it is measured
    return why_not(job.target, job.dtype, arm.case, arm.operator)


def _runnable(job: Job, grid: str) -> tuple[Job | None, list[Skipped]]:
    """The job without the arms that cannot run here (and the figures that read them), and the
    figures dropped with their reasons. A figure needs every arm it reads."""
    reasons = {a.name: _arm_reason(job, a, grid) for a in job.arms}
    names = {a.name for a in job.arms if reasons[a.name] is None}
    figures = [f for f in job.figures if set(f.arms) <= names]
    skipped = [Skipped(f, next(reasons[a] for a in f.arms if reasons[a])) for f in job.figures
               if not set(f.arms) <= names]
    if not figures:
        return None, skipped
    kept = job.with_figures(figures)
    return dataclasses.replace(kept, arms=tuple(a for a in kept.arms if a.name in names)), skipped


def _merge(first: Job, other: Job) -> Job:
    arms = {a.name: a for a in first.arms}
    for a in other.arms:
        if arms.setdefault(a.name, a) != a:
            raise RuntimeError(f"two families name different arms {a.name!r} in group {first.group}")
    return dataclasses.replace(first, arms=tuple(arms.values()), figures=first.figures + other.figures)


def family_jobs(grid: str, targets_: Iterable[str]) -> Iterator[Job]:
    """Every family's jobs on each target, the jobs that share a group merged into one."""
    for target in targets_:
        merged: dict[tuple, Job] = {}
        for family in all_families():
            for job in family.jobs(grid, target):
                if not job.group:
                    merged[("", len(merged))] = job
                    continue
                key = (job.kind, job.dtype, job.group)
                merged[key] = _merge(merged[key], job) if key in merged else job
        yield from merged.values()


@dataclasses.dataclass(frozen=True)
class Plan:
    """A grid on this machine: the jobs to run, and the figures that cannot run here."""

    jobs: list[Job]
    skipped: list[Skipped]

    @property
    def figures(self) -> list[FigureSpec]:
        return [f for job in self.jobs for f in job.figures]


def plan(grid: str, targets_: Iterable[str] | None = None) -> Plan:
    """Every job of the grid on the given targets (default: all), reduced to what can run here.
    A figure is measured by the first job that has it (each figure has exactly one value)."""
    grid = check_grid(grid)
    return plan_of_jobs(family_jobs(grid, targets() if targets_ is None else targets_), grid)


def plan_of_jobs(jobs: Iterable[Job], grid: str) -> Plan:
    """Given jobs reduced to what can run here, as `plan` reduces a grid's (`grid` sets the depth
    compiling targets stop at): each figure measured by the first job that has it, the figures
    that cannot run here skipped with their reasons."""
    seen: set = set()
    out, skipped = [], []
    for job in jobs:
        job = dataclasses.replace(job, figures=tuple(f for f in job.figures if f.key not in seen))
        runnable, dropped = _runnable(job, grid)
        skipped += [s for s in dropped if s.figure.key not in seen]
        seen |= {f.key for f in job.figures}
        if runnable is not None:
            out.append(runnable)
    return Plan(list({j.id: j for j in out}.values()), skipped)


def all_figures(grid: str) -> list[FigureSpec]:
    """Every figure of the grid on every target, runnable here or not (asv's parameter lists)."""
    return list(_all_figures(check_grid(grid), tuple(targets()), _registered()))


def _registered() -> tuple:
    """What the grid is derived from (problems, families), so a cache never outlives a change to it."""
    from adcompare.problems import problem_names

    return tuple(problem_names()), tuple(f.name for f in all_families())


@functools.lru_cache(maxsize=8)
def _all_figures(grid: str, targets_: tuple, registered: tuple) -> tuple[FigureSpec, ...]:
    seen: dict = {}
    for job in family_jobs(grid, targets_):
        for f in job.figures:
            seen.setdefault(f.key, f)
    return tuple(seen.values())


def figure_job(benchmark: str, params: tuple, grid: str) -> Job | None:
    """The smallest job that measures one figure here (plain asv runs one figure per process),
    or None if it cannot run here."""
    for job in family_jobs(check_grid(grid), [params[0]]):
        for f in job.figures:
            if f.key == (benchmark, params):
                return _runnable(job.with_figures([f]), grid)[0]
    return None


def asv_params(benchmark: str, grid: str) -> list[list]:
    """asv `params` of one benchmark: the distinct values of each parameter over its figures."""
    figures = [f for f in all_figures(grid) if f.benchmark == benchmark]
    names = all_benchmarks()[benchmark].param_names
    if not figures:   # asv needs one value per parameter; the lone combination is n/a
        return [["none:cpu"]] + [["-"] for _ in names[1:]]
    return [list(dict.fromkeys(f.params[i] for f in figures)) for i in range(len(names))]


# --- narrowing a plan -------------------------------------------------------------------------------
def figure_name(f: FigureSpec) -> str:
    """asv's name of one figure: 'benchmark(param, ...)' (what --bench and asv -b match)."""
    return f"{f.benchmark}({', '.join(repr(v) for v in f.params)})"


def narrow(full: Plan, problems: Iterable[str] = (), bench: re.Pattern | None = None) -> Plan:
    """The plan's figures of the given problems (all when empty) whose name matches `bench`,
    each job keeping only the arms they read."""
    problems = set(problems)

    def wanted(f: FigureSpec) -> bool:
        case = f.param_dict().get("case")
        if problems and (problem_of(case) if case else None) not in problems:
            return False
        return not bench or bool(bench.search(figure_name(f)))

    jobs = []
    for job in full.jobs:
        kept = [f for f in job.figures if wanted(f)]
        if kept:
            jobs.append(job.with_figures(kept))
    if not jobs:
        raise UserError("nothing to run: no figure of the grid matches the filters on this machine")
    return Plan(jobs, [s for s in full.skipped if wanted(s.figure)])


def shard(full: Plan, k: int, n: int) -> Plan:
    """The K-th of N deterministic slices of a plan (jobs ordered by id, every N-th from the K-th):
    N shards measure every job exactly once, each job whole (a figure's arms stay together), and
    the first also records what cannot run here."""
    ordered = sorted(full.jobs, key=lambda job: job.id)
    jobs = ordered[k - 1::n]
    if not jobs:
        raise UserError(f"shard {k}/{n} holds no job: the plan has only {len(ordered)}")
    return Plan(jobs, list(full.skipped) if k == 1 else [])    # what cannot run here is said once
