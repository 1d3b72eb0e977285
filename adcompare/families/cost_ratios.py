"""Cost ratios: an operator's time over the primal's, timed in the same rounds: vjp/primal and
jvp/primal against the cheap-gradient bound, a Jacobian against min(n, m) primal evaluations."""

from __future__ import annotations

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cases import divisor
from adcompare.families.profile import profile
from adcompare.measure.jobs import TIMING, ArmSpec, Job

COST_RATIO = Benchmark(
    "ratios.CostRatios.track_cost_ratio", ("target", "dtype", "case", "operator"), "ratio",
    "t_op / (divisor · t_primal): vjp/primal and jvp/primal against the cheap-gradient bound, "
    "Jacobians against min(n, m) primal evaluations.",
    compare_as="cost ratios", goal=(0.02, 0.05))


def primal_ratio(benchmark: Benchmark, target: str, dtype: str, case: str, operator: str, by: int = 1):
    """operator / (by · primal), both arms of the same job, with both shown beside the figure."""
    return benchmark.figure((target, dtype, case, operator), "ratio", (operator, "primal"), by,
                            parts=((operator, operator), ("primal", "primal")))


@register_family
class CostRatios(Family):
    name = "cost-ratios"
    title = "cost ratios"
    order = 11
    benchmarks = (COST_RATIO,)

    def jobs(self, grid, target):
        for p in profile(grid, target):
            ops = [op for op in p.operators if op != "primal"]
            if not ops:
                continue
            arms = tuple(ArmSpec(op, p.case, op) for op in ("primal", *ops))
            figures = tuple(primal_ratio(COST_RATIO, target, p.dtype, p.case, op, divisor(p.case, op)) for op in ops)
            yield Job(TIMING, target, p.dtype, arms, figures, p.group)
