"""The steady-state profile: which cases, operators and dtypes each grid times, shared by the
families that read it (time per call, cost ratios, workloads, the crossover of a case's own
Jacobians). Their figures of one case land in one job (group ("profile", case)), so an operator
and the primal it is held against are timed in the same interleaved rounds.

- `main`, the README's ≤ 10-minute command: two scaling lines (each problem's smallest and
  largest size) and every workload at its main size, its own derivatives against its objective;
  a user's own problem (`Problem.source`) is a scaling line too (and so gets its tape bytes);
- `full`: every size of every problem, the HVPs, the four Jacobians at the middle size, a scalar
  workload's gradient both ways at its smallest size, float32 at the largest;
- `wide`: every operator at every size in both dtypes.
A nested problem (particle, saddle: `Problem.nested`) is in none of them: what the field times is its
primal, the whole optimisation, in each of its mode pairs (`families.nested_modes`).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

from adcompare.backends import DTYPES
from adcompare.families.cases import backend_of, case_id, fits, instance_of, main_case, middle_case, sweep_cases
from adcompare.operators import OPERATORS, SPARSE_JACOBIANS, get_operator
from adcompare.problems import Problem, all_problems, get_problem

PRODUCT_OPERATORS = ("vjp", "jvp")
BATCHED_JACOBIANS = ("jacobian-fwd", "jacobian-rev")
LOOP_JACOBIANS = ("jacobian-fwd-loop", "jacobian-rev-loop")
JACOBIANS = BATCHED_JACOBIANS + LOOP_JACOBIANS
HVPS = tuple(name for name, op in OPERATORS.items() if op.kind == "hvp")
STRATEGY_JACOBIANS = {"batched": BATCHED_JACOBIANS, "loop": LOOP_JACOBIANS}

# The main grid's scaling lines: these problems at their smallest and largest size.
MAIN_SCALING = ("square", "lorenz96")
# Compile / prepare time and the first call from a fresh interpreter, main grid: one case.
COMPILE_CASE = ("mlp", 100)


@dataclasses.dataclass(frozen=True)
class ProfileCase:
    """One case of the profile: the operators timed on it (the primal first; only those that
    fit), the workload derivatives among them, and whether the reference kernel is timed beside."""

    dtype: str
    case: str
    operators: tuple[str, ...]
    derivatives: tuple[str, ...]
    reference: bool

    @property
    def group(self) -> tuple:
        return ("profile", self.case)


def profile_cases(grid: str, problem: Problem) -> list[str]:
    if problem.nested:   # its primal is the optimisation itself: the nested-modes family times its variants
        return []
    cases = sweep_cases(problem)
    if grid != "main":   # every size, and a workload's main size where the sweep lacks it (ode's s = 1)
        return list(dict.fromkeys(cases + ([main_case(problem)] if problem.field_derivatives else [])))
    if problem.field_derivatives:   # (the full grid times a scalar workload's gradient both ways too)
        return [main_case(problem)]
    if problem.name in MAIN_SCALING or problem.source is not None:
        return list(dict.fromkeys([cases[0], cases[-1]]))
    return []


def _case(dtype: str, case: str, operators, derivatives=(), reference: bool = True) -> ProfileCase:
    ops = tuple(op for op in dict.fromkeys(("primal", *operators, *derivatives)) if fits(case, op))
    return ProfileCase(dtype, case, ops, tuple(op for op in derivatives if op in ops), reference)


def profile(grid: str, target: str) -> Iterator[ProfileCase]:
    """Steady-state operators over each problem's sizes, the reference kernel beside them; a
    workload adds its field derivatives (see the module docstring for each grid). On a backend
    whose batched Jacobians are costly to set up, main leaves the Jacobian workloads to full."""
    costly = backend_of(target).costly_jacobians
    for problem in all_problems():
        if grid == "main" and costly and any(get_operator(op).kind == "jacobian" for op in problem.field_derivatives):
            continue   # a workload's batched Jacobians: seconds of compile or dispatch per process
        for dtype in (DTYPES if grid == "wide" else ("float64",)):
            for case in profile_cases(grid, problem):
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
                yield _case(dtype, case, ops, derivatives)
        if grid == "full":
            yield _case("float32", sweep_cases(problem)[-1], PRODUCT_OPERATORS, reference=False)


def compile_cases(grid: str) -> list[str]:
    """The cases the compile-time families prepare: one in main, each problem's middle size else."""
    if grid == "main":
        name, n = COMPILE_CASE
        return [case_id(get_problem(name), n)]
    return [middle_case(p) for p in all_problems() if not p.nested]
