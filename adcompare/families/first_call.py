"""A user's first call: a fresh interpreter that imports adcompare and the framework, prepares
one operator and runs it once, timed from outside."""

from __future__ import annotations

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.profile import compile_cases
from adcompare.measure.jobs import FIRST_CALL, ArmSpec, Job

FIRST_CALL_SECONDS = Benchmark(
    "compile.FirstCall.track_first_call_seconds", ("target", "case", "operator"), "seconds",
    "A user's first call: import, prepare and run once, in a fresh interpreter.",
    compare_as="first call")
FIRST_CALL_DTYPE = "float64"


@register_family
class FirstCall(Family):
    name = "first-call"
    title = "first call"
    order = 41
    benchmarks = (FIRST_CALL_SECONDS,)

    def jobs(self, grid, target):
        cases = compile_cases(grid)
        for case in cases if grid == "wide" else cases[:1]:
            op = "vjp"
            yield Job(FIRST_CALL, target, FIRST_CALL_DTYPE, (ArmSpec(op, case, op),),
                      (FIRST_CALL_SECONDS.figure((target, case, op), "first-call", (op,)),))
