"""det (GradBench's determinant by expansion in minors) against oracles that share no code with it.

- The objective vs a plain-Python transcription of the expansion (recursion over lists, no
  numpy), vs the exact determinant of the same floating-point matrix (rational elimination with
  `fractions`), and vs 1 × 1, 2 × 2 and 3 × 3 cases worked out by hand, gradients included.
- The default matrices are GradBench's: its generator transcribed (one legacy numpy generator
  seeded 31337, rand(ℓ²) per ℓ of 5 … 11 in turn); the ℓ = 5 determinant is recorded.
- The closed-form gradient (cofactors by LU) vs det(A)·A⁻ᵀ, vs central differences (exact up
  to rounding: det is linear in each entry), vs the engine, and on a singular matrix.
- Every available backend's gradient through the public API vs the closed form (1e-10);
  torch-compile on one small case, with ADCOMPARE_TEST_COMPILED=all (see COMPILED).
- Sizes: GradBench's ℓ swept, non-square n and ℓ past the limit refused.
"""

from fractions import Fraction

import numpy as np
import pytest

import adcompare as ad
from adcompare import engine
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.errors import UserError
from adcompare.oracles import AD_RTOL, fd_jacobian, relative_error
from adcompare.problems import get_problem

GRADIENT_RTOL = 1e-10
# Slow compilers (torch-compile: Inductor builds C++, and a process's first compile probes the
# CPU for ~15 s) are tried on one small case only, gated like the suite's other compiled checks
# (conftest: ADCOMPARE_TEST_COMPILED=all); tests/test_backends.py's covering design reaches them.
COMPILED = [b for b in backend_names() if getattr(get_backend(b), "slow_compile", False)]
BACKENDS = [b for b in backend_names() if b not in COMPILED]


# --- independent oracles -------------------------------------------------------------------------
def expansion_by_minors(rows):
    """det of a list of lists by expansion along the first row, in plain Python floats."""
    if len(rows) == 1:
        return rows[0][0]
    total = 0.0
    for j, entry in enumerate(rows[0]):
        minor = [row[:j] + row[j + 1:] for row in rows[1:]]
        term = entry * expansion_by_minors(minor)
        total = total + term if j % 2 == 0 else total - term
    return total


def exact_determinant(a) -> Fraction:
    """The exact determinant of a float matrix, by Gaussian elimination over the rationals."""
    m = [[Fraction(float(v)) for v in row] for row in np.asarray(a)]
    size, det = len(m), Fraction(1)
    for col in range(size):
        pivot = next((r for r in range(col, size) if m[r][col] != 0), None)
        if pivot is None:
            return Fraction(0)
        if pivot != col:
            m[col], m[pivot] = m[pivot], m[col]
            det = -det
        det *= m[col][col]
        for r in range(col + 1, size):
            factor = m[r][col] / m[col][col]
            m[r] = [a - factor * b for a, b in zip(m[r], m[col])]
    return det


def gradbench_inputs():
    """GradBench's eval transcribed: {ℓ: A as a flat list}."""
    rng = np.random.RandomState(31337)
    return {ell: rng.rand(ell * ell).tolist() for ell in [5, 6, 7, 8, 9, 10, 11]}


def grad_or_skip(backend, x):
    try:
        return ad.vjp("det", x, [1.0], backend=backend), ad.primal("det", x, backend=backend)
    except Unavailable as err:
        pytest.skip(str(err))


# --- hand-worked cases ---------------------------------------------------------------------------
HAND = {
    "1x1": ([[-2.5]], -2.5, [[1.0]]),
    "2x2": ([[3.0, -1.0], [2.0, 4.0]], 14.0, [[4.0, -2.0], [1.0, 3.0]]),       # ad − bc; (d, −c, −b, a)
    "3x3": ([[2.0, -1.0, 0.0], [1.0, 3.0, 4.0], [0.0, 5.0, -2.0]], -54.0,
            [[-26.0, 2.0, 5.0], [-2.0, -4.0, -10.0], [-4.0, -8.0, 7.0]]),       # cofactors, by hand
}


@pytest.mark.parametrize("case", list(HAND), ids=list(HAND))
def test_hand_worked_determinant_and_gradient(case):
    a, det, cofactors = HAND[case]
    x = np.ravel(a)
    assert ad.primal("det", x)[0] == det
    np.testing.assert_array_equal(ad.vjp("det", x, [1.0]), np.ravel(cofactors))
    closed = ad.instance("det", x.size).closed_form_jacobian(x)      # LU of each minor: rounding only
    np.testing.assert_allclose(closed, [np.ravel(cofactors)], rtol=1e-14)


