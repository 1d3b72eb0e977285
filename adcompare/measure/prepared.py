"""Operators prepared for measurement, by the ids a grid names them with (target, dtype, case,
operator), and the counters read from a backend (tape bytes, peak device memory)."""

from __future__ import annotations

import functools

from adcompare.backends import Prepared, Unavailable, get_backend
from adcompare.backends.base import size_reason, user_code_failures
from adcompare.ids import Case, Target
from adcompare.measure.threads import pin_threads
from adcompare.operators import get_operator


@functools.lru_cache(maxsize=None)
def prepared(target: str, dtype: str, case: str, operator: str) -> Prepared:
    """The prepared operator for one benchmark combination, built once per process.

    Raises Unavailable (a NotImplementedError: asv shows n/a) when it cannot run here, or is too
    large for a benchmark (`backends.base.size_reason`). The cache is what keeps asv's per-call
    `setup` O(1); lru_cache does not keep exceptions, so an unavailable combination raises again
    on every call, as asv expects. Threads are the caller's business (`pin_threads`; the
    benchmark suite applies it on import)."""
    where = Target.parse(target)
    op = get_operator(operator)
    inst = Case.parse(case).instance()
    reason = size_reason(op, inst)
    if reason:
        raise Unavailable(reason)
    return get_backend(where.backend).prepare(op, inst, device=where.device, dtype=dtype)


def tape_bytes(target: str, dtype: str, case: str) -> int:
    """Bytes one VJP of `case` keeps for its backward pass, as the backend counts them."""
    where = Target.parse(target)
    backend = get_backend(where.backend)
    inst = Case.parse(case).instance()
    vjp = get_operator("vjp")
    reason = backend.why_not(vjp, inst, where.device, dtype)
    if reason:
        raise Unavailable(reason)
    with user_code_failures(backend.name, vjp, inst):    # a user's f the framework cannot trace: n/a
        return int(backend.tape_bytes(inst, inst.x0, where.device, dtype))


def peak_device_bytes(target: str, dtype: str, case: str, operator: str) -> int:
    """Peak device memory of one run beyond what was allocated before it (GPU targets)."""
    p = prepared(target, dtype, case, operator)
    return int(p.backend.peak_device_bytes(p))


def first_call(target: str, dtype: str, case: str, operator: str) -> None:
    """Import, prepare and run once: what a user's first call costs, in a fresh interpreter."""
    pin_threads()
    p = prepared(target, dtype, case, operator)
    p.block(p.run())


def first_call_code(target: str, dtype: str, case: str, operator: str) -> str:
    """Python source that does `first_call` from a fresh interpreter, imports included."""
    args = ", ".join(repr(a) for a in (target, dtype, case, operator))
    return f"from adcompare.measure.prepared import first_call\nfirst_call({args})\n"
