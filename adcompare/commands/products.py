"""`adcompare primal | vjp | jvp | jacobian | hvp PROBLEM`: f(x) or one derivative product, printed.

Without --x the problem's default x0(n) is used; without --v / --t a vector of ones (as
`backward()` on a scalar uses 1). --json prints one object whose "result" holds the numbers.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings

import numpy as np

from adcompare import api
from adcompare.backends import DTYPES, Unavailable
from adcompare.errors import UserError
from adcompare.operators import HVP_MODES, JACOBIAN_MODES, JACOBIAN_STRATEGIES, hvp_operator, jacobian_operator
from adcompare.sparse import to_dense

HELP = {
    "primal": "f(x) itself, as every backend evaluates it (the baseline of every cost ratio)",
    "vjp": "vᵀJ by one reverse pass (v defaults to ones)",
    "jvp": "J t by one forward pass (t defaults to ones)",
    "jacobian": "the full Jacobian J, by forward (n tangents) or reverse (m cotangents) mode",
    "hvp": "H t for a scalar-output problem, forward-over-reverse, reverse-over-reverse or reverse-over-forward",
}
DIRECTION = {"vjp": "v", "jvp": "t", "hvp": "t"}
# The flags whose names an --opt key may take by mistake (--opt n=3 for --n 3).
FLAGS = ("x", "n", "v", "t", "mode", "strategy", "data", "device", "dtype", "backend")


# A decimal integer, spelled plainly: int() alone also takes '1_000' and non-ASCII digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")


def plain_int(text: str) -> int:
    """argparse's type for --n: int() of a plain decimal integer (ValueError otherwise)."""
    if not _INTEGER.fullmatch(text.strip()):
        raise ValueError(text)
    return int(text)


plain_int.__name__ = "int"      # argparse names the type in its error: "invalid int value"


def command_help(name: str) -> str:
    return HELP[name]


def add_arguments(name: str, parser) -> None:
    parser.add_argument("problem", help="problem name (see `adcompare list`)")
    parser.add_argument("--backend", default="numpy", help="backend name (default: numpy)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--x", help="the point, comma-separated (use --x=-1,2 for a leading minus)")
    where.add_argument("--n", type=plain_int, help="size n; x is the problem's default x0(n)")
    direction = DIRECTION.get(name)
    if direction:
        size = "m" if direction == "v" else "n"
        parser.add_argument(f"--{direction}", help=f"the {'cotangent' if direction == 'v' else 'tangent'} "
                                                   f"({size} numbers, comma-separated; default ones)")
    if name == "jacobian":
        parser.add_argument("--mode", required=True, help=f"one of: {', '.join(JACOBIAN_MODES)}")
        parser.add_argument("--strategy", default="batched", help=f"one of: {', '.join(JACOBIAN_STRATEGIES)}")
    if name == "hvp":
        parser.add_argument("--mode", default=HVP_MODES[0], help=f"one of: {', '.join(HVP_MODES)}")
    parser.add_argument("--data", metavar="PATH",
                        help="the instance from a data file in ADBench's format (gmm, ba, ht, lstm); "
                             "x defaults to the file's parameters")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (torch) / gpu (jax)")
    parser.add_argument("--dtype", default="float64", help=f"one of: {', '.join(DTYPES)}")
    parser.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                        help="a problem option, e.g. --opt m=5 or --opt modes=fr (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with key 'result'")


def parse_numbers(text: str, flag: str) -> np.ndarray:
    """The comma-separated numbers of --x, --v or --t; every one finite (float() alone takes
    'nan', 'inf' and '1e999')."""
    items = text.split(",")
    try:
        values = [float(item) for item in items]
    except ValueError:
        raise UserError(f"--{flag}: {text!r} is not a comma-separated list of numbers") from None
    for i, (item, value) in enumerate(zip(items, values), start=1):
        if not math.isfinite(value):
            raise UserError(f"--{flag}: number {i} of {len(items)} is {item.strip()!r}, which is not a "
                            "finite float64")
    return np.array(values, dtype=np.float64)


