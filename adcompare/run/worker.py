"""One measurement process: prepare a job's arms, measure them, and return the raw record.

Arms are operators on cases (prepared by their backend), the reference kernel, or a family's own
probe (the family measures it: `Family.timed_call`, `Family.count`).

The record keeps the raw observations (per-round seconds of every arm, calibration history,
preparation seconds, counts) rather than finished figures, so the estimators live in one place
(adcompare.measure.estimates) and can be checked on synthetic records. A job runs in a fresh process
(forked from a server that has imported the frameworks, adcompare.run.campaign), so nothing one job
prepares or caches reaches another.

Record layout (JSON):
    {"job": id, "kind", "target", "dtype", "pass", "pid", "started": unix seconds, "seconds": wall,
     "arms": {name: {"seconds": [per round], "calls": c, "warmup": [per-call seconds while
                     calibrating], "prepare": seconds}            # timing / prepare / first-call
             | {"count": bytes, "samples": [bytes, ...]?}         # count jobs (samples: repeated)
             | {"unavailable": reason} | {"error": text}},
     "rounds": R}
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import time
import traceback
from typing import Any

from adcompare.backends import Unavailable
from adcompare.backends.base import COMPILE_CACHE_ENV
from adcompare.families import get_family
from adcompare.measure import prepared as operators, reference
from adcompare.measure.frameworks import use_compile_cache
from adcompare.measure.jobs import COUNT, FIRST_CALL, PREPARE, REFERENCE, TIMING, ArmSpec, Job
from adcompare.measure.rounds import Arm, interleaved_rounds
from adcompare.measure.threads import pin_threads


@dataclasses.dataclass(frozen=True)
class Settings:
    """How long a timing job measures. From the dimensioning experiment (scripts/dimension.py,
    README "How it measures"): 10 ms blocks spread half as much between processes as 2.5 ms
    ones. Rounds only shrink the within-process part of a figure's noise, which the fastest
    block already suppresses; the between-process part needs processes (Kalibera & Jones). A
    main-grid pass spent 124 of its 314 s in rounds at 10–16 rounds of ≤ 1.2 s a job, so the
    main command's 10 minutes hold a third process only at 6–10 rounds of ≤ 0.6 s (74 s)."""

    block_seconds: float = 0.010
    min_rounds: int = 6
    max_rounds: int = 10
    rounds_seconds: float = 0.6      # a job stops adding rounds after this long (past min_rounds)
    first_call_timeout: float = 300.0


QUICK = Settings(block_seconds=0.002, min_rounds=3, max_rounds=3, rounds_seconds=0.5)


def _last_line(err: BaseException) -> str:
    return traceback.format_exception_only(err)[-1].strip()


def _prepare(job: Job, arm: ArmSpec) -> tuple[Any, float]:
    """(the prepared operator's blocking call, its preparation seconds)."""
    p = operators.prepared(job.target, job.dtype, arm.case, arm.operator)
    run, block = p.run, p.block
    return (lambda: block(run())), p.prepare_seconds


def _timing(job: Job, settings: Settings, record: dict) -> None:
    arms, prepared = record["arms"], []
    for arm in job.arms:
        if arm.is_reference:
            prepared.append(Arm(arm.name, reference.kernel))
            arms[arm.name] = {}
            continue
        try:
            if arm.family:   # the family's own probe (a sparse Jacobian's set-up step, ...)
                call, seconds = get_family(arm.family).timed_call(job, arm), None
            else:
                call, seconds = _prepare(job, arm)
        except Unavailable as err:
            arms[arm.name] = {"unavailable": str(err)}
            continue
        except Exception as err:   # a backend bug: this arm fails, the others are still measured
            arms[arm.name] = {"error": _last_line(err)}
            continue
        prepared.append(Arm(arm.name, call))
        arms[arm.name] = {} if seconds is None else {"prepare": seconds}
    if not any(a.name != REFERENCE for a in prepared):
        return
    try:
        rounds = interleaved_rounds(prepared, block_seconds=settings.block_seconds, min_rounds=settings.min_rounds,
                                    max_rounds=settings.max_rounds, budget_seconds=settings.rounds_seconds)
    except Exception as err:
        for a in prepared:
            arms[a.name] = {"error": f"while timing: {_last_line(err)}"}
        return
    record["rounds"] = rounds.count
    for a in prepared:
        arms[a.name].update(seconds=rounds.seconds[a.name], calls=rounds.calls[a.name],
                            warmup=rounds.warmup_seconds[a.name])


def _prepare_only(job: Job, record: dict) -> None:
    """Preparation seconds in a process that has prepared nothing before (no compile cache)."""
    for arm in job.arms:
        try:
            record["arms"][arm.name] = {"prepare": _prepare(job, arm)[1]}
        except Unavailable as err:
            record["arms"][arm.name] = {"unavailable": str(err)}
        except Exception as err:
            record["arms"][arm.name] = {"error": _last_line(err)}


def _first_call(job: Job, settings: Settings, record: dict) -> None:
    """Wall seconds of a fresh interpreter that imports adcompare, prepares and runs once."""
    for arm in job.arms:
        code = operators.first_call_code(job.target, job.dtype, arm.case, arm.operator)
        env = {k: v for k, v in os.environ.items() if k != COMPILE_CACHE_ENV}
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                  timeout=settings.first_call_timeout)
        except subprocess.TimeoutExpired:
            record["arms"][arm.name] = {"error": f"timed out after {settings.first_call_timeout:g} s"}
            continue
        elapsed = time.perf_counter() - start
        if done.returncode == 0:
            record["arms"][arm.name] = {"prepare": elapsed}
        else:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            key = "unavailable" if "Unavailable" in last or "NotImplementedError" in last else "error"
            record["arms"][arm.name] = {key: last}


def _counted(value) -> dict:
    """A count's record: one number, or repeated readings (a peak of memory) and their median."""
    if isinstance(value, (list, tuple)):
        samples = [int(v) for v in value]
        return {"count": int(statistics.median(samples)), "samples": samples}
    return {"count": int(value)}


def _count(job: Job, record: dict) -> None:
    """Counters (tape bytes, colours, peak device bytes), each read by the family that owns it."""
    for arm in job.arms:
        try:
            record["arms"][arm.name] = _counted(get_family(arm.family).count(job, arm))
        except Unavailable as err:
            record["arms"][arm.name] = {"unavailable": str(err)}
        except Exception as err:
            record["arms"][arm.name] = {"error": _last_line(err)}


def run_job(job: Job, settings: Settings, pass_number: int = 1) -> dict:
    """Measure one job in this process; returns its record (see the module docstring)."""
    pin_threads()
    if job.kind in (TIMING, COUNT):
        use_compile_cache()   # steady state and counts: compilation is not the measurement
    start_wall, start = time.time(), time.perf_counter()
    record: dict = {"job": job.id, "kind": job.kind, "target": job.target, "dtype": job.dtype,
                    "pass": pass_number, "pid": os.getpid(), "started": start_wall, "arms": {}, "rounds": 0}
    if job.kind == TIMING:
        _timing(job, settings, record)
    elif job.kind == PREPARE:
        _prepare_only(job, record)
    elif job.kind == FIRST_CALL:
        _first_call(job, settings, record)
    elif job.kind == COUNT:
        _count(job, record)
    else:
        raise ValueError(f"unknown job kind {job.kind!r}")
    record["seconds"] = time.perf_counter() - start
    return record
