"""`adcompare check`: every problem × backend × operator at small n against independent oracles.

Oracles (none of them AD): the closed-form Jacobian or central finite differences
(`oracles.reference_jacobian`), H t by central differences of the exact gradient, the adjoint
identity ⟨v, J t⟩ = ⟨vᵀJ, t⟩ between a backend's own VJP and JVP, and agreement with the
reference engine (`numpy` backend). float32 results are held against float64 references with
`AD_RTOL['float32']` added to the oracle's own tolerance.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback

import numpy as np

from adcompare import oracles
from adcompare.backends import DTYPES, Backend, Prepared, Unavailable, all_backends, get_backend
from adcompare.commands.listing import table
from adcompare.errors import UserError, choose_from
from adcompare.operators import OPERATORS, Operator
from adcompare.problems import Instance, all_problems, get_problem
from adcompare.sparse import to_dense

REFERENCE_BACKEND = "numpy"
# Correctness needs every code path, not size: integer options (fanout's m = 1000, lorenz96's
# steps = 10, mlp's hidden = 64) are capped here. Larger values repeat the same operations and
# only cost time: a 1000-row reverse loop, or minutes of XLA CPU fusion compiling ten unrolled
# RK4 steps under jax.jit.
SMALL_OPTION = 2
# H t by central differences of the exact gradient: truncation O(h²) with h = 1e-5·|x|, roundoff
# O(ε/h) ≈ 1e-11 relative; 1e-6 leaves a margin for quartic problems like Rosenbrock.
FD_HVP_RTOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Row:
    problem: str
    backend: str
    operator: str
    oracle: str
    error: float | None
    tolerance: float | None
    status: str            # "ok", "FAIL", "skipped: why", "ERROR: what"

    @property
    def failed(self) -> bool:
        return self.status == "FAIL" or self.status.startswith("ERROR")

    def cells(self) -> list[str]:
        number = "-" if self.error is None else f"{self.error:.2e}"
        tol = "-" if self.tolerance is None else f"{self.tolerance:.0e}"
        return [self.problem, self.backend, self.operator, self.oracle, number, tol, self.status]


def small_instance(problem, n: int | None = None) -> Instance:
    """The instance checked: n defaults to the test size (for a family sized by its options, the
    size those options give); explicit integer options capped, choices at their default."""
    options = {k: min(v, SMALL_OPTION) for k, v in problem.options.items() if isinstance(v, int)}
    sized_by_options = problem.input_size(**problem.resolve_options(problem.test_size, **options)) is not None
    return problem.instance(n if n is not None or sized_by_options else problem.test_size, **options)


def check_direction(operator: Operator, inst: Instance) -> np.ndarray | None:
    """A fixed random v (m) or t (n): more telling than ones (which may hit symmetric cancellation)."""
    if operator.direction == "v":
        return oracles.random_direction(inst.m, seed=1)
    if operator.direction == "t":
        return oracles.random_direction(inst.n, seed=2)
    return None


def exact_gradient(inst: Instance):
    """∇f for a scalar problem from its closed form, or None."""
    if inst.closed_form_jacobian(inst.x0) is None:
        return None
    return lambda z: inst.closed_form_jacobian(z)[0]


def oracle_reference(operator: Operator, inst: Instance, x, d) -> tuple[np.ndarray, str, float] | None:
    """The non-AD expected value of `operator` at x: (value, oracle name, float64 tolerance)."""
    if operator.kind == "primal":
        return oracles.primal_numpy(inst, x), "numpy primal", oracles.AD_RTOL["float64"]
    if operator.kind == "hvp":
        grad = exact_gradient(inst)
        if grad is None:
            return None
        return oracles.fd_hvp(inst, x, d, grad), "FD of exact gradient", FD_HVP_RTOL
    jac, source, tol = oracles.reference_jacobian(inst, x)
    if operator.kind == "vjp":
        return d @ jac, source, tol
    if operator.kind == "jvp":
        return jac @ d, source, tol
    return jac, source, tol


def dtype_tolerance(tol: float, dtype: str) -> float:
    """A float64 oracle's tolerance, widened by float32 rounding for float32 results."""
    return tol if dtype == "float64" else tol + oracles.AD_RTOL[dtype]


def prepare_or_reason(backend: Backend, operator: Operator, inst: Instance, d, dtype: str) -> Prepared | str:
    try:
        return backend.prepare(operator, inst, inst.x0, d, device="cpu", dtype=dtype)
    except Unavailable as err:
        return str(err)


def compare(row, value, expected, tol) -> Row:
    err = oracles.relative_error(value, expected)
    return dataclasses.replace(row, error=err, tolerance=tol, status="ok" if err <= tol else "FAIL")


