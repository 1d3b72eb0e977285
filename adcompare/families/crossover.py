"""The forward/reverse crossover: t_fwd/t_rev of a full Jacobian, both modes timed in the same
interleaved rounds, over the n × m grid (n·m fixed, aspect n:m from 1:64 to 64:1) and on every
case whose profile times both modes."""

from __future__ import annotations

from adcompare.backends import DTYPES
from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cases import backend_of, case_id
from adcompare.families.profile import BATCHED_JACOBIANS, STRATEGY_JACOBIANS, profile
from adcompare.measure.jobs import TIMING, ArmSpec, Job
from adcompare.operators import get_operator
from adcompare.problems import all_problems

CROSSOVER = Benchmark(
    "time_operators.Crossover.track_factor", ("target", "dtype", "case", "strategy"), "ratio",
    "t_fwd / t_rev of a full Jacobian, both modes timed in the same interleaved rounds.",
    compare_as="crossover factor t_fwd/t_rev", goal=(0.02, 0.05), winner=True)

# The crossover grid: full Jacobians of f: Rⁿ → Rᵐ with n·m = CROSSOVER_PRODUCT, aspect n:m from
# 1:64 to 64:1 (five aspects; seven in the wide grid), on the problems with an independent m.
CROSSOVER_PRODUCT = 1 << 14
CROSSOVER_N = {"main": (16, 64, 128, 256, 1024), "full": (16, 64, 128, 256, 1024),
               "wide": (16, 32, 64, 128, 256, 512, 1024)}
CROSSOVER_PROBLEMS = {"main": ("affine",), "full": ("affine", "mlp"), "wide": None}   # None: every m problem


def crossover_cases(grid: str) -> list[str]:
    names = CROSSOVER_PROBLEMS[grid]
    problems = [p for p in all_problems() if "m" in p.options and (names is None or p.name in names)]
    return [case_id(p, n, m=CROSSOVER_PRODUCT // n) for p in problems for n in CROSSOVER_N[grid]]


def factor(target: str, dtype: str, case: str, strategy: str, fwd: str, rev: str):
    return CROSSOVER.figure((target, dtype, case, strategy), "ratio", (fwd, rev), parts=(("fwd", fwd), ("rev", rev)))


def crossover_job(target: str, dtype: str, case: str, strategy: str) -> Job:
    fwd, rev = STRATEGY_JACOBIANS[strategy]
    return Job(TIMING, target, dtype, (ArmSpec("fwd", case, fwd), ArmSpec("rev", case, rev)),
               (factor(target, dtype, case, strategy, "fwd", "rev"),), ("crossover", case, strategy))


@register_family
class Crossover(Family):
    name = "crossover"
    title = "forward/reverse crossover"
    order = 20
    benchmarks = (CROSSOVER,)

    def jobs(self, grid, target):
        """A profile case timing both modes of a strategy gets its factor in the profile's job.
        Over the n × m grid: batched (vmap / vector mode) and loops of single products (every
        backend has those, autograd included); the main grid times the loops only on a backend
        without batched Jacobians, so that it is in the crossover too."""
        for p in profile(grid, target):
            for strategy, (fwd, rev) in STRATEGY_JACOBIANS.items():
                if fwd in p.operators and rev in p.operators:
                    yield Job(TIMING, target, p.dtype, (ArmSpec(fwd, p.case, fwd), ArmSpec(rev, p.case, rev)),
                              (factor(target, p.dtype, p.case, strategy, fwd, rev),), p.group)
        backend = backend_of(target)
        batched = all(backend.unsupported_reason(get_operator(op)) is None for op in BATCHED_JACOBIANS)
        strategies = ["batched"] + (["loop"] if grid != "main" or not batched else [])
        for dtype in (DTYPES if grid == "wide" else ("float64",)):
            for case in crossover_cases(grid):
                for strategy in strategies:
                    yield crossover_job(target, dtype, case, strategy)
