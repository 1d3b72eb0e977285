"""Reproducibility of this machine: the same selection run twice back to back, figure by figure.

    python3 scripts/reproducibility.py                    # the README's main command, twice
    python3 scripts/reproducibility.py -- --grid full     # any `adcompare run` arguments after --
    python3 scripts/reproducibility.py --compare A B      # two results folders measured before

Runs `adcompare run ARGS` twice into two fresh results folders (same commit, nothing else changed),
then prints per family the median and p90 of |B/A − 1|, the share of one run's 95 % CIs that
contain the other run's estimate, slope differences and crossover winner flips
(adcompare.store.compare), against the suite's goals. `--json PATH` also writes the table as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adcompare.store.compare import compare_folders, format_table


def run_twice(extra: list[str], where: Path) -> tuple[Path, Path, list[float]]:
    folders, minutes = [], []
    for name in ("A", "B"):
        results = where / name
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(results), *extra])
        minutes.append((time.perf_counter() - start) / 60)
        if done.returncode not in (0, 1):
            raise SystemExit(f"reproducibility: adcompare run failed (exit {done.returncode})")
        folders.append(results)
    return folders[0], folders[1], minutes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two results folders")
    parser.add_argument("--keep", type=Path, help="keep the two runs' results in this folder")
    parser.add_argument("--json", type=Path, help="also write the comparison as JSON")
    parser.add_argument("run_args", nargs="*", help="arguments for `adcompare run` (after --)")
    args = parser.parse_args()
    minutes = None
    if args.compare:
        first, second = args.compare
    else:
        where = args.keep or Path(tempfile.mkdtemp(prefix="adcompare-repro-"))
        first, second, minutes = run_twice(args.run_args, where)
        print(f"\nresults: {first} and {second}")
    result = compare_folders(first, second)
    if minutes:
        print("wall time per run: " + ", ".join(f"{m:.1f} min" for m in minutes))
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps({**result.to_dict(), "minutes": minutes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
