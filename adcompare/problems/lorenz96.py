import numpy as np

from adcompare import footprint
from adcompare.errors import UserError
from adcompare.problems.integrate import rk4
from adcompare.problems.registry import Problem, register


@register
class Lorenz96(Problem):
    """Lorenz-96 integrated by explicit RK4: the depth family, Rⁿ → Rⁿ.

    dx_i/dt = (x_{i+1} − x_{i−2})·x_{i−1} − x_i + F,   indices cyclic, F = 8,
    y = Φ_steps(x): `steps` classical RK4 steps of size dt = 0.01 (default steps = 10).

    Every step adds ~40 primitive calls to the trace, so reverse-mode memory grows linearly with
    `steps` while forward mode's stays flat. No closed form; checked by finite differences.
    """

    name = "lorenz96"
    sparse_jacobian = True
    summary = "Lorenz-96 under RK4; `steps` sets the depth (default 10)"
    sweep_sizes = (8, 128, 4_096)
    test_size = 6
    options = {"steps": 10}
    depth_option = "steps"
    forcing = 8.0
    dt = 0.01

    def f(self, xp, x, c):
        def rhs(u):
            return (xp.roll(u, -1) - xp.roll(u, 2)) * xp.roll(u, 1) - u + self.forcing

        return rk4(xp, rhs, x, self.dt, c["steps"])

    def output_size(self, n, **opts):
        return n

    def evaluation(self, n, steps, **opts):
        # Per RK4 step 41 arrays of n elements (4 right-hand sides of 7, 13 stage updates),
        # counted on our engine's tape; 44 leaves frameworks room for a copy or two.
        return footprint.Evaluation(44 * steps + 4, (44 * steps + 2) * n)

    def constants(self, n, rng, steps, **opts):
        # A Python int, not an array: the loop length is structure, not data.
        return {"steps": steps}

    def check_size(self, n, **opts):
        if n < 4:
            raise UserError(f"lorenz96: n must be at least 4 (the stencil reaches i−2 … i+1), got {n}")

    def default_x(self, n, **opts):
        return self.forcing + 0.5 * np.sin(np.arange(n, dtype=np.float64))
