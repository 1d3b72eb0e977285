"""Benchmark grids: which figures each grid measures, and how they are grouped into jobs.

A *figure* is one headline number, one asv benchmark combination: a benchmark name (the asv
family, e.g. "time_operators.Crossover.track_factor") and its parameters (target first). A *job*
is what one measurement process does: it prepares a few *arms* (operators on cases, or the
reference kernel) on one target and times them side by side in randomized interleaved rounds
(adcompare.rounds); each of its figures is a formula over the arms' per-process estimates (one
arm's seconds, or the ratio of two). Arms that a figure compares are always in the same job, so
drift cancels in every ratio. A job runs in several independent processes (adcompare.campaign).

Everything is derived from the registries — problems (their sweeps and options), backends
(names, devices) and operators — so a new problem or backend adds figures with no edit here or
in `benchmarks/`. Three grids:

- `main`, the README's main command: every section of the report for every backend, sized to
  finish in about 10 min on 2 cores with warm figures from three processes each (two scaling
  lines at their smallest and largest size, the workloads at their main size, the crossover
  over affine, compile and first call on one case, tape bytes of what it times);
- `full`: every size of every problem, every operator where it fits, both crossover problems;
  ≤ 60 min on 2 cores;
- `wide`: float32 everywhere, every aspect ratio and depth, deeper compiled cases.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from typing import Iterable, Iterator

from adcompare.backends import DTYPES, all_backends, device_key, get_backend
from adcompare.cases import case_instance, format_case
from adcompare.errors import choose_from
from adcompare.operators import OPERATORS, SPARSE_JACOBIANS, get_operator
from adcompare.problems import Problem, all_problems, get_problem

GRIDS = ("main", "full", "wide")
DEFAULT_GRID = "main"
GRID_ENV = "ADCOMPARE_GRID"

REFERENCE = "reference"     # the arm name of the fixed reference kernel (adcompare.reference)
PRODUCT_OPERATORS = ("vjp", "jvp")
BATCHED_JACOBIANS = ("jacobian-fwd", "jacobian-rev")
LOOP_JACOBIANS = ("jacobian-fwd-loop", "jacobian-rev-loop")
JACOBIANS = BATCHED_JACOBIANS + LOOP_JACOBIANS
HVPS = tuple(name for name, op in OPERATORS.items() if op.kind == "hvp")
STRATEGY_JACOBIANS = {"batched": BATCHED_JACOBIANS, "loop": LOOP_JACOBIANS}

# The crossover grid: full Jacobians of f: Rⁿ → Rᵐ with n·m = CROSSOVER_PRODUCT, aspect n:m from
# 1:64 to 64:1 (five aspects; seven in the wide grid), on the problems with an independent m.
CROSSOVER_PRODUCT = 1 << 14
CROSSOVER_N = {"main": (16, 64, 128, 256, 1024), "full": (16, 64, 128, 256, 1024),
               "wide": (16, 32, 64, 128, 256, 512, 1024)}
CROSSOVER_PROBLEMS = {"main": ("affine",), "full": ("affine", "mlp"), "wide": None}   # None: every m problem

# Depth sweeps of the tape family (problems with a `depth_option`, at their middle size).
DEPTHS = {"main": (1, 10, 40, 160), "full": (1, 10, 40, 160), "wide": (1, 5, 10, 20, 40, 80, 160, 320)}

# The A/A control: the same operator on both sides of a ratio, on every target (the noise floor).
NOISE_FLOOR_CASE = "rosenbrock:1000"
NOISE_FLOOR_OPERATOR = "vjp"
# Compile / prepare time and the first call from a fresh interpreter, main grid: one case.
COMPILE_CASE = ("mlp", 100)
FIRST_CALL_DTYPE = "float64"

# XLA and Inductor compile an unrolled time-stepping loop in time that grows faster than its
# depth (jax-jit, lorenz96:128: a VJP compiles in 0.5 s at 1 step, 4.7 s at 4, ~50 s at 10), and
# every measurement process compiles afresh (or reads the compile cache), so compiling targets
# stop at this depth.
MAX_COMPILED_DEPTH = {"main": 2, "full": 2, "wide": 10}


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One asv benchmark family: its name, parameter names (target first) and unit."""

    name: str
    param_names: tuple[str, ...]
    unit: str
    repeated: bool = True       # timed (measured in every pass) or counted (once)

    @property
    def method(self) -> str:
        return self.name.rsplit(".", 1)[1]


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("time_operators.Operators.track_seconds", ("target", "dtype", "case", "operator"), "seconds"),
    Benchmark("time_operators.Crossover.track_factor", ("target", "dtype", "case", "strategy"), "ratio"),
    Benchmark("ratios.CostRatios.track_cost_ratio", ("target", "dtype", "case", "operator"), "ratio"),
    Benchmark("ratios.Workloads.track_derivative_ratio", ("target", "dtype", "case", "operator"), "ratio"),
    Benchmark("ratios.NoiseFloor.track_aa_ratio", ("target", "dtype", "case", "operator"), "ratio"),
    Benchmark("memory.TapeMemory.track_tape_bytes", ("target", "dtype", "case"), "bytes", repeated=False),
    Benchmark("memory.PeakDeviceMemory.track_peak_device_bytes", ("target", "dtype", "case", "operator"),
              "bytes", repeated=False),
    Benchmark("compile.Prepare.track_prepare_seconds", ("target", "dtype", "case", "operator"), "seconds"),
    Benchmark("compile.FirstCall.track_first_call_seconds", ("target", "case", "operator"), "seconds"),
    Benchmark("sparse.SparseJacobians.track_sparse_factor", ("target", "dtype", "case"), "ratio"),
    Benchmark("sparse.SparseSpeedup.track_speedup", ("target", "dtype", "case", "mode"), "ratio"),
    Benchmark("sparse.Detection.track_detection_seconds", ("target", "dtype", "case"), "seconds"),
    Benchmark("sparse.Coloring.track_coloring_seconds", ("target", "dtype", "case", "mode"), "seconds"),
    Benchmark("sparse.SetupRatio.track_setup_ratio", ("target", "dtype", "case", "mode"), "ratio"),
    Benchmark("sparse.Colors.track_colors", ("target", "dtype", "case", "mode"), "colors", repeated=False),
    Benchmark("sparse.LowerBound.track_lower_bound", ("target", "dtype", "case", "mode"), "colors", repeated=False),
]}
(SECONDS, CROSSOVER, COST_RATIO, DERIVATIVE_RATIO, NOISE_FLOOR, TAPE, PEAK, PREPARE, FIRST_CALL,
 SPARSE_FACTOR, SPARSE_SPEEDUP, DETECTION, COLORING, SETUP_RATIO, COLORS, LOWER_BOUND) = BENCHMARKS


