"""Which combinations the matrix tests run: a pairwise covering design by default, the full
product with `pytest --exhaustive` (CI runs both).

The matrix tests check every problem × backend × operator × dtype (and the like) against the
oracles. Their full product is thousands of cases, most of them the same code path again, so
the default tier runs a *covering design*: a set of valid combinations in which every pair of
values of any two factors that occurs in some valid combination occurs at least once (every
problem on every backend, every operator on every problem, every backend in both dtypes, ...).
A fault that needs one value is found; so is one that needs a pair of values, which is where
interaction faults mostly are (Kuhn, Wallace & Gallo, "Software fault interactions and
implications for software testing", IEEE TSE 30(6), 2004).

The design is built by a deterministic greedy (AETG's idea: take the combination that covers
the most uncovered pairs, the cheaper one on a tie, the first in product order on a further
tie), so every run of the suite tests the same cases. `tests/test_matrix.py` checks that it
covers every pair and that `--exhaustive` collects the full product.

Factors come from the registries (problems, backends with the devices present here, operators,
dtypes), so a new problem or backend joins every matrix with no edit here. Devices other than the
CPU are factor values only where an NVIDIA GPU is present (`nvidia_gpu_missing`).
"""

from __future__ import annotations

import functools
import itertools
from typing import Callable, Iterable, Sequence

from adcompare.backends import DTYPES, all_backends, get_backend
from adcompare.backends._common import nvidia_gpu_missing
from adcompare.commands.check import small_instance
from adcompare.operators import OPERATORS
from adcompare.problems import get_problem, problem_names

EXHAUSTIVE = "--exhaustive"


@functools.cache
def small(problem: str):
    return small_instance(get_problem(problem))


def targets(all_devices: bool = False) -> list[tuple[str, str]]:
    """(backend, device) of every backend on every device it declares that may exist here: the
    CPU, and a GPU only where the machine has one."""
    gpu_here = nvidia_gpu_missing() is None
    return [(b.name, d) for b in all_backends() for d in b.devices if d == "cpu" or gpu_here or all_devices]


def applies(problem: str, operator: str) -> bool:
    """The pair means something: an HVP needs a scalar-output problem."""
    return OPERATORS[operator].applies_to(small(problem))


def implements(backend: str, operator: str) -> bool:
    return get_backend(backend).unsupported_reason(OPERATORS[operator]) is None


@functools.cache
def trace_length(problem: str) -> int:
    """Primitives in the engine's trace of the problem's small instance: what a compiler compiles
    and an eager dispatcher dispatches, so what a combination's cost grows with."""
    from adcompare import engine

    inst = small(problem)
    return engine.vjp(lambda z: inst.f(engine.xp, z), inst.x0)[1].tape_length


def cost(values: dict) -> float:
    """A rough relative cost of one combination, to prefer cheap ones among equally useful: a
    slow compiler spends seconds per operator and more on a long trace (torch-compile on ht: 40 s),
    a compiler or a costly dispatcher a fraction of that, an eager backend milliseconds."""
    backend = values.get("backend") or (values.get("target") or (None,))[0]
    weight = 1.0
    if backend is not None:
        b = get_backend(backend)
        weight = 20.0 if b.slow_compile else 3.0 if b.compiles or b.costly_jacobians else 0.1
    size = 1 + trace_length(values["problem"]) / 20 if "problem" in values else 1.0
    return weight * size


FACTORS: dict[str, Callable[[], list]] = {
    "problem": problem_names,
    "target": targets,
    "backend": lambda: list(dict.fromkeys(b for b, _ in targets())),
    "operator": lambda: list(OPERATORS),
    "dtype": lambda: list(DTYPES),
}


def product(names: Sequence[str], values: dict[str, Sequence], valid: Callable[[dict], bool]) -> list[tuple]:
    """Every valid combination, in product order."""
    return [combo for combo in itertools.product(*(values[n] for n in names))
            if valid(dict(zip(names, combo)))]


def pairs(names: Sequence[str], combo: tuple, cover: Sequence[tuple[str, str]] | None = None) -> set[tuple]:
    """The pairs of (factor, value) a combination covers; only those of the factor pairs in
    `cover` where it is given."""
    items = list(zip(names, combo))
    wanted = None if cover is None else {frozenset(p) for p in cover}
    return {(a, b) for a, b in itertools.combinations(items, 2)
            if wanted is None or frozenset((a[0], b[0])) in wanted}


def covering(names: Sequence[str], universe: Sequence[tuple],
             cover: Sequence[tuple[str, str]] | None = None) -> list[tuple]:
    """A deterministic greedy pairwise covering design of `universe` (see the module docstring);
    `cover`: only these pairs of factors (a test whose property lives in fewer interactions)."""
    if len(names) < 2:
        return list(dict.fromkeys(universe))
    covers = [pairs(names, c, cover) for c in universe]
    needed = set().union(*covers) if universe else set()
    costs = [cost(dict(zip(names, c))) for c in universe]
    chosen: list[tuple] = []
    while needed:
        best, best_key = None, None
        for i, cover in enumerate(covers):
            gain = len(cover & needed)
            if gain and (best_key is None or (gain / costs[i], gain) > best_key):
                best, best_key = i, (gain / costs[i], gain)
        chosen.append(universe[best])
        needed -= covers[best]
    return chosen


@functools.cache
def _cached_cover(names: tuple, universe: tuple, cover: tuple | None) -> tuple:
    return tuple(covering(names, universe, cover))


def combinations(names: Iterable[str], valid: Callable[[dict], bool], exhaustive: bool,
                 values: dict[str, Sequence] | None = None,
                 cover: Sequence[tuple[str, str]] | None = None) -> list[tuple]:
    """The combinations a matrix test runs: all valid ones when exhaustive, else a pairwise cover
    (of the factor pairs in `cover` only, where given)."""
    names = tuple(names)
    values = {n: (values or {}).get(n) or FACTORS[n]() for n in names}
    universe = tuple(product(names, values, valid))
    if exhaustive:
        return list(universe)
    return list(_cached_cover(names, universe, None if cover is None else tuple(map(tuple, cover))))
