"""Workloads: the derivative ADBench and GradBench time for each of their objectives, over the
objective's own time (derivative / objective), as those suites report it."""

from __future__ import annotations

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cost_ratios import primal_ratio
from adcompare.families.profile import profile
from adcompare.measure.jobs import TIMING, ArmSpec, Job

DERIVATIVE_RATIO = Benchmark(
    "ratios.Workloads.track_derivative_ratio", ("target", "dtype", "case", "operator"), "ratio",
    "A workload's derivative time / objective time (the ADBench / GradBench figure).",
    compare_as="cost ratios", goal=(0.02, 0.05))


@register_family
class Workloads(Family):
    name = "workloads"
    title = "workload derivative / objective"
    order = 12
    benchmarks = (DERIVATIVE_RATIO,)

    def jobs(self, grid, target):
        for p in profile(grid, target):
            if not p.derivatives:
                continue
            arms = tuple(ArmSpec(op, p.case, op) for op in ("primal", *p.derivatives))
            figures = tuple(primal_ratio(DERIVATIVE_RATIO, target, p.dtype, p.case, op) for op in p.derivatives)
            yield Job(TIMING, target, p.dtype, arms, figures, p.group)
