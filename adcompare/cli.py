"""The `adcompare` command. Each subcommand lives in the module that owns its concept; this file
only wires them into one parser, loads the user's problems every subcommand takes (--problems,
$ADCOMPARE_PROBLEMS, entry points: `problems.loading`), and turns user mistakes, and failures of
the user's own code, into one line and exit status 2."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys

from adcompare.errors import UserError
from adcompare.problems import loading, user_code

# subcommand -> module that defines add_arguments(parser) and main(args) -> int
COMMANDS = {
    "list": "adcompare.commands.listing",
    "primal": "adcompare.commands.products",
    "vjp": "adcompare.commands.products",
    "jvp": "adcompare.commands.products",
    "jacobian": "adcompare.commands.products",
    "hvp": "adcompare.commands.products",
    "check": "adcompare.commands.check",
    "advise": "adcompare.commands.advise",
    "run": "adcompare.run.command",
    "merge": "adcompare.commands.merge",
    "report": "adcompare.report",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage errors: one line, status 2
        print(f"adcompare: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def version() -> str:
    try:
        return importlib.metadata.version("adcompare")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="adcompare", description="Forward vs reverse mode AD across frameworks.")
    parser.add_argument("--version", action="version", version=f"adcompare {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.command_help(name))
        module.add_arguments(name, p)
        p.add_argument("--problems", action="append", default=[], metavar="PATH",
                       help="load your own problems from a .py file or an importable module (repeatable; "
                            f"also ${loading.ENV}, joined by {os.pathsep!r})")
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):   # bare `adcompare`: the usage, not an error line
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        loading.use(args.problems)      # before the subcommand: its lookups and child processes see them
        return int(args._module.main(args) or 0)
    except UserError as err:
        print(f"adcompare: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("adcompare: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:     # raised in a user's problem file: their mistake, not adcompare's bug
        line = user_code.describe_failure(err)
        if line is None:
            raise
        print(f"adcompare: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
