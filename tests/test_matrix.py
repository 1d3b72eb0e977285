"""The matrix tests' covering design (tests/matrix.py): every pair of values of any two factors
that occurs in a valid combination occurs in the design; the design is deterministic; and
`--exhaustive` collects the full product."""

import itertools
import subprocess
import sys
from pathlib import Path

import matrix
import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("problem", "target", "operator", "dtype")


def meaningful(values):
    return matrix.applies(values["problem"], values["operator"]) and matrix.implements(values["target"][0],
                                                                                       values["operator"])


def all_pairs_present(names, universe, design):
    """Every pair that some valid combination has, recomputed here from scratch."""
    wanted = set()
    for combo in universe:
        for (i, a), (j, b) in itertools.combinations(enumerate(combo), 2):
            wanted.add((names[i], a, names[j], b))
    got = set()
    for combo in design:
        for (i, a), (j, b) in itertools.combinations(enumerate(combo), 2):
            got.add((names[i], a, names[j], b))
    return wanted - got


def test_the_design_covers_every_pair_of_the_backend_matrix():
    universe = matrix.combinations(NAMES, meaningful, exhaustive=True)
    design = matrix.combinations(NAMES, meaningful, exhaustive=False)
    assert not all_pairs_present(NAMES, universe, design)
    assert set(design) <= set(universe)                     # only valid combinations
    assert len(design) < len(universe) / 5                  # and far fewer of them
    # every value of every factor is in it: each problem, target, operator and dtype at least once
    for i, name in enumerate(NAMES):
        assert {c[i] for c in design} == {c[i] for c in universe}, name


def test_the_design_is_deterministic_and_valid_on_a_toy_product():
    names = ("a", "b", "c")
    values = {"a": [0, 1, 2], "b": ["x", "y"], "c": [True, False]}

    def valid(v):                       # (2, "y") never occurs: no pair with it may be demanded
        return not (v["a"] == 2 and v["b"] == "y")
    universe = matrix.product(names, values, valid)
    design = matrix.covering(names, universe)
    assert design == matrix.covering(names, universe)                      # the same every time
    assert not all_pairs_present(names, universe, design)
    assert (2, "y", True) not in design and (2, "y", False) not in design
    assert len(design) <= 6 < len(universe) == 10


def test_a_greedy_cover_is_minimal_where_the_bound_is_known():
    """Three binary factors: four combinations cover all twelve pairs (the Latin-square bound)."""
    names = ("a", "b", "c")
    universe = matrix.product(names, {n: [0, 1] for n in names}, lambda v: True)
    design = matrix.covering(names, universe)
    assert not all_pairs_present(names, universe, design) and len(design) == 4


def test_a_cover_of_chosen_factor_pairs_covers_those_and_is_smaller():
    names = ("a", "b", "c")
    universe = matrix.product(names, {"a": list(range(6)), "b": list(range(2)), "c": list(range(5))},
                              lambda v: True)
    full, chosen = matrix.covering(names, universe), matrix.covering(names, universe, cover=[("a", "b"), ("b", "c")])
    wanted = {pair for combo in universe for pair in matrix.pairs(names, combo, [("b", "a"), ("c", "b")])}
    assert wanted == {pair for combo in chosen for pair in matrix.pairs(names, combo, [("a", "b"), ("b", "c")])}
    assert all(frozenset((x[0], y[0])) != frozenset(("a", "c")) for x, y in wanted)
    assert len(chosen) == 12 < len(full) == 30          # every (a, b) once; (a, c) needs all 30


def collected(*args):
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args,
                           "tests/test_backends.py::test_operator_agrees_with_oracle_and_engine"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


@pytest.mark.slow
def test_exhaustive_collects_the_full_product():
    default, full = collected(), collected("--exhaustive")
    universe = matrix.combinations(NAMES, meaningful, exhaustive=True)
    assert len(full) == len(universe) and len(default) == len(matrix.combinations(NAMES, meaningful, False))
    assert set(default) < set(full)
