"""Benchmark grids: the one place that says which combinations each asv benchmark measures.

Every value is derived from the registries — problems (`sweep_sizes`, `options`), backends
(names and devices) and operators — so a new problem or backend adds benchmarks with no edit
here or in `benchmarks/`.

Each family (one asv benchmark) is a list of *rows*, combinations without the target; every row
runs on every target. asv runs the Cartesian product of its parameter lists, one process per
combination, so a family's asv `params` are the distinct values of its rows (`params`), and
`adcompare run` hands asv exactly the rows that can run on this machine (`select`): the
product's other corners are never started. Run by plain `asv run`, they answer n/a at once,
before any framework is imported.

Two grids: `default`, chosen so the whole suite stays within its time budget on a 2-core machine,
and `wide`, one flag away (`adcompare run --grid wide`, or ADCOMPARE_GRID=wide for plain asv).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, Iterable, Iterator

from adcompare.backends import DTYPES, Backend, all_backends, device_key, get_backend
from adcompare.cases import case_instance, format_case
from adcompare.errors import choose_from
from adcompare.operators import OPERATORS, get_operator
from adcompare.problems import Problem, all_problems

GRIDS = ("default", "wide")
GRID_ENV = "ADCOMPARE_GRID"

SCALING_OPERATORS = ("primal", "vjp", "jvp")
PRODUCT_OPERATORS = ("vjp", "jvp")
BATCHED_JACOBIANS = ("jacobian-fwd", "jacobian-rev")
LOOP_JACOBIANS = ("jacobian-fwd-loop", "jacobian-rev-loop")
JACOBIANS = BATCHED_JACOBIANS + LOOP_JACOBIANS
HVPS = tuple(name for name, op in OPERATORS.items() if op.kind == "hvp")

# The crossover grid: Jacobians of f: Rⁿ → Rᵐ with n·m = CROSSOVER_PRODUCT and aspect n:m from
# 1:64 to 64:1. The default keeps five aspects (1:64, 1:4, 1:1, 4:1, 64:1); wide has all seven.
CROSSOVER_PRODUCT = 1 << 14
CROSSOVER_N = {"default": (16, 64, 128, 256, 1024), "wide": (16, 32, 64, 128, 256, 512, 1024)}
CROSSOVER_PROBLEMS = {"default": ("affine", "mlp")}   # wide: every problem with an `m` option

# Depth sweep of the tape-memory family, for problems with a `steps` option.
DEPTHS = {"default": (1, 10, 40, 160), "wide": (1, 5, 10, 20, 40, 80, 160, 320)}

FIRST_CALL_OPERATORS = ("vjp",)

# XLA compiles the unrolled time-stepping loop of a `steps` problem in time that grows with the
# depth (jax-jit, lorenz96:128, one core: a VJP takes 4 s to compile at steps=1, 23 s at 4,
# 1–3 min at 10). Each combination is a process that compiles afresh, so the default grid keeps
# compiling targets to shallow instances, and the wide grid stops at the problems' default depth.
MAX_COMPILED_STEPS = {"default": 2, "wide": 10}


@dataclasses.dataclass(frozen=True)
class Family:
    """One asv benchmark: its name, the axes after `target`, and its rows per grid."""

    name: str                                   # "time_operators.Operators.time_operator"
    axes: tuple[str, ...]                       # parameter names after "target"
    rows: Callable[[str], Iterator[tuple]]      # grid name -> rows (values for `axes`)
    gpu_only: bool = False                      # only targets on a non-CPU device
    needs: tuple[str, ...] = ()                 # Backend methods a backend must override

    @property
    def param_names(self) -> list[str]:
        return ["target", *self.axes]


# --- helpers over the registry ------------------------------------------------------------------
def grid_from_env() -> str:
    """The grid the benchmarks are built from: $ADCOMPARE_GRID, default 'default'."""
    return check_grid(os.environ.get(GRID_ENV, "default"))


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


def sweep_cases(problem: Problem) -> list[str]:
    """The problem's sweep as case ids, smallest n first."""
    return sorted((case_id(problem, **kw) for kw in problem.sweep()), key=lambda c: instance_of(c).n)


def largest_case(problem: Problem) -> str:
    return sweep_cases(problem)[-1]


