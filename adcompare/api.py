"""The Python API: one call per operator, numpy in and numpy out.

    import adcompare as ad
    ad.vjp("poly3", [1, 2, 3], v=[3, 2, 1], backend="torch")     # vᵀJ -> array([10., 34., 42.])
    ad.jacobian("affine", x, mode="rev", strategy="loop", m=5)   # problem options as keywords
    ad.jacobian("brusselator", mode="fwd", strategy="sparse", N=32)   # a scipy.sparse.csr_matrix
    ad.sparsity_pattern("lorenz96", n=64, steps=2), ad.coloring("ba", mode="fwd")

x is a 1-D vector whose length is n (without x, n picks x0(n)); a missing direction (v or t) is
a vector of ones, as `backward()` on a scalar uses 1. Any other keyword must be one of the
problem's options (`Problem.options`). For timing, `prepare` returns the ready-to-run operator.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from adcompare import footprint
from adcompare.backends import Prepared, get_backend
from adcompare.errors import UserError
from adcompare.operators import get_operator, hvp_operator, jacobian_operator
from adcompare.problems import Instance, get_problem, problem_names  # noqa: F401
from adcompare.problems.registry import as_real_vector


# The largest n or option: every size and option fits an int64 (numpy's index type), as the
# arrays, seeds and compiled loops built from them assume.
INT64_MAX = np.iinfo(np.int64).max


def _integer(name: str, what: str, value) -> int:
    """An integer given as n or an option, checked before it reaches the instance cache (where
    True, 2.0 and 2 would share one entry)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name}: {what} must be an integer, got {value!r}")
    if value > INT64_MAX:
        raise UserError(f"{name}: {what} must be at most {INT64_MAX} (an int64), got {value}")
    return int(value)


def _option(name: str, key: str, value) -> int | str:
    """An option's value: an integer (checked as `_integer` does), or a string, which the problem
    checks against the choices it declares (`registry.Choice`)."""
    return value if isinstance(value, str) else _integer(name, f"option {key}", value)


def is_choice(name: str, key: str) -> bool:
    """Whether the problem's option `key` takes a word from fixed choices (`registry.Choice`)."""
    from adcompare.problems.registry import Choice

    return isinstance(get_problem(name).options.get(key), Choice)


def check_option_names(name: str, opts) -> None:
    """UserError unless every keyword is one of the problem's options (`Problem.options`). Run
    before the keywords are passed on, where one named like a parameter (n, x, operator,
    direction, ...) would otherwise end in a TypeError."""
    problem = get_problem(name)
    unknown = sorted(set(opts) - set(problem.options))
    if unknown:     # as Problem.resolve_options says it, which cannot take a keyword named n
        allowed = ", ".join(problem.options) or "none"
        raise UserError(f"{problem.name}: unknown option {unknown[0]!r}; options: {allowed}")


def _data_path(name: str, data) -> Path:
    """The data file's path; UserError for an empty path (which Path would read as the current
    folder) or for something that is not a path at all."""
    try:
        text = os.fsdecode(data)
    except TypeError:
        raise UserError(f"{name}: data must be a file path, got {data!r}") from None
    if not text:
        raise UserError(f"{name}: the data file is an empty path")
    return Path(text)


@functools.lru_cache(maxsize=32)
def _cached_instance(problem, n: int | None, options: tuple) -> Instance:
    return problem.instance(n, **dict(options))     # keyed by the object: a re-registered problem is new


def instance(name: str, n: int | None = None, data: str | os.PathLike | None = None, **opts) -> Instance:
    """The problem instance: n, m, options, constants and its default input x0 (all read-only).

    With `data`, everything comes from that file (ADBench's formats; x0 is the file's parameters).
    """
    problem = get_problem(name)
    check_option_names(name, opts)
    if data is not None:
        return problem.instance(n, data=_data_path(name, data), **opts)
    n = None if n is None else _integer(name, "n", n)
    options = tuple(sorted((k, _option(name, k, v)) for k, v in opts.items()))
    return _cached_instance(problem, n, options)


def as_vector(values, what: str = "x") -> np.ndarray:
    """A user's vector as a read-only 1-D float64 copy, or a UserError saying what was wrong."""
    return as_real_vector(values, what)


def _point(name: str, x, n) -> tuple[np.ndarray | None, int | None]:
    """(x as a vector, n): n as given, or x's length, which a given n must equal."""
    n = None if n is None else _integer(name, "n", n)
    if x is None:
        return None, n
    x = as_vector(x)
    if n is not None and n != x.shape[0]:
        raise UserError(f"n = {n} but x has length {x.shape[0]}")
    return x, x.shape[0]


