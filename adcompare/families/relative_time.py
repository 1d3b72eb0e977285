"""Time per call relative to the reference kernel: an operator's seconds over the seconds of a
fixed kernel (adcompare.measure.reference) timed in the same interleaved rounds.

Absolute times drift with the machine's state (a neighbour, a frequency change) and differ from
host to host; this ratio divides the machine out, so it is the figure that history compares:
asv's graphs, `asv compare` and `asv continuous` read it like with like across days, hosts of
one kind, and commits. Raw seconds stay comparable only within one run.
"""

from __future__ import annotations

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.profile import profile
from adcompare.measure.jobs import REFERENCE, TIMING, ArmSpec, Job

RELATIVE = Benchmark(
    "time_operators.RelativeTime.track_relative_seconds", ("target", "dtype", "case", "operator"), "ratio",
    "Seconds per call over the reference kernel's, timed in the same rounds: the drift-free time history compares.",
    compare_as="time per call / reference kernel", goal=(0.05, 0.15), slope=True)


@register_family
class RelativeTime(Family):
    name = "relative-time"
    title = "time per call / reference kernel"
    order = 13
    benchmarks = (RELATIVE,)

    def jobs(self, grid, target):
        for p in profile(grid, target):
            if not p.reference:
                continue
            arms = tuple(ArmSpec(op, p.case, op) for op in p.operators) + (ArmSpec(REFERENCE),)
            figures = tuple(RELATIVE.figure((target, p.dtype, p.case, op), "ratio", (op, REFERENCE),
                                            parts=((op, op), (REFERENCE, REFERENCE))) for op in p.operators)
            yield Job(TIMING, target, p.dtype, arms, figures, p.group)
