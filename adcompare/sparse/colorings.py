"""Greedy partial distance-2 colourings of a Jacobian pattern's bipartite graph (rows ↔ columns).

Column colouring, for forward mode: two columns may share a colour only if no row holds both, so
one JVP whose tangent sums the columns of a colour recovers each of them. Row colouring, for
reverse mode, is the column colouring of the transpose. Greedy: visit the columns in some order
and give each the smallest colour that no column sharing a row with it (a distance-2 neighbour in
the bipartite graph) already has. Orders, after Gebremedhin, Manne and Pothen, "What color is
your Jacobian? Graph coloring for computing derivatives" (SIAM Review 47, 2005):
- natural: column order;
- largest-first: decreasing distance-2 degree (how many other columns share a row with it);
- smallest-last: repeatedly remove a column of least degree among those left, colour in reverse
  removal order, so each column is preceded by at most its degree at removal (the degeneracy).
"best" colours in each order, keeps the fewest colours, then re-runs the greedy over the columns
grouped by colour class (iterated greedy, Culberson and Luo 1996): visiting the classes one after
another can never need more colours, and often needs fewer (banded and grid patterns). Every
valid colouring needs at least max_i nnz(row i) colours (the columns of one row pairwise
conflict): `lower_bound`; "best" stops as soon as it reaches it.

Why compiled loops: a greedy colouring is sequential (each colour depends on the earlier ones),
and each order costs O(Σ_i nnz(row i)²) — 4.5·10⁸ steps for bundle adjustment with 10⁶
observations. numba compiles these loops (what asdex uses too); without numba the same functions
run as plain Python, which suits only small patterns.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from adcompare.errors import choose_from

MODES = ("fwd", "rev")
ORDERS = ("natural", "largest-first", "smallest-last")
CHOICES = ("best",) + ORDERS


def _oriented(pattern, mode: str) -> sp.csr_matrix:
    """The boolean CSR matrix whose columns are coloured: the pattern ("fwd") or its transpose ("rev")."""
    if mode not in MODES:
        raise choose_from("colouring mode", mode, MODES)
    matrix = sp.csr_matrix(pattern, dtype=bool, copy=True)
    if mode == "rev":
        matrix = sp.csr_matrix(matrix.T)
    matrix.sum_duplicates()
    return matrix


def bipartite(pattern, mode: str):
    """(col_ptr, col_rows, row_ptr, row_cols) of the matrix whose columns are coloured: the
    pattern for "fwd", its transpose for "rev"; int64, as the compiled loops take them."""
    matrix = _oriented(pattern, mode)
    by_col = matrix.tocsc()
    return (by_col.indptr.astype(np.int64), by_col.indices.astype(np.int64),
            matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64))


def _distance2_degrees(col_ptr, col_rows, row_ptr, row_cols):
    """For each column, the number of other columns sharing at least one row with it."""
    n = col_ptr.size - 1
    mark = np.full(n, -1, np.int64)
    degree = np.zeros(n, np.int64)
    for j in range(n):
        mark[j] = j
        count = 0
        for p in range(col_ptr[j], col_ptr[j + 1]):
            i = col_rows[p]
            for q in range(row_ptr[i], row_ptr[i + 1]):
                k = row_cols[q]
                if mark[k] != j:
                    mark[k] = j
                    count += 1
        degree[j] = count
    return degree


def _smallest_last(col_ptr, col_rows, row_ptr, row_cols, degree):
    """The smallest-last order: degrees kept in buckets (doubly linked lists), one column of
    least remaining degree removed at a time, its remaining neighbours' degrees lowered by one."""
    n = degree.size
    deg = degree.copy()
    top = 0
    for j in range(n):
        top = max(top, deg[j])
    head = np.full(top + 1, -1, np.int64)
    after = np.full(n, -1, np.int64)
    before = np.full(n, -1, np.int64)
    for j in range(n - 1, -1, -1):          # lower indices first within a bucket
        d = deg[j]
        after[j] = head[d]
        if head[d] != -1:
            before[head[d]] = j
        head[d] = j
    removed = np.zeros(n, np.bool_)
    mark = np.full(n, -1, np.int64)
    order = np.empty(n, np.int64)
    low = 0
    for step in range(n):
        while head[low] == -1:
            low += 1
        v = head[low]
        head[low] = after[v]
        if after[v] != -1:
            before[after[v]] = -1
        removed[v] = True
        order[n - 1 - step] = v
        mark[v] = v
        for p in range(col_ptr[v], col_ptr[v + 1]):
            i = col_rows[p]
            for q in range(row_ptr[i], row_ptr[i + 1]):
                u = row_cols[q]
                if removed[u] or mark[u] == v:
                    continue
                mark[u] = v
                d = deg[u]
                if before[u] != -1:             # unlink u from bucket d
                    after[before[u]] = after[u]
                else:
                    head[d] = after[u]
                if after[u] != -1:
                    before[after[u]] = before[u]
                d -= 1                          # relink it at the head of bucket d − 1
                deg[u] = d
                before[u] = -1
                after[u] = head[d]
                if head[d] != -1:
                    before[head[d]] = u
                head[d] = u
                if d < low:
                    low = d
    return order


