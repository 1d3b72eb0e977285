"""Time per call: seconds of one operator in steady state (its fastest interleaved block), with
the reference kernel timed beside it, so drift can be read off and divided out."""

from __future__ import annotations

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.profile import profile
from adcompare.measure.jobs import REFERENCE, TIMING, ArmSpec, Job

SECONDS = Benchmark(
    "time_operators.Operators.track_seconds", ("target", "dtype", "case", "operator"), "seconds",
    "Seconds per call of one operator (its fastest interleaved block), preparation excluded.",
    compare_as="time per call", goal=(0.05, 0.15), slope=True)


def seconds_figure(target: str, dtype: str, case: str, operator: str, reference: bool = False):
    """The seconds figure of one operator arm (named as the operator), the reference beside it."""
    parts = ((operator, operator),) + (((REFERENCE, REFERENCE),) if reference else ())
    return SECONDS.figure((target, dtype, case, operator), "seconds", (operator,), parts=parts)


@register_family
class TimePerCall(Family):
    name = "time"
    title = "time per call"
    order = 10
    benchmarks = (SECONDS,)

    def jobs(self, grid, target):
        for p in profile(grid, target):
            arms = tuple(ArmSpec(op, p.case, op) for op in p.operators) + ((ArmSpec(REFERENCE),) if p.reference else ())
            figures = tuple(seconds_figure(target, p.dtype, p.case, op, p.reference) for op in p.operators)
            yield Job(TIMING, target, p.dtype, arms, figures, p.group)
