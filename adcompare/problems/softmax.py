import numpy as np

from adcompare import footprint
from adcompare.problems.registry import Problem, register


@register
class Softmax(Problem):
    """Softmax, a dense nonlinear map Rⁿ → Rⁿ.

    y = exp(x − max x) / Σ exp(x − max x),
    J = diag(y) − y yᵀ   (every entry nonzero).

    Subtracting the max keeps exp from overflowing and leaves y, and so J, unchanged.
    """

    name = "softmax"
    summary = "softmax(x): dense nonlinear n → n, full Jacobian"
    sweep_sizes = (10, 1_000, 100_000)
    test_size = 5

    def f(self, xp, x, c):
        e = xp.exp(x - xp.max(x))
        return e / xp.sum(e)

    def output_size(self, n, **opts):
        return n

    def evaluation(self, n, **opts):
        return footprint.Evaluation(6, 4 * n + 2)     # x − max, exp, / sum; max's mask in reverse

    def default_x(self, n, **opts):
        return np.sin(np.arange(1, n + 1, dtype=np.float64))

    def jacobian(self, x, c, **opts):
        e = np.exp(x - x.max())
        y = e / e.sum()
        return np.diag(y) - np.outer(y, y)
