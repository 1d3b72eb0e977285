"""Preparing, counting and thread helpers shared by the measurement processes and the CLI.

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

import functools
import os
import sys
from typing import Any

from adcompare.backends import Prepared, Unavailable, get_backend
from adcompare.backends.base import MAX_JACOBIAN_ELEMENTS, jacobian_elements
from adcompare.cases import case_instance
from adcompare.operators import Operator, get_operator
from adcompare.problems import Instance

THREADS = 1
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                   "TORCHINDUCTOR_COMPILE_THREADS")   # torch.compile: no compile worker pool
XLA_THREAD_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")
CPU_ENV = "ADCOMPARE_CPU"
COMPILE_CACHE_ENV = "ADCOMPARE_COMPILE_CACHE"   # a directory: JAX's and Inductor's compile caches
COLD_CACHE_ENV = "ADCOMPARE_COLD_CACHES"        # where compile-time measurements make private caches

# Largest arrays an operator may need before a combination counts as "too large for this
# machine" (n/a rather than a swap storm): elements of the Jacobian plus its seed matrix, and
# the number of products a Python-loop Jacobian runs per call.
MAX_LOOP_PASSES = 1024

ITEMSIZE = {"float64": 8, "float32": 4}


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
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != THREADS:
            torch.set_num_threads(THREADS)
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
    try:
        import torch
        report["torch_threads"] = torch.get_num_threads()
        report["torch_interop_threads"] = torch.get_num_interop_threads()
    except ImportError:
        report["torch_threads"] = None
    return report


# Modules the frameworks load lazily on their first AD call (torch.func pulls in dynamo and
# sympy; forward AD scripts its decompositions): ~0.5–3 s that would otherwise land in the
# first `prepare` of every process. Importing is fork-safe; running JAX in the server is not
# (it would start XLA's thread pools), so JAX's first trace stays in each benchmark's prepare.
LAZY_MODULES = {
    "torch": ("torch.func", "torch._dynamo", "torch._decomp.decompositions_for_jvp", "torch.autograd.functional"),
    "jax": (),
    "autograd": (),
}


PRELOAD_ENV = "ADCOMPARE_PRELOAD"   # backends a fork server serves (comma-separated; unset: all)


def preimport_frameworks() -> list[str]:
    """Import the installed frameworks (and their lazily loaded AD modules) without touching
    any device: no CUDA context, no XLA client.

    Used by asv's forkserver and the campaign's: every benchmark process is forked from a server
    that already paid the imports, so a combination costs its own preparation, not ~2 s of
    imports. With $ADCOMPARE_PRELOAD set (the campaign sets it to its plan's backends), only
    their frameworks load, and torch.compile's one-time toolchain setup (~15 s) only for
    torch-compile."""
    pin_threads()
    wanted = os.environ.get(PRELOAD_ENV)
    backends = [get_backend(b) for b in wanted.split(",") if b] if wanted is not None else None
    modules = None if backends is None else {b.module for b in backends if getattr(b, "module", None)}
    loaded = []
    for name, lazy in LAZY_MODULES.items():
        if modules is not None and name not in modules:
            continue
        try:
            __import__(name)
        except ImportError:
            continue
        loaded.append(name)
        for module in lazy:
            try:
                __import__(module)
            except ImportError:   # another framework version: its first call pays instead
                pass
    if "jax" in loaded:
        import jax
        jax.config.update("jax_enable_x64", True)
    if "torch" in loaded:
        import torch
        try:
            torch.set_num_interop_threads(THREADS)
        except RuntimeError:   # only settable before torch's first inter-op work
            pass
        from adcompare.backends import torch_compile
        if (backends is None or any(b.name == torch_compile.TorchCompileBackend.name for b in backends)) \
                and torch_compile.compiler_missing() is None:   # Inductor's one-time setup: builds, no threads
            torch_compile.initialize_toolchain()
    pin_threads()
    return loaded


def use_compile_cache() -> bool:
    """Share JAX and torch.compile compilations between benchmark processes through persistent
    caches in $ADCOMPARE_COMPILE_CACHE (set by `adcompare run`), if set.

    Every combination is its own process, and eager JAX compiles each primitive per shape on
    first use: 1–4 s of preparation per process, repeated for every operator of a case; a
    torch.compile operator takes seconds more. For steady-state time, ratios and memory that cost
    is outside the measurement, so those families read compilations from the cache; the
    compile-time families never call this (torch-compile then compiles cold, in a private
    directory; `torch_compile.cache_state(prepared)` says which a prepare got)."""
    directory = os.environ.get(COMPILE_CACHE_ENV)
    if not directory:
        return False
    from adcompare.backends import torch_compile
    torch_compile.use_shared_cache(os.path.join(directory, "torchinductor"))
    settings = {"jax_compilation_cache_dir": directory,
                "jax_persistent_cache_min_compile_time_secs": 0.0,
                "jax_persistent_cache_min_entry_size_bytes": 0}
    if "jax" in sys.modules:
        for name, value in settings.items():
            sys.modules["jax"].config.update(name, value)
    else:   # read by jax when it is imported
        os.environ.update({name.upper(): str(value) for name, value in settings.items()})
    return True


# --- combinations -------------------------------------------------------------------------------
def split_target(target: str) -> tuple[str, str]:
    """'torch:cuda' -> ('torch', 'cuda')."""
    backend, sep, device = target.partition(":")
    if not sep or not backend or not device:
        raise ValueError(f"malformed target {target!r}; expected backend:device")
    return backend, device


def too_large_reason(operator: Operator, inst: Instance) -> str | None:
    """Why `operator` on `inst` would not fit this kind of machine or a benchmark's time, or None.

    A batched Jacobian holds its seed matrix (n×n forward, m×m reverse) and J (m×n); a loop
    Jacobian runs `passes` products per call."""
    if operator.kind != "jacobian":
        return None
    passes = operator.passes(inst.n, inst.m)
    if operator.strategy == "loop" and passes > MAX_LOOP_PASSES:
        return f"{operator.name} on {inst.label()} runs {passes} products per call (limit {MAX_LOOP_PASSES})"
    elements = jacobian_elements(operator, inst)
    if elements > MAX_JACOBIAN_ELEMENTS:
        return f"{operator.name} on {inst.label()} needs {elements} array elements (limit {MAX_JACOBIAN_ELEMENTS})"
    return None


@functools.lru_cache(maxsize=None)
def prepared(target: str, dtype: str, case: str, operator: str) -> Prepared:
    """The prepared operator for one benchmark combination, built once per process.

    Raises Unavailable (a NotImplementedError: asv shows n/a) when it cannot run here. The
    cache is what keeps asv's per-call `setup` O(1); lru_cache does not keep exceptions, so an
    unavailable combination raises again on every call, as asv expects. Threads are the
    caller's business (`pin_threads`; the benchmark suite applies it on import)."""
    backend_name, device = split_target(target)
    op = get_operator(operator)
    inst = case_instance(case)
    reason = too_large_reason(op, inst)
    if reason:
        raise Unavailable(reason)
    return get_backend(backend_name).prepare(op, inst, device=device, dtype=dtype)


# --- memory -------------------------------------------------------------------------------------
def tape_bytes(target: str, dtype: str, case: str) -> int:
    """Bytes one VJP of `case` keeps for its backward pass, as the backend counts them."""
    backend_name, device = split_target(target)
    backend = get_backend(backend_name)
    inst = case_instance(case)
    reason = backend.why_not(get_operator("vjp"), inst, device, dtype)
    if reason:
        raise Unavailable(reason)
    return int(backend.tape_bytes(inst, inst.x0, device, dtype))


def peak_device_bytes(target: str, dtype: str, case: str, operator: str) -> int:
    """Peak device memory of one run beyond what was allocated before it (GPU targets)."""
    p = prepared(target, dtype, case, operator)
    return int(p.backend.peak_device_bytes(p))


# --- first call in a fresh interpreter -----------------------------------------------------------
def first_call(target: str, dtype: str, case: str, operator: str) -> None:
    """Import, prepare and run once: what a user's first call costs (timed by asv `timeraw_`)."""
    pin_threads()
    p = prepared(target, dtype, case, operator)
    p.block(p.run())


def first_call_code(target: str, dtype: str, case: str, operator: str) -> str:
    """Python source that does `first_call` from a fresh interpreter, imports included."""
    args = ", ".join(repr(a) for a in (target, dtype, case, operator))
    return f"from adcompare.measure import first_call\nfirst_call({args})\n"
