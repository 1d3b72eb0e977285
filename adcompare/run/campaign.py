"""A measurement campaign: every job of a plan, in several independent processes, within a budget.

Between-process variance does not shrink with more rounds inside one process (Kalibera & Jones,
ISMM 2013; scripts/dimension.py measured it here), so each timed job runs in `passes` separate
processes. Passes go over the whole plan in a fresh random order each time, so a job's processes
are minutes apart and see different states of a shared machine, as the next run will; within a
pass no job keeps a fixed position. After the minimum passes, the time left in the budget goes
to the jobs whose figures are flagged as noisy (widest CI first), one more process each, until
the budget or `max_passes` is reached.

Where the processes run is an *executor*'s business: `Local` runs one at a time on this machine
(`adcompare.run.processes`); `adcompare.run.cluster` runs as many at once as a Dask cluster has
workers, one per worker. Counted jobs (tape, colours) run once. Every record is appended to a
journal as it arrives, so a crash loses only the jobs in flight and `--resume` skips the rest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from pathlib import Path
from typing import Callable, Protocol

from adcompare.ids import Target
from adcompare.measure import estimates as E, stats
from adcompare.measure.frameworks import PRELOAD_ENV
from adcompare.measure.jobs import Job
from adcompare.run.interrupts import checkpoint
from adcompare.run.plan import Plan
from adcompare.run.processes import Processes
from adcompare.run.worker import Settings


class Executor(Protocol):
    """Where jobs run: `slots` at once; `run_all` measures each (job, pass) and hands every record
    to `on_record` as it arrives (in any order)."""

    slots: int

    def run_all(self, items: list[tuple[Job, int]], on_record: Callable[[dict], None]) -> None: ...


class Local:
    """One job at a time on this machine, each in a process forked from a preloaded server."""

    slots = 1

    def __init__(self, settings: Settings, timeout: float, scratch: Path | None = None):
        self.processes = Processes(settings, timeout, scratch)

    def run_all(self, items, on_record):
        for job, pass_number in items:
            on_record(self.processes.run(job, pass_number))


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many processes per job, and how long the campaign may take."""

    passes: int = 3               # independent processes per timed job, at least
    max_passes: int = 6           # at most (extra passes go to noisy figures)
    seconds: float = 480.0        # wall-clock budget of the whole campaign
    job_timeout: float = 300.0


@dataclasses.dataclass
class Campaign:
    """The records of every job, by job id, and what the campaign did."""

    plan: Plan
    records: dict[str, list[dict]]
    passes: int
    seconds: float
    interrupted: bool = False

    @property
    def machines(self) -> list[str | None]:
        """The machines the records came from (None: this machine, a local run)."""
        return sorted({r.get("machine") for rs in self.records.values() for r in rs}, key=lambda m: m or "")

    def figures(self, quick: bool, machine: str | None = None) -> list[E.MeasuredFigure]:
        """Every figure of the plan from the records of one machine (a cluster's machines each get
        their own figures: processes on different hardware are not replicates of one figure)."""
        out = []
        for job in self.plan.jobs:
            records = [r for r in self.records.get(job.id, []) if r.get("machine") == machine]
            out += E.aggregate(job, records, quick)
        return out


def noisy_jobs(plan: Plan, records: dict[str, list[dict]], quick: bool) -> list[Job]:
    """Timed jobs with a figure flagged wide-ci, widest first."""
    scored = []
    for job in plan.jobs:
        if not job.repeated:
            continue
        widths = [stats.relative_halfwidth(f.estimate.ci) for f in E.aggregate(job, records.get(job.id, []), quick)
                  if f.estimate is not None and "wide-ci" in f.flags]
        if widths:
            scored.append((max(widths), job))
    return [job for _, job in sorted(scored, key=lambda s: -s[0])]


