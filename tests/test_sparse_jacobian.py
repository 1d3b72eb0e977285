"""Sparse Jacobians (jacobian-fwd-sparse / jacobian-rev-sparse) against dense ones, on every backend.

The oracle is the dense Jacobian: the problem's closed form where it has one, else the reference
engine's batched forward mode (itself held against finite differences by test_problems_engine).
Sparse and dense agree to rounding (AD_RTOL, 1e-11 in float64): the compressed products are the
same JVPs/VJPs, only summed over same-coloured columns (rows) that never meet in one row (column).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import adcompare as ad
from adcompare import engine, sparse
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.backends.base import jacobian_elements
from adcompare.limits import MAX_JACOBIAN_ELEMENTS
from adcompare.sparse import colorings
from adcompare.operators import OPERATORS, SPARSE_JACOBIANS, jacobian_operator
from adcompare.oracles import AD_RTOL, relative_error

STRUCTURED = [("square", {"n": 7}), ("lorenz96", {"n": 30, "steps": 1}), ("brusselator", {"N": 5}),
              ("ba", {"c": 3, "p": 5, "o": 12})]


def moved(inst, seed=0) -> np.ndarray:
    """x0 with every entry moved a little (x0 of ba repeats one camera, point and weight)."""
    rng = np.random.default_rng(seed)
    return inst.x0 * (1 + 0.02 * rng.standard_normal(inst.n)) + 0.01 * rng.standard_normal(inst.n)


def dense_reference(inst, x) -> np.ndarray:
    closed = inst.closed_form_jacobian(x)
    return closed if closed is not None else engine.jacfwd(lambda z: inst.f(engine.xp, z))(x)


def prepared_or_skip(backend, operator, inst, x, dtype="float64"):
    try:
        return get_backend(backend).prepare(OPERATORS[operator], inst, x, dtype=dtype)
    except Unavailable as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("operator", SPARSE_JACOBIANS)
@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("name, opts", STRUCTURED, ids=[s[0] for s in STRUCTURED])
def test_sparse_equals_dense(name, opts, backend, operator):
    inst = ad.instance(name, **opts)
    x = moved(inst)
    result = prepared_or_skip(backend, operator, inst, x)()
    assert isinstance(result, sp.csr_matrix) and result.shape == (inst.m, inst.n)
    assert result.dtype == np.float64
    plan = sparse.plan(inst, OPERATORS[operator].mode)
    np.testing.assert_array_equal(result.indptr, plan.pattern.indptr)      # stored: the pattern, exactly
    np.testing.assert_array_equal(result.indices, plan.pattern.indices)
    assert relative_error(result.toarray(), dense_reference(inst, x)) <= AD_RTOL["float64"]


@pytest.mark.parametrize("backend", ["numpy", "torch-func", "jax-jit"])
def test_float32_follows_the_request(backend):
    inst = ad.instance("brusselator", N=4)
    x = moved(inst)
    for operator in SPARSE_JACOBIANS:
        result = prepared_or_skip(backend, operator, inst, x, dtype="float32")()
        assert result.dtype == np.float32
        assert relative_error(result.toarray(), dense_reference(inst, x)) <= AD_RTOL["float32"]


def test_the_products_are_one_per_colour():
    """Brusselator's 2N² columns in 11–12 colours: the seeds are that many tangents, and each
    colour's columns share no row (so each non-zero is read from exactly one product)."""
    inst = ad.instance("brusselator", N=8)
    for mode in ("fwd", "rev"):
        plan = sparse.plan(inst, mode)
        assert plan.seeds.shape == (plan.count, inst.n) and plan.count < inst.n / 10
        np.testing.assert_array_equal(plan.seeds.sum(axis=0), np.ones(inst.n))
        assert colorings.is_valid(plan.pattern, plan.colors, mode)
        assert plan.lower_bound == 6
        assert np.unique(plan.positions).size == plan.pattern.nnz


