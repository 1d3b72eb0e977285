"""Sparsity detection (the engine's pattern interpretation) against the non-zeros of dense Jacobians.

The oracle: the union of J(x)'s non-zeros over a few random inputs, J from the engine's forward
mode (itself checked against finite differences in test_engine_primitives / test_problems_engine).
The pattern is global, so it must CONTAIN those non-zeros, and EQUAL them wherever no structural
entry is zero at every x. The exceptions are named with their reason: selections (where, max,
which pick one argument at a given x while the pattern keeps every candidate), products with a
constant zero and an exact cancellation. Exact patterns are also written out by hand for square, lorenz96, brusselator and ba.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_engine_primitives import CASES, case_inputs, packed

import adcompare as ad
from adcompare import engine
from adcompare.engine import primitives as P
from adcompare.engine.sparsity import PatternTooLarge, jacobian_sparsity
from adcompare.errors import UserError
from adcompare.problems import all_problems

# Cases whose pattern is strictly larger than every J(x): a selection keeps all its candidates, and
# one case cancels exactly (its element 0 is −1·a₀ + a₀/(2 − 1)).
LARGER = {"where", "max all", "max axis", "max keepdims", "numpy constant"}
# Problems with an entry that is zero at every x although f reads that input: lstm multiplies its
# input weights by the constant bits of its text, and a bit that is 0 at every step hides them.
CONSTANT_ZEROS = {"lstm"}
# Problems whose pattern is looser than their Jacobian by structure: saddle's outer descent steps
# along the gradient of Σp₁² − Σp₂², diagonal in p₁, but the detector sees the gradient's
# cotangent broadcast from a sum (every coordinate reading every other).
LOOSE_PATTERNS = {"saddle"}


def nonzeros(f, xs) -> np.ndarray:
    """The union of the non-zeros of J(x) over the inputs xs (a boolean m × n array)."""
    found = None
    for x in xs:
        hit = np.asarray(engine.jacfwd(f)(x)) != 0
        found = hit if found is None else found | hit
    return found


def random_inputs(x0, count=3, seed=0):
    rng = np.random.default_rng(seed)
    return [x0 * (1 + 0.05 * rng.standard_normal(x0.size)) + 0.01 * rng.standard_normal(x0.size)
            for _ in range(count)]


def assert_canonical(pattern, shape):
    assert isinstance(pattern, sp.csr_matrix) and pattern.dtype == bool and pattern.shape == shape
    assert pattern.has_sorted_indices
    copy = pattern.copy()
    copy.sum_duplicates()
    assert copy.nnz == pattern.nnz


@pytest.mark.parametrize("label, fn, shapes", CASES, ids=[c[0] for c in CASES])
def test_every_primitive_rule_contains_the_jacobian(label, fn, shapes):
    """Each primitive's pattern rule, through the table's cases (broadcasting included)."""
    f, n = packed(fn, shapes)
    x = case_inputs(n)[0]
    g = lambda z: f(engine.xp, z)  # noqa: E731
    pattern = jacobian_sparsity(g, x)
    m = np.size(f(np, x))
    assert_canonical(pattern, (m, n))
    rng = np.random.default_rng(3)
    found = nonzeros(g, [rng.uniform(0.5, 1.5, n) for _ in range(3)])
    dense = pattern.toarray()
    assert not (found & ~dense).any(), "a non-zero outside the pattern"
    if label not in LARGER:
        np.testing.assert_array_equal(dense, found)


def test_every_primitive_has_a_pattern_rule():
    assert all(callable(prim.pattern) for prim in P.PRIMITIVES.values())


def test_where_keeps_both_branches_and_max_every_element():
    x = np.array([1.0, -2.0, 3.0])
    f = lambda z: engine.xp.stack([engine.xp.where(z > 0, z[::-1], z * 2.0)[0], engine.xp.max(z)])  # noqa: E731
    pattern = jacobian_sparsity(f, x).toarray()
    # at this x the condition picks z[::-1][0] = z_2, but z_0 (the other branch) is kept too
    np.testing.assert_array_equal(pattern, [[True, False, True], [True, True, True]])


def test_a_constant_matmul_factor_keeps_its_zeros():
    A = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    pattern = jacobian_sparsity(lambda z: A @ z, np.ones(3)).toarray()
    np.testing.assert_array_equal(pattern, A != 0)
    traced = jacobian_sparsity(lambda z: engine.xp.reshape(z[:2], (2, 1)) @ engine.xp.reshape(z[1:], (1, 2)),
                               np.ones(3)).toarray()
    np.testing.assert_array_equal(traced, [[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 1, 1]])


def test_a_function_of_no_input_has_an_empty_pattern():
    pattern = jacobian_sparsity(lambda z: np.ones(4), np.ones(3))
    assert pattern.shape == (4, 3) and pattern.nnz == 0


def test_too_large_a_pattern_is_refused_before_it_is_built():
    """softmax is dense: n² non-zeros. Past the limit detection stops with a UserError."""
    inst = ad.instance("softmax", 200)
    with pytest.raises(PatternTooLarge, match="more than 1000 non-zeros") as err:
        jacobian_sparsity(lambda z: inst.f(engine.xp, z), inst.x0, max_nonzeros=1000)
    assert isinstance(err.value, UserError) and err.value.nonzeros > 1000


PROBLEMS = [p.instance() for p in all_problems()]


@pytest.mark.parametrize("inst", PROBLEMS, ids=[i.label() for i in PROBLEMS])
def test_every_problem_pattern_contains_the_dense_nonzeros(inst):
    pattern = ad.sparsity_pattern(inst.name, n=inst.n, **inst.options)
    assert_canonical(pattern, (inst.m, inst.n))
    found = nonzeros(lambda z: inst.f(engine.xp, z), [inst.x0] + random_inputs(inst.x0))
    dense = pattern.toarray()
    assert not (found & ~dense).any(), "a non-zero outside the pattern"
    if inst.name not in CONSTANT_ZEROS | LOOSE_PATTERNS:
        np.testing.assert_array_equal(dense, found)
    else:
        assert found.sum() < dense.sum()


def cyclic_band(n, below, above) -> np.ndarray:
    i = np.arange(n)[:, None]
    offsets = (np.arange(n)[None, :] - i) % n
    return (offsets <= above) | (offsets >= n - below)


def test_square_is_diagonal():
    np.testing.assert_array_equal(ad.sparsity_pattern("square", n=7).toarray(), np.eye(7, dtype=bool))


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_lorenz96_band_grows_with_the_steps(steps):
    """One RK4 step evaluates the stencil (i−2 … i+1) four times in sequence: x_{i−8} … x_{i+4}."""
    n = 40
    expected = cyclic_band(n, below=8 * steps, above=4 * steps)
    np.testing.assert_array_equal(ad.sparsity_pattern("lorenz96", n=n, steps=steps).toarray(), expected)


@pytest.mark.parametrize("N", [2, 3, 5, 8])
def test_brusselator_is_the_five_point_stencil_plus_the_coupling(N):
    """Row u(i, j): u at (i, j) and its four periodic neighbours, and v(i, j); row v(i, j) likewise
    (neighbours that coincide on a 2 × 2 grid are one entry)."""
    cells = N * N
    expected = np.zeros((2 * cells, 2 * cells), dtype=bool)
    for i in range(N):
        for j in range(N):
            here = i * N + j
            for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                there = ((i + di) % N) * N + (j + dj) % N
                expected[here, there] = expected[cells + here, cells + there] = True
            expected[here, cells + here] = expected[cells + here, here] = True
    np.testing.assert_array_equal(ad.sparsity_pattern("brusselator", N=N).toarray(), expected)


def test_ba_is_block_sparse():
    """Reprojection row 2i + k: observation i's camera (10 of its 11 parameters: e₁ reads u0, not
    v0, and e₂ the other way round), its point (3) and its weight; weight row: its weight alone."""
    c, p, o = 3, 4, 7
    pattern = ad.sparsity_pattern("ba", c=c, p=p, o=o).toarray()
    expected = np.zeros((3 * o, 11 * c + 3 * p + o), dtype=bool)
    for i in range(o):
        camera = 11 * (i % c) + np.arange(11)
        point = 11 * c + 3 * (i % p) + np.arange(3)
        weight = 11 * c + 3 * p + i
        for k, skipped in ((0, 8), (1, 7)):
            expected[2 * i + k, [j for j in camera if j != 11 * (i % c) + skipped]] = True
            expected[2 * i + k, point] = expected[2 * i + k, weight] = True
        expected[2 * o + i, weight] = True
    np.testing.assert_array_equal(pattern, expected)


def test_api_takes_x_and_checks_it():
    x = np.linspace(1.0, 2.0, 6)
    pattern = ad.sparsity_pattern("square", x)
    np.testing.assert_array_equal(pattern.toarray(), np.eye(6, dtype=bool))
    with pytest.raises(UserError, match="n = 5 but x has length 6"):
        ad.sparsity_pattern("square", x, n=5)
    with pytest.raises(UserError, match="unknown problem"):
        ad.sparsity_pattern("squares")
