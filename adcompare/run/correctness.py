"""Is each backend right on one instance, before anything of it is timed?

At x0, with the fixed random directions of `adcompare check` (v of length m, t of length n), each
backend's primal, JVP and VJP (and the HVPs of a scalar f) are held against oracles that cost
O(1) evaluations whatever n is:

- the primal against f evaluated with plain numpy (float64);
- J t against one central difference of f along t: (f(x + h t) − f(x − h t)) / 2h
  (`oracles.fd_jvp`, the problem's `fd_step` and `fd_rtol`);
- vᵀJ through the adjoint identity ⟨v, J t⟩ = ⟨vᵀJ, t⟩ with that difference for J t
  (`oracles.adjoint_gap`, same tolerance);
- J t, vᵀJ and H t against our engine (backend "numpy") to AD precision, where the engine
  itself passed the checks above; the engine's H t against central differences of its gradient.

A backend with any check beyond its tolerance is *wrong* (and is not timed); one that cannot run
the function (framework missing, an operation it lacks, an exception) is *n/a*, with the reason
in one line.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from typing import Callable

import numpy as np

from adcompare import oracles
from adcompare.backends import Backend, Unavailable, get_backend
from adcompare.commands.check import FD_HVP_RTOL, REFERENCE_BACKEND, check_direction
from adcompare.errors import UserError
from adcompare.families.profile import HVPS
from adcompare.operators import OPERATORS, Operator
from adcompare.problems import Instance
from adcompare.sparse import to_dense

OK, WRONG, NA = "ok", "wrong", "n/a"
ESSENTIAL = ("primal", "vjp", "jvp")     # what a backend must run to be timed at all
CALLS = 3
AD_RTOL = oracles.AD_RTOL["float64"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One comparison: a backend's `quantity` against an `oracle`, normwise relative error."""

    quantity: str
    oracle: str
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)      # False for a NaN error

    def line(self) -> str:
        return (f"{self.quantity} differs from {self.oracle}: error {self.error:.2e} > tolerance "
                f"{self.tolerance:.0e}")

    def to_dict(self) -> dict:
        return {"quantity": self.quantity, "oracle": self.oracle,
                "error": self.error if math.isfinite(self.error) else None,
                "tolerance": self.tolerance, "ok": self.ok}


@dataclasses.dataclass(frozen=True)
class BackendCheck:
    """What the checks found for one backend: ok, wrong or n/a, the one-line reason for the last
    two, every check made, and the operators it could not run (not timed, with why)."""

    backend: str
    status: str
    reason: str | None
    checks: tuple[Check, ...] = ()
    cannot: tuple[tuple[str, str], ...] = ()
    # Seconds of one warm call of each operator checked (the fastest of CALLS), and of preparing
    # it (build, compile, warm-up call): rough sizes of the work, for fitting the timed jobs into
    # the budget (`run.advise_budget`); not measured figures.
    seconds: tuple[tuple[str, float], ...] = ()
    prepare: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "checks": [c.to_dict() for c in self.checks],
                "cannot_run": dict(self.cannot), "one_call_seconds": dict(self.seconds),
                "prepare_seconds": dict(self.prepare)}


def _value(backend: Backend, operator: Operator, inst: Instance, x: np.ndarray, direction,
           timed: bool = True) -> tuple[np.ndarray, float | None, float] | str:
    """(the operator's float64 result at x, with `timed` the seconds of one warm call, the seconds
    of preparing it), or one line saying why the backend cannot give it."""
    try:
        prepared = backend.prepare(operator, inst, x, direction, device="cpu", dtype="float64")
        with np.errstate(all="ignore"):
            value = np.asarray(to_dense(prepared()), dtype=np.float64)
        return value, (_one_call(prepared) if timed else None), prepared.prepare_seconds
    except Unavailable as err:
        return str(err)
    except Exception as err:   # the user's function meets something this framework cannot do
        return f"{operator.name} failed: {traceback.format_exception_only(err)[-1].strip()}"


def _one_call(prepared) -> float:
    """The fastest of CALLS calls (prepare has warmed it up)."""
    best = math.inf
    for _ in range(CALLS):
        start = time.perf_counter()
        prepared.block(prepared.run())
        best = min(best, time.perf_counter() - start)
    return best


def _compare(quantity: str, oracle: str, value, expected, tolerance: float) -> Check:
    return Check(quantity, oracle, oracles.relative_error(value, expected), tolerance)


@dataclasses.dataclass(frozen=True)
class _Oracles:
    """What every backend is held against: directions, f(x0) and J t by numpy, and the engine's
    trusted values (empty where the engine failed its own checks or cannot run f)."""

    v: np.ndarray
    t: np.ndarray
    primal: np.ndarray
    fd_jt: np.ndarray
    fd_rtol: float
    engine: dict[str, np.ndarray]
    fd_hvp: np.ndarray | None


