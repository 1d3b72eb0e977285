"""Peak memory of a call as the process sees it, on CPU targets: the resident bytes one call of a
prepared, warmed-up operator needs beyond what the process held before it (its inputs, constants
and compiled code), from the kernel's high-water mark (`adcompare.measure.memory`). Unlike tape
bytes (what a backend says its tape holds), this counts everything: tape, temporaries, results,
the framework's own scratch. Counted in one process, repeated so the figure has a spread."""

from __future__ import annotations

from adcompare.backends import DTYPES, Unavailable
from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cases import fits, sweep_cases
from adcompare.families.profile import BATCHED_JACOBIANS, HVPS, MAIN_SCALING, PRODUCT_OPERATORS
from adcompare.ids import Case, Target
from adcompare.measure import memory, prepared
from adcompare.measure.jobs import COUNT, ArmSpec, Job
from adcompare.operators import OPERATORS
from adcompare.problems import all_problems

PEAK = Benchmark(
    "memory.PeakMemory.track_peak_bytes", ("target", "dtype", "case", "operator"), "bytes",
    "Peak resident memory of one call beyond what the process held before it (CPU targets).",
    repeated=False, compare_as="peak memory")

# Peaks per figure, each after returning the allocator's free memory to the kernel. They agree
# to the page on numpy and our engine; torch and XLA vary by a few pages (thread-local caches).
REPEATS = 5
# main: the operators whose memory the report sets against each other (forward vs reverse, and
# the primal beneath them), on the scaling problems' sweeps, on our engine only. A pass of those
# 18 figures took 11.5 s on numpy, 18 s on autograd, 49 s on torch, 52 s on jax-jit and 702 s on
# torch-compile (cold compile cache, shared 2-core machine), against the main job's 10 minutes.
MAIN_OPERATORS = ("primal",) + PRODUCT_OPERATORS
MAIN_BACKENDS = ("numpy",)
# full: the operators whose memory differs in kind (batched Jacobians hold n or m directions at
# once, HVPs nest); a loop or sparse Jacobian needs its result plus one product's. With every
# operator a numpy pass took 590 s over the first four of the problems (affine, ba, brusselator,
# det), against the full grid's 50 minutes for everything; with these, 527 s over all 18 (475
# figures; lorenz96's batched Jacobians at n = 4096 164 s, lstm 122 s, gmm 71 s), on a shared
# 2-core machine. wide: every operator.
FULL_OPERATORS = MAIN_OPERATORS + BATCHED_JACOBIANS + HVPS


def peak_figures(grid: str) -> list[tuple[str, str]]:
    """(case, operator) pairs: main, the scaling problems' sweeps with primal, VJP and JVP (on
    our engine only: `MAIN_BACKENDS`); full, every problem's sweep with `FULL_OPERATORS`; wide,
    with every operator; where they fit (nested problems, whose calls take minutes, left out)."""
    pairs = []
    for problem in all_problems():
        if problem.nested or (grid == "main" and problem.name not in MAIN_SCALING):
            continue
        operators = {"main": MAIN_OPERATORS, "full": FULL_OPERATORS}.get(grid, tuple(OPERATORS))
        pairs += [(c, op) for c in sweep_cases(problem) for op in operators if fits(c, op)]
    return pairs


@register_family
class PeakMemory(Family):
    name = "peak-memory"
    title = "peak memory"
    order = 52
    benchmarks = (PEAK,)

    def jobs(self, grid, target):
        where = Target.parse(target)
        if where.device != "cpu" or (grid == "main" and where.backend not in MAIN_BACKENDS):
            return      # GPU targets: peak-device-memory; main: see MAIN_BACKENDS
        by_problem: dict[str, list[tuple[str, str]]] = {}
        for c, op in peak_figures(grid):
            by_problem.setdefault(Case.parse(c).problem, []).append((c, op))
        for dtype in (DTYPES if grid == "wide" else ("float64",)):
            for pairs in by_problem.values():     # a process per problem: what one leaves, the next never sees
                arms = tuple(ArmSpec(f"peak-rss@{c}/{op}", c, op, self.name, "peak-rss") for c, op in pairs)
                figures = tuple(PEAK.figure((target, dtype, c, op), "bytes", (a.name,))
                                for (c, op), a in zip(pairs, arms))
                yield Job(COUNT, target, dtype, arms, figures)

    def count(self, job, arm):
        if memory.unavailable_reason():
            raise Unavailable(memory.unavailable_reason())
        memory.fresh_pages()     # before preparing: the operator's own arrays are mmapped too
        # uncached (`prepared` keeps every operator it built): each arm's is freed before the next
        p = prepared.prepared.__wrapped__(job.target, job.dtype, arm.case, arm.operator)  # warm-up included
        run, block = p.run, p.block
        return memory.repeated_peaks(lambda: block(run()), REPEATS)
