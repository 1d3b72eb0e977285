"""Greedy distance-2 colourings against brute force and the definitions, and on the structured problems.

Oracles, none of them the code under test: the conflict matrix C = (BᵀB > 0) of a pattern B
(columns j ≠ k conflict when a row holds both), a colouring checked pair by pair against C, the
chromatic number by exhaustive search on small random patterns, a textbook greedy and textbook
orders written over C, and the lower bound max nnz per row (per column for rows).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

import adcompare as ad
from adcompare.sparse import colorings
from adcompare.errors import UserError


def conflicts(pattern, mode="fwd") -> np.ndarray:
    dense = np.asarray(pattern.toarray() if sp.issparse(pattern) else pattern, dtype=int)
    dense = dense if mode == "fwd" else dense.T
    c = dense.T @ dense > 0
    np.fill_diagonal(c, False)
    return c


def valid_by_pairs(pattern, colors, mode="fwd") -> bool:
    c = conflicts(pattern, mode)
    same = np.asarray(colors)[:, None] == np.asarray(colors)[None, :]
    return not (c & same).any()


def chromatic_number(c) -> int:
    """The fewest colours of any valid colouring, by trying every assignment (n ≤ 6)."""
    n = c.shape[0]
    edges = np.argwhere(np.triu(c))
    for k in range(1, n + 1):
        for assignment in itertools.product(range(k), repeat=n):
            a = np.array(assignment)
            if not (a[edges[:, 0]] == a[edges[:, 1]]).any():
                return k
    return 0


def textbook_greedy(c, order) -> np.ndarray:
    colors = np.full(c.shape[0], -1)
    for v in order:
        taken = set(colors[c[v] & (colors >= 0)])
        colors[v] = next(k for k in itertools.count() if k not in taken)
    return colors


def random_patterns(count=40, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        m, n = rng.integers(1, 7), rng.integers(1, 7)
        yield sp.csr_matrix(rng.random((m, n)) < rng.uniform(0.2, 0.7))


PATTERNS = list(random_patterns())


@pytest.mark.parametrize("mode", colorings.MODES)
@pytest.mark.parametrize("order", colorings.CHOICES)
def test_greedy_against_brute_force(order, mode):
    for pattern in PATTERNS:
        colors = colorings.color(pattern, mode, order)
        size = pattern.shape[1] if mode == "fwd" else pattern.shape[0]
        assert colors.shape == (size,) and colors.dtype.kind == "i"
        assert valid_by_pairs(pattern, colors, mode)
        assert colorings.is_valid(pattern, colors, mode)
        c = conflicts(pattern, mode)
        best = chromatic_number(c)
        assert colorings.lower_bound(pattern, mode) <= best <= colorings.count(colors)
        degree = c.sum(axis=1)
        assert colorings.count(colors) <= (degree.max(initial=0) + 1)     # greedy's guarantee
        assert degree.max(initial=0) + 1 <= colorings.greedy_bound(pattern, mode) <= size
        assert set(colors) == set(range(colorings.count(colors)))         # colours 0 … c − 1, no gaps


@pytest.mark.parametrize("mode", colorings.MODES)
def test_greedy_equals_the_textbook_greedy_in_each_order(mode):
    for pattern in PATTERNS:
        graph = colorings.bipartite(pattern, mode)
        c = conflicts(pattern, mode)
        for order in colorings.ORDERS:
            visit = colorings.vertex_order(graph, order)
            assert sorted(visit) == list(range(c.shape[0]))
            np.testing.assert_array_equal(colorings.kernels()[2](visit, *graph), textbook_greedy(c, visit))


def test_orders_follow_their_definitions():
    """largest-first: distance-2 degrees never increase along the order; smallest-last: each
    column, when removed (order read backwards), has the least degree among those left."""
    for pattern in PATTERNS:
        graph = colorings.bipartite(pattern, "fwd")
        c = conflicts(pattern)
        degree = c.sum(axis=1)
        np.testing.assert_array_equal(colorings.kernels()[0](*graph), degree)
        assert (np.diff(degree[colorings.vertex_order(graph, "largest-first")]) <= 0).all()
        left = np.ones(c.shape[0], dtype=bool)
        for v in colorings.vertex_order(graph, "smallest-last")[::-1]:
            remaining = (c & left[None, :]).sum(axis=1)
            assert remaining[v] == remaining[left].min()
            left[v] = False


def test_compiled_and_python_loops_agree():
    """numba compiles the same functions that run as Python without it."""
    pattern = ad.sparsity_pattern("brusselator", N=5)
    graph = colorings.bipartite(pattern, "fwd")
    degrees, smallest_last, greedy = colorings.kernels()
    np.testing.assert_array_equal(degrees(*graph), colorings._distance2_degrees(*graph))
    order = smallest_last(*graph, degrees(*graph))
    np.testing.assert_array_equal(order, colorings._smallest_last(*graph, degrees(*graph)))
    np.testing.assert_array_equal(greedy(order, *graph), colorings._greedy(order, *graph))


def test_is_valid_rejects_a_shared_row():
    pattern = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=bool))
    assert colorings.is_valid(pattern, [0, 1, 0], "fwd")
    assert not colorings.is_valid(pattern, [0, 0, 1], "fwd")
    assert not colorings.is_valid(pattern, [0, 1], "fwd")          # wrong length
    assert not colorings.is_valid(pattern, [0, 0], "rev")          # rows 0 and 1 share column 1
    assert colorings.is_valid(pattern, [1, 0], "rev")
    assert not colorings.is_valid(pattern, [0, -1, 1], "fwd")      # no colour


# The structured problems: every colouring valid, its count beside the bound. Square needs one
# colour; ba's camera, point and weight columns fit the bound exactly (cameras never share a row).
STRUCTURED = [("square", {"n": 9}), ("lorenz96", {"n": 40, "steps": 1}), ("brusselator", {"N": 8}),
              ("ba", {"c": 3, "p": 8, "o": 24})]


@pytest.mark.parametrize("mode", colorings.MODES)
@pytest.mark.parametrize("name, opts", STRUCTURED, ids=[s[0] for s in STRUCTURED])
def test_structured_problems(name, opts, mode):
    pattern = ad.sparsity_pattern(name, **opts)
    colors = ad.coloring(name, mode, **opts)
    assert colors.shape == (pattern.shape[1] if mode == "fwd" else pattern.shape[0],)
    assert valid_by_pairs(pattern, colors, mode)
    bound = colorings.lower_bound(pattern, mode)
    count = colorings.count(colors)
    assert bound <= count
    if name == "square":
        assert count == 1
    if name == "ba" and mode == "fwd":
        assert count == bound == 14
    for order in colorings.ORDERS:
        assert colorings.count(ad.coloring(name, mode, order=order, **opts)) >= count   # best is the fewest


def test_lower_bounds_are_the_longest_line():
    pattern = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 0], [0, 1, 0, 1]], dtype=bool))
    assert colorings.lower_bound(pattern, "fwd") == 3
    assert colorings.lower_bound(pattern, "rev") == 3


def test_unknown_mode_and_order_name_what_is_allowed():
    with pytest.raises(UserError, match="choose from: fwd, rev"):
        ad.coloring("square", mode="forward")
    with pytest.raises(UserError, match="choose from: best, natural, largest-first, smallest-last"):
        ad.coloring("square", order="random")