class _Session:
    """The state of one campaign: records and last cost per job, the journal, the clock."""

    def __init__(self, executor: Executor, budget: Budget, journal, log, resumed: dict[str, list[dict]]):
        self.executor, self.budget, self.journal, self.log = executor, budget, journal, log
        self.records: dict[str, list[dict]] = {k: list(v) for k, v in resumed.items()}
        self.cost: dict[str, float] = {k: v[-1].get("seconds", 0.0) for k, v in resumed.items() if v}
        self.start = time.perf_counter()

    def _record(self, record: dict) -> None:
        self.records.setdefault(record["job"], []).append(record)
        self.cost[record["job"]] = record.get("seconds", 0.0)
        self.journal.write(json.dumps(record) + "\n")
        self.journal.flush()
        checkpoint("measuring")

    def measure(self, items: list[tuple[Job, int]], label: str) -> None:
        done = [0]

        def on_record(record):
            self._record(record)
            done[0] += 1
            if done[0] % 50 == 0 or done[0] == len(items):
                self.log(f"  {label}: {done[0]}/{len(items)} jobs, {self.elapsed() / 60:.1f} min")
        self.executor.run_all(items, on_record)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Seconds of measuring left: the budget's wall time on every slot the executor has."""
        return (self.budget.seconds - self.elapsed()) * self.executor.slots

    def passes(self, plan: Plan, rng: random.Random) -> int:
        """The minimum passes over the whole plan; returns how many were completed in full. A job
        already measured in a pass (a resumed run's journal) is not measured again. When a later
        pass cannot fit the budget, it takes the cheapest jobs that fit (their figures get one
        more process; the others keep what they have, and their CIs say so)."""
        done = 0
        for pass_number in range(1, self.budget.passes + 1):
            todo = [j for j in plan.jobs if (j.repeated or pass_number == 1)
                    and len(self.records.get(j.id, [])) < pass_number]
            if pass_number > 1 and sum(self.cost.get(j.id, 0.0) for j in todo) > self.left():
                fitting, total = [], 0.0
                for job in sorted(todo, key=lambda j: self.cost.get(j.id, 0.0)):
                    total += self.cost.get(job.id, 0.0)
                    if total > self.left():
                        break
                    fitting.append(job)
                self.log(f"  pass {pass_number}: {len(fitting)} of {len(todo)} jobs fit the budget left "
                         f"({self.left():.0f} s), the cheapest; the others keep {pass_number - 1} process(es)")
                if not fitting:
                    break
                todo = fitting
            else:
                done = pass_number
            rng.shuffle(todo)
            self.measure([(job, pass_number) for job in todo], f"pass {pass_number}/{self.budget.passes}")
        return done

    def extra(self, plan: Plan, quick: bool) -> int:
        """Leftover budget: one more process at a time for the noisiest jobs, widest CI first."""
        count = 0
        while True:
            noisy = [j for j in noisy_jobs(plan, self.records, quick)
                     if len(self.records[j.id]) < self.budget.max_passes]
            batch, total = [], 0.0
            for job in noisy:
                total += self.cost.get(job.id, 0.0)
                if total > self.left():
                    break
                batch.append((job, len(self.records[job.id]) + 1))
            if not batch:
                return count
            self.measure(batch, "extra processes")
            count += len(batch)


def journal_records(journal: Path, plan: Plan) -> dict[str, list[dict]]:
    """The records an earlier, unfinished run of the same plan wrote to its journal (for --resume);
    records of jobs not in this plan, and lines a crash cut short, are ignored."""
    ids = {job.id for job in plan.jobs}
    out: dict[str, list[dict]] = {}
    if not journal.is_file():
        return out
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("job") in ids:
            out.setdefault(record["job"], []).append(record)
    return out


def run(plan: Plan, settings: Settings, budget: Budget, journal: Path, seed: int | None = None,
        log: Callable[[str], None] = print, quick: bool = False,
        finishing: Callable[[], None] = lambda: None, executor: Executor | None = None,
        resumed: dict[str, list[dict]] | None = None, scratch: Path | None = None) -> Campaign:
    """Measure every job of the plan (see the module docstring); records also go to `journal`.
    An interrupt (Ctrl-C, SIGTERM) ends the campaign early with what was measured so far.
    `finishing` is called as the last step of measuring (the run stops raising on signals there).
    Without an executor, jobs run here, one at a time, handing their records back through files in
    `scratch` (default: a temporary folder)."""
    rng = random.Random(seed)
    # the fork server (started on the first job, with this environment) loads only these backends
    os.environ[PRELOAD_ENV] = ",".join(sorted({Target.parse(job.target).backend for job in plan.jobs}))
    if executor is None:
        if scratch is not None:
            scratch.mkdir(parents=True, exist_ok=True)
        executor = Local(settings, budget.job_timeout, scratch)
    with open(journal, "a") as out:
        session = _Session(executor, budget, out, log, resumed or {})
        passes, extra, interrupted = 0, 0, False
        try:
            passes = session.passes(plan, rng)
            if passes >= budget.passes and not quick:
                extra = session.extra(plan, quick)
            finishing()
        except KeyboardInterrupt:
            finishing()
            interrupted = True
        if extra:
            log(f"  {extra} extra processes for figures flagged as noisy")
    return Campaign(plan, session.records, passes, session.elapsed(), interrupted)
