"""A small neural network's training loss as a function of its flattened weights (class form).

A one-hidden-layer tanh network with input dimension d = 8 and `hidden` units, fitted to N = 256
fixed samples (X, t) (constants: X standard normal, t = sin(X·a) for a fixed direction a):

    h = tanh(X W₁ + b₁),   p = h w₂ + b₂,   L(θ) = (1/N)·Σ_s (p_s − t_s)²,

θ = (W₁ [d × hidden, row-major], b₁ [hidden], w₂ [hidden], b₂ [1]) ∈ Rⁿ with
n = hidden·(d + 2) + 1. L: Rⁿ → R¹, so the gradient ∇L (one VJP with v = 1) is what training
needs, reverse mode's best case: one backward pass against n forward ones; the Hessian-vector
products (`adcompare hvp`) apply too. The sizes are set by the option `hidden`, so the problem
sweeps hidden = 4, 32, 256 (n = 41, 321, 2561). Run it with:

    adcompare hvp mlp-loss --problems examples/mlp_loss.py --opt hidden=4 --backend jax
"""

import numpy as np

import adcompare as ad

INPUTS = 8
SAMPLES = 256


@ad.register
class MLPLoss(ad.Problem):
    """Mean squared error of a tanh MLP (d = 8 inputs, `hidden` units) on 256 fixed samples."""

    name = "mlp-loss"
    summary = "training loss of a tanh MLP, as a function of its n = hidden·(d + 2) + 1 weights"
    sweep_sizes = (41, 321, 2_561)
    test_size = 41
    options = {"hidden": 4}

    def input_size(self, hidden, **opts):
        return hidden * (INPUTS + 2) + 1

    def sweep(self):
        return [{"hidden": h} for h in (4, 32, 256)]

    def output_size(self, n, **opts):
        return 1

    def constants(self, n, rng, hidden, **opts):
        X = rng.standard_normal((SAMPLES, INPUTS))
        direction = np.linspace(-1.0, 1.0, INPUTS)
        return {"X": X, "t": np.sin(X @ direction), "hidden": hidden}

    def default_x(self, n, hidden, **opts):
        rng = np.random.default_rng(7)
        theta = rng.standard_normal(n) / np.sqrt(INPUTS)
        return theta

    def f(self, xp, x, c):
        h, d = c["hidden"], INPUTS
        W1 = xp.reshape(x[: d * h], (d, h))
        b1 = x[d * h: d * h + h]
        w2 = xp.reshape(x[d * h + h: d * h + 2 * h], (h, 1))
        b2 = x[d * h + 2 * h:]
        hidden = xp.tanh(c["X"] @ W1 + b1)
        residual = xp.reshape(hidden @ w2, (SAMPLES,)) + b2 - c["t"]
        return xp.reshape(xp.mean(residual * residual), (1,))
