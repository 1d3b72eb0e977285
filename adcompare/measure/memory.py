"""Peak resident memory of a call, measured at the process level.

Every framework has its own allocator (numpy's malloc, torch's CPU caching allocator, XLA's
buffers, the compilers' scratch), and none sees the others'. The kernel sees them all: a
process's resident set (`VmRSS` in /proc/self/status) and its high-water mark (`VmHWM`), which
writing "5" to /proc/self/clear_refs resets to the current resident set (Linux ≥ 4.0). So the
peak of a call is VmHWM after it minus VmRSS before it, taken in a fresh child process so that
neither what the caller holds nor what an earlier call freed into an allocator's cache hides
any of it, and nothing the call leaves behind reaches the caller.

Memory the child inherits and does not touch is in its baseline; a page it writes (copy-on-write)
was already resident, so the figure is what the call added. Linux only (`available` says why not).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import multiprocessing
import os
import traceback
from typing import Any, Callable

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"
RESET_PEAK = "5"            # clear_refs: reset VmHWM to the current VmRSS
# The server measurement children are forked from: it imports the frameworks once (the thread
# policy included, no device touched), as the campaign's does, so a child's baseline already
# holds the imports and its figure is the call's own.
PRELOAD = "adcompare.run.preload"
DEFAULT_TIMEOUT = 600.0
M_MMAP_THRESHOLD = -3       # glibc mallopt parameter
MMAP_THRESHOLD = 128 * 1024  # glibc's default, held fixed (mallopt turns its dynamic raising off)


class MeasurementFailed(RuntimeError):
    """The child died, timed out or raised; the message says which (with its traceback's last line)."""


def unavailable_reason() -> str | None:
    """None where the peak can be measured here; else why not."""
    try:
        with open(CLEAR_REFS, "w") as fh:
            fh.write(RESET_PEAK)
        resident_bytes()
    except (OSError, KeyError, ValueError) as err:
        return f"process peak memory needs Linux's {STATUS} and {CLEAR_REFS} ({err})"
    return None


def _status_bytes() -> dict[str, int]:
    """The memory lines of /proc/self/status (VmRSS, VmHWM, ...), in bytes."""
    out = {}
    with open(STATUS) as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key.startswith("Vm") and value.strip().endswith("kB"):
                out[key] = int(value.split()[0]) * 1024
    return out


def resident_bytes() -> int:
    """This process's resident set now (VmRSS)."""
    return _status_bytes()["VmRSS"]


def reset_peak() -> int:
    """Reset this process's high-water mark to its resident set; returns that resident set."""
    gc.collect()
    with open(CLEAR_REFS, "w") as fh:
        fh.write(RESET_PEAK)
    return resident_bytes()


def peak_since_reset() -> int:
    """This process's high-water mark (VmHWM) since the last `reset_peak`."""
    return _status_bytes()["VmHWM"]


def peak_here(fn: Callable[..., Any], *args: Any) -> int:
    """Bytes of peak resident memory of fn(*args) beyond what this process held before, measured
    in this process (what an allocator already holds free is reused unseen: use `peak_bytes`)."""
    baseline = reset_peak()
    fn(*args)
    return max(0, peak_since_reset() - baseline)


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def fresh_pages() -> bool:
    """Make freed memory leave the process, so a later call's allocations show in its peak.

    glibc keeps what a program frees for reuse: blocks in its heaps, and (after a large mmapped
    block is freed) it raises its mmap threshold so that blocks of that size stay in the heap
    too. Memory reused that way is already resident and invisible to VmHWM. Fixing the threshold
    (arrays ≥ 128 KiB are mmapped and unmapped on free) and trimming the heaps (malloc_trim)
    returns it to the kernel. False where the C library is not glibc (nothing is done)."""
    libc = _libc()
    if libc is None:
        return False
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    gc.collect()
    libc.malloc_trim(0)
    return True


def repeated_peaks(call: Callable[[], Any], repeats: int) -> list[int]:
    """`repeats` peaks of call() in this process, each beyond the resident set just before it,
    with the allocator's free memory returned first (`fresh_pages`). For a call already prepared
    and warmed up here: what it needs beyond its inputs, constants and compiled code."""
    peaks = []
    for _ in range(repeats):
        fresh_pages()
        peaks.append(peak_here(call))
    return peaks


def _child(conn, measure, args) -> None:
    try:
        result = ("ok", measure(*args))
    except BaseException as err:      # the parent reports it; the child must not hang
        result = ("error", traceback.format_exception_only(err)[-1].strip())
    conn.send(result)
    conn.close()


def peak_bytes(fn: Callable[..., Any], *args: Any, start_method: str = "fork",
               timeout: float = DEFAULT_TIMEOUT) -> int:
    """Bytes of peak resident memory of fn(*args) beyond the baseline of a fresh child process.

    start_method "fork" copies this process (fn may be any callable; safe only while no
    framework has started threads here); "forkserver" forks from a server that preloaded the
    frameworks (`PRELOAD`), so fn and args must pickle. Raises MeasurementFailed if the call
    raises, the child dies (e.g. killed for memory) or outlasts `timeout` seconds."""
    return _in_child(peak_here, (fn, *args), start_method, timeout)


def repeated_peaks_apart(call: Callable[[], Any], repeats: int, start_method: str = "fork",
                         timeout: float = DEFAULT_TIMEOUT) -> list[int]:
    """`repeated_peaks` in a child process, so that the allocator settings it makes
    (`fresh_pages`) stay out of this one (a test session, a script that also times). The child's
    first reading carries its own start (1.5 MB more seen on a 16 MB array): it is dropped. A
    child forked from a process that ran much else (a test session with torch and jax loaded)
    read 10–30 % over an array's size: "spawn" starts a fresh one (call must pickle)."""
    return _in_child(repeated_peaks, (call, repeats + 1), start_method, timeout)[1:]


def _in_child(measure: Callable[..., Any], args: tuple, start_method: str, timeout: float) -> Any:
    """measure(*args) in a child process; its result, or MeasurementFailed."""
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload([PRELOAD])
    receive, send = context.Pipe(duplex=False)
    proc = context.Process(target=_child, args=(send, measure, args), daemon=True)
    proc.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise MeasurementFailed(f"no result after {timeout:g} s" if proc.is_alive()
                                    else f"the measuring process died (exit status {proc.exitcode})")
        status, value = receive.recv()
    except EOFError:
        proc.join()
        raise MeasurementFailed(f"the measuring process died (exit status {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receive.close()
    if status != "ok":
        raise MeasurementFailed(value)
    return value


def _prepare_and_run(target: str, dtype: str, case: str, operator: str) -> None:
    """Build the case's instance, prepare the operator (its warm-up call included) and run it once."""
    from adcompare.backends import get_backend
    from adcompare.ids import Case, Target
    from adcompare.operators import get_operator

    where = Target.parse(target)
    prepared = get_backend(where.backend).prepare(get_operator(operator), Case.parse(case).instance(),
                                                  device=where.device, dtype=dtype)
    prepared.block(prepared.run())


def operator_peak_bytes(target: str, dtype: str, case: str, operator: str,
                        timeout: float = DEFAULT_TIMEOUT) -> int:
    """Peak resident bytes of building `case`'s instance, preparing `operator` on `target` and
    running it once, in a child forked from the preloaded server (so neither the caller's memory
    nor the framework imports count). Ids as the grids spell them ("numpy:cpu", "ode:100:s=10")."""
    return peak_bytes(_prepare_and_run, target, dtype, case, operator, start_method="forkserver",
                      timeout=timeout)
