"""Tape bytes: what reverse mode keeps for its backward sweep beyond x and the constants, as each
backend counts it (our engine's counter, torch's saved-tensor hooks, JAX's residuals, XLA's and
AOTAutograd's compiled outputs). Counted, not timed: deterministic, so measured once."""

from __future__ import annotations

from adcompare.backends import DTYPES
from adcompare.errors import UserError
from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cases import case_id, instance_of, middle_case
from adcompare.families.profile import MAIN_SCALING, profile_cases
from adcompare.measure import prepared
from adcompare.measure.jobs import COUNT, ArmSpec, Job
from adcompare.problems import all_problems

TAPE = Benchmark(
    "memory.TapeMemory.track_tape_bytes", ("target", "dtype", "case"), "bytes",
    "Bytes one VJP keeps for its backward pass; forward mode keeps none.",
    repeated=False, compare_as="tape bytes", goal=(0.0, 0.0))

# Depth sweeps (problems with a `depth_option`, at their middle size).
DEPTHS = {"main": (1, 10, 40, 160), "full": (1, 10, 40, 160), "wide": (1, 5, 10, 20, 40, 80, 160, 320)}
COUNTS = ("count",)   # the group of every counted job: one process per target and dtype counts them all


def tape_cases(grid: str) -> list[str]:
    """Over depth (problems with a depth option, at their middle size) and over n (every sweep).
    main: the depth sweep of its scaling problems and the cases it times. (Each case costs a
    trace, or a compile on a compiling target: the full list took 105 s on eager jax and 211 s
    on torch-compile, once per run, against the main grid's budget of minutes.)"""
    cases = []
    for problem in all_problems():
        option = problem.depth_option
        if option and (grid != "main" or problem.name in MAIN_SCALING):
            inst = instance_of(middle_case(problem))
            free_n = problem.input_size(**inst.options) is None
            for d in DEPTHS[grid]:
                try:
                    cases.append(case_id(problem, inst.n if free_n else None, **{**inst.options, option: d}))
                except UserError:      # a depth the problem does not allow (e.g. a 1-step sequence)
                    pass
        cases += profile_cases(grid, problem)
    return list(dict.fromkeys(cases))


@register_family
class Tape(Family):
    name = "tape"
    title = "tape bytes"
    order = 50
    benchmarks = (TAPE,)

    def jobs(self, grid, target):
        cases = tape_cases(grid)
        for dtype in (DTYPES if grid == "wide" else ("float64",)):
            arms = tuple(ArmSpec(f"tape@{c}", c, "vjp", self.name, "tape-bytes") for c in cases)
            figures = tuple(TAPE.figure((target, dtype, c), "bytes", (f"tape@{c}",)) for c in cases)
            yield Job(COUNT, target, dtype, arms, figures, COUNTS)

    def count(self, job, arm):
        return prepared.tape_bytes(job.target, job.dtype, arm.case)
