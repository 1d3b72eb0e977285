"""Binomial checkpointing in our engine: the checkpointed VJP is the plain VJP to float64
rounding (lorenz96, ode), and its schedule runs exactly the closed form's number of advances,
which is the optimum a brute-force search over every split finds."""

from __future__ import annotations

import functools
import statistics

import numpy as np
import pytest

from adcompare import engine
from adcompare.backends._common import problem_function
from adcompare.engine.checkpoint import beta, checkpointed_vjp, min_advances, namespace, repetitions
from adcompare.ids import Case
from adcompare.measure import memory
from adcompare.problems import ode
from adcompare.problems.integrate import rk4


@functools.lru_cache(maxsize=None)
def brute_force(steps: int, snaps: int) -> int:
    """Fewest advances over every recursive schedule: store a snapshot m steps on, reverse the
    right part with one snapshot fewer, then the left part (one snapshot: from the start)."""
    if steps == 1:
        return 0
    if snaps == 1:
        return steps * (steps - 1) // 2
    return min(m + brute_force(steps - m, snaps - 1) + brute_force(m, snaps) for m in range(1, steps))


def test_the_closed_form_is_the_brute_force_optimum():
    for snaps in range(1, 7):
        for steps in range(1, 41):
            assert min_advances(steps, snaps) == brute_force(steps, snaps), (steps, snaps)
    assert all(min_advances(beta(s, 1), s) == beta(s, 1) - 1 for s in range(1, 8))   # each step once


def _plain(case: str):
    inst = Case.parse(case).instance()
    x = np.asarray(inst.x0, dtype=np.float64)
    v = np.random.default_rng(1).standard_normal(inst.m)
    y, pullback = engine.vjp(problem_function(inst, engine.xp, inst.constants), x)
    return inst, x, v, y, pullback(v)


@pytest.mark.parametrize("snaps", [1, 2, 3, 5])
def test_lorenz96_checkpointed_is_the_plain_vjp(snaps):
    inst, x, v, y, x_bar = _plain("lorenz96:40:steps=23")
    one_step = {**inst.constants, "steps": 1}
    step = lambda i, u: inst.problem.f(engine.xp, u, one_step)   # noqa: E731
    out, ck_bar, schedule = checkpointed_vjp(step, x, v, 23, snaps)
    np.testing.assert_allclose(out, y, rtol=1e-14, atol=0)
    np.testing.assert_allclose(ck_bar, x_bar, rtol=1e-13, atol=1e-13 * np.abs(x_bar).max())
    assert schedule.advances == min_advances(23, snaps) and schedule.taped == 23


@pytest.mark.parametrize("snaps", [1, 4])
def test_ode_checkpointed_is_the_plain_vjp(snaps):
    """ode's right-hand side reads x: the state carries it, [x; y]; y(0) = 0."""
    inst, x, v, y, x_bar = _plain("ode:30:s=12")
    n, steps = inst.n, inst.options["s"]

    def step(_, state):
        p, u = state[:n], state[n:]
        rhs = lambda w: engine.xp.concat([p[:1], p[1:] * w[:-1]])   # noqa: E731
        return engine.xp.concat([p, rk4(engine.xp, rhs, u, ode.FINAL_TIME / steps, 1)])

    out, ck_bar, schedule = checkpointed_vjp(step, np.concatenate([x, 0 * x]), np.concatenate([0 * v, v]),
                                             steps, snaps)
    np.testing.assert_allclose(out[n:], y, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(ck_bar[:n], x_bar, rtol=1e-13, atol=1e-13 * np.abs(x_bar).max())
    assert schedule.advances == min_advances(steps, snaps)


def test_a_batch_of_cotangents_and_a_long_loop():
    """A (k, m) batch of cotangents; 120 steps with 5 snapshots advance each step < r = 4 times
    (β(5, 4) = 126 ≥ 120), not the 60 of one snapshot."""
    inst, x, _, _, _ = _plain("lorenz96:16:steps=120")
    one_step = {**inst.constants, "steps": 1}
    step = lambda i, u: inst.problem.f(engine.xp, u, one_step)   # noqa: E731
    vs = np.eye(inst.m)[:3]
    _, ck_bar, schedule = checkpointed_vjp(step, x, vs, 120, 5)
    pullback = engine.vjp(problem_function(inst, engine.xp, inst.constants), x)[1]
    np.testing.assert_allclose(ck_bar, pullback(vs), rtol=1e-12, atol=1e-12)
    assert schedule.advances == min_advances(120, 5) < repetitions(120, 5) * 120 == 4 * 120


def test_the_checkpointing_namespace_runs_a_problems_f_as_written():
    """lorenz96's f on `namespace(3)`: the same VJP, a fifth of the peak memory (one state taped
    and three snapshots instead of ten steps' tape); JVPs run the plain loop; ode's body reads x,
    which the checkpointed loop refuses in one line rather than losing its cotangent."""
    inst, x, v, _, x_bar = _plain("lorenz96:20000:steps=10")
    ns = namespace(3)
    fun = lambda u: inst.problem.f(ns, u, inst.constants)   # noqa: E731
    np.testing.assert_allclose(engine.vjp(fun, x)[1](v), x_bar, rtol=1e-14, atol=0)
    plain = problem_function(inst, engine.xp, inst.constants)
    np.testing.assert_allclose(engine.jvp(fun, x, v)[1], engine.jvp(plain, x, v)[1], rtol=1e-14, atol=0)
    if memory.unavailable_reason() is None:
        # medians of three, held loosely (a forked child once read the checkpointed one high)
        checkpointed = statistics.median(memory.repeated_peaks_apart(lambda: engine.vjp(fun, x)[1](v), 3))
        taped = statistics.median(memory.repeated_peaks_apart(lambda: engine.vjp(plain, x)[1](v), 3))
        assert checkpointed < 0.5 * taped, (checkpointed, taped)
    inst = Case.parse("ode:30:s=5").instance()
    with pytest.raises(ValueError, match="carry a differentiated parameter"):
        engine.vjp(lambda u: inst.problem.f(ns, u, inst.constants), np.asarray(inst.x0, dtype=np.float64))
