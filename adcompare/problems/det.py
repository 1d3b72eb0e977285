import math

import numpy as np

from adcompare.errors import UserError
from adcompare.problems.registry import Problem, register

# GradBench's generator seeds numpy's legacy global generator with 31337 once, then draws
# A = rand(ℓ²) for each ℓ of its list in turn: the matrix for ℓ = 7 is the third draw.
GRADBENCH_SEED = 31337
GRADBENCH_ELLS = (5, 6, 7, 8, 9, 10, 11)
# The largest edge accepted. The expansion holds every level of minors at once: about 5.4·ℓ!
# array elements for the objective (ℓ = 11: 2.2e8, 1.7 GiB in float64, seconds per call), a
# reverse pass keeps them and their cotangents, and each step of ℓ multiplies all of it by ℓ + 1
# (ℓ = 12 would need about 20 GiB for the objective alone).
MAX_ELL = 11


@register
class Determinant(Problem):
    """Determinant by expansion in minors (GradBench's det, after cmpad's det_by_minor), R^{ℓ²} → R.

    x is an ℓ × ℓ matrix A, row-major (n = ℓ²). Expanding along the first row,

        det A = Σ_{j=0}^{ℓ−1} (−1)^j A_{0j} det M_{0j},

    with M_{0j} the (ℓ−1) × (ℓ−1) minor left when row 0 and column j are deleted, recursively
    down to 1 × 1 minors: ℓ!·(1/1! + 1/2! + … + 1/(ℓ−1)!) ≈ (e − 1)·ℓ! products A_{0j}·det M_{0j},
    the cost GradBench wants (no pivoting, no reuse of shared minors). The gradient is the
    cofactor matrix,

        ∂ det A / ∂A_ij = (−1)^{i+j} det M_ij = det(A) (A^{−T})_ij.

    The recursion is written once and runs a level at a time: level m holds every m × m minor
    the expansion reaches (ℓ!/m! of them) as a batch, builds all their (m−1) × (m−1) minors with
    one constant gather, recurses on that batch, and sums each matrix's first row against the
    signed sub-determinants. The arithmetic is the scalar recursion's, term for term; only the
    bookkeeping is batched, so a compiler sees ℓ levels of array operations, not ~ℓ! scalar
    ones (what it compiles grows with ℓ, the arrays with ℓ!).

    Default A(ℓ): GradBench's draw for ℓ in 5 … 11 (numpy's legacy generator seeded 31337,
    rand(ℓ²) per ℓ of that list in order); any other ℓ, the draw GradBench makes when it runs
    that ℓ alone (the first rand(ℓ²) after the seed).
    """

    name = "det"
    summary = "GradBench det: an ℓ×ℓ determinant by expansion in minors (n = ℓ², ℓ! terms); gradient of a scalar"
    # GradBench's ℓ = 5 … 11 up to 9, whose objective takes ~20 ms on numpy (its gradient ~80 ms on
    # our engine) on the 2-core machine. Dropped: ℓ = 10 (objective ~0.2 s, gradient ~1 s on every
    # backend, ~1 GiB) and ℓ = 11 (objective ~5 s and 1.7 GiB); both still run when asked for.
    sweep_sizes = tuple(ell * ell for ell in GRADBENCH_ELLS if ell <= 9)
    test_size = 16                      # ℓ = 4
    field_derivatives = ("vjp",)        # GradBench times the determinant and its gradient
    # det is linear in each entry: central differences have no truncation error, so a large
    # step only shrinks their roundoff (which the cancellation among the ℓ! terms magnifies).
    fd_step = 1e-3
    fd_rtol = 1e-7

    def f(self, xp, x, c):
        ell = c["ell"]
        return xp.reshape(_det_of_batch(xp, xp.reshape(x, (1, ell * ell)), ell, c), (1,))

    def output_size(self, n, **opts):
        return 1

    def check_size(self, n, **opts):
        ell = math.isqrt(n)
        if ell * ell != n:
            raise UserError(f"det: n is the number of entries of a square matrix (ℓ²); {n} is not a square "
                            f"(ℓ = {ell} gives {ell * ell}, ℓ = {ell + 1} gives {(ell + 1) ** 2})")
        if ell > MAX_ELL:
            raise UserError(f"det: ℓ = {ell} (n = {n}) is too large: the expansion in minors keeps about "
                            f"5.4·ℓ! = {5.4 * math.factorial(ell):.2g} array elements per evaluation "
                            f"({5.4 * 8 * math.factorial(ell) / 2**30:.3g} GiB in float64, more for a gradient); "
                            f"ℓ ≤ {MAX_ELL} (n ≤ {MAX_ELL ** 2})")

    def main_instance(self):
        # ℓ = 8 (8! = 40 320 terms): ~2 ms for the objective on numpy, ~10 ms for its gradient.
        return {"n": 64}

    def working_elements(self, n, **opts):
        return max(level_elements(math.isqrt(n)))

    def constants(self, n, rng, **opts):
        ell = math.isqrt(n)
        consts = {"ell": ell}                       # structure: the depth of the recursion
        for m in range(2, ell + 1):
            consts[f"minors{m}"] = minor_index(m)
            consts[f"signs{m}"] = (-1.0) ** np.arange(m)
        return consts

    def default_x(self, n, **opts):
        return gradbench_matrix(math.isqrt(n)).ravel()

    def jacobian(self, x, c, /, **opts):
        return cofactors(np.asarray(x, dtype=np.float64).reshape(c["ell"], c["ell"])).reshape(1, -1)


