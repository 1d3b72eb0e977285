"""Our engine's measured peak memory of a VJP against what its tape and live arrays account for.

The issue's goal: the process-level peak of one VJP (recording plus sweep) within ±10 % of the
bytes the engine can name: its tape's residuals (`Pullback.tape_bytes`), the output, and the
cotangents alive at once in the sweep (the largest single step's: an RK4 step keeps a handful of
n-vectors). tracemalloc's peak of the same call (every numpy buffer, exactly) is printed beside
it, so a gap can be put on the process (pages, allocator) or on the accounting. Then the same
VJP of lorenz96 under binomial checkpointing (`engine.checkpoint`): its peak against snapshots,
with the forward steps it recomputes.

    PYTHONPATH=. python scripts/engine_peak_memory.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import tracemalloc

import numpy as np

from adcompare import engine
from adcompare.ids import Case
from adcompare.measure import memory
from adcompare.backends._common import problem_function
from adcompare.engine.checkpoint import checkpointed_vjp

CASES = ("lorenz96:20000:steps=10", "lorenz96:20000:steps=40", "ode:20000:s=10", "square:2000000")
CHECKPOINTED = "lorenz96:20000:steps=40"
SNAPS = (1, 2, 4, 8)


def vjp_call(case: str):
    """(the call, its tape bytes, its output bytes) for `case`'s VJP on our engine."""
    inst = Case.parse(case).instance()
    x = np.asarray(inst.x0, dtype=np.float64)
    fun = problem_function(inst, engine.xp, inst.constants)
    v = np.ones(inst.m)
    y, pullback = engine.vjp(fun, x)
    tape = pullback.tape_bytes
    del y, pullback
    return (lambda: engine.vjp(fun, x)[1](v)), tape, inst.m * 8


def tracemalloc_peak(call) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    call()
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{'case':26} {'tape MB':>8} {'peak MB median [min, max]':>28} {'peak/tape':>9} "
          f"{'peak/(tape+y)':>13} {'tracemalloc MB':>14}")
    for case in CASES:
        call, tape, out = vjp_call(case)
        call()                                      # warm up
        peaks = memory.repeated_peaks(call, args.repeats)
        traced = tracemalloc_peak(call)
        mb = 1 / 2**20
        med = statistics.median(peaks)
        print(f"{case:26} {tape * mb:8.2f} {med * mb:10.2f} [{min(peaks) * mb:.2f}, {max(peaks) * mb:.2f}]"
              f"{'':4} {med / tape if tape else float('nan'):9.3f} {med / (tape + out):13.3f} {traced * mb:14.2f}")
    checkpointed(args.repeats)


def checkpointed(repeats: int) -> None:
    """The peak of lorenz96's VJP with binomial checkpointing, by number of snapshots."""
    inst = Case.parse(CHECKPOINTED).instance()
    x, v, steps = np.asarray(inst.x0, dtype=np.float64), np.ones(inst.m), inst.options["steps"]
    one_step = {**inst.constants, "steps": 1}
    step = lambda i, u: inst.problem.f(engine.xp, u, one_step)   # noqa: E731
    print(f"\n{CHECKPOINTED}, checkpointed: {'snaps':>5} {'peak MB median [min, max]':>28} {'advances':>9}")
    for snaps in SNAPS:
        call = lambda: checkpointed_vjp(step, x, v, steps, snaps)   # noqa: E731
        advances = call()[2].advances
        peaks = memory.repeated_peaks(call, repeats)
        mb = 1 / 2**20
        print(f"{'':36}{snaps:5} {statistics.median(peaks) * mb:10.2f} [{min(peaks) * mb:.2f}, {max(peaks) * mb:.2f}]"
              f"{'':6}{advances:9}")


if __name__ == "__main__":
    main()