def parse_options(items: list[str], problem: str, flags=()) -> dict[str, int | str]:
    """--opt KEY=VALUE items as keywords for the API: each key one of the problem's own options
    (`Problem.options`), given once; each value an integer, or for an option with fixed choices
    one of them (--opt modes=fr). A key such as n or backend would otherwise meet the API
    parameter of that name; `flags` are the command's, named in the error when a key is one.
    The API checks the values (integers: 1 … the largest int64; choices: one of the declared)."""
    options = {}
    for item in items:
        key, sep, value = (part.strip() for part in item.partition("="))
        if sep and key:
            try:
                api.check_option_names(problem, {key: None})
            except UserError as err:
                hint = f" (set {key} with --{key})" if key in flags else ""
                raise UserError(f"--opt {item!r}: {err}{hint}") from None
        choice = bool(sep and key) and api.is_choice(problem, key)
        if not sep or not key or not (choice or _INTEGER.fullmatch(value)):
            raise UserError(f"--opt: {item!r} is not KEY=INTEGER (e.g. --opt m=5)")
        if key in options:
            raise UserError(f"--opt: option {key} is given twice ({key}={options[key]} and {item!r})")
        options[key] = value if choice else int(value)
    return options


def operator_name(args) -> str:
    if args.command == "jacobian":
        return jacobian_operator(args.mode, args.strategy).name
    if args.command == "hvp":
        return hvp_operator(args.mode).name
    return args.command


def _nulls(values):
    """Nested lists with every NaN replaced by None (JSON null)."""
    if isinstance(values, list):
        return [_nulls(v) for v in values]
    return None if isinstance(values, float) and values != values else values


def format_numbers(result: np.ndarray) -> str:
    """One line for a vector, one line per row for a matrix; numbers as numpy prints scalars."""
    rows = result if result.ndim == 2 else [result]
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def main(args) -> int:
    operator = operator_name(args)
    x = None if args.x is None else parse_numbers(args.x, "x")
    flag = DIRECTION.get(args.command)
    text = getattr(args, flag) if flag else None
    direction = None if text is None else parse_numbers(text, flag)
    options = parse_options(args.opt, args.problem, [name for name in FLAGS if hasattr(args, name)])
    # Overflow is reported once, below, as what it did to the result, not as numpy's warnings.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            prepared = api.prepare(operator, args.problem, x, direction, n=args.n, backend=args.backend,
                                   device=args.device, dtype=args.dtype, data=args.data, **options)
        except Unavailable as err:
            raise UserError(f"cannot run {operator} here: {err}") from None
        result = np.asarray(to_dense(prepared()))   # a sparse Jacobian is printed dense
    if args.json:
        inst = prepared.instance
        finite = np.isfinite(result)
        out = {
            "problem": inst.name, "n": inst.n, "m": inst.m, "options": dict(inst.options),
            "operator": operator, "backend": args.backend, "device": args.device, "dtype": args.dtype,
            "result": np.where(finite, result, np.nan).astype(object).tolist(),
        }
        if not finite.all():   # JSON has no inf or nan: those entries are null, and this says why
            out["result"] = _nulls(out["result"])
            out["non_finite"] = {"count": int((~finite).sum()),
                                 "why": f"{int(np.isinf(result).sum())} infinite and {int(np.isnan(result).sum())} "
                                        f"NaN entries (overflow or an invalid operation in {args.dtype})"}
        print(json.dumps(out, allow_nan=False))
    else:
        print(format_numbers(result))
        if not np.isfinite(result).all():
            print(f"adcompare: note: {int((~np.isfinite(result)).sum())} entries are not finite (overflow or an "
                  f"invalid operation in {args.dtype})", file=sys.stderr)
    return 0
