"""Every problem × backend × operator × dtype × device against the oracles and the reference engine.

Tolerances (one source, `adcompare.oracles`):
- float64 vs the closed form / reference engine: AD_RTOL['float64'] = 1e-11 — AD is exact up to a
  few ulp per primitive; vs central finite differences: the problem's own `fd_rtol` (truncation
  O(h²) and cancellation O(ε/h) of the oracle, not of AD).
- float32 vs the same float64 references: AD_RTOL['float32'] = 1e-4 added — unit roundoff 6e-8
  grown over at most a few hundred primitives and the conditioning of softmax / Lorenz-96.
- H t vs central differences of the exact gradient: check.FD_HVP_RTOL = 1e-6.
Instances come from `check.small_instance` (test size, integer options capped). The matrix
tests run a pairwise covering design of their combinations by default and the full product with
`pytest --exhaustive` (tests/matrix.py); GPU devices are in them only where a GPU exists.
"""

from __future__ import annotations

import functools

import matrix
import numpy as np
import pytest

from adcompare import oracles
from adcompare.backends import DTYPES, Unavailable, backend_names, get_backend
from adcompare.commands import check
from adcompare.operators import OPERATORS
from adcompare.problems import get_problem
from adcompare.sparse import to_dense


small = matrix.small


@functools.cache
def engine_result(problem: str, operator: str):
    return check.engine_value(OPERATORS[operator], small(problem))


def run_or_skip(backend, operator, inst, direction, device="cpu", dtype="float64"):
    try:
        prepared = get_backend(backend).prepare(OPERATORS[operator], inst, inst.x0, direction,
                                                device=device, dtype=dtype)
    except Unavailable as err:
        pytest.skip(str(err))
    return np.asarray(to_dense(prepared()), dtype=np.float64)


def meaningful(values) -> bool:
    """Only what means something: an HVP of a vector-valued problem, or an operator the backend
    does not implement (test_unsupported_operators_say_why), is not a skipped test."""
    return matrix.applies(values["problem"], values["operator"]) and matrix.implements(values["target"][0],
                                                                                       values["operator"])


@pytest.mark.product("problem", "target", "operator", "dtype", valid=meaningful)
def test_operator_agrees_with_oracle_and_engine(problem, backend, operator, device, dtype):
    """The operator against its independent oracle and the reference engine; a product (vjp or
    jvp) also against the backend's own other product: ⟨v, J t⟩ = ⟨vᵀJ, t⟩."""
    inst = small(problem)
    op = OPERATORS[operator]
    d = check.check_direction(op, inst)
    value = run_or_skip(backend, operator, inst, d, device, dtype)
    reference = check.oracle_reference(op, inst, inst.x0, d)
    engine = engine_result(problem, operator)
    assert reference is not None or engine is not None, "no oracle for this combination"
    if reference is not None:
        expected, oracle, tol = reference
        err = oracles.relative_error(value, expected)
        assert err <= check.dtype_tolerance(tol, dtype), f"{oracle}: error {err:.2e}"
    if engine is not None:
        err = oracles.relative_error(value, engine)
        assert err <= oracles.AD_RTOL[dtype], f"reference engine: error {err:.2e}"
    if operator in ("vjp", "jvp"):
        assert_adjoint_identity(backend, inst, device, dtype, **{operator: value})


def assert_adjoint_identity(backend, inst, device, dtype, vjp=None, jvp=None):
    """⟨v, J t⟩ = ⟨vᵀJ, t⟩ with the backend's own JVP and VJP (one of them given)."""
    v = check.check_direction(OPERATORS["vjp"], inst)
    t = check.check_direction(OPERATORS["jvp"], inst)
    vj = run_or_skip(backend, "vjp", inst, v, device, dtype) if vjp is None else vjp
    jt = run_or_skip(backend, "jvp", inst, t, device, dtype) if jvp is None else jvp
    assert oracles.adjoint_gap(v, jt, vj, t) <= oracles.ADJOINT_RTOL[dtype]


@pytest.mark.parametrize("backend", backend_names())
def test_result_dtype_follows_request(backend):
    inst = small("square")
    for dtype in DTYPES:
        try:
            prepared = get_backend(backend).prepare(OPERATORS["vjp"], inst, dtype=dtype)
        except Unavailable as err:
            pytest.skip(str(err))
        assert prepared().dtype == np.dtype(dtype)


def tape_or_skip(backend, problem, n, **opts):
    b = get_backend(backend)
    if b.missing_reason():
        pytest.skip(b.missing_reason())
    inst = get_problem(problem).instance(n, **opts)
    try:
        return b.tape_bytes(inst, inst.x0, "cpu", "float64")
    except Unavailable as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("backend", backend_names())
def test_tape_bytes_leave_out_what_exists_without_ad(backend):
    """y = x² needs only x for vᵀJ = 2 x v, and x is the caller's: nothing is taped."""
    assert tape_or_skip(backend, "square", 1000) == 0


@pytest.mark.parametrize("backend", backend_names())
def test_tape_bytes_grow_linearly_with_depth(backend):
    """Each RK4 step of lorenz96 adds the same residuals: twice the steps, twice the tape."""
    if get_backend(backend).recomputes_forward:
        pytest.skip(f"{backend}'s compiled backward recomputes the RK4 steps (tests/test_torch_compile.py)")
    one = tape_or_skip(backend, "lorenz96", 1000, steps=1)
    two = tape_or_skip(backend, "lorenz96", 1000, steps=2)
    assert one >= 8000                  # at least one saved state of n float64
    assert 1.95 * one <= two <= 2.05 * one
    assert tape_or_skip(backend, "lorenz96", 1000, steps=1) == one     # deterministic


@pytest.mark.parametrize("backend", backend_names())
def test_peak_device_memory_is_unavailable_on_cpu(backend):
    inst = small("square")
    try:
        prepared = get_backend(backend).prepare(OPERATORS["vjp"], inst)
    except Unavailable as err:
        pytest.skip(str(err))
    with pytest.raises(Unavailable):
        prepared.backend.peak_device_bytes(prepared)


@pytest.mark.parametrize("backend", backend_names())
def test_unsupported_operators_say_why(backend):
    """Whatever a backend does not implement is a reason, never an exception at prepare time."""
    b = get_backend(backend)
    for op in OPERATORS.values():
        reason = b.unsupported_reason(op)
        assert reason is None or (isinstance(reason, str) and reason)


def test_missing_framework_names_the_install_command(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    hints = {name: get_backend(name).missing_reason() for name in ("torch", "torch-func", "jax", "autograd")}
    assert "pip install torch==2.13.0" in hints["torch"]
    assert "pip install torch==2.13.0" in hints["torch-func"]
    assert "pip install jax" in hints["jax"]
    assert "pip install autograd" in hints["autograd"]


@pytest.mark.gpu
@pytest.mark.parametrize("backend", backend_names())
def test_gpu_peak_memory(backend):
    """On a GPU, one VJP of square at n = 10⁵ needs at least its 800 kB result."""
    b = get_backend(backend)
    gpu = [d for d in b.devices if d != "cpu"]
    if not gpu:
        pytest.skip(f"{backend} has no GPU device")
    inst = get_problem("square").instance(100_000)
    try:
        prepared = b.prepare(OPERATORS["vjp"], inst, device=gpu[0])
        peak = b.peak_device_bytes(prepared)
    except Unavailable as err:
        pytest.skip(str(err))
    assert peak >= 800_000
