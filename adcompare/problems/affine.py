import numpy as np

from adcompare import footprint
from adcompare.problems.registry import Problem, register


@register
class Affine(Problem):
    """Affine map with independent input and output sizes, Rⁿ → Rᵐ (m defaults to n).

    y = A x + b,   A ∈ R^{m×n} with entries N(0, 1/n),   J = A.

    The Jacobian does not depend on x, so fwd vs rev timing is pure mode overhead: the cleanest
    family for locating the n:m crossover.
    """

    name = "affine"
    summary = "y = A x + b with independent n and m (m defaults to n)"
    sweep_sizes = (10, 100, 1_000)
    test_size = 4
    options = {"m": None}

    def f(self, xp, x, c):
        return c["A"] @ x + c["b"]

    def output_size(self, n, m, **opts):
        return m

    def evaluation(self, n, m, **opts):
        return footprint.Evaluation(2, 2 * m)       # A x, + b

    def constant_elements(self, n, m, **opts):
        return m * n + m

    def constants(self, n, rng, m, **opts):
        return {"A": rng.standard_normal((m, n)) / np.sqrt(n), "b": rng.standard_normal(m)}

    def jacobian(self, x, c, **opts):
        return c["A"].copy()