@dataclasses.dataclass(frozen=True)
class ArmSpec:
    """One arm of a job: an operator on a case, or the reference kernel (case None)."""

    name: str
    case: str | None = None
    operator: str | None = None


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One figure of a job: `formula` over the arms named in `arms`.

    "seconds": per-call seconds of arms[0]; "ratio": arms[0] / (divisor · arms[1]);
    "prepare": the process's preparation seconds of arms[0]; "first-call": a fresh interpreter's
    seconds to import, prepare and run arms[0]; "bytes": the counter of arms[0] (bytes, colours).
    `parts` are (label, arm) pairs: arms whose own seconds are reported beside the figure."""

    benchmark: str
    params: tuple
    formula: str
    arms: tuple[str, ...]
    divisor: int = 1
    parts: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple:
        return self.benchmark, self.params

    def param_dict(self) -> dict:
        return dict(zip(BENCHMARKS[self.benchmark].param_names, self.params))


@dataclasses.dataclass(frozen=True)
class Job:
    """What one measurement process does: kind "timing" (interleaved rounds), "prepare",
    "first-call" or "count" (tape bytes, peak memory: deterministic, measured once)."""

    kind: str
    target: str
    dtype: str
    arms: tuple[ArmSpec, ...]
    figures: tuple[FigureSpec, ...]

    @property
    def repeated(self) -> bool:
        return self.kind != "count"

    @property
    def id(self) -> str:
        """Stable across runs and processes: kind, target, dtype and the arms."""
        text = "|".join([self.kind, self.target, self.dtype] + [f"{a.name}={a.case}/{a.operator}" for a in self.arms])
        return hashlib.sha1(text.encode()).hexdigest()[:12]


# --- helpers over the registry ------------------------------------------------------------------
def grid_from_env() -> str:
    """The grid the asv benchmark classes are built from: $ADCOMPARE_GRID, default `main`."""
    return check_grid(os.environ.get(GRID_ENV, DEFAULT_GRID))


def check_grid(grid: str) -> str:
    if grid not in GRIDS:
        raise choose_from("grid", grid, GRIDS)
    return grid


def targets() -> list[str]:
    """Every 'backend:device' any registered backend declares, in backend order."""
    return [device_key(b.name, d) for b in all_backends() for d in b.devices]


def case_id(problem: Problem, n: int | None = None, **opts: int) -> str:
    n, merged = problem.resolve(n, **opts)
    return format_case(problem.name, n, **merged)


@functools.lru_cache(maxsize=None)
def instance_of(case: str):
    """The instance a case id names, built once (constants included)."""
    return case_instance(case)


def sweep_cases(problem: Problem) -> list[str]:
    """The problem's sweep as case ids, smallest first (by n, then by m)."""
    return sorted((case_id(problem, **kw) for kw in problem.sweep()),
                  key=lambda c: (instance_of(c).n, instance_of(c).m))


