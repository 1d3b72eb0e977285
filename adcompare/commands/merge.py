"""`adcompare merge DIR... [--results DIR]`: results folders (a CI matrix's shards, or several
machines' runs) merged into one, then its pages published, as `adcompare run` does."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from adcompare.errors import UserError


def command_help(name: str) -> str:
    return "merge results folders (shards of a CI matrix, other machines' runs) into one and publish it"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", type=Path, metavar="DIR", help="results folders to merge")
    parser.add_argument("--results", type=Path, metavar="DIR",
                        help="the results folder to merge into (default: results/ of the checkout)")
    parser.add_argument("--no-publish", action="store_true", help="merge only; do not rebuild the pages")


def main(args) -> int:
    from adcompare.run import checkout
    from adcompare.run.publish import publish
    from adcompare.store.folder import recover_html, run_lock
    from adcompare.store.merging import merge_folders

    target = (args.results or checkout.default_results()).resolve()
    sources = [s.resolve() for s in args.sources]
    if target in sources:
        raise UserError(f"{target} is both a source and the target; merge into another folder")
    with run_lock(target, "adcompare merge " + " ".join(map(str, sources))):
        recover_html(target)
        machines = merge_folders(sources, target, log=lambda line: print(line, file=sys.stderr))
        print(f"adcompare merge: {len(sources)} folders into {target}: {', '.join(machines)}")
        if args.no_publish:
            return 0
        root = checkout.project_root()
        scratch = checkout.new_scratch(root, "merge-")
        try:
            published, page = publish(root, target, scratch, log=lambda line: print(line, file=sys.stderr))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if page:
            print(f"  report:     {page}")
        return 0 if published else 1