def _det_of_batch(xp, flat, m, c):
    """Determinants of a batch of m × m matrices, each a row-major row of `flat` (B, m²): (B,)."""
    batch = flat.shape[0]
    if m == 1:
        return xp.reshape(flat, (batch,))
    # Each matrix's minors M_00 … M_0(m−1), one after another (the batch grows m-fold), row-major.
    minors = xp.reshape(xp.take(flat, c[f"minors{m}"], axis=1), (batch * m, (m - 1) * (m - 1)))
    sub = xp.reshape(_det_of_batch(xp, minors, m - 1, c), (batch, m))
    return xp.sum(c[f"signs{m}"] * flat[:, :m] * sub, axis=1)


def minor_index(m: int) -> np.ndarray:
    """Flat indices into a row-major m × m matrix that list its minors M_00, M_01, …, M_0(m−1)
    one after another, each row-major: length m(m−1)²."""
    return np.array([row * m + col for j in range(m) for row in range(1, m) for col in range(m) if col != j],
                    dtype=np.int64)


def level_elements(ell: int) -> list[int]:
    """Array elements of the gathered minors at each level of the expansion (ℓ!/m!·m·(m−1)² for
    the minors of the m × m matrices), the largest arrays the objective builds."""
    return [math.factorial(ell) // math.factorial(m) * m * (m - 1) ** 2 for m in range(2, ell + 1)] or [1]


def gradbench_matrix(ell: int) -> np.ndarray:
    """A (ℓ × ℓ) as GradBench's generator draws it (see the class docstring)."""
    rng = np.random.RandomState(GRADBENCH_SEED)
    if ell in GRADBENCH_ELLS:
        for earlier in GRADBENCH_ELLS[:GRADBENCH_ELLS.index(ell)]:
            rng.rand(earlier * earlier)
    return rng.rand(ell * ell).reshape(ell, ell)


def cofactors(a: np.ndarray) -> np.ndarray:
    """The cofactor matrix (−1)^{i+j} det M_ij, each minor's determinant by LU (numpy, no AD);
    well defined for singular A, where det(A)·A^{−T} is not."""
    ell = a.shape[0]
    if ell == 1:
        return np.ones((1, 1))
    out = np.empty_like(a)
    for i in range(ell):
        for j in range(ell):
            minor = np.delete(np.delete(a, i, axis=0), j, axis=1)
            out[i, j] = (-1) ** (i + j) * (minor[0, 0] if ell == 2 else np.linalg.det(minor))
    return out