def largest_case(problem: Problem) -> str:
    return sweep_cases(problem)[-1]


def middle_case(problem: Problem) -> str:
    cases = sweep_cases(problem)
    return cases[len(cases) // 2]


def fits(case: str, operator: str) -> bool:
    """Structurally valid anywhere: an HVP needs m = 1, and a Jacobian must fit in memory."""
    from adcompare.measure import too_large_reason

    op = get_operator(operator)
    inst = instance_of(case)
    return op.applies_to(inst) and too_large_reason(op, inst) is None


def compiles(target: str) -> bool:
    """Does this target compile in prepare? (A backend says so with `compiles = True`.)"""
    return bool(getattr(get_backend(target.split(":")[0]), "compiles", False))


def costly_jacobians(target: str) -> bool:
    """Does a workload's batched Jacobian cost this target seconds per process to set up?"""
    return get_backend(target.split(":")[0]).costly_jacobians


def depth(case: str) -> int | None:
    """The case's depth (time steps, sequence length), if its problem has a depth option."""
    inst = instance_of(case)
    option = inst.problem.depth_option
    return inst.options[option] if option else None


def affordable(target: str, case: str, grid: str) -> bool:
    """False for a compiling target on a case deeper than the grid allows it to compile."""
    d = depth(case)
    return d is None or d <= MAX_COMPILED_DEPTH[grid] or not compiles(target)


@functools.lru_cache(maxsize=None)
def why_not(target: str, dtype: str, case: str, operator: str) -> str | None:
    """Why this arm cannot run on this machine (framework, device, operator, size), or None.
    Cheap: asks the backend, which imports nothing to rule out a GPU where there is none."""
    from adcompare.measure import split_target, too_large_reason

    backend_name, device = split_target(target)
    op = get_operator(operator)
    inst = instance_of(case)
    return get_backend(backend_name).why_not(op, inst, device, dtype) or too_large_reason(op, inst)


# --- the jobs of each family --------------------------------------------------------------------
def _arm(operator: str, case: str, name: str | None = None) -> ArmSpec:
    return ArmSpec(name or operator, case, operator)


def _divisor(case: str, operator: str) -> int:
    """Primal evaluations an operator is held against: min(n, m) for a Jacobian, else 1."""
    inst = instance_of(case)
    return min(inst.n, inst.m) if get_operator(operator).kind == "jacobian" else 1


def case_job(target: str, dtype: str, case: str, operators: Iterable[str], *, reference: bool = False,
             derivatives: Iterable[str] = ()) -> Job:
    """Operators of one case timed together with the primal in one job: every operator's
    seconds per call and its cost ratio to the primal; for `derivatives` (a workload's field
    derivatives) the plain derivative/objective ratio; for a pair of Jacobian modes of one
    strategy, the crossover factor t_fwd/t_rev. `reference` adds the reference kernel, beside
    which absolute times are read (drift visible, and divisible out)."""
    ops = [op for op in dict.fromkeys(("primal", *operators, *derivatives)) if fits(case, op)]
    arms = [_arm(op, case) for op in ops] + ([ArmSpec(REFERENCE)] if reference else [])
    extra = ((REFERENCE, REFERENCE),) if reference else ()
    figures = [FigureSpec(SECONDS, (target, dtype, case, op), "seconds", (op,), parts=((op, op), *extra))
               for op in ops]
    figures += [FigureSpec(COST_RATIO, (target, dtype, case, op), "ratio", (op, "primal"), _divisor(case, op),
                           parts=((op, op), ("primal", "primal"))) for op in ops if op != "primal"]
    figures += [FigureSpec(DERIVATIVE_RATIO, (target, dtype, case, op), "ratio", (op, "primal"),
                           parts=((op, op), ("primal", "primal"))) for op in derivatives if op in ops]
    for strategy, (fwd, rev) in STRATEGY_JACOBIANS.items():
        if fwd in ops and rev in ops:
            figures.append(FigureSpec(CROSSOVER, (target, dtype, case, strategy), "ratio", (fwd, rev),
                                      parts=(("fwd", fwd), ("rev", rev))))
    return Job("timing", target, dtype, tuple(arms), tuple(figures))


# The main grid (≤ 10 min on 2 cores): two scaling lines (each problem's smallest and largest
# size) and every workload at its main size; full: every sweep, and a scalar workload's gradient
# by both modes at its smallest size.
MAIN_SCALING = ("square", "lorenz96")


def main_case(problem: Problem) -> str:
    return case_id(problem, **problem.main_instance())


def profile_cases(grid: str, problem: Problem) -> list[str]:
    cases = sweep_cases(problem)
    if grid != "main":   # every size, and a workload's main size where the sweep lacks it (ode's s = 1)
        return list(dict.fromkeys(cases + ([main_case(problem)] if problem.field_derivatives else [])))
    if problem.field_derivatives:   # (the full grid times a scalar workload's gradient both ways too)
        return [main_case(problem)]
    if problem.name in MAIN_SCALING:
        return list(dict.fromkeys([cases[0], cases[-1]]))
    return []


def profile_jobs(grid: str, target: str) -> Iterator[Job]:
    """Steady-state time and cost ratios of primal, vjp and jvp over each problem's sizes, the
    reference kernel beside them; a workload adds its field derivatives. main: each workload at
    its main size, its own derivatives only. full adds a scalar workload's batched Jacobians at
    its smallest size (the gradient by n tangents against one cotangent: why reverse wins, with
    its crossover factor), the HVPs, the four Jacobians at the middle size and float32 at the
    largest; wide: every operator at every size in both dtypes."""
    for problem in all_problems():
        if grid == "main" and costly_jacobians(target) and any(
                get_operator(op).kind == "jacobian" for op in problem.field_derivatives):
            continue   # a workload's batched Jacobians: seconds of compile or dispatch per process
        cases = profile_cases(grid, problem)
        for dtype in (DTYPES if grid == "wide" else ("float64",)):
            for case in cases:
                derivatives = list(problem.field_derivatives)
                if grid != "main" and derivatives and instance_of(case).m == 1 and case == sweep_cases(problem)[0]:
                    derivatives += BATCHED_JACOBIANS     # the gradient by n tangents against by one cotangent
                if grid == "wide":   # (sparse Jacobians: their own family, on the problems they suit)
                    ops: tuple[str, ...] = tuple(op for op in OPERATORS if op not in SPARSE_JACOBIANS)
                elif grid == "full":
                    ops = PRODUCT_OPERATORS + HVPS + (JACOBIANS if case == middle_case(problem) else ())
                elif problem.field_derivatives:
                    ops = ()              # main: a workload's own derivatives against its objective
                else:
                    ops = PRODUCT_OPERATORS
                yield case_job(target, dtype, case, ops, reference=True, derivatives=derivatives)
        if grid == "full":
            yield case_job(target, "float32", sweep_cases(problem)[-1], PRODUCT_OPERATORS)


def crossover_cases(grid: str) -> list[str]:
    names = CROSSOVER_PROBLEMS[grid]
    problems = [p for p in all_problems() if "m" in p.options and (names is None or p.name in names)]
    return [case_id(p, n, m=CROSSOVER_PRODUCT // n) for p in problems for n in CROSSOVER_N[grid]]


def crossover_job(target: str, dtype: str, case: str, strategy: str) -> Job:
    fwd, rev = STRATEGY_JACOBIANS[strategy]
    return Job("timing", target, dtype, (_arm(fwd, case, "fwd"), _arm(rev, case, "rev")),
               (FigureSpec(CROSSOVER, (target, dtype, case, strategy), "ratio", ("fwd", "rev"),
                           parts=(("fwd", "fwd"), ("rev", "rev"))),))


def crossover_jobs(grid: str, target: str) -> Iterator[Job]:
    """Jacobian fwd vs rev over the n × m grid (n·m fixed), batched (vmap / vector mode) and as
    loops of single products (every backend has those, autograd included). The main grid times
    the loops only on a backend without batched Jacobians, so it is in the crossover too."""
    backend = get_backend(target.split(":")[0])
    batched = all(backend.unsupported_reason(get_operator(op)) is None for op in BATCHED_JACOBIANS)
    strategies = ["batched"] + (["loop"] if grid != "main" or not batched else [])
    for dtype in (DTYPES if grid == "wide" else ("float64",)):
        for case in crossover_cases(grid):
            for strategy in strategies:
                yield crossover_job(target, dtype, case, strategy)


def noise_floor_jobs(grid: str, target: str) -> Iterator[Job]:
    """The A/A control: one operator prepared once, timed as two arms; its true ratio is 1."""
    case, op = NOISE_FLOOR_CASE, NOISE_FLOOR_OPERATOR
    yield Job("timing", target, "float64", (_arm(op, case, "A"), _arm(op, case, "A'")),
              (FigureSpec(NOISE_FLOOR, (target, "float64", case, op), "ratio", ("A", "A'"),
                          parts=(("A", "A"), ("A'", "A'"))),))


def compile_cases(grid: str) -> list[str]:
    if grid == "main":
        name, n = COMPILE_CASE
        return [case_id(get_problem(name), n)]
    return [middle_case(p) for p in all_problems()]


def prepare_jobs(grid: str, target: str) -> Iterator[Job]:
    """Preparation (convert, trace, compile, warm up) of vjp and jvp, one per process, no compile
    cache; wide adds the batched Jacobians."""
    ops = PRODUCT_OPERATORS + (BATCHED_JACOBIANS if grid == "wide" else ())
    for case in compile_cases(grid):
        for op in ops:
            yield Job("prepare", target, "float64", (_arm(op, case),),
                      (FigureSpec(PREPARE, (target, "float64", case, op), "prepare", (op,)),))


def first_call_jobs(grid: str, target: str) -> Iterator[Job]:
    """A user's first call: import, prepare and run once, in a fresh interpreter."""
    for case in compile_cases(grid)[:1] if grid != "wide" else compile_cases(grid):
        op = "vjp"
        yield Job("first-call", target, FIRST_CALL_DTYPE, (_arm(op, case),),
                  (FigureSpec(FIRST_CALL, (target, case, op), "first-call", (op,)),))


def tape_cases(grid: str) -> list[str]:
    """Over depth (problems with a depth option, at their middle size) and over n (every sweep).
    main: the depth sweep of its scaling problems and the cases it times. (Each case costs a
    trace, or a compile on a compiling target: the full list took 105 s on eager jax and 211 s
    on torch-compile, once per run, against the main grid's budget of minutes.)"""
    from adcompare.errors import UserError

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


def count_jobs(grid: str, target: str) -> Iterator[Job]:
    """Tape bytes of one VJP (every target), peak device memory of vjp and jvp (GPU targets):
    counted, not timed, so one job per target holds them all and runs once."""
    cases = tape_cases(grid)
    for dtype in (DTYPES if grid == "wide" else ("float64",)):
        arms = [_arm("vjp", c, f"tape@{c}") for c in cases]
        figures = [FigureSpec(TAPE, (target, dtype, c), "bytes", (f"tape@{c}",)) for c in cases]
        if not target.endswith(":cpu"):
            for problem in all_problems():
                for c in sweep_cases(problem):
                    for op in PRODUCT_OPERATORS:
                        arms.append(_arm(op, c, f"peak@{c}/{op}"))
                        figures.append(FigureSpec(PEAK, (target, dtype, c, op), "bytes", (f"peak@{c}/{op}",)))
        if target == SPARSE_SETUP_TARGET:   # colour counts and their lower bounds (our engine's patterns)
            for c in sparse_cases(grid):
                for mode in MODES:
                    for name, benchmark in (("colors", COLORS), ("bound", LOWER_BOUND)):
                        arms.append(_arm(SPARSE_JACOBIAN[mode], c, f"{name}@{c}/{mode}"))
                        figures.append(FigureSpec(benchmark, (target, dtype, c, mode), "bytes", (f"{name}@{c}/{mode}",)))
        yield Job("count", target, dtype, tuple(arms), tuple(figures))


# --- sparse Jacobians ---------------------------------------------------------------------------
MODES = ("fwd", "rev")
DENSE_JACOBIAN = {"fwd": "jacobian-fwd", "rev": "jacobian-rev"}
SPARSE_JACOBIAN = dict(zip(MODES, SPARSE_JACOBIANS))
# Detection and colouring are our engine's (one pattern for every backend), timed on its target.
SPARSE_SETUP_TARGET = "numpy:cpu"
DETECT = "sparsity-detection"
COLORING_STEP = {"fwd": "coloring-fwd", "rev": "coloring-rev"}
SETUP_STEPS = (DETECT, *COLORING_STEP.values())
# A dense Jacobian is timed beside the sparse ones up to this many entries (n·m): past it, one
# dense call takes seconds (lorenz96:4096 at 10 steps), and a job of interleaved rounds would
# outlast its timeout.
DENSE_BESIDE_SPARSE = 1 << 22
# main: two cases where both dense and sparse Jacobians fit and are quick enough for its budget
SPARSE_MAIN_TARGETS = (SPARSE_SETUP_TARGET, "jax-jit:cpu")
SPARSE_MAIN = (("brusselator", {"N": 32}), ("ba", {"c": 4, "p": 16, "o": 64}))


def sparse_cases(grid: str) -> list[str]:
    problems = [p for p in all_problems() if p.sparse_jacobian]
    if grid != "main":
        return [c for p in problems for c in sweep_cases(p)]
    names = {p.name for p in problems}
    return [case_id(get_problem(name), **opts) for name, opts in SPARSE_MAIN if name in names]


def sparse_jobs(grid: str, target: str) -> Iterator[Job]:
    """Sparse against dense Jacobians, both modes, timed together on each structured case: the
    sparse crossover t_fwd/t_rev (c_col JVPs against c_row VJPs) and each mode's speedup
    t_dense/t_sparse; on our engine's target also sparsity detection and colouring, and their
    sum against one dense Jacobian of the same mode."""
    if grid == "main" and target not in SPARSE_MAIN_TARGETS:
        return    # main: our engine and one compiled target (torch-compile's ba compiles take tens of seconds)
    for case in sparse_cases(grid):
        inst = instance_of(case)
        dense = DENSE_JACOBIAN.values() if inst.n * inst.m <= DENSE_BESIDE_SPARSE else ()
        ops = [op for op in (*dense, *SPARSE_JACOBIAN.values()) if fits(case, op)]
        arms = [_arm(op, case) for op in ops]
        figures = [FigureSpec(SECONDS, (target, "float64", case, op), "seconds", (op,)) for op in ops]
        fwd, rev = SPARSE_JACOBIAN["fwd"], SPARSE_JACOBIAN["rev"]
        if fwd in ops and rev in ops:
            figures.append(FigureSpec(SPARSE_FACTOR, (target, "float64", case), "ratio", (fwd, rev),
                                      parts=(("fwd", fwd), ("rev", rev))))
        for mode in MODES:
            dense, sparse_op = DENSE_JACOBIAN[mode], SPARSE_JACOBIAN[mode]
            if dense in ops and sparse_op in ops:
                figures.append(FigureSpec(SPARSE_SPEEDUP, (target, "float64", case, mode), "ratio", (dense, sparse_op),
                                          parts=(("dense", dense), ("sparse", sparse_op))))
        if target == SPARSE_SETUP_TARGET and any(op in ops for op in SPARSE_JACOBIAN.values()):
            arms += [_arm(step, case) for step in SETUP_STEPS]
            figures.append(FigureSpec(DETECTION, (target, "float64", case), "seconds", (DETECT,)))
            for mode in MODES:
                step = COLORING_STEP[mode]
                figures.append(FigureSpec(COLORING, (target, "float64", case, mode), "seconds", (step,)))
                if DENSE_JACOBIAN[mode] in ops:
                    figures.append(FigureSpec(SETUP_RATIO, (target, "float64", case, mode), "sum-ratio",
                                              (DETECT, step, DENSE_JACOBIAN[mode]),
                                              parts=(("detection", DETECT), ("coloring", step),
                                                     ("dense", DENSE_JACOBIAN[mode]))))
        yield Job("timing", target, "float64", tuple(arms), tuple(figures))


FAMILY_JOBS = (profile_jobs, crossover_jobs, noise_floor_jobs, prepare_jobs, first_call_jobs, count_jobs, sparse_jobs)


# --- the grid, reduced to what can run here -----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Skipped:
    """A figure of the grid that cannot run on this machine, and why (shown as n/a)."""

    figure: FigureSpec
    reason: str


@functools.lru_cache(maxsize=None)
def target_reason(target: str) -> str | None:
    """Why a target cannot run at all here (framework missing, no such device), or None."""
    from adcompare.measure import split_target

    backend_name, device = split_target(target)
    backend = get_backend(backend_name)
    if device not in backend.devices:
        return f"{backend.name} runs on {', '.join(backend.devices)}, not {device!r}"
    return backend.missing_reason() or backend.device_missing_reason(device)


def _arm_reason(job: Job, arm: ArmSpec, grid: str) -> str | None:
    target = target_reason(job.target)
    if target:
        return target
    if arm.case is None:
        return None
    if not affordable(job.target, arm.case, grid):
        return (f"{job.target} compiles {arm.case} only up to depth {MAX_COMPILED_DEPTH[grid]} in the "
                f"{grid} grid (compile time grows faster than the depth)")
    if job.kind == "count" or arm.operator in SETUP_STEPS:
        return None     # the counter decides per arm (tape bytes need no operator support)
    return why_not(job.target, job.dtype, arm.case, arm.operator)


def _runnable(job: Job, grid: str) -> tuple[Job | None, list[Skipped]]:
    """The job without the arms that cannot run here (and the figures that read them), and the
    figures dropped with their reasons. A figure needs every arm it reads."""
    reasons = {a.name: _arm_reason(job, a, grid) for a in job.arms}
    arms = tuple(a for a in job.arms if reasons[a.name] is None)
    names = {a.name for a in arms}
    figures = tuple(f for f in job.figures if set(f.arms) <= names)
    skipped = [Skipped(f, next(reasons[a] for a in f.arms if reasons[a])) for f in job.figures
               if not set(f.arms) <= names]
    if not figures:
        return None, skipped
    used = {n for f in figures for n in (*f.arms, *(arm for _, arm in f.parts)) if n in names}
    return dataclasses.replace(job, arms=tuple(a for a in arms if a.name in used), figures=figures), skipped


@dataclasses.dataclass(frozen=True)
class Plan:
    """A grid on this machine: the jobs to run, and the figures that cannot run here."""

    jobs: list[Job]
    skipped: list[Skipped]

    @property
    def figures(self) -> list[FigureSpec]:
        return [f for job in self.jobs for f in job.figures]


def _family_jobs(grid: str, targets_: Iterable[str]) -> Iterator[Job]:
    for target in targets_:
        for family in FAMILY_JOBS:
            yield from family(grid, target)


def plan(grid: str, targets_: Iterable[str] | None = None) -> Plan:
    """Every job of the grid on the given targets (default: all), reduced to what can run here.
    A figure is measured by the first job that has it (each figure has exactly one value)."""
    grid = check_grid(grid)
    seen: set = set()
    out, skipped = [], []
    for job in _family_jobs(grid, targets() if targets_ is None else targets_):
        job = dataclasses.replace(job, figures=tuple(f for f in job.figures if f.key not in seen))
        runnable, dropped = _runnable(job, grid)
        skipped += [s for s in dropped if s.figure.key not in seen]
        seen |= {f.key for f in job.figures}
        if runnable is not None:
            out.append(runnable)
    return Plan(list({j.id: j for j in out}.values()), skipped)


def all_figures(grid: str) -> list[FigureSpec]:
    """Every figure of the grid on every target, runnable here or not (asv's parameter lists)."""
    seen: dict = {}
    for job in _family_jobs(check_grid(grid), targets()):
        for f in job.figures:
            seen.setdefault(f.key, f)
    return list(seen.values())


def figure_job(benchmark: str, params: tuple, grid: str) -> Job | None:
    """The smallest job that measures one figure here (plain asv runs one figure per process),
    or None if it cannot run here."""
    for job in _family_jobs(check_grid(grid), [params[0]]):
        for f in job.figures:
            if f.key == (benchmark, params):
                used = {*f.arms, *(arm for _, arm in f.parts)}
                single = dataclasses.replace(job, arms=tuple(a for a in job.arms if a.name in used), figures=(f,))
                return _runnable(single, grid)[0]
    return None


def asv_params(benchmark: str, grid: str) -> list[list]:
    """asv `params` of one benchmark: the distinct values of each parameter over its figures."""
    figures = [f for f in all_figures(grid) if f.benchmark == benchmark]
    names = BENCHMARKS[benchmark].param_names
    if not figures:   # asv needs one value per parameter; the lone combination is n/a
        return [["none:cpu"]] + [["-"] for _ in names[1:]]
    return [list(dict.fromkeys(f.params[i] for f in figures)) for i in range(len(names))]
