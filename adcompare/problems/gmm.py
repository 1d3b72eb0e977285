import math
from pathlib import Path

import numpy as np

from adcompare import footprint
from adcompare.datafile import Numbers
from adcompare.errors import UserError
from adcompare.problems.registry import DataFile, Problem, guard_memory, register

# GradBench's generator seeds one numpy Generator with 31337 for every (d, k) it runs.
GRADBENCH_SEED = 31337
# GradBench's sizes are every d ∈ {2, 10, 20, 32, 64} with every k ∈ {5, 10, 25, 50, 100}, at
# N = 1000 points. The pairs swept: those at the parameter counts where ADBench published
# gradient/objective ratios (30, 330, 3300, 10 725, 21 450, 53 625), the goal size d = 10, k = 25
# (1650), and d = 64, k = 50 (107 250), the largest whose numpy objective stays under ~50 ms on
# one core of the 2-core benchmark machine (about 28 ms; d = 64, k = 100 takes about 51 ms).
SWEEP_PAIRS = ((2, 5), (10, 5), (10, 25), (10, 50), (64, 5), (64, 10), (64, 25), (64, 50))
GRADBENCH_N = 1000


@register
class GMM(Problem):
    """Gaussian mixture log-posterior (GradBench's gmm), R^{k(1 + d + d(d+1)/2)} → R.

    Points x_1 … x_N ∈ R^d (constants); parameters, in this order: α ∈ R^k, μ ∈ R^{k×d} (row by
    row), then per component q_k ∈ R^d and l_k ∈ R^{d(d−1)/2}. Q_k is lower-triangular with
    diagonal exp(q_k) and strictly lower part l_k, filled column by column.

    β_ik = α_k + Σ_j q_kj − ½‖Q_k (x_i − μ_k)‖²,
    F = −(Nd/2) log 2π + Σ_i logsumexp_k β_ik − N·logsumexp(α)
        + k [ν d log(γ/√2) − log Γ_d(ν/2)] − (γ²/2) Σ_k ‖Q_k‖²_F + m Σ_k Σ_j q_kj,   ν = d + m + 1,

    the log of the mixture likelihood (precisions Q_kᵀQ_k, weights softmax(α)) times a Wishart
    prior W(ν, I/γ²) on each precision: GradBench's sign, which is ADBench's with the prior
    bracket flipped. γ = 1 and m = 0 unless a data file says otherwise; logsumexp is max-shifted.

    With r_ik = softmax_k(β_ik), z_ik = Q_k (x_i − μ_k) and e_ik = x_i − μ_k the gradient is
    ∂F/∂α_k = Σ_i r_ik − N softmax(α)_k,   ∂F/∂μ_k = Σ_i r_ik Q_kᵀ z_ik,
    ∂F/∂q_kj = Σ_i r_ik (1 − z_ikj e_ikj e^{q_kj}) − γ² e^{2q_kj} + m,
    ∂F/∂(Q_k)_ab = −Σ_i r_ik z_ika e_ikb − γ² (Q_k)_ab   for the entries a > b of l_k.

    The default instance for (d, k, N) is GradBench's: one numpy Generator seeded with 31337
    draws the points ~ N(0, 1), then μ ~ U[0, 1), q ~ N(0, 1), l ~ N(0, 1), α ~ N(0, 1).
    """

    name = "gmm"
    summary = "GradBench's Gaussian mixture log-posterior: k components in d dimensions, N points; gradient of a scalar"
    test_size = 12                      # d = k = 2, the instance `adcompare check` uses
    options = {"d": 2, "k": 3, "N": 10}
    field_derivatives = ("vjp",)        # GradBench times the objective and its gradient

    def f(self, xp, x, c):
        d, k, N = c["d"], c["k"], c["N"]
        alpha = x[:k]
        mu = xp.reshape(x[k:k + k * d], (k, d))
        icf = xp.reshape(x[k + k * d:], (k, d + d * (d - 1) // 2))
        q, l = icf[:, :d], icf[:, d:]
        diag = xp.exp(q)
        # Qᵀ per component gathered from [0, exp(q), l] by a constant index map.
        pieces = [q[:, :1] * 0, diag] + ([l] if d > 1 else [])
        q_t = xp.reshape(xp.take(xp.concat(pieces, axis=1), c["q_t_index"], axis=1), (k, d, d))
        centred = xp.reshape(c["points"], (1, N, d)) - xp.reshape(mu, (k, 1, d))    # (k, N, d)
        z = centred @ q_t                                                          # Q_k (x_i − μ_k)
        sum_q = xp.sum(q, axis=1)
        beta = xp.reshape(alpha + sum_q, (k, 1)) - 0.5 * xp.sum(z * z, axis=2)    # (k, N)
        frobenius = xp.sum(diag * diag) + xp.sum(l * l)
        total = (c["constant"] + xp.sum(_logsumexp(xp, beta)) - N * _logsumexp(xp, alpha)
                 - 0.5 * c["gamma"] ** 2 * frobenius + c["m"] * xp.sum(sum_q))
        return xp.reshape(total, (1,))

    def output_size(self, n, **opts):
        return 1

    def input_size(self, d, k, **opts):
        return k * (1 + d + d * (d + 1) // 2)

    def sweep(self):
        return [{"d": d, "k": k, "N": GRADBENCH_N} for d, k in SWEEP_PAIRS]

    def main_instance(self):
        # ADBench's "similar size" to its Manual gradient/objective of 2.9–3.1 (the suite's goal).
        return {"d": 10, "k": 25, "N": GRADBENCH_N}

    def working_elements(self, n, d, k, N, **opts):
        return k * N * d            # every point against every component: Q_k (x_i − μ_k)

    def evaluation(self, n, d, k, N, **opts):
        # The centred points, Q_k (x_i − μ_k) and its square (k·N·d each), β and its logsumexp
        # (a few k·N), Q's pieces (k·d·d): 52 arrays, 3.6·kNd at d = 10, k = 25 on our engine.
        return footprint.Evaluation(64, 3 * k * N * d + 8 * k * N + 4 * k * d * d + 4 * N + 64)

    def constant_elements(self, n, d, k, N, **opts):
        return N * d + d * d + 3

    def constants(self, n, rng, d, k, N, **opts):
        # GradBench's recipe, not `rng`: the instance for (d, k, N) is the one GradBench times.
        points, _ = gradbench_draws(d, k, N)
        return gmm_constants(points, gamma=1.0, m=0.0, k=k)

    def default_x(self, n, d, k, N, **opts):
        return gradbench_draws(d, k, N)[1]

    def jacobian(self, x, c, **opts):
        return gradient(x, c)[None, :]

    def read_data(self, path):
        return read_adbench(Path(path))


def _logsumexp(xp, a):
    """log Σ exp over axis 0, shifted by the max so exp cannot overflow."""
    top = xp.max(a, axis=0, keepdims=True)
    return xp.log(xp.sum(xp.exp(a - top), axis=0)) + xp.reshape(top, a.shape[1:])


def gradbench_draws(d: int, k: int, N: int) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, d), x) as GradBench's generator draws them, in its order of draws."""
    rng = np.random.default_rng(GRADBENCH_SEED)
    points = rng.normal(size=(N, d))
    mu = rng.uniform(size=(k, d))
    q = rng.normal(size=(k, d))
    l = rng.normal(size=(k, d * (d - 1) // 2))
    alpha = rng.normal(size=k)
    return points, pack(alpha, mu, np.concatenate([q, l], axis=1))


def pack(alpha, mu, icf) -> np.ndarray:
    """The flat x: α (k), μ (k × d, row-major), icf (k rows of q then l)."""
    return np.concatenate([np.ravel(alpha), np.ravel(mu), np.ravel(icf)]).astype(np.float64)


def lower_positions(d: int) -> list[tuple[int, int]]:
    """(row, column) of l's entries in order: column by column, rows below the diagonal."""
    return [(a, b) for b in range(d) for a in range(b + 1, d)]


def transposed_q_index(d: int) -> np.ndarray:
    """Flat index map into [0, exp(q), l] (length 1 + d + d(d−1)/2) that lays out Qᵀ row-major."""
    index = np.zeros((d, d), dtype=np.int64)            # entry 0 of the padded vector is the zero
    index[np.arange(d), np.arange(d)] = 1 + np.arange(d)
    for pos, (a, b) in enumerate(lower_positions(d)):
        index[b, a] = 1 + d + pos                        # Qᵀ[b, a] = Q[a, b] = l[pos]
    return index.ravel()


def log_multigamma(a: float, d: int) -> float:
    """log Γ_d(a) = d(d−1)/4 · log π + Σ_{j=1..d} log Γ(a + (1 − j)/2)."""
    return d * (d - 1) / 4 * math.log(math.pi) + sum(math.lgamma(a + (1 - j) / 2) for j in range(1, d + 1))


def gmm_constants(points: np.ndarray, gamma: float, m: float, k: int) -> dict:
    """The constants of an instance: points, the Wishart parameters and every x-free term.

    d, k and N are Python ints (structure); γ, m and the constant term are 0-d arrays, data that
    follows the run's dtype."""
    N, d = points.shape
    nu = d + m + 1
    constant = (-N * d / 2 * math.log(2 * math.pi)
                + k * (nu * d * (math.log(gamma) - 0.5 * math.log(2)) - log_multigamma(nu / 2, d)))
    return {"points": np.asarray(points, dtype=np.float64), "gamma": np.array(float(gamma)),
            "m": np.array(float(m)), "constant": np.array(constant), "q_t_index": transposed_q_index(d),
            "d": d, "k": k, "N": N}


def unpack(x, d: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(α, μ, q, l) from the flat x."""
    alpha = x[:k]
    mu = x[k:k + k * d].reshape(k, d)
    icf = x[k + k * d:].reshape(k, d + d * (d - 1) // 2)
    return alpha, mu, icf[:, :d], icf[:, d:]


def lower_factors(q: np.ndarray, l: np.ndarray) -> np.ndarray:
    """Q_k for every component, (k, d, d), built entry by entry (independent of `f`'s index map)."""
    k, d = q.shape
    out = np.zeros((k, d, d))
    out[:, np.arange(d), np.arange(d)] = np.exp(q)
    for pos, (a, b) in enumerate(lower_positions(d)):
        out[:, a, b] = l[:, pos]
    return out


def softmax(a: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def gradient(x: np.ndarray, c) -> np.ndarray:
    """∇F in x's order, by the closed form in the class docstring (numpy, no AD)."""
    d, k, N = c["d"], c["k"], c["N"]
    gamma, m = float(c["gamma"]), float(c["m"])
    alpha, mu, q, l = unpack(np.asarray(x, dtype=np.float64), d, k)
    factors = lower_factors(q, l)
    centred = c["points"][None, :, :] - mu[:, None, :]                    # e_ik, (k, N, d)
    z = np.einsum("kab,knb->kna", factors, centred)                       # Q_k e_ik
    beta = (alpha + q.sum(axis=1))[:, None] - 0.5 * np.einsum("kna,kna->kn", z, z)
    r = softmax(beta, axis=0)                                            # responsibilities (k, N)
    g_alpha = r.sum(axis=1) - N * softmax(alpha, axis=0)
    g_mu = np.einsum("kn,kab,kna->kb", r, factors, z)                    # Σ_i r_ik Q_kᵀ z_ik
    g_factor = -np.einsum("kn,kna,knb->kab", r, z, centred) - gamma**2 * factors
    diag = np.exp(q)
    g_q = r.sum(axis=1)[:, None] + m + g_factor[:, np.arange(d), np.arange(d)] * diag
    positions = lower_positions(d)
    g_l = np.stack([g_factor[:, a, b] for a, b in positions], axis=1) if positions else np.zeros((k, 0))
    return pack(g_alpha, g_mu, np.concatenate([g_q, g_l], axis=1))


# --- ADBench's text format (docs/FileFormat.md) -------------------------------------------------
def read_adbench(path: Path) -> DataFile:
    """An ADBench gmm file: 'd k N', the k weights α, the k means (d each), the k inverse
    covariance factors (q then l, d(d+1)/2 each), then N points or one point replicated N times
    (told apart by how many numbers are left), then 'γ m'."""
    numbers = Numbers(path)
    d, k, N = numbers.ints(3, "the sizes (d, k, N)")
    options = {"d": d, "k": k, "N": N}
    try:      # before allocating the N points the header announces, or evaluating on them
        problem = GMM()
        n = problem.input_size(**options)
        guard_memory(problem.name, n, 1, problem.constant_elements(n, **options), problem=problem, options=options)
    except UserError as err:
        raise UserError(f"{path}: line {numbers.line}: {err}") from None
    width = d + d * (d - 1) // 2
    alpha = numbers.floats(k, "the weights α")
    mu = numbers.floats(k * d, "the means μ")
    icf = numbers.floats(k * width, "the inverse covariance factors (q then l)")
    left = numbers.remaining
    if left == N * d + 2:
        points = numbers.floats(N * d, "the points").reshape(N, d)
    elif left == d + 2:
        points = np.tile(numbers.floats(d, "the replicated point"), (N, 1))
    else:
        raise UserError(f"{path}: line {numbers.line}: after the parameters, expected {N} points of {d} numbers "
                        f"(or one point, replicated) and then 'γ m': found {left} numbers")
    gamma, m = numbers.floats(2, "the Wishart parameters 'γ m'")
    if gamma <= 0:
        raise UserError(f"{path}: line {numbers.line}: γ must be positive, got {gamma}")
    if m <= -2:
        raise UserError(f"{path}: line {numbers.line}: m must be greater than −2 (a Wishart prior needs "
                        f"ν = d + m + 1 > d − 1), got {m}")
    return DataFile(options, gmm_constants(points, gamma, m, k), pack(alpha, mu, icf))
