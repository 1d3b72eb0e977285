"""The cases families draw their figures from: ids of the registry's instances, their sizes and
depth, and which operators fit them. Everything is derived from the registries, so a new problem
or backend adds figures to every family with no edit here."""

from __future__ import annotations

import functools

from adcompare.backends import Backend, get_backend
from adcompare.backends.base import size_reason
from adcompare.ids import Case, Target
from adcompare.operators import get_operator
from adcompare.problems import Instance, Problem


def case_id(problem: Problem, n: int | None = None, **opts: int) -> str:
    """The canonical case id of an instance (n and every option resolved)."""
    n, merged = problem.resolve(n, **opts)
    return str(Case.of(problem.name, n, **merged))


@functools.lru_cache(maxsize=None)
def instance_of(case: str) -> Instance:
    """The instance a case id names, built once (constants included)."""
    return Case.parse(case).instance()


def sweep_cases(problem: Problem) -> list[str]:
    """The problem's sweep as case ids, smallest first (by n, then by m)."""
    return sorted((case_id(problem, **kw) for kw in problem.sweep()),
                  key=lambda c: (instance_of(c).n, instance_of(c).m))


def largest_case(problem: Problem) -> str:
    return sweep_cases(problem)[-1]


def middle_case(problem: Problem) -> str:
    cases = sweep_cases(problem)
    return cases[len(cases) // 2]


def main_case(problem: Problem) -> str:
    """The instance the ≤ 10-minute main grid times (`Problem.main_instance`)."""
    return case_id(problem, **problem.main_instance())


def fits(case: str, operator: str) -> bool:
    """Structurally valid anywhere: an HVP needs m = 1, and a Jacobian must fit in memory."""
    op = get_operator(operator)
    inst = instance_of(case)
    return op.applies_to(inst) and size_reason(op, inst) is None


def depth(case: str) -> int | None:
    """The case's depth (time steps, sequence length), if its problem has a depth option."""
    inst = instance_of(case)
    option = inst.problem.depth_option
    return inst.options[option] if option else None


def divisor(case: str, operator: str) -> int:
    """Primal evaluations an operator is held against: min(n, m) for a Jacobian, else 1."""
    inst = instance_of(case)
    return min(inst.n, inst.m) if get_operator(operator).kind == "jacobian" else 1


def backend_of(target: str) -> Backend:
    return get_backend(Target.parse(target).backend)
