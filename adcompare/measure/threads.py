"""The thread policy of every measurement process, and the record of what it was.

One policy for every measurement: one compute thread, pinned to one CPU core, so that backends
are compared on equal terms and a 2-core machine does not oversubscribe.

- BLAS/OpenMP pools: `OMP_NUM_THREADS` etc. = 1 in the environment (read by torch and any BLAS
  loaded later) and `threadpoolctl.threadpool_limits(1)` for the BLAS numpy already loaded;
- torch: `torch.set_num_threads(1)` once torch is imported;
- JAX/XLA: `XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1` before
  jax starts its CPU client; XLA flags alone do not hold every runtime thread, so
- the whole process is pinned to one core with `os.sched_setaffinity` (core `ADCOMPARE_CPU`,
  default: the last core the process may use). Child processes inherit both.

The recorded values (`thread_report`) go into the environment sidecar of every run.
"""

from __future__ import annotations

import os
from typing import Any

from adcompare.backends import all_backends

THREADS = 1
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                   "TORCHINDUCTOR_COMPILE_THREADS")   # torch.compile: no compile worker pool
XLA_THREAD_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")
CPU_ENV = "ADCOMPARE_CPU"
# Environment variables that force an OpenBLAS kernel: dropped for the measurement processes, so
# they run the kernel the machine selects (recorded with the results, via threadpoolctl).
OPENBLAS_FORCING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# --- threads ------------------------------------------------------------------------------------
def thread_env() -> dict[str, str]:
    """Environment variables that fix thread counts for this process and its children."""
    env = {var: str(THREADS) for var in THREAD_ENV_VARS}
    flags = os.environ.get("XLA_FLAGS", "").split()
    env["XLA_FLAGS"] = " ".join(flags + [f for f in XLA_THREAD_FLAGS if f not in flags])
    return env


def pinned_cpu() -> int | None:
    """The core benchmarks run on: $ADCOMPARE_CPU, else the last core this process may use."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    wanted = os.environ.get(CPU_ENV)
    if wanted is not None:
        try:
            cpu = int(wanted)
        except ValueError:
            cpu = -1
        if cpu not in allowed:
            raise RuntimeError(f"{CPU_ENV}={wanted!r} is not one of the usable cores {allowed}")
        return cpu
    return allowed[-1]


def pin_threads() -> dict[str, Any]:
    """Apply the one-thread, one-core policy to this process (idempotent); returns what was set."""
    os.environ.update(thread_env())
    cpu = pinned_cpu()
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=THREADS)
    except ImportError:   # threadpoolctl is optional outside the bench extra
        pass
    for backend in all_backends():   # each framework's own pools, where it is loaded
        backend.limit_threads(THREADS)
    return {"threads": THREADS, "cpu_affinity": sorted(os.sched_getaffinity(0)) if cpu is not None else None}


def thread_report() -> dict[str, Any]:
    """What the frameworks report after `pin_threads`: the numbers every result was taken with."""
    report: dict[str, Any] = {
        "policy": f"{THREADS} thread, one core (sched_setaffinity)",
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "env": {var: os.environ.get(var) for var in (*THREAD_ENV_VARS, "XLA_FLAGS")},
    }
    try:
        from threadpoolctl import threadpool_info
        report["blas"] = [
            {k: pool.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                                      "threading_layer", "architecture", "prefix")}
            for pool in threadpool_info()
        ]
    except ImportError:
        report["blas"] = None
    for backend in all_backends():
        report.update(backend.thread_report())
    return report


