"""Refresh constraints.txt, the lock of tested versions: newest releases, accepted only if green.

    python3 scripts/refresh_constraints.py

Creates a fresh virtual environment, installs the project with every extra and no constraints
(so pip picks the newest releases; torch stays exactly 2.13.0, the CPU build the project's
machines hold), runs the whole test suite there, and only if it passes rewrites
constraints.txt from `pip freeze`. On failure the old file is kept and the exit status is 1.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
TORCH = "torch==2.13.0"


def header() -> list[str]:
    """The comment block of the current file (everything before the first pin)."""
    lines = LOCK.read_text().splitlines() if LOCK.exists() else []
    return [line for line in lines[: next((i for i, s in enumerate(lines) if s and not s.startswith("#")),
                                          len(lines))]]


def pins(freeze: str) -> list[str]:
    """`pip freeze` reduced to exact pins of the dependencies (not the project itself)."""
    out = []
    for line in freeze.splitlines():
        if not line or line.startswith(("-e ", "#")) or line.lower().startswith("adcompare"):
            continue
        name = line.split("==")[0]
        out.append(TORCH if name.lower() == "torch" else line)
    return sorted(out, key=str.lower)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="adcompare-lock-") as tmp:
        env = Path(tmp) / "venv"
        venv.create(env, with_pip=True)
        python = str(env / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "-q", "-U", "pip"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", TORCH, "-e", f"{ROOT}[all]"], check=True)
        tests = subprocess.run([python, "-m", "pytest", "-q", "-x"], cwd=ROOT)
        if tests.returncode != 0:
            print("refresh_constraints: the test suite failed with the newest releases; constraints.txt is "
                  "unchanged", file=sys.stderr)
            return 1
        freeze = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    LOCK.write_text("\n".join(header() + pins(freeze)) + "\n")
    print(f"refresh_constraints: {LOCK} rewritten; commit it with the change that needed it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
