"""The worked example, computed live when the report is built: vᵀJ of poly3 at x = (1, 2, 3).

Every registered backend runs the `vjp` operator for each v; the expected values come from the
closed-form Jacobian (vᵀJ = (5, 18, 34) for v = (1, 1, 1) and (10, 34, 42) for v = (3, 2, 1)).
A backend that cannot run here is listed with its reason instead of a number.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from adcompare.backends import Unavailable, all_backends, get_backend
from adcompare.measure.frameworks import use_compile_cache
from adcompare.operators import get_operator
from adcompare.oracles import AD_RTOL, relative_error
from adcompare.problems import instance

PROBLEM = "poly3"
X = (1.0, 2.0, 3.0)
COTANGENTS = ((1.0, 1.0, 1.0), (3.0, 2.0, 1.0))


@dataclasses.dataclass(frozen=True)
class Product:
    v: tuple[float, ...]
    expected: np.ndarray
    got: np.ndarray | None
    error: str | None = None       # why there is no number (exception text)

    @property
    def ok(self) -> bool:
        return self.got is not None and relative_error(self.got, self.expected) <= AD_RTOL["float64"]


@dataclasses.dataclass(frozen=True)
class BackendExample:
    backend: str
    summary: str
    products: tuple[Product, ...] = ()
    unavailable: str | None = None  # reason the backend cannot run on this machine


@dataclasses.dataclass(frozen=True)
class WorkedExample:
    x: np.ndarray
    jacobian: np.ndarray          # closed form, the oracle
    expected: tuple[np.ndarray, ...]
    rows: tuple[BackendExample, ...]
    description: str


def _run(backend, inst, v: np.ndarray, expected: np.ndarray) -> Product:
    try:
        got = backend.prepare(get_operator("vjp"), inst, np.array(X), v)()
        return Product(tuple(v), expected, np.asarray(got, dtype=np.float64).reshape(-1))
    except Unavailable:
        raise
    except Exception as err:  # the report shows a broken backend rather than failing to build
        return Product(tuple(v), expected, None, f"{type(err).__name__}: {err}")


def worked_example() -> WorkedExample:
    inst = instance(PROBLEM, len(X))
    x = np.array(X)
    jac = inst.closed_form_jacobian(x)
    expected = tuple(np.array(v) @ jac for v in COTANGENTS)
    use_compile_cache()    # in a run, the compilers read what earlier runs compiled (a no-op elsewhere)
    rows = tuple(_backend_example(backend.name) for backend in all_backends())
    return WorkedExample(x, jac, expected, rows, inst.problem.description)


@functools.lru_cache(maxsize=None)
def _backend_example(name: str) -> BackendExample:
    """One backend's row, computed once per process (a process that builds several pages pays
    for each framework's imports and compiles once)."""
    backend = get_backend(name)
    inst = instance(PROBLEM, len(X))
    expected = tuple(np.array(v) @ inst.closed_form_jacobian(np.array(X)) for v in COTANGENTS)
    try:
        products = tuple(_run(backend, inst, np.array(v), e) for v, e in zip(COTANGENTS, expected))
        return BackendExample(backend.name, backend.summary, products)
    except Unavailable as err:
        return BackendExample(backend.name, backend.summary, unavailable=str(err))