def prepare(operator: str, name: str, x=None, direction=None, *, n: int | None = None,
            backend: str = "numpy", device: str = "cpu", dtype: str = "float64",
            data: str | os.PathLike | None = None, **opts) -> Prepared:
    """The operator ready to run: `p.run()` is the measured work, `p()` returns numpy.

    Without x, the problem's default input x0(n) is used (n defaults to the problem's test size;
    with `data`, x0 is the file's parameters). x and the direction are copied: changing them
    afterwards changes nothing. Raises `Unavailable` (a NotImplementedError) for combinations
    that cannot run here, and a UserError for a size whose estimated peak memory (or operation
    count) this machine cannot take (`footprint`), before anything of that size is built.
    """
    op = get_operator(operator)
    chosen = get_backend(backend)
    x, n = _point(name, x, n)
    if direction is not None:
        direction = as_vector(direction, op.direction or "direction")
    if data is None:     # a size that cannot run here is a UserError before its x0 and constants exist
        check_option_names(name, opts)
        options = {k: _option(name, k, v) for k, v in opts.items()}
        reason = footprint.unbuilt_reason(op, get_problem(name), n, options, chosen)
        if reason:
            raise UserError(reason)
    inst = instance(name, n, data=data, **opts)
    return chosen.prepare(op, inst, x, direction, device=device, dtype=dtype)


def _evaluate(operator: str, name: str, x, direction, n, backend, device, dtype, data, opts) -> np.ndarray:
    check_option_names(name, opts)      # before `opts` meets prepare's own parameters
    return prepare(operator, name, x, direction, n=n, backend=backend, device=device, dtype=dtype, data=data,
                   **opts)()


def primal(name: str, x=None, *, n: int | None = None, backend: str = "numpy", device: str = "cpu",
           dtype: str = "float64", data: str | os.PathLike | None = None, **opts) -> np.ndarray:
    """f(x), shape (m,)."""
    return _evaluate("primal", name, x, None, n, backend, device, dtype, data, opts)


def vjp(name: str, x=None, v=None, *, n: int | None = None, backend: str = "numpy", device: str = "cpu",
        dtype: str = "float64", data: str | os.PathLike | None = None, **opts) -> np.ndarray:
    """vᵀJ by one reverse pass, shape (n,); v defaults to ones (m,)."""
    return _evaluate("vjp", name, x, v, n, backend, device, dtype, data, opts)


def jvp(name: str, x=None, t=None, *, n: int | None = None, backend: str = "numpy", device: str = "cpu",
        dtype: str = "float64", data: str | os.PathLike | None = None, **opts) -> np.ndarray:
    """J t by one forward pass, shape (m,); t defaults to ones (n,)."""
    return _evaluate("jvp", name, x, t, n, backend, device, dtype, data, opts)


def jacobian(name: str, x=None, mode: str = "fwd", strategy: str = "batched", *, n: int | None = None,
             backend: str = "numpy", device: str = "cpu", dtype: str = "float64",
             data: str | os.PathLike | None = None, **opts) -> np.ndarray:
    """J, shape (m, n): mode "fwd" (n tangents) or "rev" (m cotangents); strategy "batched"
    (one vectorised pass), "loop" (one product at a time) or "sparse" (one product per colour of
    the pattern's columns or rows, batched; returns a scipy.sparse.csr_matrix)."""
    op = jacobian_operator(mode, strategy)
    return _evaluate(op.name, name, x, None, n, backend, device, dtype, data, opts)


def _sized_instance(name: str, x, n, data, opts) -> tuple[Instance, np.ndarray | None]:
    """The instance for x (its length is n) or for n, and x checked against it."""
    x, n = _point(name, x, n)
    inst = instance(name, n, data=data, **opts)
    return inst, None if x is None else inst.check_input(x)


def sparsity_pattern(name: str, x=None, *, n: int | None = None, data: str | os.PathLike | None = None,
                     **opts):
    """The global Jacobian pattern (m × n boolean scipy.sparse.csr_matrix), detected by the
    engine without computing derivatives; it contains J's non-zeros at every x. x (default x0)
    only supplies the values comparisons in the problem read."""
    from adcompare import sparse   # scipy and numba load on first use, not with adcompare

    inst, x = _sized_instance(name, x, n, data, opts)
    return sparse.pattern_of(inst).copy() if x is None else sparse.jacobian_pattern(inst, x)   # the cache stays ours


def coloring(name: str, mode: str = "fwd", *, n: int | None = None, order: str = "best",
             data: str | os.PathLike | None = None, **opts) -> np.ndarray:
    """One integer colour per column (mode "fwd") or per row ("rev") of the Jacobian pattern: no two
    columns (rows) of one colour share a row (column). `order`: "best" (the fewest colours of the
    greedy orders, improved by iterated greedy; the one the sparse Jacobians use) or one order
    alone: "natural", "largest-first", "smallest-last"."""
    from adcompare import sparse
    from adcompare.sparse import colorings

    inst, _ = _sized_instance(name, None, n, data, opts)
    if order == "best":
        return sparse.plan(inst, mode).colors.copy()
    return colorings.color(sparse.pattern_of(inst), mode, order)


def hvp(name: str, x=None, t=None, mode: str = "fwd-rev", *, n: int | None = None, backend: str = "numpy",
        device: str = "cpu", dtype: str = "float64", data: str | os.PathLike | None = None,
        **opts) -> np.ndarray:
    """H t for a scalar-output problem, shape (n,); mode "fwd-rev", "rev-rev" or "rev-fwd"."""
    return _evaluate(hvp_operator(mode).name, name, x, t, n, backend, device, dtype, data, opts)
