"""`adcompare report`: build the HTML report from asv results and print where it is."""

from __future__ import annotations

import argparse
from pathlib import Path

from adcompare.errors import UserError

DEFAULT_RESULTS = Path("results")
DEFAULT_OUT = DEFAULT_RESULTS / "html" / "adcompare" / "index.html"


def command_help(name: str) -> str:
    return "build the self-contained HTML report from asv results"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR",
                        help=f"asv results directory (default: {DEFAULT_RESULTS})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="PATH",
                        help=f"page to write (default: {DEFAULT_OUT})")


def main(args: argparse.Namespace) -> int:
    try:
        from adcompare.report.page import build_report  # plotly loads only when a report is built
    except ModuleNotFoundError as err:
        if (err.name or "").partition(".")[0] != "plotly":
            raise
        raise UserError("the report needs plotly: python3 -m pip install plotly") from None
    print(build_report(args.results, args.out))
    return 0
