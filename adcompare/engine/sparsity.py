"""Sparsity detection: the third interpretation of the primitive table, beside JVP and VJP.

A `Pattern` carries its numpy value and a boolean sparse matrix D of shape (value.size, n) (a
`Deps`: CSR arrays): D[e, j] is True when element e of the value (C order) may depend on input
x_j. Each primitive's
pattern rule, next to its JVP and VJP rules in `primitives.py`, maps its arguments' D to its
output's; no derivative is computed. The D of y = f(x) is the *global* Jacobian pattern, which
contains the non-zeros of J(x) at every x:
  - elementwise ops: the union of the arguments' rows (a product with a constant zero counts);
  - where(cond, a, b): the union of both branches, whatever cond is at this x;
  - sum and max: the union of the rows reduced (max may select any of them);
  - structural ops (reshape, getitem, take, roll, stack, concat, transpose, broadcast,
    scatter) share one rule: the op applied to an array of element indices says which element
    each output element comes from (`moves`);
  - take_add and matmul combine rows (`combine`: the union of the rows each output element
    gathers). A constant matmul factor's zeros are kept (constants are fixed for an instance), a
    traced factor's are not.
Values are carried along so that problems can compare them (the conditions of `where`).
With at most DENSE_INPUTS inputs D is a dense boolean array (a rule is one or two numpy calls);
beyond, a `Deps` of CSR arrays (small unions merge sorted keys row·n + input, large ones use
scipy's compiled sparse add and product). The result is a scipy CSR matrix. An
operation whose result would exceed the non-zero limit raises `PatternTooLarge` before it
allocates.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from adcompare.engine.core import Tracer, new_level
from adcompare.errors import UserError

# A dense float64 Jacobian of this many elements takes 256 MiB; a pattern intermediate may hold
# as many non-zeros (indices: 4 bytes each) before detection refuses the instance.
DEFAULT_MAX_NONZEROS = 1 << 25
_limit = DEFAULT_MAX_NONZEROS


class PatternTooLarge(UserError):
    """Detection stopped: one dependency matrix would exceed the non-zero limit."""

    def __init__(self, nonzeros: int, limit: int):
        super().__init__(f"the Jacobian pattern needs more than {limit} non-zeros (an intermediate has "
                         f"{nonzeros}); choose a smaller instance")
        self.nonzeros, self.limit = nonzeros, limit


def _check(nonzeros) -> None:
    if nonzeros > _limit:
        raise PatternTooLarge(int(nonzeros), _limit)


class Pattern(Tracer):
    """A value together with the inputs each of its elements depends on."""

    __slots__ = ("value", "deps", "level")

    def __init__(self, value, deps, level):
        self.value, self.deps, self.level = value, deps, level

    def process(self, prim, args, params):
        level = self.level
        values, patterns = [], []
        for a in args:
            if isinstance(a, Pattern) and a.level == level:
                values.append(a.value)
                patterns.append(a.deps)
            elif isinstance(a, Tracer):
                raise TypeError("engine: sparsity detection must be the outermost transform")
            else:
                values.append(a)
                patterns.append(None)
        ans = np.asarray(prim.impl(*values, **params))
        if prim.broadcasts:
            patterns = [None if p is None else broadcast(p, np.shape(v), ans.shape)
                        for p, v in zip(patterns, values)]
        return Pattern(ans, prim.pattern(patterns, ans, *values, **params), level)

    def __repr__(self):
        return f"Pattern(level={self.level}, value={self.value!r}, nnz={to_csr(self.deps).nnz})"



def jacobian_sparsity(fun, x, max_nonzeros: int = DEFAULT_MAX_NONZEROS) -> sp.csr_matrix:
    """The global Jacobian pattern of f: a boolean CSR matrix (f(x).size, x.size), indices sorted.

    x supplies the values that comparisons inside f read; the pattern holds at every x.
    """
    global _limit
    x = np.asarray(x)
    n, level = x.size, new_level()
    previous, _limit = _limit, max_nonzeros
    try:
        y = fun(Pattern(x, identity(n), level))
    finally:
        _limit = previous
    if isinstance(y, Pattern) and y.level == level:
        return to_csr(y.deps)
    return sp.csr_matrix((int(np.size(y)), n), dtype=bool)        # f does not depend on x


# --- the rules' building blocks -----------------------------------------------------------------
class Deps:
    """Which inputs each element depends on, in CSR form without scipy's per-object checks (a
    detection makes one per primitive): row e's inputs are indices[indptr[e]:indptr[e + 1]],
    sorted and distinct; n inputs."""

    __slots__ = ("indptr", "indices", "n")

    def __init__(self, indptr, indices, n: int):
        self.indptr, self.indices, self.n = indptr, indices, n

    @classmethod
    def identity(cls, n: int) -> "Deps":
        return cls(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64), n)

    @classmethod
    def from_keys(cls, keys, rows: int, n: int) -> "Deps":
        """From sorted, distinct flat keys row·n + input."""
        row_of = keys // n
        indptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of, minlength=rows), out=indptr[1:])
        return cls(indptr, keys - row_of * n, n)

    @property
    def rows(self) -> int:
        return self.indptr.size - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def keys(self) -> np.ndarray:
        """The flat keys row·n + input, sorted (rows in order, inputs sorted within a row)."""
        return np.repeat(np.arange(self.rows, dtype=np.int64) * self.n, np.diff(self.indptr)) + self.indices

    @classmethod
    def from_csr(cls, matrix) -> "Deps":
        matrix.sort_indices()
        return cls(matrix.indptr, matrix.indices, matrix.shape[1])

    def to_csr(self) -> sp.csr_matrix:
        index = np.int32 if max(self.nnz, self.n) < 2**31 else np.int64
        return sp.csr_matrix((np.ones(self.nnz, dtype=bool), self.indices.astype(index, copy=False),
                              self.indptr.astype(index, copy=False)), shape=(self.rows, self.n))


# With few inputs the dependencies are a dense boolean array instead (rows × n, a byte an entry):
# every rule is then one or two numpy calls (lorenz96, n = 128, 10 steps: 5 ms instead of 100).
# Past a few hundred inputs the CSR arrays win (brusselator, n = 2048: 1.5 ms instead of 27).
DENSE_INPUTS = 256


def identity(n: int):
    """The inputs' own dependencies: x_j depends on x_j."""
    return np.eye(n, dtype=bool) if n <= DENSE_INPUTS else Deps.identity(n)