def check_combination(backend: Backend, operator: Operator, inst: Instance, dtype: str,
                      engine_value: np.ndarray | None) -> list[Row]:
    """Rows for one backend × operator on one instance: one per oracle that applies."""
    base = Row(inst.label(), backend.name, operator.name, "", None, None, "")
    d = check_direction(operator, inst)
    prepared = prepare_or_reason(backend, operator, inst, d, dtype)
    if isinstance(prepared, str):
        return [dataclasses.replace(base, oracle="-", status=f"skipped: {prepared}")]
    try:
        value = np.asarray(to_dense(prepared()), dtype=np.float64)
    except Exception as err:  # a bug in a backend: reported as a failed row, the check goes on
        last = traceback.format_exception_only(err)[-1].strip()
        return [dataclasses.replace(base, oracle="-", status=f"ERROR: {last}")]
    rows = []
    reference = oracle_reference(operator, inst, inst.x0, d)
    if reference is not None:
        expected, oracle, tol = reference
        rows.append(compare(dataclasses.replace(base, oracle=oracle), value, expected, dtype_tolerance(tol, dtype)))
    if engine_value is not None and backend.name != REFERENCE_BACKEND:
        rows.append(compare(dataclasses.replace(base, oracle="reference engine"), value, engine_value,
                            oracles.AD_RTOL[dtype]))
    if operator.kind == "vjp":
        rows.append(adjoint_row(backend, inst, d, value, dtype, base))
    return rows


def adjoint_row(backend: Backend, inst: Instance, v, vjp_value, dtype: str, base: Row) -> Row:
    """⟨v, J t⟩ = ⟨vᵀJ, t⟩ with this backend's own JVP."""
    base = dataclasses.replace(base, operator="vjp·jvp", oracle="adjoint identity")
    jvp = OPERATORS["jvp"]
    t = check_direction(jvp, inst)
    prepared = prepare_or_reason(backend, jvp, inst, t, dtype)
    if isinstance(prepared, str):
        return dataclasses.replace(base, status=f"skipped: {prepared}")
    gap = oracles.adjoint_gap(v, prepared(), vjp_value, t)
    tol = oracles.ADJOINT_RTOL[dtype]
    return dataclasses.replace(base, error=gap, tolerance=tol, status="ok" if gap <= tol else "FAIL")


def engine_value(operator: Operator, inst: Instance) -> np.ndarray | None:
    """The reference engine's float64 result, or None where it cannot give one."""
    prepared = prepare_or_reason(get_backend(REFERENCE_BACKEND), operator, inst, check_direction(operator, inst),
                                 "float64")
    return None if isinstance(prepared, str) else np.asarray(to_dense(prepared()), dtype=np.float64)


def run_checks(problems, backends, n: int | None, dtype: str) -> list[Row]:
    rows = []
    for problem in problems:
        try:
            inst = small_instance(problem, n)
        except UserError as err:
            rows.append(Row(problem.name, "-", "-", "-", None, None, f"skipped: {err}"))
            continue
        for operator in OPERATORS.values():
            if not operator.applies_to(inst):   # an HVP of a vector function is not a check
                continue
            engine = engine_value(operator, inst)
            for backend in backends:
                rows.extend(check_combination(backend, operator, inst, dtype, engine))
    return rows


def command_help(name: str) -> str:
    return "check every problem × backend × operator against the oracles at small n"


def add_arguments(name: str, parser) -> None:
    parser.add_argument("--problem", help="only this problem")
    parser.add_argument("--backend", help="only this backend")
    parser.add_argument("--n", type=int, help="size n (default: each problem's test size)")
    parser.add_argument("--dtype", default="float64", help=f"one of: {', '.join(DTYPES)}")


def main(args) -> int:
    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    problems = [get_problem(args.problem)] if args.problem else all_problems()
    backends = [get_backend(args.backend)] if args.backend else all_backends()
    if args.dtype not in DTYPES:
        raise choose_from("dtype", args.dtype, DTYPES)
    rows = run_checks(problems, backends, args.n, args.dtype)
    print(table(["problem", "backend", "operator", "oracle", "error", "tolerance", "status"],
                [r.cells() for r in rows]))
    failed = sum(r.failed for r in rows)
    ran = sum(r.error is not None for r in rows)
    skipped = sum(r.status.startswith("skipped") for r in rows)
    print(f"\n{ran} checks ran, {failed} failed, {skipped} skipped ({args.dtype})")
    if ran == 0:   # a check that checks nothing has not shown anything is right
        print("adcompare check: no check ran; every combination was skipped (see the reasons above)",
              file=sys.stderr)
        return 1
    return 1 if failed else 0