def test_run_recomputes_neither_pattern_nor_colouring(monkeypatch):
    inst = ad.instance("lorenz96", n=24, steps=1)
    prepared = get_backend("numpy").prepare(OPERATORS["jacobian-fwd-sparse"], inst)

    def forbidden(*args, **kwargs):
        raise AssertionError("run() detected or coloured again")
    monkeypatch.setattr(sparse, "jacobian_pattern", forbidden)
    monkeypatch.setattr(sparse, "make_plan", forbidden)
    monkeypatch.setattr(colorings, "color", forbidden)
    result = prepared.run()
    assert relative_error(result.toarray(), dense_reference(inst, inst.x0)) <= AD_RTOL["float64"]


def test_the_guard_counts_compressed_size_not_n_times_m():
    """ba with 4096 observations: a dense Jacobian (7344 × 12 288) is refused, the sparse one
    (14 colours × 45 056 gathered camera entries + 61 440 non-zeros) fits."""
    inst = ad.instance("ba", c=16, p=1024, o=4096)
    dense = jacobian_operator("fwd", "batched")
    assert jacobian_elements(dense, inst) > MAX_JACOBIAN_ELEMENTS
    assert get_backend("numpy").why_not(dense, inst, "cpu", "float64")
    fwd = jacobian_operator("fwd", "sparse")
    assert jacobian_elements(fwd, inst) == 14 * 11 * 4096 + 14 * 2 * 4096 + 4096
    assert get_backend("numpy").why_not(fwd, inst, "cpu", "float64") is None
    # reverse mode must give each camera's 2·256 reprojection rows distinct colours
    assert sparse.plan(inst, "rev").lower_bound == 512 <= sparse.plan(inst, "rev").count


def test_a_dense_pattern_is_refused_without_building_it():
    """softmax(n = 10⁴): its pattern alone has 10⁸ non-zeros; the guard says so in one line."""
    inst = ad.instance("softmax", 10_000)
    reason = get_backend("numpy").why_not(jacobian_operator("fwd", "sparse"), inst, "cpu", "float64")
    assert reason and "jacobian-fwd-sparse" in reason and "limit" in reason
    with pytest.raises(Unavailable, match="limit"):
        ad.jacobian("softmax", mode="fwd", strategy="sparse", n=10_000)


def test_api_returns_csr_and_names_the_strategies():
    J = ad.jacobian("brusselator", mode="rev", strategy="sparse", backend="numpy", N=3)
    assert isinstance(J, sp.csr_matrix)
    np.testing.assert_allclose(J.toarray(), ad.jacobian("brusselator", mode="rev", N=3), rtol=1e-13, atol=1e-13)
    with pytest.raises(ad.UserError, match="choose from: batched, loop, sparse"):
        ad.jacobian("square", strategy="compressed")


def test_cli_prints_the_sparse_jacobian_dense():
    def run(*extra):
        out = subprocess.run([sys.executable, "-m", "adcompare", "jacobian", "brusselator", "--mode", "fwd",
                              "--opt", "N=2", *extra], capture_output=True, text=True, check=True)
        return np.array([[float(v) for v in line.split()] for line in out.stdout.splitlines()])
    np.testing.assert_allclose(run("--strategy", "sparse"), run(), rtol=1e-13, atol=1e-13)


def test_asdex_finds_the_same_patterns():
    """asdex (a peer: global sparsity from JAX's jaxpr) detects the same patterns as our engine."""
    asdex = pytest.importorskip("asdex")
    jnp = pytest.importorskip("jax.numpy")
    for name, opts in STRUCTURED:
        inst = ad.instance(name, **opts)
        constants = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in inst.constants.items()}
        theirs = asdex.jacobian_sparsity(lambda z: inst.f(jnp, z, constants), jnp.asarray(inst.x0))
        np.testing.assert_array_equal(np.asarray(theirs.todense()) != 0, ad.sparsity_pattern(name, **opts).toarray())
