"""Sparse Jacobians: c_col JVPs against c_row VJPs (the sparse crossover), each against the dense
Jacobian of its mode, and what the compression costs to set up (sparsity detection, colouring)
and how many colours it needs against their lower bound.

Detection and colouring are our engine's (one pattern for every backend), timed and counted on
its target; the sparse Jacobians themselves on every backend with batched products.
"""

from __future__ import annotations

from adcompare import sparse
from adcompare.backends import DTYPES
from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.families.cases import case_id, fits, instance_of, sweep_cases
from adcompare.families.tape import COUNTS
from adcompare.families.time_per_call import seconds_figure
from adcompare.ids import Case
from adcompare.measure.jobs import COUNT, TIMING, ArmSpec, Job
from adcompare.operators import SPARSE_JACOBIANS
from adcompare.problems import all_problems, get_problem

SPARSE_FACTOR = Benchmark(
    "sparse.SparseJacobians.track_sparse_factor", ("target", "dtype", "case"), "ratio",
    "t_fwd/t_rev of the sparse Jacobians (column colours against row colours): the sparse version of the "
    "crossover.", compare_as="sparse crossover factor t_fwd/t_rev", winner=True)
SPARSE_SPEEDUP = Benchmark(
    "sparse.SparseSpeedup.track_speedup", ("target", "dtype", "case", "mode"), "ratio",
    "How many times faster the sparse Jacobian is than the dense one of the same mode.",
    compare_as="sparse speedup t_dense/t_sparse")
DETECTION = Benchmark(
    "sparse.Detection.track_detection_seconds", ("target", "dtype", "case"), "seconds",
    "Seconds of our engine's sparsity detection (index sets through the primitives).",
    compare_as="sparse set-up time")
COLORING = Benchmark(
    "sparse.Coloring.track_coloring_seconds", ("target", "dtype", "case", "mode"), "seconds",
    "Seconds of the greedy distance-2 colouring of the pattern, checked, with its seeds.",
    compare_as="sparse set-up time")
SETUP_RATIO = Benchmark(
    "sparse.SetupRatio.track_setup_ratio", ("target", "dtype", "case", "mode"), "ratio",
    "(detection + colouring) / one dense Jacobian of the same mode: below 1, the sparse machinery pays for "
    "itself before its first Jacobian.", compare_as="sparse set-up / dense Jacobian")
COLORS = Benchmark(
    "sparse.Colors.track_colors", ("target", "dtype", "case", "mode"), "colors",
    "Colours of the column (fwd) or row (rev) colouring: products per sparse Jacobian.",
    repeated=False, compare_as="colours", goal=(0.0, 0.0))
LOWER_BOUND = Benchmark(
    "sparse.LowerBound.track_lower_bound", ("target", "dtype", "case", "mode"), "colors",
    "The lower bound beside every count: most non-zeros in a row (fwd) or column (rev).",
    repeated=False, compare_as="colours", goal=(0.0, 0.0))

MODES = ("fwd", "rev")
DENSE_JACOBIAN = {"fwd": "jacobian-fwd", "rev": "jacobian-rev"}
SPARSE_JACOBIAN = dict(zip(MODES, SPARSE_JACOBIANS))
SETUP_TARGET = "numpy:cpu"
DETECT = "sparsity-detection"
COLORING_STEP = {"fwd": "coloring-fwd", "rev": "coloring-rev"}
SETUP_STEPS = (DETECT, *COLORING_STEP.values())
# A dense Jacobian is timed beside the sparse ones up to this many entries (n·m): past it, one
# dense call takes seconds (lorenz96:4096 at 10 steps), and a job of interleaved rounds would
# outlast its timeout.
DENSE_BESIDE_SPARSE = 1 << 22
# main: two cases where both dense and sparse Jacobians fit and are quick enough for its budget,
# on our engine and one compiled target (torch-compile's ba compiles take tens of seconds)
MAIN_TARGETS = (SETUP_TARGET, "jax-jit:cpu")
MAIN_CASES = (("brusselator", {"N": 32}), ("ba", {"c": 4, "p": 16, "o": 64}))


def sparse_cases(grid: str) -> list[str]:
    problems = [p for p in all_problems() if p.sparse_jacobian]
    if grid != "main":
        return [c for p in problems for c in sweep_cases(p)]
    names = {p.name for p in problems}
    return [case_id(get_problem(name), **opts) for name, opts in MAIN_CASES if name in names]


