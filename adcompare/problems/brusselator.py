import numpy as np

from adcompare import footprint
from adcompare.errors import UserError
from adcompare.problems.registry import Problem, register

# SciMLBenchmarks' constants (AutomaticDifferentiation/BrussScaling: p = A 3.4, B 1, α 10).
A, B, ALPHA = 3.4, 1.0, 10.0
# The forcing 5·[(x − 0.3)² + (y − 0.6)² ≤ 0.1²]·[t ≥ 1.1], taken at t = 1.1 (switched on).
FORCING, CENTRE, RADIUS, T = 5.0, (0.3, 0.6), 0.1, 1.1


@register
class Brusselator(Problem):
    """2-D Brusselator reaction–diffusion on an N × N periodic grid, R^{2N²} → R^{2N²}: the
    right-hand side of the ODE, SciMLBenchmarks' sparse-AD case (BrussScaling).

    x = (u, v), each N × N row-major (u[i, j]: i along x, j along y, grid points 0, h, …, 1 with
    h = 1/(N − 1)), and with the periodic 5-point Laplacian Δw = w[i±1, j] + w[i, j±1] − 4w[i, j],

      du/dt = α/h²·Δu + B + u²v − (A + 1)·u + f(x_i, y_j),
      dv/dt = α/h²·Δv + A·u − u²v,

    A = 3.4, B = 1, α = 10, f = 5 inside the disc of radius 0.1 around (0.3, 0.6) (at t = 1.1, when
    it is on), 0 elsewhere. x0 is SciMLBenchmarks' initial state u = 22(y(1 − y))^{3/2},
    v = 27(x(1 − x))^{3/2}.

    J = [α/h²·L + diag(2uv − (A + 1)),  diag(u²);  diag(A − 2uv),  α/h²·L − diag(u²)], L the
    periodic 5-point stencil: each row has 6 non-zeros (5 in its field, 1 coupling), for any N ≥ 3.
    """

    name = "brusselator"
    sparse_jacobian = True
    summary = "2-D Brusselator reaction-diffusion RHS on an N x N periodic grid (SciMLBenchmarks' sparse AD case)"
    test_size = 8                   # N = 2, the instance `adcompare check` builds
    options = {"N": 4}

    def f(self, xp, x, c):
        N = c["N"]
        u = xp.reshape(x[: N * N], (N, N))
        v = xp.reshape(x[N * N:], (N, N))
        uuv = u * u * v
        du = c["diffusion"] * _laplacian(xp, u) + B + uuv - (A + 1.0) * u + c["forcing"]
        dv = c["diffusion"] * _laplacian(xp, v) + A * u - uuv
        return xp.concat([xp.reshape(du, (-1,)), xp.reshape(dv, (-1,))])

    def output_size(self, n, **opts):
        return n

    def input_size(self, N, **opts):
        return 2 * N * N

    def check_size(self, n, N, **opts):
        if N < 2:
            raise UserError(f"brusselator: N must be at least 2 (the grid spacing is 1/(N − 1)), got {N}")

    def sweep(self):
        # Dense Jacobians fit the batched limit up to N = 53 (n = 5618); the numpy RHS at N = 512
        # (n = 524 288) takes a few ms.
        return [{"N": N} for N in (8, 32, 128, 512)]

    def evaluation(self, n, N, **opts):
        # 37 arrays, 19n elements on our engine's tape: the two Laplacians' rolls and sums, the
        # reaction terms and the concatenation.
        return footprint.Evaluation(40, 20 * n)

    def constant_elements(self, n, N, **opts):
        return N * N

    def constants(self, n, rng, N, **opts):
        # Python floats, not arrays: they follow the run's dtype on every namespace.
        grid = np.linspace(0.0, 1.0, N)
        x, y = np.meshgrid(grid, grid, indexing="ij")
        inside = (x - CENTRE[0]) ** 2 + (y - CENTRE[1]) ** 2 <= RADIUS**2
        return {"N": N, "diffusion": ALPHA * (N - 1) ** 2,
                "forcing": np.where(inside & (T >= 1.1), FORCING, 0.0)}

    def default_x(self, n, N, **opts):
        grid = np.linspace(0.0, 1.0, N)
        x, y = np.meshgrid(grid, grid, indexing="ij")
        return np.concatenate([(22.0 * (y * (1.0 - y)) ** 1.5).ravel(), (27.0 * (x * (1.0 - x)) ** 1.5).ravel()])

    def jacobian(self, x, c, **opts):
        N = c["N"]
        cells = N * N
        u, v = x[:cells], x[cells:]
        stencil = c["diffusion"] * laplacian_matrix(N)
        jac = np.zeros((2 * cells, 2 * cells))
        jac[:cells, :cells] = stencil + np.diag(2.0 * u * v - (A + 1.0))
        jac[:cells, cells:] = np.diag(u * u)
        jac[cells:, :cells] = np.diag(A - 2.0 * u * v)
        jac[cells:, cells:] = stencil - np.diag(u * u)
        return jac


def _laplacian(xp, w):
    """The periodic 5-point Laplacian (unscaled) of an N × N field, by rolls."""
    return (xp.roll(w, 1, axis=0) + xp.roll(w, -1, axis=0) + xp.roll(w, 1, axis=1) + xp.roll(w, -1, axis=1)
            - 4.0 * w)


def laplacian_matrix(N: int) -> np.ndarray:
    """The periodic 5-point Laplacian as an N² × N² matrix (row-major cells; neighbours that
    coincide on a small grid add up)."""
    i, j = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    cell = (i * N + j).ravel()
    matrix = np.zeros((N * N, N * N))
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        np.add.at(matrix, (cell, (((i + di) % N) * N + (j + dj) % N).ravel()), 1.0)
    matrix[cell, cell] -= 4.0
    return matrix
