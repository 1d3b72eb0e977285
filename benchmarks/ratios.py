"""Cost ratios measured in one process: unitless, robust to machine drift."""

from adcompare import measure

from .common import Family


class CostRatios(Family, family="ratios.CostRatios.track_cost_ratio"):
    """vjp/primal, jvp/primal and jacobian/(min(n, m)·primal), held against the cheap-gradient
    bound (≈ 3–4). Operator and primal samples alternate within the one process."""

    version = "1"
    unit = "ratio"

    def setup(self, target, dtype, case, operator):
        self.check(target, dtype, case, operator)
        measure.use_compile_cache()
        measure.prepared(target, dtype, case, operator)   # n/a here, before any timing
        measure.prepared(target, dtype, case, "primal")

    def track_cost_ratio(self, target, dtype, case, operator):
        return measure.cost_ratio(target, dtype, case, operator)