def test_singular_matrix_gradient_is_the_cofactor_matrix():
    """Rank 2: det = 0 and A⁻¹ does not exist, but the cofactors (the gradient) do."""
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    expected = np.array([[-3.0, 6.0, -3.0], [6.0, -12.0, 6.0], [-3.0, 6.0, -3.0]])
    assert ad.primal("det", a.ravel())[0] == 0.0
    np.testing.assert_allclose(ad.vjp("det", a.ravel(), [1.0]), expected.ravel(), rtol=0, atol=1e-13)
    closed = ad.instance("det", 9).closed_form_jacobian(a.ravel())[0]
    np.testing.assert_allclose(closed, expected.ravel(), rtol=0, atol=1e-13)


# --- the objective -------------------------------------------------------------------------------
def test_default_matrices_are_gradbench_draws():
    inputs = gradbench_inputs()
    for ell in (5, 8, 11):
        np.testing.assert_array_equal(ad.instance("det", ell * ell).x0, inputs[ell])
    # an ℓ outside GradBench's list: the draw GradBench makes when run with that ℓ alone
    np.testing.assert_array_equal(ad.instance("det", 16).x0, np.random.RandomState(31337).rand(16))


def test_gradbench_smallest_instance_matches_exact_determinant():
    a = np.array(gradbench_inputs()[5]).reshape(5, 5)
    exact = float(exact_determinant(a))
    value = ad.primal("det", n=25)[0]
    assert value == pytest.approx(exact, rel=1e-13)
    assert exact == pytest.approx(0.004911350094511797, rel=1e-15)     # recorded: exact det of GradBench's ℓ = 5 A


@pytest.mark.parametrize("ell", [1, 2, 3, 4, 5, 6, 7])
def test_objective_matches_plain_python_expansion(ell):
    a = np.random.default_rng(ell).standard_normal((ell, ell))
    expected = expansion_by_minors(a.tolist())
    assert ad.primal("det", a.ravel())[0] == pytest.approx(expected, rel=1e-13)
    assert expected == pytest.approx(float(exact_determinant(a)), rel=1e-12)


# --- the gradient --------------------------------------------------------------------------------
@pytest.mark.parametrize("ell", [2, 3, 4, 5, 6])
def test_closed_form_gradient_vs_inverse_and_finite_differences(ell):
    inst = ad.instance("det", ell * ell)
    a = inst.x0.reshape(ell, ell)
    closed = inst.closed_form_jacobian(inst.x0)
    assert closed.shape == (1, ell * ell)
    assert relative_error(closed[0], (np.linalg.det(a) * np.linalg.inv(a).T).ravel()) < 1e-12
    assert relative_error(closed, fd_jacobian(inst, inst.x0)) < inst.problem.fd_rtol


@pytest.mark.parametrize("ell", [1, 3, 5, 6])
def test_closed_form_gradient_vs_engine_both_modes(ell):
    inst = ad.instance("det", ell * ell)
    f, x = (lambda z: inst.f(engine.xp, z)), inst.x0
    closed = inst.closed_form_jacobian(x)
    assert relative_error(engine.jacrev(f)(x), closed) <= AD_RTOL["float64"]
    assert relative_error(engine.jacfwd(f)(x), closed) <= AD_RTOL["float64"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gradient_agrees(backend):
    """GradBench's ℓ = 5 matrix, through the public API."""
    inst = ad.instance("det", 25)
    grad, value = grad_or_skip(backend, inst.x0)
    assert relative_error(grad, inst.closed_form_jacobian(inst.x0)[0]) <= GRADIENT_RTOL
    assert value[0] == pytest.approx(float(exact_determinant(inst.x0.reshape(5, 5))), rel=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("backend", COMPILED)
def test_compiled_gradient_on_a_small_case(backend):
    """A slow compiler on one case (each prepare compiles for seconds): the 3 × 3 hand case."""
    a, det, cofactors = HAND["3x3"]
    try:
        grad = ad.vjp("det", np.ravel(a), [1.0], backend=backend)
    except Unavailable as err:
        pytest.skip(str(err))
    np.testing.assert_allclose(grad, np.ravel(cofactors), rtol=GRADIENT_RTOL)


# --- sizes ---------------------------------------------------------------------------------------
def test_sweep_is_gradbench_sizes_and_main_is_cheap():
    problem = get_problem("det")
    ells = [int(round(kw["n"] ** 0.5)) for kw in problem.sweep()]
    assert ells == [5, 6, 7, 8, 9]                  # GradBench's 5 … 11, up to 9
    assert problem.main_instance() == {"n": 64}
    assert ad.instance("det", 121).n == 121         # ℓ = 11, GradBench's largest, still accepted


@pytest.mark.parametrize("n, message", [(10, "10 is not a square"), (144, "ℓ = 12 .* too large")])
def test_refused_sizes(n, message):
    with pytest.raises(UserError, match=message):
        ad.instance("det", n)
