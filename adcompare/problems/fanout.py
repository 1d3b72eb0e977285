import numpy as np

from adcompare import footprint
from adcompare.problems.registry import Problem, register


@register
class FanOut(Problem):
    """A few inputs fanned out to many outputs, Rⁿ → Rᵐ with n ≪ m (default m = 1000).

    y = sin(W x),   W ∈ R^{m×n} with entries N(0, 1/n),
    J = diag(cos(W x)) · W.

    A full Jacobian costs n forward passes but m reverse passes: forward mode's home ground.
    """

    name = "fanout"
    summary = "y = sin(W x), few inputs to many outputs (m = 1000)"
    sweep_sizes = (1, 8, 64)
    test_size = 2
    options = {"m": 1000}

    def f(self, xp, x, c):
        return xp.sin(c["W"] @ x)

    def output_size(self, n, m, **opts):
        return m

    def evaluation(self, n, m, **opts):
        return footprint.Evaluation(2, 2 * m)       # W x, sin

    def constant_elements(self, n, m, **opts):
        return m * n

    def constants(self, n, rng, m, **opts):
        return {"W": rng.standard_normal((m, n)) / np.sqrt(n)}

    def jacobian(self, x, c, **opts):
        W = c["W"]
        return np.cos(W @ x)[:, None] * W
