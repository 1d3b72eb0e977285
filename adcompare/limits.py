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
# An instance is refused when its estimated peak would need more than this share of the
# machine's memory (a user's size typo must not start a swap storm).
MEMORY_SHARE = 0.5


def machine_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def dense_jacobian_elements(operator, inst) -> int:
    """Array elements a batched or loop Jacobian operator holds at once: J itself, plus for a
    batched one its directions carried through the function's largest intermediate (n tangents
    forward, m cotangents reverse, each the size of `Problem.working_elements`)."""
    directions = operator.passes(inst.n, inst.m)
    working = max(inst.n if operator.mode == "fwd" else inst.m,
                  inst.problem.working_elements(inst.n, **inst.options))
    return (directions * working if operator.strategy == "batched" else 0) + inst.n * inst.m
