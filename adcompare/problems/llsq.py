import numpy as np

from adcompare.errors import UserError
from adcompare.problems.registry import Problem, register

# GradBench's generator seeds numpy's legacy global generator with 31337 once, then draws
# x = rand(m) for each (points, m) of its list in turn, ordered by points·m.
GRADBENCH_SEED = 31337
GRADBENCH_POINTS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196, 16392)   # (sic: 8196, 16392)
GRADBENCH_M = 128


@register
class LinearLeastSquares(Problem):
    """Linear least-squares objective (GradBench's llsq, after cmpad's llsq_obj), Rⁿ → R.

    x ∈ Rⁿ holds the coefficients of a polynomial of degree n − 1, fitted to the step function
    s(t) = sign(t) sampled at N points evenly spaced on [−1, 1]:

        t_i = −1 + 2i/(N − 1),   s_i = sign(t_i)   (sign(0) = 0),   i = 0 … N−1,
        y(x) = ½ Σ_i (s_i − Σ_j x_j t_i^j)² = ½ ‖s − V x‖²,   V_ij = t_i^j  (t⁰ = 1, also at t = 0).

    The gradient is minus the residual projected back, ∇y = −Vᵀ(s − V x); the Hessian is the
    constant VᵀV. GradBench calls the point count n and the coefficient count m; here n is the
    input size (GradBench's m, 128 in all its runs) and the option N is the point count.

    V and s are constants built once with numpy (the powers by repeated multiplication, as
    GradBench's reference loop forms them); V x is the row sums of V ⊙ x, the N·n products
    GradBench's loop forms, and every backend differentiates that same program.

    Default x for (n, N) = (128, N) with N in GradBench's list: its draw (numpy's legacy
    generator seeded 31337, rand(128) per N of the list in order); any other (n, N), the draw
    GradBench makes when it runs that size alone (the first rand(n)).
    """

    name = "llsq"
    summary = "GradBench llsq: ½‖s − Vx‖², a degree-(n−1) polynomial fit to sign(t) at N points; gradient of a scalar"
    sweep_sizes = (GRADBENCH_M,)
    test_size = 4
    options = {"N": 16}
    field_derivatives = ("vjp",)        # GradBench times the objective and its gradient
    # y is quadratic in x: central differences have no truncation error, so a large step only
    # shrinks their roundoff.
    fd_step = 1e-3
    fd_rtol = 1e-7

    def f(self, xp, x, c):
        # V x as a broadcast product summed along its rows, not a matrix-vector product, and
        # ½Σr² as Σ r·(r/2) (the same number: halving is exact). torch 2.13's Inductor crashes
        # the process (SIGSEGV) running the reverse-over-forward HVP it compiles for
        # z ↦ ½‖s − V z‖² written with `V @ z`, or with ½ applied after the sum.
        residual = c["s"] - xp.sum(c["V"] * x, axis=1)
        return xp.reshape(xp.sum(residual * (0.5 * residual)), (1,))

    def output_size(self, n, **opts):
        return 1

    def check_size(self, n, N, **opts):
        if N < 2:
            raise UserError(f"llsq: N = {N} points; at least 2 are needed "
                            "(t_i = −1 + 2i/(N − 1) divides by N − 1)")

    def sweep(self):
        # Every point count GradBench runs, at its m = 128: the largest objective (16 392 × 128)
        # takes ~2 M products, a few milliseconds on numpy.
        return [{"n": GRADBENCH_M, "N": points} for points in GRADBENCH_POINTS]

    def main_instance(self):
        # GradBench's largest run: ~5 ms for the objective on numpy, ~11 ms for its gradient.
        return {"n": GRADBENCH_M, "N": GRADBENCH_POINTS[-1]}

    def working_elements(self, n, N, **opts):
        return N * n                # V ⊙ x

    def constant_elements(self, n, N, **opts):
        return N * n + N

    def constants(self, n, rng, N, **opts):
        t = sample_points(N)
        return {"V": vandermonde(t, n), "s": np.sign(t)}

    def default_x(self, n, N, **opts):
        return gradbench_x(n, N)

    def jacobian(self, x, c, /, **opts):
        V, s = c["V"], c["s"]
        return (-(V.T @ (s - V @ np.asarray(x, dtype=np.float64))))[None, :]


def sample_points(N: int) -> np.ndarray:
    """t_i = −1 + 2i/(N − 1), in GradBench's order of operations ((2i)/(N − 1), then −1 +)."""
    i = np.arange(N, dtype=np.float64)
    return -1.0 + (i * 2.0) / (N - 1.0)


def vandermonde(t: np.ndarray, n: int) -> np.ndarray:
    """V_ij = t_i^j for j < n, each power the previous times t (t⁰ = 1)."""
    factors = np.empty((t.shape[0], n))
    factors[:, 0] = 1.0
    factors[:, 1:] = t[:, None]
    return np.cumprod(factors, axis=1)


def gradbench_x(n: int, N: int) -> np.ndarray:
    """x as GradBench's generator draws it (see the class docstring)."""
    rng = np.random.RandomState(GRADBENCH_SEED)
    if n == GRADBENCH_M and N in GRADBENCH_POINTS:
        for _ in GRADBENCH_POINTS[:GRADBENCH_POINTS.index(N)]:
            rng.rand(GRADBENCH_M)
    return rng.rand(n)