def middle_case(problem: Problem) -> str:
    cases = sweep_cases(problem)
    return cases[len(cases) // 2]


@functools.lru_cache(maxsize=None)
def instance_of(case: str):
    """The instance a case id names, built once (constants included)."""
    return case_instance(case)


def _output_size(case: str) -> tuple[int, int]:
    inst = instance_of(case)
    return inst.n, inst.m


def fits(case: str, operator: str) -> bool:
    """Structurally valid anywhere: an HVP needs m = 1, and a Jacobian must fit in memory."""
    from adcompare.measure import too_large_reason

    op = get_operator(operator)
    inst = instance_of(case)
    return op.applies_to(inst) and too_large_reason(op, inst) is None


def _dtypes(grid: str) -> tuple[str, ...]:
    return DTYPES if grid == "wide" else ("float64",)


def _fitting(dtype: str, cases: Iterable[str], ops: Iterable[str]) -> Iterator[tuple]:
    """(dtype, case, op) for every case × op that fits."""
    ops = tuple(ops)
    for case in cases:
        for op in ops:
            if fits(case, op):
                yield dtype, case, op


# --- the families -------------------------------------------------------------------------------
def operator_rows(grid: str) -> Iterator[tuple]:
    """Steady-state time. Default: primal/vjp/jvp over every problem's sweep sizes (the scaling
    charts); at each problem's middle size the four Jacobians (batched and loop, where they
    fit); HVPs at every size of every scalar problem; float32 vjp/jvp at the largest size.
    Wide: every operator at every size in both dtypes, wherever it fits."""
    for problem in all_problems():
        cases = sweep_cases(problem)
        if grid == "wide":
            for dtype in DTYPES:
                yield from _fitting(dtype, cases, OPERATORS)
            continue
        yield from _fitting("float64", cases, SCALING_OPERATORS + HVPS)
        yield from _fitting("float64", [middle_case(problem)], JACOBIANS)
        for op in PRODUCT_OPERATORS:
            yield "float32", largest_case(problem), op


def crossover_rows(grid: str) -> Iterator[tuple]:
    """Jacobian fwd vs rev over n·m = CROSSOVER_PRODUCT, aspect n:m from 1:64 to 64:1: batched
    (vmap / vector mode), and as loops of single products — the textbook n forward or m reverse
    passes, and the only Jacobians a backend without batching (autograd) has."""
    names = CROSSOVER_PROBLEMS.get(grid)
    problems = [p for p in all_problems() if "m" in p.options and (names is None or p.name in names)]
    for dtype in _dtypes(grid):
        for problem in problems:
            cases = [case_id(problem, n, m=CROSSOVER_PRODUCT // n) for n in CROSSOVER_N[grid]]
            yield from _fitting(dtype, cases, JACOBIANS)


def tape_rows(grid: str) -> Iterator[tuple]:
    """Tape bytes: over depth (problems with a `steps` option, at their middle size) and over n
    (every problem's sweep sizes)."""
    for dtype in _dtypes(grid):
        seen = set()
        for problem in all_problems():
            cases = []
            if "steps" in problem.options:
                n = instance_of(middle_case(problem)).n
                cases += [case_id(problem, n, steps=s) for s in DEPTHS[grid]]
            cases += sweep_cases(problem)
            for case in cases:
                if case not in seen:
                    seen.add(case)
                    yield dtype, case


def peak_rows(grid: str) -> Iterator[tuple]:
    """Peak device memory of vjp and jvp (and, wide, the batched Jacobians) at every size."""
    ops = PRODUCT_OPERATORS + (BATCHED_JACOBIANS if grid == "wide" else ())
    for dtype in _dtypes(grid):
        for problem in all_problems():
            yield from _fitting(dtype, sweep_cases(problem), ops)


def ratio_rows(grid: str) -> Iterator[tuple]:
    """Cost ratios: vjp/primal and jvp/primal at every problem's largest size (the cheap-gradient
    bound; small sizes measure dispatch, which the time family shows), Jacobian/(min(n,m)·primal)
    at its middle size. Wide: every size."""
    for dtype in _dtypes(grid):
        for problem in all_problems():
            yield from _fitting(dtype, sweep_cases(problem) if grid == "wide" else [largest_case(problem)],
                                PRODUCT_OPERATORS)
            yield from _fitting(dtype, sweep_cases(problem) if grid == "wide" else [middle_case(problem)],
                                BATCHED_JACOBIANS)


def prepare_rows(grid: str) -> Iterator[tuple]:
    """Prepare (trace, compile, warm up) seconds of vjp and jvp at every problem's middle size;
    wide: every size, Jacobians included."""
    ops = PRODUCT_OPERATORS + (BATCHED_JACOBIANS if grid == "wide" else ())
    for dtype in _dtypes(grid):
        for problem in all_problems():
            yield from _fitting(dtype, sweep_cases(problem) if grid == "wide" else [middle_case(problem)], ops)


def first_call_rows(grid: str) -> Iterator[tuple]:
    """Import + prepare + first run in a fresh interpreter: the largest size of the first problem
    in the default grid (a fresh interpreter per sample is the costliest benchmark there is);
    every problem's middle size in the wide grid."""
    problems = all_problems() if grid == "wide" else all_problems()[:1]
    for problem in problems:
        case = middle_case(problem) if grid == "wide" else largest_case(problem)
        for op in FIRST_CALL_OPERATORS:
            yield case, op


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("time_operators.Operators.time_operator", ("dtype", "case", "operator"), operator_rows),
        Family("time_operators.Crossover.time_jacobian", ("dtype", "case", "operator"), crossover_rows),
        Family("memory.TapeMemory.track_tape_bytes", ("dtype", "case"), tape_rows,
               needs=("tape_bytes",)),
        Family("memory.PeakDeviceMemory.track_peak_device_bytes", ("dtype", "case", "operator"), peak_rows,
               gpu_only=True, needs=("peak_device_bytes",)),
        Family("ratios.CostRatios.track_cost_ratio", ("dtype", "case", "operator"), ratio_rows),
        Family("compile.Prepare.track_prepare_seconds", ("dtype", "case", "operator"), prepare_rows),
        Family("compile.FirstCall.timeraw_first_call", ("case", "operator"), first_call_rows),
    ]
}

FIRST_CALL_DTYPE = "float64"   # FirstCall has no dtype axis


def family_targets(family: Family) -> list[str]:
    return [t for t in targets() if not family.gpu_only or not t.endswith(":cpu")]


def compiles(target: str) -> bool:
    """Does this target JIT-compile in prepare? (A backend says so with `compiles = True`;
    by convention its name ends in '-jit'.)"""
    backend = get_backend(target.split(":")[0])
    return bool(getattr(backend, "compiles", backend.name.endswith("-jit")))


def affordable(target: str, case: str, grid: str) -> bool:
    """False for a compiling target on a time-stepping case deeper than the grid allows."""
    limit = MAX_COMPILED_STEPS[grid]
    steps = instance_of(case).options.get("steps")
    return limit is None or steps is None or steps <= limit or not compiles(target)


def rows(family: Family, grid: str) -> list[tuple]:
    """The family's rows in this grid, duplicates removed, order kept."""
    return list(dict.fromkeys(family.rows(check_grid(grid))))


def combos(family: Family, grid: str) -> list[tuple]:
    """Every (target, *row) of the family in this grid: the combinations worth running anywhere."""
    case_at = family.axes.index("case")
    return [(t, *row) for t in family_targets(family) for row in rows(family, grid)
            if affordable(t, row[case_at], grid)]


def params(family: Family, grid: str) -> list[list]:
    """asv `params`: the distinct values of each axis over the family's combinations."""
    cs = combos(family, grid)
    if not cs:   # asv needs at least one value per axis; the lone combination is n/a
        return [[t] for t in family_targets(family)[:1] or ["none:cpu"]] + [["-"] for _ in family.axes]
    return [list(dict.fromkeys(c[i] for c in cs)) for i in range(len(family.param_names))]


def combo_kwargs(family: Family, combo: tuple) -> dict[str, str]:
    return dict(zip(family.param_names, combo))


def unavailable_reason(family: Family, combo: tuple) -> str | None:
    """Why this combination cannot run on this machine (framework, device, operator), or None.

    Cheap: asks the backend, which imports nothing to rule out a GPU on a machine without one."""
    kw = combo_kwargs(family, combo)
    reason = _why_not(kw["target"], kw.get("dtype", FIRST_CALL_DTYPE), kw["case"], kw.get("operator", "vjp"))
    if reason:
        return reason
    backend = get_backend(kw["target"].split(":")[0])
    for method in family.needs:
        if getattr(type(backend), method) is getattr(Backend, method):
            return f"{backend.name} does not implement {method}"
    return None


@functools.lru_cache(maxsize=None)
def _why_not(target: str, dtype: str, case: str, operator: str) -> str | None:
    from adcompare.measure import split_target

    backend_name, device = split_target(target)
    return get_backend(backend_name).why_not(get_operator(operator), instance_of(case), device, dtype)


def asv_name(family: Family, combo: tuple) -> str:
    """The name asv matches `-b` against: 'family(param, param, ...)' with repr'd params."""
    return f"{family.name}({', '.join(repr(v) for v in combo)})"
