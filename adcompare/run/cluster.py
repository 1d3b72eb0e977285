"""Past one machine: the campaign's jobs on a Dask cluster, one at a time per worker.

A benchmark needs a quiet machine to itself, so every job asks its worker for the resource
`benchmark=1`, and workers are started with `--resources benchmark=1 --nthreads 1` (one per
machine, or one per isolated core set): no two jobs ever share a worker. On the worker a job runs
exactly as it runs locally (`adcompare.run.processes`: a process forked from a preloaded server,
one pinned thread, the same rounds), and its record comes back tagged with the worker's machine
identity (name and hardware fingerprint), so a run over a CPU box and a GPU box keeps each
machine's figures its own (`Campaign.figures(machine=...)`).

Faults: a worker that dies mid-job loses only that job, which is submitted again, on another
worker where one is left (at most `RETRIES` times); a job that fails everywhere is recorded as
failed with the reason, and the run finishes. An interrupted client cancels what is in flight and
saves what was measured, as a local run does.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from adcompare.errors import UserError
from adcompare.measure.jobs import Job
from adcompare.run.processes import Processes, failed_record
from adcompare.run.worker import Settings

RESOURCE = "benchmark"
RETRIES = 2
CONNECT_SECONDS = 5.0
WORKER_COMMAND = f"dask worker ADDRESS --nthreads 1 --resources {RESOURCE}=1"


def connect(address: str):
    """A Dask client of the scheduler at `address`, or UserError saying why not (one line)."""
    try:
        from distributed import Client
    except ImportError:
        raise UserError("--scheduler needs dask's distributed; install the project with the README's command") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise UserError(f"cannot reach a Dask scheduler at {address!r} ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else 'no answer'})") from None
    return client


def benchmark_workers(client) -> dict[str, dict]:
    """Workers that offer the benchmark resource: {address: their scheduler info}."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return {addr: info for addr, info in workers.items() if info.get("resources", {}).get(RESOURCE, 0) >= 1}


# --- what runs on a worker ---------------------------------------------------------------------------
_PROCESSES: dict[tuple, Processes] = {}


def _worker_setup(grid: str, backends: str) -> dict:
    """Once per worker process: the measurement environment (threads, compile cache, which
    frameworks the fork server preloads, a log file of its own) and its machine identity."""
    from adcompare.measure.frameworks import PRELOAD_ENV
    from adcompare.run import checkout, processes
    from adcompare.store import environment

    scratch = Path(tempfile.mkdtemp(prefix="adcompare-worker-"))
    os.environ.update(checkout.measurement_env(grid, checkout.ROOT, scratch))
    for var in checkout.OPENBLAS_FORCING:
        os.environ.pop(var, None)
    os.environ[PRELOAD_ENV] = backends
    os.environ[processes.RUN_LOG_ENV] = str(scratch / "measurement.log")
    threads = environment.threads_probe(backends.split(","))
    return {"machine": environment.machine_name(threads), "fingerprint": environment.fingerprint(threads),
            "host": socket.gethostname(), "scratch": str(scratch), "threads": threads}


_IDENTITY: dict[tuple, dict] = {}


def describe(grid: str, backends: str) -> dict:
    """The worker's machine identity and environment (run on each worker by the client)."""
    key = (grid, backends)
    if key not in _IDENTITY:
        _IDENTITY[key] = _worker_setup(grid, backends)
    from asv.machine import Machine

    from adcompare.store import environment

    identity = _IDENTITY[key]
    return {**{k: v for k, v in identity.items() if k != "scratch"},
            "asv_machine": {**Machine.get_defaults(), "machine": identity["machine"], "version": 1},
            "environment": {"cpu": {"model": environment.cpu_model(), "cores": os.cpu_count()},
                            "versions": environment.versions(), "gpus": environment.gpus(),
                            "hostname": identity["host"], "threads": identity["threads"]}}


def measure_on_worker(job: Job, settings: Settings, pass_number: int, timeout: float, grid: str,
                      backends: str) -> dict:
    """One job on this worker, in a forked measurement process as locally; the record carries the
    machine it was measured on and the worker that measured it."""
    identity = describe(grid, backends)
    key = (settings, timeout, grid, backends)
    if key not in _PROCESSES:
        # A nanny starts its worker as a daemonic process, and multiprocessing refuses children to
        # those; the measurement processes end with their job, and the fork server with the
        # worker, so none outlives it.
        multiprocessing.current_process()._config["daemon"] = False
        _PROCESSES[key] = Processes(settings, timeout, Path(_IDENTITY[(grid, backends)]["scratch"]))
    record = _PROCESSES[key].run(job, pass_number)
    from distributed import get_worker

    return {**record, "machine": identity["machine"], "fingerprint": identity["fingerprint"]["hash"],
            "host": identity["host"], "worker": get_worker().address}


# --- the executor ------------------------------------------------------------------------------------
class Cluster:
    """The campaign's executor on a Dask cluster: as many jobs at once as there are workers with
    the benchmark resource, each on a worker of its own."""

    def __init__(self, client, settings: Settings, timeout: float, grid: str, backends: list[str],
                 log: Callable[[str], None] = print):
        self.client, self.settings, self.timeout, self.grid = client, settings, timeout, grid
        self.backends = ",".join(sorted(backends))
        self.log = log
        workers = benchmark_workers(client)
        if not workers:
            raise UserError(f"the Dask scheduler has no worker with the resource {RESOURCE}=1; start one with: "
                            f"{WORKER_COMMAND}")
        self.slots = len(workers)
        self.machines: dict[str, dict] = {}

    def identify(self) -> dict[str, dict]:
        """{machine name: its description} over every benchmark worker (asked once each)."""
        described = self.client.run(describe, self.grid, self.backends,
                                    workers=list(benchmark_workers(self.client)))
        for info in described.values():
            machine = self.machines.setdefault(info["machine"], {**info, "workers": [], "fingerprints": []})
            machine["workers"].append(info["host"])
            machine["fingerprints"].append(info["fingerprint"])
        return self.machines

    def _submit(self, job: Job, pass_number: int, attempt: int):
        return self.client.submit(measure_on_worker, job, self.settings, pass_number, self.timeout, self.grid,
                                  self.backends, resources={RESOURCE: 1}, pure=False,
                                  key=f"adcompare-{job.id}-{pass_number}-{attempt}-{time.monotonic_ns()}")

    def run_all(self, items: list[tuple[Job, int]], on_record: Callable[[dict], None]) -> None:
        from distributed import as_completed

        pending: dict[Any, tuple[Job, int, int]] = {}
        for job, pass_number in items:
            pending[self._submit(job, pass_number, 0)] = (job, pass_number, 0)
        queue = as_completed(list(pending), loop=self.client.loop)
        try:
            for future in queue:
                job, pass_number, attempt = pending.pop(future)
                started = time.time()
                try:
                    record = future.result()
                except Exception as err:   # the worker died (KilledWorker), or lost its connection
                    if attempt < RETRIES and benchmark_workers(self.client):
                        self.log(f"  a worker lost {job.kind} job {job.id} ({type(err).__name__}); "
                                 f"submitted again ({attempt + 1} of {RETRIES})")
                        again = self._submit(job, pass_number, attempt + 1)
                        pending[again] = (job, pass_number, attempt + 1)
                        queue.add(again)
                        continue
                    record = failed_record(job, pass_number, started,
                                           f"failed on every worker tried ({type(err).__name__}: {err})")
                on_record(record)
        except KeyboardInterrupt:
            self.client.cancel(list(pending))
            raise
