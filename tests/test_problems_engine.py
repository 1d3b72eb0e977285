"""Every registered problem differentiated by the engine, checked against independent oracles.

The problems come from the registry, so a new problem is tested here without editing this file.
Tracing a problem in both modes is also the proof that the engine's namespace supports every op
the problem uses (an unsupported op fails the trace).
"""

import numpy as np
import pytest

from adcompare import engine
from adcompare.oracles import (
    AD_RTOL,
    ADJOINT_RTOL,
    adjoint_gap,
    fd_jacobian,
    primal_numpy,
    random_direction,
    relative_error,
)
from adcompare.problems import all_problems, instance

INSTANCES = [p.instance() for p in all_problems()]          # each at its test_size
IDS = [inst.label() for inst in INSTANCES]


def engine_function(inst, dtype=np.float64):
    """x ↦ f(x) on the engine's namespace, with the real constants in `dtype` (indices keep theirs)."""
    consts = {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
              for k, v in inst.constants.items()}
    return lambda x: inst.f(engine.xp, x, consts)


def test_every_registered_problem_is_covered():
    assert {inst.name for inst in INSTANCES} == {p.name for p in all_problems()}
    assert len(INSTANCES) >= 8


@pytest.mark.parametrize("inst", INSTANCES, ids=IDS)
def test_traces_in_both_modes(inst):
    f, x = engine_function(inst), inst.x0
    expected = primal_numpy(inst, x)
    y_fwd, _ = engine.jvp(f, x, np.ones(inst.n))
    y_rev, pullback = engine.vjp(f, x)
    for y in (y_fwd, y_rev):
        assert isinstance(y, np.ndarray) and y.shape == (inst.m,)
        np.testing.assert_allclose(y, expected, rtol=1e-14)
    # tape_bytes may be 0: affine and square need nothing beyond the input and the constants
    assert pullback.tape_length > 0 and pullback.tape_bytes >= 0


@pytest.mark.parametrize("inst", INSTANCES, ids=IDS)
def test_jacobians_match_closed_form_and_finite_differences(inst):
    f, x = engine_function(inst), inst.x0
    jac_fwd, jac_rev = engine.jacfwd(f)(x), engine.jacrev(f)(x)
    assert jac_fwd.shape == jac_rev.shape == (inst.m, inst.n)
    closed = inst.closed_form_jacobian(x)
    if closed is not None:
        assert relative_error(jac_fwd, closed) < AD_RTOL["float64"]
        assert relative_error(jac_rev, closed) < AD_RTOL["float64"]
    fd = fd_jacobian(inst, x)
    assert relative_error(jac_fwd, fd) < inst.problem.fd_rtol
    assert relative_error(jac_rev, fd) < inst.problem.fd_rtol


@pytest.mark.parametrize("inst", INSTANCES, ids=IDS)
def test_jvp_vjp_and_the_adjoint_identity(inst):
    f, x = engine_function(inst), inst.x0
    t, v = random_direction(inst.n, seed=1), random_direction(inst.m, seed=2)
    jac = engine.jacrev(f)(x)
    _, jt = engine.jvp(f, x, t)
    _, pullback = engine.vjp(f, x)
    vj = pullback(v)
    assert relative_error(jt, jac @ t) < AD_RTOL["float64"]
    assert relative_error(vj, v @ jac) < AD_RTOL["float64"]
    assert adjoint_gap(v, jt, vj, t) <= ADJOINT_RTOL["float64"]      # ⟨v, J t⟩ = ⟨Jᵀv, t⟩


@pytest.mark.parametrize("steps", [1, 4])
def test_lorenz96_depths(steps):
    inst = instance("lorenz96", 6, steps=steps)
    f, x = engine_function(inst), inst.x0
    fd = fd_jacobian(inst, x)
    assert relative_error(engine.jacfwd(f)(x), fd) < inst.problem.fd_rtol
    assert relative_error(engine.jacrev(f)(x), fd) < inst.problem.fd_rtol


@pytest.mark.parametrize("inst", INSTANCES, ids=IDS)
def test_float32_follows_the_input_and_agrees_with_float64(inst):
    f64, f32 = engine_function(inst), engine_function(inst, np.float32)
    x = inst.x0
    x32 = x.astype(np.float32)
    t, v = random_direction(inst.n, seed=3), random_direction(inst.m, seed=4)
    y32, jt32 = engine.jvp(f32, x32, t)
    _, pullback = engine.vjp(f32, x32)
    vj32 = pullback(v)
    jac32 = engine.jacrev(f32)(x32)
    for result in (y32, jt32, vj32, jac32):
        assert result.dtype == np.float32
    assert relative_error(jt32, engine.jvp(f64, x, t)[1]) < AD_RTOL["float32"]
    assert relative_error(vj32, engine.vjp(f64, x)[1](v)) < AD_RTOL["float32"]
    assert relative_error(jac32, engine.jacrev(f64)(x)) < AD_RTOL["float32"]
    assert relative_error(engine.jacfwd(f32)(x32), engine.jacfwd(f64)(x)) < AD_RTOL["float32"]
