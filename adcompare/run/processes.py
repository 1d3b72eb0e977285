"""One job in one measurement process: forked from a server that has imported the frameworks,
its record written to a file the parent reads back, its output into the run's log.

Each process is forked from a server that has imported the frameworks once (no device touched),
so a job costs its own preparation, not seconds of imports (`adcompare.run.preload`). The same
code runs a job locally and on a cluster's worker (`adcompare.run.cluster`).
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from adcompare.measure.jobs import Job
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


def _remove_if_owner(pid: int, folder: Path) -> None:
    if os.getpid() == pid:        # forked children inherit the atexit list
        shutil.rmtree(folder, ignore_errors=True)


def failed_record(job: Job, pass_number: int, start: float, why: str) -> dict:
    """The record of a job that produced none (timed out, its process died): every arm failed."""
    return {"job": job.id, "kind": job.kind, "target": job.target, "dtype": job.dtype, "pass": pass_number,
            "started": start, "seconds": time.time() - start, "rounds": 0,
            "arms": {a.name: {"error": why} for a in job.arms}}


class Processes:
    """Runs jobs one at a time in processes forked from a preloaded server."""

    def __init__(self, settings: Settings, timeout: float, scratch: Path | None = None):
        self.settings, self.timeout = settings, timeout
        if scratch is None:     # a folder of its own, removed when the process that made it exits
            scratch = Path(tempfile.mkdtemp(prefix="adcompare-records-"))
            atexit.register(_remove_if_owner, os.getpid(), scratch)
        self.scratch = scratch
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload([PRELOAD])
        self.count = 0

    def run(self, job: Job, pass_number: int) -> dict:
        self.count += 1
        out = str(self.scratch / f"record-{os.getpid()}-{self.count}.json")
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
            return failed_record(job, pass_number, start, f"timed out after {self.timeout:g} s")
        try:
            with open(out) as fh:
                record = json.load(fh)
            os.unlink(out)
            return record
        except (OSError, ValueError):
            return failed_record(job, pass_number, start, f"the measuring process died (exit status {proc.exitcode})")
