import numpy as np

from adcompare import footprint
from adcompare.problems.integrate import rk4
from adcompare.problems.registry import Problem, register

# GradBench seeds numpy's legacy global generator with 31337 and draws x = rand(n).
GRADBENCH_SEED = 31337
FINAL_TIME = 2.0


@register
class ODE(Problem):
    """GradBench's ode: a linear ODE chain integrated by explicit RK4, Rⁿ → Rⁿ.

    y₀′ = x₀,   y_i′ = x_i · y_{i−1}  (i ≥ 1),   y(0) = 0,
    output y(2) after `s` classical RK4 steps of size h = 2/s (default s = 10).

    RK4 commutes with the scaling y_i = P_i w_i, P_i = x₀ x₁ ⋯ x_i, which turns the system into
    w₀′ = 1, w_i′ = w_{i−1}, free of x. So y_i(2) = c_i P_i with c the RK4 solution of that
    chain (c_i ≈ 2^{i+1}/(i+1)!), and the Jacobian is dense lower-triangular:
    ∂y_i/∂x_j = c_i Π_{l ≤ i, l ≠ j} x_l  for j ≤ i, 0 above the diagonal.
    Both underflow to 0 well before i = 1000; GradBench's gradient is that of y_{n−1}.
    """

    name = "ode"
    summary = "GradBench ode: y_i' = x_i·y_{i-1} under RK4 to t = 2; `s` sets the steps (default 10)"
    sweep_sizes = (10, 1_000, 100_000)      # GradBench times n = 1000, 10 000, 100 000
    test_size = 5
    options = {"s": 10}
    depth_option = "s"
    # GradBench times the primal and the last output's gradient (one VJP); the dense
    # lower-triangular Jacobian by both modes is the crossover at n = m.
    field_derivatives = ("vjp", "jacobian-fwd", "jacobian-rev")

    def f(self, xp, x, c):
        def rhs(y):
            return xp.concat([x[:1], x[1:] * y[:-1]])

        # y(0) = 0, made as x * 0 so it has x's dtype and device in every namespace.
        return rk4(xp, rhs, x * 0, FINAL_TIME / c["s"], c["s"])

    def output_size(self, n, **opts):
        return n

    def evaluation(self, n, s, **opts):
        # Per RK4 step 33 arrays of ≤ n elements (4 right-hand sides of 5, 13 stage updates),
        # counted on our engine's tape; 36 leaves frameworks room for a copy or two.
        return footprint.Evaluation(36 * s + 4, (36 * s + 2) * n)

    def main_instance(self):
        # GradBench's own setting (n, s) = (1000, 1); at s = 10 one process of the dense Jacobian
        # by both modes took 15–37 s, past the main grid's budget for three.
        return {"n": 1_000, "s": 1}

    def constants(self, n, rng, s, **opts):
        # A Python int, not an array: the number of steps is structure, not data.
        return {"s": s}

    def default_x(self, n, **opts):
        # GradBench's first input: for n = 1000 this is exactly the x it times at (n, s) = (1000, 1).
        return np.random.RandomState(GRADBENCH_SEED).rand(n)

    def jacobian(self, x, c, **opts):
        n = x.shape[0]
        scale = chain_solution(n, c["s"])
        jac = np.zeros((n, n))
        before = 1.0                    # x_0 ⋯ x_{j−1}
        for j in range(n):
            # rows i ≥ j: c_i · (x_0 ⋯ x_{j−1}) · (x_{j+1} ⋯ x_i)
            after = np.concatenate([[1.0], np.cumprod(x[j + 1:])])
            jac[j:, j] = scale[j:] * before * after
            before *= x[j]
        return jac


def chain_solution(n: int, steps: int) -> np.ndarray:
    """c = w(2) for w₀′ = 1, w_i′ = w_{i−1}, w(0) = 0 under RK4, written as the linear map of
    one step: w ← R(hS) w + h φ(hS) e₀ with S the down-shift, R(z) = Σ_{j≤4} zʲ/j! and
    φ(z) = Σ_{j≤3} zʲ/(j+1)! (RK4 on a linear system is its exponential truncated there)."""
    h = FINAL_TIME / steps

    def shift(v):
        return np.concatenate([[0.0], v[:-1]])

    def poly(v, coefficients):            # Σ_j a_j (hS)^j v
        out, power = np.zeros(n), v
        for a in coefficients:
            out = out + a * power
            power = h * shift(power)
        return out

    unit = np.zeros(n)
    unit[0] = 1.0
    forcing = h * poly(unit, (1, 1 / 2, 1 / 6, 1 / 24))
    w = np.zeros(n)
    for _ in range(steps):
        w = poly(w, (1, 1, 1 / 2, 1 / 6, 1 / 24)) + forcing
    return w
