"""Case ids: one string naming a problem instance, used as a benchmark parameter and in results.

Format: ``problem:n`` or ``problem:n:key=value,key=value`` — e.g. ``square:1000``,
``affine:16:m=1024``, ``lorenz96:128:steps=40``. Strings keep asv parameter ids readable and
stable, and the report reads them back with `parse_case`.
"""

from __future__ import annotations

from adcompare.errors import UserError
from adcompare.problems import Instance, get_problem


def format_case(problem: str, n: int, **opts: int) -> str:
    tail = ",".join(f"{k}={v}" for k, v in sorted(opts.items()))
    return f"{problem}:{n}" + (f":{tail}" if tail else "")


def parse_case(case: str) -> tuple[str, int, dict[str, int]]:
    """'affine:16:m=1024' -> ('affine', 16, {'m': 1024})."""
    parts = case.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        opts = {}
        if len(parts) == 3 and parts[2]:
            for item in parts[2].split(","):
                key, value = item.split("=")
                opts[key] = int(value)
        return parts[0], int(parts[1]), opts
    except ValueError:
        raise UserError(f"malformed case {case!r}; expected problem:n or problem:n:key=value,...") from None


def case_instance(case: str) -> Instance:
    name, n, opts = parse_case(case)
    return get_problem(name).instance(n, **opts)
