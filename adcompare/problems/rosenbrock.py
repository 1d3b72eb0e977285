import numpy as np

from adcompare.errors import UserError
from adcompare import footprint
from adcompare.problems.registry import Problem, register


@register
class Rosenbrock(Problem):
    """Extended Rosenbrock function, Rⁿ → R¹ (the gradient case).

    f(x) = Σ_{i=1}^{n-1} 100·(x_{i+1} − x_i²)² + (1 − x_i)²

    ∂f/∂x_i = −400·x_i·(x_{i+1} − x_i²) − 2·(1 − x_i)   [i < n]
              + 200·(x_i − x_{i−1}²)                    [i > 1]

    A full gradient costs one reverse pass but n forward passes: reverse mode's home ground.
    """

    name = "rosenbrock"
    summary = "extended Rosenbrock, scalar output: the gradient case"
    sweep_sizes = (10, 1_000, 100_000)
    test_size = 6

    def f(self, xp, x, c):
        head, tail = x[:-1], x[1:]
        total = xp.sum(100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2)
        return xp.reshape(total, (1,))

    def output_size(self, n, **opts):
        return 1

    def evaluation(self, n, **opts):
        return footprint.Evaluation(12, 9 * n)     # 9 arrays of n − 1 before the sum

    def check_size(self, n, **opts):
        if n < 2:
            raise UserError(f"rosenbrock: n must be at least 2, got {n}")

    def default_x(self, n, **opts):
        # The classic starting point (-1.2, 1, -1.2, 1, ...).
        return np.where(np.arange(n) % 2 == 0, -1.2, 1.0)

    def jacobian(self, x, c, **opts):
        grad = np.zeros_like(x)
        head, tail = x[:-1], x[1:]
        grad[:-1] += -400.0 * head * (tail - head**2) - 2.0 * (1.0 - head)
        grad[1:] += 200.0 * (tail - head**2)
        return grad[None, :]
