import numpy as np

from adcompare import footprint
from adcompare.problems.registry import Problem, register


@register
class Square(Problem):
    """Elementwise square, Rⁿ → Rⁿ.

    y_i = x_i²,   J = diag(2x),   vᵀJ = 2·x·v.

    The Jacobian is diagonal, so one JVP or one VJP with a vector of ones already yields it all:
    the smallest problem on which framework overhead, not arithmetic, decides the timing.
    """

    name = "square"
    sparse_jacobian = True
    summary = "y = x² elementwise; diagonal Jacobian"
    sweep_sizes = (1, 1_000, 100_000)
    test_size = 5

    def f(self, xp, x, c):
        return x * x

    def output_size(self, n, **opts):
        return n

    def evaluation(self, n, **opts):
        return footprint.Evaluation(1, n)       # x * x

    def jacobian(self, x, c, **opts):
        return np.diag(2.0 * x)
