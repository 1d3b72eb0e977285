"""What a measurement process loads before its job: the frameworks' imports and compile caches.

Every backend says what it needs through its hooks (`Backend.preload`, `use_compile_cache`), so
this module names no framework.
"""

from __future__ import annotations

import os

from adcompare.backends import all_backends, get_backend
from adcompare.backends.base import COMPILE_CACHE_ENV
from adcompare.measure.threads import pin_threads

PRELOAD_ENV = "ADCOMPARE_PRELOAD"   # backends a fork server serves (comma-separated; unset: all)


def preload_frameworks() -> list[str]:
    """Import the frameworks of the backends a fork server serves ($ADCOMPARE_PRELOAD, default
    all), and what they load lazily on their first AD call, without touching any device.

    Used by asv's forkserver and the campaign's: every measurement process is forked from a
    server that already paid the imports (~2 s), so a job costs its own preparation; and only
    the plan's frameworks load (torch.compile's one-time toolchain setup, ~15 s, only for a plan
    with torch-compile in it). Returns the names of the backends preloaded."""
    pin_threads()
    wanted = os.environ.get(PRELOAD_ENV)
    backends = all_backends() if wanted is None else [get_backend(b) for b in wanted.split(",") if b]
    loaded = []
    for backend in backends:
        if backend.missing_reason() is None:
            backend.preload()
            loaded.append(backend.name)
    pin_threads()
    return loaded


def use_compile_cache() -> bool:
    """Share compilations between measurement processes through the persistent caches in
    $ADCOMPARE_COMPILE_CACHE (set by `adcompare run`), if set.

    Every job is its own process, and eager JAX compiles each primitive per shape on first use:
    1–4 s of preparation per process, repeated for every operator of a case; a torch.compile
    operator takes seconds more. For steady-state time, ratios and counts that cost is outside
    the measurement, so those families read compilations from the cache; the compile-time
    families never call this (their compiles stay cold, in private directories)."""
    directory = os.environ.get(COMPILE_CACHE_ENV)
    if not directory:
        return False
    for backend in all_backends():
        backend.use_compile_cache(directory)
    return True
