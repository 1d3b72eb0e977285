"""Nested modes: a nested problem's primal (particle, saddle: the whole optimisation, as GradBench
times it) in each of its mode pairs (outer, inner: ff, fr, rf, rr), all timed in one job per target
and size, so every pair's ratio is taken in the same interleaved rounds and drift cancels in it.

Which sizes, where: the test instance (the problem's main instance: one step of each descent,
particle at Δt = 4: 10–100 ms per call on numpy, torch and autograd, ~1.2 s on eager jax, whose
transforms retrace each inner gradient) on every target in the full and wide grids; GradBench's
whole run (its sweep's other size) only on targets that compile loops (`Backend.compiles_loops`:
jax-jit runs it in about a second), since eagerly it takes 37 s (saddle) and 83 s (particle) per
call on numpy. The main grid has none: its job is at its 10-minute budget, and eager jax's first
calls alone compile for seconds per problem.
"""

from __future__ import annotations

from typing import Iterator

from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cases import backend_of, case_id
from adcompare.measure.jobs import TIMING, ArmSpec, Job
from adcompare.problems import Problem, all_problems
from adcompare.problems.registry import Choice

VARIANT_SECONDS = Benchmark(
    "time_operators.NestedModes.track_variant_seconds", ("target", "dtype", "case"), "seconds",
    "Seconds per call of a nested problem's primal (the whole optimisation) in one mode pair.",
    compare_as="time per call", goal=(0.05, 0.15))
VARIANT_RATIO = Benchmark(
    "ratios.NestedModes.track_variant_ratio", ("target", "dtype", "case", "against"), "ratio",
    "t(this mode pair) / t(the other), a nested problem's primal timed in the same interleaved rounds.",
    compare_as="cost ratios", goal=(0.02, 0.05))


def variant_option(problem: Problem) -> str:
    """The option whose choices are the mode pairs (the problem's one `Choice` option)."""
    [option] = [k for k, v in problem.options.items() if isinstance(v, Choice)]
    return option


def variants(problem: Problem, options: dict) -> list[tuple[str, str]]:
    """(mode pair, case id) of every choice of the instance `options` names."""
    option = variant_option(problem)
    return [(choice, case_id(problem, **{**options, option: choice})) for choice in problem.options[option].values]


def sizes(grid: str, target: str, problem: Problem) -> list[dict]:
    """The instances (as keywords) timed on `target` in `grid` (see the module docstring)."""
    if grid == "main":
        return []
    first = problem.main_instance()
    whole = [kw for kw in problem.sweep() if kw != first] if backend_of(target).compiles_loops else []
    return [first, *whole]


def variant_job(target: str, dtype: str, problem: Problem, options: dict) -> Job:
    """Every mode pair of one instance as an arm; each one's seconds, and every pair's ratio (the
    later over the earlier in the problem's order: fr/ff, rf/ff, rr/ff, rf/fr, rr/fr, rr/rf)."""
    pairs = variants(problem, options)
    arms = tuple(ArmSpec(choice, case, "primal") for choice, case in pairs)
    figures = [VARIANT_SECONDS.figure((target, dtype, case), "seconds", (choice,), parts=((choice, choice),))
               for choice, case in pairs]
    for i, (choice, case) in enumerate(pairs):
        for against, _ in pairs[:i]:
            figures.append(VARIANT_RATIO.figure((target, dtype, case, against), "ratio", (choice, against),
                                                parts=((choice, choice), (against, against))))
    return Job(TIMING, target, dtype, arms, tuple(figures), ("nested-modes", pairs[0][1]))


@register_family
class NestedModes(Family):
    name = "nested-modes"
    title = "nested AD: mode pairs"
    order = 14
    benchmarks = (VARIANT_SECONDS, VARIANT_RATIO)

    def jobs(self, grid, target) -> Iterator[Job]:
        for problem in all_problems():
            if not problem.nested:
                continue
            for options in sizes(grid, target, problem):
                yield variant_job(target, "float64", problem, options)
