"""Steady-state time per call, and the forward/reverse crossover of full Jacobians."""

from .common import Figure


class Operators(Figure, benchmark="time_operators.Operators.track_seconds"):
    """Seconds per call of one operator (its fastest interleaved block), preparation excluded."""

    def track_seconds(self, *params):
        return self.measure()


class Crossover(Figure, benchmark="time_operators.Crossover.track_factor"):
    """t_fwd / t_rev of a full Jacobian, both modes timed in the same interleaved rounds."""

    def track_factor(self, *params):
        return self.measure()