def _greedy(order, col_ptr, col_rows, row_ptr, row_cols):
    """Colours in `order`: each column gets the smallest colour no coloured neighbour has."""
    n = order.size
    color = np.full(n, -1, np.int64)
    forbidden = np.full(n + 1, -1, np.int64)     # forbidden[c] == v: colour c is taken near v
    for v in order:
        for p in range(col_ptr[v], col_ptr[v + 1]):
            i = col_rows[p]
            for q in range(row_ptr[i], row_ptr[i + 1]):
                c = color[row_cols[q]]
                if c >= 0:
                    forbidden[c] = v
        c = 0
        while forbidden[c] == v:
            c += 1
        color[v] = c
    return color


@functools.cache
def kernels():
    """(degrees, smallest_last, greedy): the loops compiled by numba (cached on disk, so a process
    pays the ~1 s compile only once per machine), or the plain Python ones where numba is missing."""
    try:
        from numba import njit
    except ImportError:
        return _distance2_degrees, _smallest_last, _greedy
    return tuple(njit(cache=True)(f) for f in (_distance2_degrees, _smallest_last, _greedy))


def vertex_order(graph, order: str, degree=None) -> np.ndarray:
    """The columns in the visiting order `order` (one of ORDERS); `degree`: their distance-2
    degrees, if already computed."""
    n = graph[0].size - 1
    if order == "natural":
        return np.arange(n, dtype=np.int64)
    if order not in ORDERS:
        raise choose_from("colouring order", order, CHOICES)
    degrees, smallest_last, _ = kernels()
    degree = degrees(*graph) if degree is None else degree
    if order == "largest-first":
        return np.argsort(-degree, kind="stable").astype(np.int64)
    return smallest_last(*graph, degree)


# Iterated greedy: at most this many re-runs, stopping after PATIENCE without a colour saved.
ROUNDS, PATIENCE = 30, 6


def color(pattern, mode: str = "fwd", order: str = "best") -> np.ndarray:
    """One colour (0, 1, …) per column ("fwd") or per row ("rev") of a boolean m × n pattern."""
    if order not in CHOICES:
        raise choose_from("colouring order", order, CHOICES)
    graph = bipartite(pattern, mode)
    greedy = kernels()[2]
    if order != "best":
        return greedy(vertex_order(graph, order), *graph)
    bound = lower_bound(pattern, mode)
    best, degree = None, None
    for o in ORDERS:
        if o != "natural" and degree is None:
            degree = kernels()[0](*graph)
        colors = greedy(vertex_order(graph, o, degree), *graph)
        if best is None or count(colors) < count(best):
            best = colors
        if count(best) == bound:
            return best
    return iterated_greedy(graph, best, bound)


def iterated_greedy(graph, colors, bound: int = 0) -> np.ndarray:
    """Greedy again over the columns ordered class by class (reversed classes, largest class
    first, a fixed pseudo-random order, in turn): each run keeps or lowers the count, since a
    class's columns never conflict and so find a colour among those of the classes before them."""
    greedy = kernels()[2]
    rng = np.random.default_rng(0)
    best, stale = colors, 0
    for turn in range(ROUNDS):
        k = count(colors)
        if k <= bound or stale >= PATIENCE:
            break
        if turn % 3 == 0:
            sequence = np.arange(k)[::-1]
        elif turn % 3 == 1:
            sequence = np.argsort(-np.bincount(colors, minlength=k), kind="stable")
        else:
            sequence = rng.permutation(k)
        rank = np.empty(k, dtype=np.int64)
        rank[sequence] = np.arange(k)
        colors = greedy(np.argsort(rank[colors], kind="stable").astype(np.int64), *graph)
        stale = stale + 1 if count(colors) >= count(best) else 0
        if count(colors) < count(best):
            best = colors
    return best


def count(colors) -> int:
    """How many colours a colouring uses."""
    return int(np.max(colors)) + 1 if np.size(colors) else 0


def lower_bound(pattern, mode: str) -> int:
    """Colours any valid colouring needs: the most non-zeros in one row (fwd) or column (rev)."""
    if mode not in MODES:
        raise choose_from("colouring mode", mode, MODES)
    matrix = sp.csr_matrix(pattern, dtype=bool, copy=True)
    matrix.sum_duplicates()
    per_line = np.diff(matrix.indptr) if mode == "fwd" else np.bincount(matrix.indices, minlength=matrix.shape[1])
    return int(per_line.max(initial=0))


def greedy_bound(pattern, mode: str) -> int:
    """More colours than a greedy colouring in any order can use: 1 + the largest number of
    entries in the other lines a column (row) meets, an upper bound on its distance-2 degree;
    at most the number of columns (rows). O(nnz), so it can decide a memory guard cheaply."""
    matrix = _oriented(pattern, mode)
    others = np.diff(matrix.indptr) - 1                      # per row: the other columns in it
    met = np.bincount(matrix.indices, weights=others[np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))],
                      minlength=matrix.shape[1])
    return int(min(matrix.shape[1], met.max(initial=0) + 1))


def is_valid(pattern, colors, mode: str) -> bool:
    """No two columns (fwd) / rows (rev) of one colour share a row / column: within every line of
    the pattern the colours are distinct (checked by counting distinct (line, colour) pairs)."""
    matrix = sp.csr_matrix(pattern, dtype=bool, copy=True)
    if mode == "rev":
        matrix = sp.csr_matrix(matrix.T)
    matrix.sum_duplicates()
    colors = np.asarray(colors)
    if colors.shape != (matrix.shape[1],) or (colors.size and colors.min() < 0):
        return False
    pairs = sp.csr_matrix((np.ones(matrix.nnz), colors[matrix.indices], matrix.indptr.copy()),
                          shape=(matrix.shape[0], count(colors)))
    pairs.sum_duplicates()
    return pairs.nnz == matrix.nnz
