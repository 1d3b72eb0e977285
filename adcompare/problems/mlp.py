import numpy as np

from adcompare import footprint
from adcompare.problems.registry import Problem, register


@register
class MLP(Problem):
    """A one-hidden-layer tanh network, Rⁿ → Rᵐ (m defaults to n, hidden width 64).

    h = tanh(W1 x + b1),   y = W2 h + b2,
    J = W2 · diag(1 − h²) · W1.

    Weights are N(0, 1/fan_in). With n and m free, the n × m plane can be swept to find where
    forward and reverse Jacobians cross.
    """

    name = "mlp"
    summary = "tanh MLP n → hidden → m (m defaults to n, hidden = 64)"
    sweep_sizes = (10, 100, 1_000)
    test_size = 4
    options = {"m": None, "hidden": 64}

    def f(self, xp, x, c):
        h = xp.tanh(c["W1"] @ x + c["b1"])
        return c["W2"] @ h + c["b2"]

    def output_size(self, n, m, **opts):
        return m

    def evaluation(self, n, m, hidden, **opts):
        return footprint.Evaluation(6, 3 * hidden + 2 * m)     # W1 x, + b1, tanh; W2 h, + b2

    def constant_elements(self, n, m, hidden, **opts):
        return hidden * (n + m + 1) + m

    def constants(self, n, rng, m, hidden, **opts):
        return {
            "W1": rng.standard_normal((hidden, n)) / np.sqrt(n),
            "b1": 0.1 * rng.standard_normal(hidden),
            "W2": rng.standard_normal((m, hidden)) / np.sqrt(hidden),
            "b2": 0.1 * rng.standard_normal(m),
        }

    def jacobian(self, x, c, **opts):
        h = np.tanh(c["W1"] @ x + c["b1"])
        return (c["W2"] * (1.0 - h**2)) @ c["W1"]