def _numpy_oracles(inst: Instance) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(v, t, f(x0), J t by central differences); UserError where numpy cannot evaluate f at x0 or
    f(x0) is not finite (no backend could then be checked)."""
    v, t = check_direction(OPERATORS["vjp"], inst), check_direction(OPERATORS["jvp"], inst)
    try:
        with np.errstate(all="ignore"):
            primal = oracles.primal_numpy(inst, inst.x0)
            fd_jt = oracles.fd_jvp(inst, inst.x0, t)
    except Exception as err:
        raise UserError(f"{inst.label()}: f cannot be evaluated with numpy at x0: "
                        f"{traceback.format_exception_only(err)[-1].strip()}") from None
    if primal.shape != (inst.m,):
        raise UserError(f"{inst.label()}: f(x0) has shape {primal.shape}, but the problem says m = {inst.m}")
    bad = int(np.sum(~np.isfinite(primal)) + np.sum(~np.isfinite(fd_jt)))
    if bad:
        raise UserError(f"{inst.label()}: f is not finite at x0 or next to it ({bad} non-finite values); "
                        "advise needs a point where f is finite")
    return v, t, primal, fd_jt


@dataclasses.dataclass
class _Values:
    """One backend's results at x0, the reasons of the operators it could not run, and the
    seconds of one call and of preparing each (`BackendCheck.seconds`, `.prepare`)."""

    values: dict[str, np.ndarray]
    reasons: dict[str, str]
    seconds: dict[str, float]
    prepare: dict[str, float]

    def status(self, backend: str, checks: list[Check]) -> BackendCheck:
        failed = [c for c in checks if not c.ok]
        return BackendCheck(backend, WRONG if failed else OK, failed[0].line() if failed else None, tuple(checks),
                            tuple(self.reasons.items()), tuple(self.seconds.items()), tuple(self.prepare.items()))

    def not_available(self, backend: str) -> BackendCheck | None:
        """n/a where the backend cannot run f, its VJP or its JVP."""
        missing = [name for name in ESSENTIAL if name in self.reasons]
        if not missing:
            return None
        return BackendCheck(backend, NA, self.reasons[missing[0]], (), tuple(self.reasons.items()))


def _values(backend: Backend, inst: Instance, v, t) -> _Values:
    """Every operator checked (the HVPs of a scalar f too) at x0 on one backend."""
    out = _Values({}, {}, {}, {})
    for name in ESSENTIAL + (HVPS if inst.m == 1 else ()):
        op = OPERATORS[name]
        got = _value(backend, op, inst, inst.x0, {"v": v, "t": t}.get(op.direction))
        if isinstance(got, str):
            out.reasons[name] = got
            continue
        out.values[name], out.seconds[name], out.prepare[name] = got
    return out


def _against_numpy(values: dict[str, np.ndarray], o: "_Oracles") -> list[Check]:
    """The checks that need no AD: primal, J t by differences, the adjoint identity."""
    return [
        _compare("primal", "numpy", values["primal"], o.primal, AD_RTOL),
        _compare("jvp", "finite differences", values["jvp"], o.fd_jt, o.fd_rtol),
        Check("vjp", "⟨v, J t⟩ by finite differences", float(oracles.adjoint_gap(o.v, o.fd_jt, values["vjp"], o.t)),
              o.fd_rtol),
    ]


def _against_engine(values: dict[str, np.ndarray], o: "_Oracles") -> list[Check]:
    checks = [_compare(name, "our engine", values[name], o.engine[name], AD_RTOL)
              for name in ("jvp", "vjp") if name in o.engine]
    reference = o.engine.get(HVPS[0])
    checks += [_compare(name, "our engine", values[name], reference, AD_RTOL)
               for name in HVPS if name in values and reference is not None]
    return checks


def _engine_oracles(inst: Instance, v, t, primal, fd_jt) -> tuple[_Oracles, BackendCheck]:
    """The oracles, and the engine's own check (its values are trusted only if it passes)."""
    engine = get_backend(REFERENCE_BACKEND)
    base = _Oracles(v, t, primal, fd_jt, inst.problem.fd_rtol, {}, None)
    got = _values(engine, inst, v, t)
    if got.not_available(engine.name):
        return base, got.not_available(engine.name)
    checks = _against_numpy(got.values, base)
    fd_hvp = None
    if HVPS[0] in got.values:
        def gradient(z):
            value = _value(engine, OPERATORS["vjp"], inst, z, np.ones(1), timed=False)
            return np.full(inst.n, np.nan) if isinstance(value, str) else value[0]
        fd_hvp = oracles.fd_hvp(inst, inst.x0, t, gradient)
        checks += [_compare(name, "central differences of the engine's gradient", got.values[name], fd_hvp,
                            FD_HVP_RTOL) for name in HVPS if name in got.values]
    status = got.status(engine.name, checks)
    trusted = got.values if status.status == OK else {}
    return dataclasses.replace(base, engine=trusted, fd_hvp=fd_hvp), status


def check_backend(backend: Backend, inst: Instance, o: _Oracles) -> BackendCheck:
    """One backend on the instance: n/a (cannot run f, its VJP or its JVP), wrong, or ok."""
    missing = backend.missing_reason() or backend.device_missing_reason("cpu")
    if missing:
        return BackendCheck(backend.name, NA, missing)
    got = _values(backend, inst, o.v, o.t)
    if got.not_available(backend.name):
        return got.not_available(backend.name)
    checks = _against_numpy(got.values, o) + _against_engine(got.values, o)
    if o.fd_hvp is not None and not o.engine:   # the engine's HVP is not trusted: differences are
        checks += [_compare(name, "central differences of the engine's gradient", got.values[name], o.fd_hvp,
                            FD_HVP_RTOL) for name in HVPS if name in got.values]
    return got.status(backend.name, checks)


def check_backends(inst: Instance, backends: list[Backend],
                   log: Callable[[str], None] = lambda line: None) -> tuple[list[BackendCheck], BackendCheck]:
    """Each backend's check, in the given order, and the engine's (the reference, whether or not
    it is among them); `log` gets one line per backend. UserError where f itself cannot be
    evaluated at x0."""
    v, t, primal, fd_jt = _numpy_oracles(inst)
    o, engine = _engine_oracles(inst, v, t, primal, fd_jt)
    out = []
    for backend in backends:
        start = time.perf_counter()
        out.append(engine if backend.name == REFERENCE_BACKEND else check_backend(backend, inst, o))
        log(f"  {backend.name}: {out[-1].status} ({time.perf_counter() - start:.1f} s)")
    return out, engine