def rows_of(deps) -> int:
    return deps.shape[0] if isinstance(deps, np.ndarray) else deps.rows


def to_csr(deps) -> sp.csr_matrix:
    return sp.csr_matrix(deps) if isinstance(deps, np.ndarray) else deps.to_csr()


# Below this many entries a union or combination merges sorted keys in numpy (a few calls, no
# objects); above it scipy's compiled sparse add and product win (measured: 10⁷ entries merge
# in 0.3 s by scipy, 2.7 s by sorting keys; 300 entries in 30 µs by keys, 80 µs through scipy).
SMALL = 1 << 16


def _distinct(sorted_keys) -> np.ndarray:
    if sorted_keys.size < 2:
        return sorted_keys
    keep = np.empty(sorted_keys.size, dtype=bool)
    keep[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=keep[1:])
    return sorted_keys[keep]


def gather(deps, index):
    """The rows deps[index] (index −1: an element that depends on nothing)."""
    index = np.ravel(index)
    if index.size == rows_of(deps) and np.array_equal(index, np.arange(index.size)):
        return deps
    valid = index >= 0
    if isinstance(deps, np.ndarray):
        _check(index.size * deps.shape[1])
        out = deps[np.where(valid, index, 0)]
        if not valid.all():
            out[~valid] = False
        return out
    counts = np.where(valid, np.diff(deps.indptr)[index], 0)
    indptr = np.zeros(index.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    total = int(indptr[-1])
    _check(total)
    starts = np.where(valid, deps.indptr[index], 0)
    positions = np.repeat(starts - indptr[:-1], counts) + np.arange(total)
    return Deps(indptr, deps.indices[positions], deps.n)


def stacked(parts):
    """The rows of several dependency matrices, one after another."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    offsets = np.cumsum([0] + [p.nnz for p in parts[:-1]])
    indptr = np.concatenate([[0]] + [p.indptr[1:] + o for p, o in zip(parts, offsets)])
    return Deps(indptr, np.concatenate([p.indices for p in parts]), parts[0].n)


def broadcast(deps, shape, out_shape):
    """The dependencies of an argument of `shape` broadcast to `out_shape`."""
    if tuple(shape) == tuple(out_shape):
        return deps
    return gather(deps, np.broadcast_to(np.arange(int(np.prod(shape, dtype=int))).reshape(shape), out_shape))


def union(patterns):
    """Elementwise OR of same-shape dependency matrices (None: a constant). Each one's keys are
    sorted, so a stable sort of them side by side is a merge."""
    present = []
    for p in patterns:
        if p is not None and not any(p is q for q in present):
            present.append(p)
    if len(present) == 1:
        return present[0]
    if isinstance(present[0], np.ndarray):
        out = present[0] | present[1]
        for p in present[2:]:
            out |= p
        return out
    total = sum(p.nnz for p in present)
    _check(total)
    if total > SMALL:
        out = present[0].to_csr()
        for p in present[1:]:
            out = out + p.to_csr()
        return Deps.from_csr(out)
    keys = _distinct(np.sort(np.concatenate([p.keys() for p in present]), kind="stable"))
    return Deps.from_keys(keys, present[0].rows, present[0].n)


def combine(deps, out_rows, in_rows, count: int):
    """Row r of the result: the union of the rows deps[in_rows[k]] over every k with out_rows[k] == r."""
    out_rows, in_rows = np.ravel(out_rows), np.ravel(in_rows)
    if isinstance(deps, np.ndarray):
        _check(max(in_rows.size, count) * deps.shape[1])
        order = np.argsort(out_rows, kind="stable")
        targets = out_rows[order]
        out = np.zeros((count, deps.shape[1]), dtype=bool)
        if targets.size:
            starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]])
            out[targets[starts]] = np.logical_or.reduceat(deps[in_rows[order]], starts, axis=0)
        return out
    lengths = np.diff(deps.indptr)
    _check(int(lengths[in_rows].sum()))        # at least the result's size (before duplicates go)
    if deps.nnz > SMALL:
        mixer = sp.csr_matrix((np.ones(out_rows.size, dtype=bool), (out_rows, in_rows)), shape=(count, deps.rows))
        return Deps.from_csr(mixer @ deps.to_csr())
    picked = gather(deps, in_rows)
    keys = np.repeat(out_rows.astype(np.int64) * deps.n, np.diff(picked.indptr)) + picked.indices
    return Deps.from_keys(_distinct(np.sort(keys)), count, deps.n)


def aggregate(deps, groups, count: int):
    """Row g of the result: the union of the rows e with groups[e] == g (reductions)."""
    groups = np.ravel(groups)
    return combine(deps, groups, np.arange(groups.size), count)


# --- rules shared by several primitives --------------------------------------------------------
def elementwise(patterns, ans, *args, **params):
    """An elementwise op: each output element depends on what its arguments' elements depend on."""
    return union(patterns)


def same(patterns, ans, *args, **params):
    """Reshape: the elements keep their order (C order), so the rows are unchanged."""
    return patterns[0]


def moves(impl):
    """The rule of a structural primitive: `impl` applied to arrays of 1-based element indices
    (0 for a constant argument) names the source of every output element; 0 (a constant, or the
    zeros scatter writes) depends on nothing. The traced arguments' rows are stacked in order."""
    def rule(patterns, ans, *args, **params):
        sources, offset, indexed = [], 0, []
        for p, a in zip(patterns, args):
            shape = np.shape(a)
            if p is None:
                indexed.append(np.zeros(shape, dtype=np.int64))
                continue
            indexed.append(np.arange(offset + 1, offset + 1 + rows_of(p), dtype=np.int64).reshape(shape))
            sources.append(p)
            offset += rows_of(p)
        source = np.asarray(impl(*indexed, **params)) - 1
        return gather(stacked(sources), source)
    return rule


def matmul(patterns, ans, a, b):
    """a @ b (1-D, 2-D or stacks): out[..., i, j] depends on a[..., i, k] and b[..., k, j] for every
    k at which the other factor may be non-zero (all k when the other factor is traced)."""
    ia = np.arange(np.size(a)).reshape(np.shape(a))
    ib = np.arange(np.size(b)).reshape(np.shape(b))
    ia = ia.reshape(1, -1) if ia.ndim == 1 else ia             # (..., I, K)
    ib = ib.reshape(-1, 1) if ib.ndim == 1 else ib             # (..., K, J)
    _check(ans.size * ia.shape[-1])
    a_idx, b_idx = np.broadcast_arrays(ia[..., :, None, :], np.swapaxes(ib, -1, -2)[..., None, :, :])
    out_idx = np.broadcast_to(np.arange(ans.size).reshape(a_idx.shape[:-1])[..., None], a_idx.shape)
    out_idx, a_idx, b_idx = np.ravel(out_idx), np.ravel(a_idx), np.ravel(b_idx)
    parts = []
    for deps, mine, other, other_idx, other_deps in ((patterns[0], a_idx, b, b_idx, patterns[1]),
                                                     (patterns[1], b_idx, a, a_idx, patterns[0])):
        if deps is None:
            continue
        if other_deps is None:                  # a constant factor: its zeros are structural
            keep = np.ravel(other)[other_idx] != 0
            parts.append(combine(deps, out_idx[keep], mine[keep], ans.size))
        else:
            parts.append(combine(deps, out_idx, mine, ans.size))
    return union(parts)
