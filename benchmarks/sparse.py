"""Sparse Jacobians: c_col JVPs against c_row VJPs, against dense Jacobians, and what the
compression costs to set up (sparsity detection, colouring) and how many colours it needs."""

from .common import Figure


class SparseJacobians(Figure, benchmark="sparse.SparseJacobians.track_sparse_factor"):
    """t_fwd/t_rev of the sparse Jacobians (column colours against row colours): the sparse
    version of the crossover."""

    def track_sparse_factor(self, *params):
        return self.measure()


class SparseSpeedup(Figure, benchmark="sparse.SparseSpeedup.track_speedup"):
    """How many times faster the sparse Jacobian is than the dense one of the same mode."""

    def track_speedup(self, *params):
        return self.measure()


class Detection(Figure, benchmark="sparse.Detection.track_detection_seconds"):
    """Seconds of our engine's sparsity detection (index sets through the primitives)."""

    def track_detection_seconds(self, *params):
        return self.measure()


class Coloring(Figure, benchmark="sparse.Coloring.track_coloring_seconds"):
    """Seconds of the greedy distance-2 colouring of the pattern, checked, with its seeds."""

    def track_coloring_seconds(self, *params):
        return self.measure()


class SetupRatio(Figure, benchmark="sparse.SetupRatio.track_setup_ratio"):
    """(detection + colouring) / one dense Jacobian of the same mode: below 1, the sparse
    machinery pays for itself before its first Jacobian."""

    def track_setup_ratio(self, *params):
        return self.measure()


class Colors(Figure, benchmark="sparse.Colors.track_colors"):
    """Colours of the column (fwd) or row (rev) colouring: products per sparse Jacobian."""

    def track_colors(self, *params):
        return self.measure()


class LowerBound(Figure, benchmark="sparse.LowerBound.track_lower_bound"):
    """The lower bound beside every count: most non-zeros in a row (fwd) or column (rev)."""

    def track_lower_bound(self, *params):
        return self.measure()
