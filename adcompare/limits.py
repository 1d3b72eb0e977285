"""How large a computation may be on the machines adcompare runs on: one home for the limits.

A combination past a limit is refused before anything is allocated ("n/a" with the reason in a
grid, one line for a user), never left to start a swap storm or to run for an hour.
"""

from __future__ import annotations

import os

# A batched Jacobian holds its directions (n forward, m reverse) through the function and J (m×n)
# at once; past this many elements (256 MiB in float64) it does not fit the machines adcompare is
# run on.
MAX_JACOBIAN_ELEMENTS = 1 << 25
# A Python-loop Jacobian runs one product per row or column: past this many per call, one call
# outlasts a benchmark's time.
MAX_LOOP_PASSES = 1024
# An instance or operator is refused when its estimated peak (`adcompare.footprint`) would need
# more than this share of the machine's memory (a user's size typo must not start a swap storm).
MEMORY_SHARE = 0.5
# Array operations one evaluation may dispatch (a depth option multiplies them): each is a Python
# call of a few µs on numpy and up to milliseconds under eager jax's or torch's forward-mode
# transforms (ode, 66 000 operations: a VJP took over 300 s on eager jax, a JVP 46 s on torch),
# recorded one by one by reverse mode, so past this even a depth that fits runs for hours.
MAX_OPERATIONS = 1_000_000
# Where Linux says how much memory this process's control group may use (v2, then v1).
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory() -> int | None:
    """Bytes of memory this process may use: the physical memory, or less where a control group
    (a container's memory cap) or a resource limit (ulimit -v, -d) allows less; None where the
    platform does not say."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    caps = [physical]
    for path in CGROUP_LIMITS:
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            caps.append(int(text))
    try:
        import resource
        for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            soft = resource.getrlimit(which)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                caps.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(caps)


def memory_reason(subject: str, estimate: int, what: str) -> str | None:
    """One line saying that `subject` (its size, spelled by the caller) needs `estimate` bytes
    at its peak (`what` that counts) and this machine cannot give them; None where they fit
    (or where the platform does not say how much memory there is)."""
    total = machine_memory()
    if total is None or estimate <= MEMORY_SHARE * total:
        return None
    return (f"{subject} needs about {_gib(estimate)} at its peak (estimated: {what}); this machine has "
            f"{_gib(total)} of memory and adcompare uses at most {MEMORY_SHARE:.0%} of it")


def _gib(size: int) -> str:
    return f"{size / 2**30:.3g} GiB"


def dense_jacobian_elements(operator, inst) -> int:
    """Array elements a batched or loop Jacobian operator holds at once: J itself, plus for a
    batched one its directions carried through the function's largest intermediate (n tangents
    forward, m cotangents reverse, each the size of `Problem.working_elements`)."""
    directions = operator.passes(inst.n, inst.m)
    working = max(inst.n if operator.mode == "fwd" else inst.m,
                  inst.problem.working_elements(inst.n, **inst.options))
    return (directions * working if operator.strategy == "batched" else 0) + inst.n * inst.m
