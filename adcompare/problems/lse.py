import numpy as np

from adcompare import footprint
from adcompare.problems.registry import Problem, register


@register
class LogSumExp(Problem):
    """LogSumExp, GradBench's `lse` eval: a smooth maximum, Rⁿ → R.

    f(x) = a + log Σᵢ exp(xᵢ − a),   a = max x   (the shift keeps exp from overflowing),
    ∇f = softmax(x) = exp(x − f(x)).

    Written from its primitive elements (a maximum, an exponential, a sum), as GradBench asks, so
    every backend differentiates the same program. Its published gradient/objective ratios (the
    nightly runs at n = 1.28 M) are the report's reference marks.
    """

    name = "lse"
    summary = "GradBench lse: log Σ exp(x), max-shifted; the gradient of a reduction"
    sweep_sizes = (10_000, 160_000, 1_280_000)       # GradBench: 2500·2^k up to 1.28 M
    test_size = 6
    field_derivatives = ("vjp",)

    def f(self, xp, x, c):
        a = xp.max(x)
        return xp.reshape(a + xp.log(xp.sum(xp.exp(x - a))), (1,))

    def output_size(self, n, **opts):
        return 1

    def evaluation(self, n, **opts):
        return footprint.Evaluation(8, 2 * n + 8)   # x − a and its exp, then scalars

    def main_instance(self):
        return {"n": 1_280_000}

    def default_x(self, n, **opts):
        # GradBench's inputs are uniform on [0, 1); a fixed generator keeps x0 deterministic.
        return np.random.default_rng(20_251_031).random(n)

    def jacobian(self, x, c, /, **opts):
        e = np.exp(x - x.max())
        return (e / e.sum())[None, :]
