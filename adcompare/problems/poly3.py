import numpy as np

from adcompare.errors import UserError
from adcompare.problems.registry import Problem, register


@register
class Poly3(Problem):
    """The worked example: a polynomial system R³ → R³.

    y1 = x1² + 2·x2 + x3
    y2 = x1 + x2³ + x3²
    y3 = 2·x1 + x2² + x3³

        | 2x1   2     1    |
    J = | 1     3x2²  2x3  |
        | 2     2x2   3x3² |

    At x = (1, 2, 3): vᵀJ = (5, 18, 34) for v = (1, 1, 1) and (10, 34, 42) for v = (3, 2, 1).
    """

    name = "poly3"
    summary = "worked example: 3 polynomials in 3 variables (n = 3 only)"
    sweep_sizes = (3,)
    test_size = 3

    def f(self, xp, x, c):
        x1, x2, x3 = x[0], x[1], x[2]
        return xp.stack([
            x1**2 + 2 * x2 + x3,
            x1 + x2**3 + x3**2,
            2 * x1 + x2**2 + x3**3,
        ])

    def output_size(self, n, **opts):
        return 3

    def check_size(self, n, **opts):
        if n != 3:
            raise UserError(f"poly3: n must be 3 (it is a fixed 3-variable system), got {n}")

    def default_x(self, n, **opts):
        return np.array([1.0, 2.0, 3.0])

    def jacobian(self, x, c, **opts):
        x1, x2, x3 = x
        return np.array([
            [2 * x1, 2.0, 1.0],
            [1.0, 3 * x2**2, 2 * x3],
            [2.0, 2 * x2, 3 * x3**2],
        ])
