"""Ratios timed in one process: cost ratios, workloads' derivative/objective, the A/A control."""

from .common import Figure


class CostRatios(Figure, benchmark="ratios.CostRatios.track_cost_ratio"):
    """t_op / (divisor · t_primal): vjp/primal and jvp/primal against the cheap-gradient bound,
    Jacobians against min(n, m) primal evaluations."""

    def track_cost_ratio(self, *params):
        return self.measure()


class Workloads(Figure, benchmark="ratios.Workloads.track_derivative_ratio"):
    """A workload's derivative time / objective time (the ADBench / GradBench figure)."""

    def track_derivative_ratio(self, *params):
        return self.measure()


class NoiseFloor(Figure, benchmark="ratios.NoiseFloor.track_aa_ratio"):
    """The A/A control: one operator on both sides of a ratio; its true value is 1."""

    def track_aa_ratio(self, *params):
        return self.measure()
