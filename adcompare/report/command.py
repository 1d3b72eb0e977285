"""`adcompare report`: build the HTML report from asv results and print where it is.

The default results folder is the one `adcompare run` writes: the checkout's results/, beside
asv.conf.json, when adcompare runs from a source checkout; ./results otherwise. The page goes to
<results>/html/adcompare/index.html unless --out says otherwise; an --out that would overwrite
results data is refused (`page.check_out`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import adcompare
from adcompare.errors import UserError

PAGE = Path("html") / "adcompare" / "index.html"   # inside the results folder


def default_results() -> Path:
    """results/ beside asv.conf.json in the source checkout adcompare is imported from, else ./results."""
    checkout = Path(adcompare.__file__).resolve().parents[1]
    if (checkout / "asv.conf.json").is_file():
        return checkout / "results"
    return Path("results")


def command_help(name: str) -> str:
    return "build the self-contained HTML report from asv results"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=None, metavar="DIR",
                        help="asv results directory (default: the checkout's results/, as adcompare run uses; "
                             "./results outside a checkout)")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help=f"page to write (default: <results>/{PAGE})")


def main(args: argparse.Namespace) -> int:
    try:
        from adcompare.report.page import build_report  # plotly loads only when a report is built
    except ModuleNotFoundError as err:
        if (err.name or "").partition(".")[0] != "plotly":
            raise
        raise UserError("the report needs plotly: python3 -m pip install plotly") from None
    results = args.results if args.results is not None else default_results()
    out = args.out if args.out is not None else results / PAGE
    print(build_report(results, out))
    return 0
