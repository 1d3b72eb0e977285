"""The Python API: one call per operator, numpy in and numpy out.

    import adcompare as ad
    ad.vjp("poly3", [1, 2, 3], v=[3, 2, 1], backend="torch")     # vᵀJ -> array([10., 34., 42.])
    ad.jacobian("affine", x, mode="rev", strategy="loop", m=5)   # problem options as keywords

x is a 1-D vector whose length is n; a missing direction (v or t) is a vector of ones, as
`backward()` on a scalar uses 1. For timing, `prepare` returns the ready-to-run operator.
"""

from __future__ import annotations

import functools

import numpy as np

from adcompare.backends import Prepared, get_backend
from adcompare.errors import UserError
from adcompare.operators import get_operator, hvp_operator, jacobian_operator
from adcompare.problems import Instance, get_problem, problem_names  # noqa: F401


@functools.lru_cache(maxsize=32)
def _instance(name: str, n: int | None, options: tuple) -> Instance:
    return get_problem(name).instance(n, **dict(options))


def as_vector(values, what: str = "x") -> np.ndarray:
    """A user's vector as 1-D float64, or a UserError saying what was wrong."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a vector of numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise UserError(f"{what} must be a 1-D vector, got shape {arr.shape}")
    return arr


def prepare(operator: str, name: str, x=None, direction=None, *, n: int | None = None,
            backend: str = "numpy", device: str = "cpu", dtype: str = "float64", **opts) -> Prepared:
    """The operator ready to run: `p.run()` is the measured work, `p()` returns numpy.

    Without x, the problem's default input x0(n) is used (n defaults to the problem's test size).
    Raises `Unavailable` (a NotImplementedError) for combinations that cannot run here.
    """
    op = get_operator(operator)
    chosen = get_backend(backend)
    if x is not None:
        x = as_vector(x)
        if n is not None and n != x.shape[0]:
            raise UserError(f"n = {n} but x has length {x.shape[0]}")
        n = x.shape[0]
    options = tuple(sorted(opts.items()))
    try:
        hash(options)
    except TypeError:
        raise UserError(f"{name}: problem options must be integers, got {opts!r}") from None
    inst = _instance(name, n, options)
    return chosen.prepare(op, inst, x, direction, device=device, dtype=dtype)


def _evaluate(operator: str, name: str, x, direction, backend, device, dtype, opts) -> np.ndarray:
    return prepare(operator, name, x, direction, backend=backend, device=device, dtype=dtype, **opts)()


def primal(name: str, x, *, backend: str = "numpy", device: str = "cpu", dtype: str = "float64", **opts) -> np.ndarray:
    """f(x), shape (m,)."""
    return _evaluate("primal", name, x, None, backend, device, dtype, opts)


def vjp(name: str, x, v=None, *, backend: str = "numpy", device: str = "cpu", dtype: str = "float64",
        **opts) -> np.ndarray:
    """vᵀJ by one reverse pass, shape (n,); v defaults to ones (m,)."""
    return _evaluate("vjp", name, x, v, backend, device, dtype, opts)


def jvp(name: str, x, t=None, *, backend: str = "numpy", device: str = "cpu", dtype: str = "float64",
        **opts) -> np.ndarray:
    """J t by one forward pass, shape (m,); t defaults to ones (n,)."""
    return _evaluate("jvp", name, x, t, backend, device, dtype, opts)


def jacobian(name: str, x, mode: str = "fwd", strategy: str = "batched", *, backend: str = "numpy",
             device: str = "cpu", dtype: str = "float64", **opts) -> np.ndarray:
    """J, shape (m, n): mode "fwd" (n tangents) or "rev" (m cotangents); strategy "batched"
    (one vectorised pass) or "loop" (one product at a time)."""
    op = jacobian_operator(mode, strategy)
    return _evaluate(op.name, name, x, None, backend, device, dtype, opts)


def hvp(name: str, x, t=None, mode: str = "fwd-rev", *, backend: str = "numpy", device: str = "cpu",
        dtype: str = "float64", **opts) -> np.ndarray:
    """H t for a scalar-output problem, shape (n,); mode "fwd-rev", "rev-rev" or "rev-fwd"."""
    return _evaluate(hvp_operator(mode).name, name, x, t, backend, device, dtype, opts)
