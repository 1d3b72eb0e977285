"""A measurement campaign: every job of a plan, in several independent processes, within a budget.

Between-process variance does not shrink with more rounds inside one process (Kalibera & Jones,
ISMM 2013; scripts/dimension.py measured it here), so each timed job runs in `passes` separate
processes. Passes go over the whole plan in a fresh random order each time, so a job's processes
are minutes apart and see different states of a shared machine, as the next run will; within a
pass no job keeps a fixed position. After the minimum passes, the time left in the budget goes
to the jobs whose figures are flagged as noisy (widest CI first), one more process each, until
the budget or `max_passes` is reached.

Each process is forked from a server that has imported the frameworks once (no device touched),
so a job costs its own preparation, not seconds of imports; counted jobs (tape, peak memory) run
once. Every record is appended to a journal as it arrives (a crash loses only the job in flight).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from adcompare.ids import Target
from adcompare.measure import estimates as E, stats
from adcompare.measure.frameworks import PRELOAD_ENV
from adcompare.measure.jobs import Job
from adcompare.run.interrupts import checkpoint
from adcompare.run.plan import Plan
from adcompare.run.worker import Settings, run_job

PRELOAD = "adcompare.run.preload"
RUN_LOG_ENV = "ADCOMPARE_RUN_LOG"   # a file: what the measurement processes print goes there


def redirect_output() -> None:
    """This process's stdout and stderr into the run's log ($ADCOMPARE_RUN_LOG), if set: the
    frameworks' warnings from measurement processes belong in the log, not on the terminal."""
    path = os.environ.get(RUN_LOG_ENV)
    if not path:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many processes per job, and how long the campaign may take."""

    passes: int = 3               # independent processes per timed job, at least
    max_passes: int = 6           # at most (extra passes go to noisy figures)
    seconds: float = 480.0        # wall-clock budget of the whole campaign
    job_timeout: float = 300.0


def _child(job: Job, settings: Settings, pass_number: int, out: str) -> None:
    redirect_output()
    record = run_job(job, settings, pass_number)
    tmp = out + ".tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(record, fh)
        os.replace(tmp, out)
    except FileNotFoundError:   # the campaign was interrupted and removed its scratch folder
        pass


class Runner:
    """Runs jobs one at a time in processes forked from a preloaded server."""

    def __init__(self, settings: Settings, timeout: float, scratch: Path):
        self.settings, self.timeout, self.scratch = settings, timeout, scratch
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload([PRELOAD])
        self.count = 0

    def run(self, job: Job, pass_number: int) -> dict:
        self.count += 1
        out = str(self.scratch / f"record-{self.count}.json")
        start = time.time()
        proc = self.context.Process(target=_child, args=(job, self.settings, pass_number, out), daemon=True)
        proc.start()
        try:
            proc.join(self.timeout)
        except KeyboardInterrupt:   # the job in flight is abandoned, never left running
            proc.kill()
            proc.join()
            raise
        if proc.is_alive():
            proc.kill()
            proc.join()
            return self._failed(job, pass_number, start, f"timed out after {self.timeout:g} s")
        try:
            with open(out) as fh:
                record = json.load(fh)
            os.unlink(out)
            return record
        except (OSError, ValueError):
            return self._failed(job, pass_number, start, f"the measuring process died (exit status {proc.exitcode})")

    @staticmethod
    def _failed(job: Job, pass_number: int, start: float, why: str) -> dict:
        return {"job": job.id, "kind": job.kind, "target": job.target, "dtype": job.dtype, "pass": pass_number,
                "started": start, "seconds": time.time() - start, "rounds": 0,
                "arms": {a.name: {"error": why} for a in job.arms}}


@dataclasses.dataclass
class Campaign:
    """The records of every job, by job id, and what the campaign did."""

    plan: Plan
    records: dict[str, list[dict]]
    passes: int
    seconds: float
    interrupted: bool = False

    def figures(self, quick: bool) -> list[E.MeasuredFigure]:
        out = []
        for job in self.plan.jobs:
            out += E.aggregate(job, self.records.get(job.id, []), quick)
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

    def __init__(self, runner: Runner, budget: Budget, journal, log):
        self.runner, self.budget, self.journal, self.log = runner, budget, journal, log
        self.records: dict[str, list[dict]] = {}
        self.cost: dict[str, float] = {}
        self.start = time.perf_counter()

    def measure(self, job: Job, pass_number: int) -> None:
        record = self.runner.run(job, pass_number)
        self.records.setdefault(job.id, []).append(record)
        self.cost[job.id] = record.get("seconds", 0.0)
        self.journal.write(json.dumps(record) + "\n")
        self.journal.flush()
        checkpoint("measuring")

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget.seconds - self.elapsed()

    def passes(self, plan: Plan, rng: random.Random) -> int:
        """The minimum passes over the whole plan; returns how many were completed in full. When
        a later pass cannot fit the budget, it takes the cheapest jobs that fit (their figures
        get one more process; the others keep what they have, and their CIs say so)."""
        done = 0
        for pass_number in range(1, self.budget.passes + 1):
            todo = [j for j in plan.jobs if j.repeated or pass_number == 1]
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
            for i, job in enumerate(todo):
                self.measure(job, pass_number)
                if (i + 1) % 50 == 0 or i + 1 == len(todo):
                    self.log(f"  pass {pass_number}/{self.budget.passes}: {i + 1}/{len(todo)} jobs, "
                             f"{self.elapsed() / 60:.1f} min")
        return done

    def extra(self, plan: Plan, quick: bool) -> int:
        """Leftover budget: one more process at a time for the noisiest jobs, widest CI first."""
        count = 0
        while True:
            noisy = [j for j in noisy_jobs(plan, self.records, quick)
                     if len(self.records[j.id]) < self.budget.max_passes]
            affordable = [j for j in noisy if self.cost.get(j.id, 0.0) <= self.left()]
            if not affordable:
                return count
            for job in affordable:
                if self.cost.get(job.id, 0.0) > self.left():
                    break
                self.measure(job, len(self.records[job.id]) + 1)
                count += 1


def run(plan: Plan, settings: Settings, budget: Budget, journal: Path, seed: int | None = None,
        log: Callable[[str], None] = print, quick: bool = False,
        finishing: Callable[[], None] = lambda: None) -> Campaign:
    """Measure every job of the plan (see the module docstring); records also go to `journal`.
    An interrupt (Ctrl-C, SIGTERM) ends the campaign early with what was measured so far.
    `finishing` is called as the last step of measuring (the run stops raising on signals there)."""
    rng = random.Random(seed)
    # the fork server (started on the first job, with this environment) loads only these backends
    os.environ[PRELOAD_ENV] = ",".join(sorted({Target.parse(job.target).backend for job in plan.jobs}))
    with tempfile.TemporaryDirectory(prefix="adcompare-records-") as tmp, open(journal, "a") as out:
        session = _Session(Runner(settings, budget.job_timeout, Path(tmp)), budget, out, log)
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
