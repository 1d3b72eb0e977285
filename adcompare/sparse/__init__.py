"""Sparse Jacobians: the pattern (the engine's sparsity detection), a colouring, the compressed
seeds and the decompression, prepared once per instance and mode for every backend.

Forward mode colours columns so that no row holds two columns of one colour. The seed matrix
S (c × n) has S[colour(j), j] = 1; one batched pass of the c JVPs gives C = S Jᵀ (c × m), and
each non-zero is read back once: J[i, j] = C[colour(j), i]. Reverse mode colours rows and runs c
VJPs: C = S J (c × n), J[i, j] = C[colour(i), j]. So a Jacobian costs c products instead of n (or
m), c ≥ the most non-zeros in a row (column): `colorings.lower_bound`.

The pattern and the colouring come from our engine for every backend (one source of truth);
backends only compute the compressed products (`Backend.prepare` adds the decompression).
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adcompare import footprint, limits
from adcompare.errors import UserError
from adcompare.problems import Instance
from adcompare.sparse import colorings


def jacobian_pattern(inst: Instance, x=None, max_nonzeros: int | None = None) -> sp.csr_matrix:
    """The global Jacobian pattern of the instance (boolean CSR, m × n), traced at x (default x0;
    x only feeds the values that comparisons inside f read). Raises `PatternTooLarge` (a
    UserError) past `max_nonzeros` (default: the batched-Jacobian element limit; x's own n
    non-zeros count), and a UserError where the detection's estimated memory does not fit
    (`footprint.detection_reason`): both before anything is traced."""
    from adcompare import engine
    from adcompare.engine.sparsity import PatternTooLarge, jacobian_sparsity

    limit = limits.MAX_JACOBIAN_ELEMENTS if max_nonzeros is None else max_nonzeros
    if inst.n > limit:      # x's own pattern (the identity) already has n non-zeros: refused unbuilt
        raise PatternTooLarge(inst.n, limit)
    reason = footprint.detection_reason(inst)
    if reason:
        raise UserError(reason)
    x = inst.x0 if x is None else inst.check_input(x)
    return jacobian_sparsity(lambda z: inst.f(engine.xp, z), np.asarray(x, dtype=np.float64), limit)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a sparse Jacobian needs before it runs: pattern, colours, seeds and where each
    non-zero is read from the compressed products (flat positions, in the pattern's CSR order)."""

    mode: str
    pattern: sp.csr_matrix            # boolean, m × n, sorted indices
    colors: np.ndarray                # one per column (fwd) or row (rev)
    seeds: np.ndarray                 # (c, n) tangents or (c, m) cotangents, float64 0/1
    positions: np.ndarray             # pattern.nnz flat indices into the (c, m) or (c, n) products
    lower_bound: int                  # max non-zeros per row (fwd) or column (rev)
    detection_seconds: float
    coloring_seconds: float

    @property
    def count(self) -> int:
        """c: the number of colours, so of products."""
        return colorings.count(self.colors)

    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    def decompress(self, compressed) -> sp.csr_matrix:
        """J as a csr_matrix from the c compressed products (a numpy (c, m) or (c, n) array)."""
        data = np.asarray(compressed).reshape(-1)[self.positions]
        return sp.csr_matrix((data, self.pattern.indices.copy(), self.pattern.indptr.copy()), shape=self.shape)


def make_plan(pattern: sp.csr_matrix, mode: str, order: str = "best") -> Plan:
    """Colour `pattern` for `mode`, check the colouring, and build the seeds and read positions."""
    start = time.perf_counter()
    colors = colorings.color(pattern, mode, order)
    seconds = time.perf_counter() - start
    if not colorings.is_valid(pattern, colors, mode):        # never expected: a bug if it fires
        raise AssertionError(f"invalid {mode} colouring of a {pattern.shape} pattern")
    m, n = pattern.shape
    c = colorings.count(colors)
    seeds = np.zeros((c, n if mode == "fwd" else m))
    seeds[colors, np.arange(colors.size)] = 1.0
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(pattern.indptr))
    cols = pattern.indices.astype(np.int64)
    positions = colors[cols] * m + rows if mode == "fwd" else colors[rows] * n + cols
    return Plan(mode, pattern, colors, seeds, positions, colorings.lower_bound(pattern, mode), float("nan"), seconds)


# --- one plan per instance and mode, kept while the instance lives ------------------------------
_CACHE: dict[tuple, tuple[weakref.ref, Any]] = {}


def _cached(inst: Instance, key: str, build: Callable[[], Any]):
    slot = (id(inst), key)
    entry = _CACHE.get(slot)
    if entry is not None and entry[0]() is inst:
        return entry[1]
    value = build()
    _CACHE[slot] = (weakref.ref(inst, lambda _, slot=slot: _CACHE.pop(slot, None)), value)
    return value


def _timed_pattern(inst: Instance) -> tuple[sp.csr_matrix, float]:
    start = time.perf_counter()
    pattern = jacobian_pattern(inst)
    return pattern, time.perf_counter() - start


def pattern_of(inst: Instance) -> sp.csr_matrix:
    """The instance's pattern at x0, detected once while the instance lives."""
    return _cached(inst, "pattern", lambda: _timed_pattern(inst))[0]


def plan(inst: Instance, mode: str) -> Plan:
    """The instance's sparse-Jacobian plan for `mode`, built once while the instance lives."""
    def build():
        pattern, seconds = _cached(inst, "pattern", lambda: _timed_pattern(inst))
        return dataclasses.replace(make_plan(pattern, mode), detection_seconds=seconds)
    return _cached(inst, f"plan-{mode}", build)


def compressed_elements(inst: Instance, mode: str, limit: int) -> int:
    """Array elements a sparse Jacobian holds at once, c·working + nnz: its c directions carried
    through the function's largest intermediate, and J's non-zeros; decided against `limit` as
    cheaply as possible (listing a grid asks this of every instance):
    - the dense Jacobian's count when that fits (c ≤ n or m and nnz ≤ n·m, so the sparse one does);
    - one colour's working size when that alone does not fit (nothing detected);
    - else, with the pattern detected, an upper bound on c (`colorings.greedy_bound`) when that
      fits, a lower bound (`colorings.lower_bound`) when that does not, and the colouring's c
      only between the two; past the detection limit, that limit plus one."""
    from adcompare.engine.sparsity import PatternTooLarge
    from adcompare.operators import jacobian_operator

    dense = limits.dense_jacobian_elements(jacobian_operator(mode, "batched"), inst)
    if dense <= limit:
        return dense
    working = max(inst.n if mode == "fwd" else inst.m, inst.problem.working_elements(inst.n, **inst.options))
    if working > limit:     # one colour (c ≥ 1 where f depends on x) is already past: never detected
        return working
    try:
        pattern = pattern_of(inst)
    except PatternTooLarge as err:
        return err.limit + 1
    upper = colorings.greedy_bound(pattern, mode) * working + pattern.nnz
    lower = colorings.lower_bound(pattern, mode) * working + pattern.nnz
    if upper <= limit or lower > limit:
        return upper if upper <= limit else lower
    return plan(inst, mode).count * working + pattern.nnz


def to_dense(result) -> np.ndarray:
    """A backend's result as a numpy array (a sparse Jacobian densified; for tests and printing)."""
    return result.toarray() if sp.issparse(result) else np.asarray(result)
