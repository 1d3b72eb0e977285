"""Preparation time: converting, tracing, compiling and warming up one operator, in a process
that has prepared nothing before and reads no compile cache (what a compile really costs)."""

from __future__ import annotations

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.profile import BATCHED_JACOBIANS, PRODUCT_OPERATORS, compile_cases
from adcompare.measure.jobs import PREPARE, ArmSpec, Job

PREPARE_SECONDS = Benchmark(
    "compile.Prepare.track_prepare_seconds", ("target", "dtype", "case", "operator"), "seconds",
    "Seconds to convert, trace, compile and warm up one operator, in a fresh process.",
    compare_as="prepare time")


@register_family
class Prepare(Family):
    name = "prepare"
    title = "prepare (compile) time"
    order = 40
    benchmarks = (PREPARE_SECONDS,)

    def jobs(self, grid, target):
        """vjp and jvp of the compile cases, one per process; wide adds the batched Jacobians."""
        ops = PRODUCT_OPERATORS + (BATCHED_JACOBIANS if grid == "wide" else ())
        for case in compile_cases(grid):
            for op in ops:
                yield Job(PREPARE, target, "float64", (ArmSpec(op, case, op),),
                          (PREPARE_SECONDS.figure((target, "float64", case, op), "prepare", (op,)),))