def timing_job(target: str, case: str) -> Job:
    """Sparse against dense Jacobians, both modes, timed together on one structured case: the
    sparse crossover t_fwd/t_rev (c_col JVPs against c_row VJPs) and each mode's speedup
    t_dense/t_sparse; on our engine's target also sparsity detection and colouring, and their
    sum against one dense Jacobian of the same mode."""
    inst = instance_of(case)
    dense = DENSE_JACOBIAN.values() if inst.n * inst.m <= DENSE_BESIDE_SPARSE else ()
    ops = [op for op in (*dense, *SPARSE_JACOBIAN.values()) if fits(case, op)]
    arms = [ArmSpec(op, case, op) for op in ops]
    figures = [seconds_figure(target, "float64", case, op) for op in ops]
    fwd, rev = SPARSE_JACOBIAN["fwd"], SPARSE_JACOBIAN["rev"]
    if fwd in ops and rev in ops:
        figures.append(SPARSE_FACTOR.figure((target, "float64", case), "ratio", (fwd, rev),
                                            parts=(("fwd", fwd), ("rev", rev))))
    for mode in MODES:
        dense_op, sparse_op = DENSE_JACOBIAN[mode], SPARSE_JACOBIAN[mode]
        if dense_op in ops and sparse_op in ops:
            figures.append(SPARSE_SPEEDUP.figure((target, "float64", case, mode), "ratio", (dense_op, sparse_op),
                                                 parts=(("dense", dense_op), ("sparse", sparse_op))))
    if target == SETUP_TARGET and any(op in ops for op in SPARSE_JACOBIAN.values()):
        arms += [ArmSpec(step, case, None, Sparse.name, step) for step in SETUP_STEPS]
        figures.append(DETECTION.figure((target, "float64", case), "seconds", (DETECT,)))
        for mode in MODES:
            step = COLORING_STEP[mode]
            figures.append(COLORING.figure((target, "float64", case, mode), "seconds", (step,)))
            if DENSE_JACOBIAN[mode] in ops:
                figures.append(SETUP_RATIO.figure((target, "float64", case, mode), "sum-ratio",
                                                  (DETECT, step, DENSE_JACOBIAN[mode]),
                                                  parts=(("detection", DETECT), ("coloring", step),
                                                         ("dense", DENSE_JACOBIAN[mode]))))
    return Job(TIMING, target, "float64", tuple(arms), tuple(figures), ("sparse", case))


def _counts_job(target: str, dtype: str, cases: list[str]) -> Job:
    """Colour counts and their lower bounds (our engine's patterns), counted once."""
    arms, figures = [], []
    for c in cases:
        for mode in MODES:
            for label, probe, benchmark in (("colors", "colors", COLORS), ("bound", "lower-bound", LOWER_BOUND)):
                name = f"{label}@{c}/{mode}"
                arms.append(ArmSpec(name, c, SPARSE_JACOBIAN[mode], Sparse.name, probe))
                figures.append(benchmark.figure((target, dtype, c, mode), "bytes", (name,)))
    return Job(COUNT, target, dtype, tuple(arms), tuple(figures), COUNTS)


@register_family
class Sparse(Family):
    name = "sparse"
    title = "sparse Jacobians"
    order = 60
    benchmarks = (SPARSE_FACTOR, SPARSE_SPEEDUP, DETECTION, COLORING, SETUP_RATIO, COLORS, LOWER_BOUND)

    def jobs(self, grid, target):
        if grid == "main" and target not in MAIN_TARGETS:
            return
        cases = sparse_cases(grid)
        for case in cases:
            yield timing_job(target, case)
        if target == SETUP_TARGET:
            for dtype in (DTYPES if grid == "wide" else ("float64",)):
                yield _counts_job(target, dtype, cases)

    def timed_call(self, job, arm):
        """One preparation step done afresh per call (no cache): "sparsity-detection" traces the
        pattern; "coloring-fwd" / "coloring-rev" colours (and checks, and builds seeds from) the
        pattern detected once here."""
        inst = Case.parse(arm.case).instance()
        if arm.probe == DETECT:
            return lambda: sparse.jacobian_pattern(inst)
        mode = {step: mode for mode, step in COLORING_STEP.items()}[arm.probe]
        pattern = sparse.jacobian_pattern(inst)
        return lambda: sparse.make_plan(pattern, mode)

    def count(self, job, arm):
        """The colours of the case's colouring for the arm's mode, or their lower bound."""
        mode = "fwd" if arm.operator == SPARSE_JACOBIAN["fwd"] else "rev"
        plan = sparse.plan(Case.parse(arm.case).instance(), mode)
        return plan.lower_bound if arm.probe == "lower-bound" else plan.count
