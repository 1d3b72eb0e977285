"""`adcompare run`: the benchmark suite on the current checkout and environment, in one command.

Steps: pick the combinations of the grid that can run here (narrowed by --problem, --backend,
--device, --bench), register the machine without prompts, run asv on the installed environment
with results saved against HEAD, write the environment sidecar, publish asv's pages, build the
adcompare report, print where they are. `--check` is the CI mode: `asv check` plus a quick dry
run of a small slice, failing if any benchmark fails.

asv is handed exactly the selected combinations (`-b` regexes that match whole
'family(param, ...)' names), so the corners of asv's parameter products that cannot run here —
GPU targets on a CPU machine, HVPs of vector functions — cost no process at all.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adcompare import environment, grid
from adcompare.backends import DTYPES, all_devices, get_backend
from adcompare.errors import UserError, choose_from
from adcompare.problems import get_problem

REPORT_PAGE = Path("html") / "adcompare" / "index.html"   # inside the results directory
MAX_REGEX_CHARS = 100_000      # one argv string may not exceed 128 KiB on Linux
LAUNCH_METHODS = ("auto", "spawn", "forkserver")
# The CI slice: per family and target, the first combination (the smallest case).
CHECK_PER_TARGET = 1
# Environment variables that force an OpenBLAS kernel: dropped for the benchmark processes,
# so they run the kernel the machine selects (recorded in the sidecar via threadpoolctl).
OPENBLAS_FORCING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def command_help(name: str) -> str:
    return "run the asv benchmark suite here and publish asv's pages and the report"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="one sample per combination (asv --quick)")
    parser.add_argument("--grid", default="default", help=f"benchmark grid: {', '.join(grid.GRIDS)}")
    parser.add_argument("--problem", action="append", metavar="P", help="only this problem (repeatable)")
    parser.add_argument("--backend", action="append", metavar="B", help="only this backend (repeatable)")
    parser.add_argument("--device", action="append", metavar="D", help="only this device (repeatable)")
    parser.add_argument("--bench", metavar="REGEX",
                        help="only combinations whose asv name 'family(target, ...)' matches REGEX")
    parser.add_argument("--results", type=Path, metavar="DIR",
                        help="results directory (default: results/ of the checkout)")
    parser.add_argument("--machine", help="machine name for the results (default: from the hardware)")
    parser.add_argument("--launch-method", default="auto", choices=LAUNCH_METHODS,
                        help="asv launch method (default auto = forkserver: frameworks imported once)")
    parser.add_argument("--commits", metavar="RANGE",
                        help="history: run RANGE (e.g. v0.1..main) in asv-built virtualenvs instead of here")
    parser.add_argument("--list", action="store_true", help="print the selected combinations and exit")
    parser.add_argument("--check", action="store_true",
                        help="CI: asv check plus a quick dry run of a small slice; fails if any benchmark fails")


# --- selection ----------------------------------------------------------------------------------
def _validated(values, known, kind):
    for value in values or ():
        if value not in known:
            raise choose_from(kind, value, known)
    return set(values) if values else None


def select(args) -> dict[str, list[tuple]]:
    """Family name -> the combinations to run: in the grid, wanted, and able to run here."""
    grid_name = grid.check_grid(args.grid)
    problems = set(args.problem) if args.problem else None
    for name in problems or ():
        get_problem(name)
    backends = set(args.backend) if args.backend else None
    for name in backends or ():
        get_backend(name)
    devices = _validated(args.device, all_devices(), "device")
    try:
        bench = re.compile(args.bench) if args.bench else None
    except re.error as err:
        raise UserError(f"--bench is not a valid regular expression: {err}") from None

    selected: dict[str, list[tuple]] = {}
    for fam in grid.FAMILIES.values():
        chosen = []
        for combo in grid.combos(fam, grid_name):
            kw = grid.combo_kwargs(fam, combo)
            backend, device = kw["target"].split(":")
            if backends and backend not in backends or devices and device not in devices:
                continue
            if problems and kw["case"].split(":")[0] not in problems:
                continue
            if bench and not bench.search(grid.asv_name(fam, combo)):
                continue
            if grid.unavailable_reason(fam, combo) is None:
                chosen.append(combo)
        if chosen:
            selected[fam.name] = chosen
    if not selected:
        raise UserError("nothing to run: no combination of the grid matches the filters on this machine")
    return selected


def check_slice(selected: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """A small slice for CI: per family and target, its first combinations."""
    out = {}
    for name, combos in selected.items():
        per_target: dict[str, list[tuple]] = {}
        for combo in combos:
            bucket = per_target.setdefault(combo[0], [])
            if len(bucket) < CHECK_PER_TARGET:
                bucket.append(combo)
        out[name] = [c for bucket in per_target.values() for c in bucket]
    return out


def bench_regexes(selected: dict[str, list[tuple]]) -> list[str]:
    """asv `-b` patterns matching exactly the selected combinations, each under MAX_REGEX_CHARS."""
    patterns = []
    for name, combos in selected.items():
        fam = grid.FAMILIES[name]
        head, tail = "^" + re.escape(name) + r"\((?:", r")\)$"
        chunk: list[str] = []
        size = len(head) + len(tail)
        for combo in combos:
            inner = re.escape(grid.asv_name(fam, combo)[len(name) + 1:-1])
            if chunk and size + len(inner) + 1 > MAX_REGEX_CHARS:
                patterns.append(head + "|".join(chunk) + tail)
                chunk, size = [], len(head) + len(tail)
            chunk.append(inner)
            size += len(inner) + 1
        if chunk:
            patterns.append(head + "|".join(chunk) + tail)
    return patterns


# --- asv ----------------------------------------------------------------------------------------
def project_root() -> Path:
    """The git checkout holding asv.conf.json and benchmarks/, with asv importable."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "asv.conf.json").is_file() or not (root / "benchmarks").is_dir():
        raise UserError(f"adcompare run needs the source checkout (asv.conf.json and benchmarks/ in {root})")
    try:
        environment.git_commit(root)
    except (OSError, subprocess.CalledProcessError):
        raise UserError(f"adcompare run needs a git checkout with a commit: {root} is not one") from None
    try:
        import asv  # noqa: F401
    except ImportError:
        raise UserError("asv is not installed; install it with: pip install -e '.[bench]'") from None
    return root


def write_config(root: Path, results_dir: Path, where: Path) -> Path:
    """asv.conf.json with absolute paths and results under `results_dir`."""
    from asv.util import load_json

    conf = load_json(str(root / "asv.conf.json"), js_comments=True)
    conf.update(repo=str(root), benchmark_dir=str(root / "benchmarks"),
                env_dir=str(root / ".asv" / "env"), results_dir=str(results_dir),
                html_dir=str(results_dir / "html"))
    path = where / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


def asv(config: Path, *args: str, env: dict | None = None, capture: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "asv", "--config", str(config), *args]
    return subprocess.run(cmd, env=env, text=True, capture_output=capture)


def benchmark_env(grid_name: str, quick: bool, scratch: Path) -> dict[str, str]:
    """The benchmark processes' environment: thread policy, grid, quick flag, a compile cache
    that lives as long as this run (`scratch`), no forced OpenBLAS kernel."""
    from adcompare import measure

    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_FORCING + (measure.QUICK_ENV,)}
    env.update(measure.thread_env())
    env[grid.GRID_ENV] = grid_name
    if quick:
        env[measure.QUICK_ENV] = "1"
    env[measure.COMPILE_CACHE_ENV] = str(scratch / "compile-cache")
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")   # JAX's GPU peak must be its own
    return env


def launch_method(requested: str) -> str:
    """auto = forkserver: the server imports the frameworks once (never touching a device, so
    CUDA is first initialised in each forked benchmark process — verified on an H100 with torch
    and jax) and a combination costs its own preparation, not ~2 s of imports (~10x cheaper on
    CPU, ~6x on the GPU machine). spawn remains one flag away, and is asv.conf.json's default
    for plain `asv run`."""
    return "forkserver" if requested == "auto" else requested


def register_machine(machine: str) -> None:
    """Store the hardware asv detects (os, arch, cpu, num_cpu, ram) under our machine name in
    ~/.asv-machine.json. `asv machine --yes --machine NAME` would keep only the fields that
    differ from the detected ones, i.e. just the name, and asv's pages would show a bare name."""
    from asv.machine import Machine, MachineCollection

    MachineCollection.save(machine, {**Machine.get_defaults(), "machine": machine})


def run_asv(config: Path, machine: str, selected, env: dict, quick: bool, method: str,
            dry_run: bool = False, commits: str | None = None) -> int:
    """`asv run` of exactly the selected combinations: on the installed environment against
    HEAD, or (`commits`) over a commit range in asv-built virtualenvs (asv.conf.json's matrix)."""
    args = ["run", commits] if commits else ["run", "-E", f"existing:{sys.executable}"]
    args += ["--machine", machine, "--launch-method", method, "--show-stderr", "--durations", "10"]
    if dry_run:
        args.append("--dry-run")
    elif not commits:
        args += ["--set-commit-hash", environment.git_commit(config_root(config))]
    if quick:
        args.append("--quick")
    for pattern in bench_regexes(selected):
        args += ["-b", pattern]
    return asv(config, *args, env=env).returncode


def config_root(config: Path) -> Path:
    return Path(json.loads(config.read_text())["repo"])


def build_report(results_dir: Path) -> Path | None:
    """The adcompare report, if the report module provides `build_report`."""
    try:
        from adcompare.report import build_report as build
    except ImportError as err:
        print(f"note: the adcompare report is not available ({err}); asv's pages are published")
        return None
    out = results_dir / REPORT_PAGE
    try:
        built = build(results_dir, out)
    except ImportError as err:   # e.g. plotly missing: the run's results stand
        print(f"note: the adcompare report was not built ({err}); install: pip install -e '.[bench]'")
        return None
    return Path(built) if built else out


def count(selected) -> int:
    return sum(len(c) for c in selected.values())


# --- the command --------------------------------------------------------------------------------
def main(args) -> int:
    root = project_root()
    selected = select(args)
    if args.list:
        for name, combos in selected.items():
            fam = grid.FAMILIES[name]
            for combo in combos:
                print(grid.asv_name(fam, combo))
        print(f"{count(selected)} combinations", file=sys.stderr)
        return 0
    machine = args.machine or environment.machine_name()
    with tempfile.TemporaryDirectory(prefix="adcompare-run-") as tmp:
        if args.check:
            return check(root, Path(tmp), machine, selected, args)
        results_dir = (args.results or root / "results").resolve()
        config = write_config(root, results_dir, Path(tmp))
        method = launch_method(args.launch_method)
        print(f"adcompare run: {count(selected)} combinations of the {args.grid} grid on machine "
              f"{machine!r} ({method}{', quick' if args.quick else ''}); results in {results_dir}", flush=True)
        register_machine(machine)
        start = time.perf_counter()
        env = benchmark_env(args.grid, args.quick, Path(tmp))
        status = run_asv(config, machine, selected, env, args.quick, method, commits=args.commits)
        elapsed = time.perf_counter() - start
        sidecar = None
        if not args.commits:   # the sidecar describes this environment, not asv's virtualenvs
            dtypes = sorted({v for combos in selected.values() for c in combos for v in c if v in DTYPES})
            info = environment.collect(root, machine, args.grid, dtypes, extra={"run": {
                "quick": args.quick, "combinations": count(selected), "launch_method": method,
                "seconds": round(elapsed, 1), "asv_status": status}})
            sidecar = environment.write_sidecar(results_dir, info)
        published = asv(config, "publish", capture=True)
        if published.returncode != 0:
            print(published.stdout + published.stderr, file=sys.stderr)
        report = build_report(results_dir)
    print(f"\nadcompare run: {count(selected)} combinations in {elapsed / 60:.1f} min")
    print(f"  results:    {results_dir}")
    if sidecar:
        print(f"  env:        {sidecar}")
    if published.returncode == 0:
        print(f"  asv pages:  {results_dir / 'html' / 'index.html'} (serve with: asv preview)")
    if report:
        print(f"  report:     {report}")
    if status != 0:
        print("adcompare run: some benchmarks failed (see above)", file=sys.stderr)
        return 1
    return 0 if published.returncode == 0 else 1


def check(root: Path, tmp: Path, machine: str, selected, args) -> int:
    """CI: `asv check` and a quick dry run of one combination per family and target."""
    config = write_config(root, tmp / "results", tmp)
    env = benchmark_env(args.grid, True, tmp)
    checked = asv(config, "check", "-E", f"existing:{sys.executable}", env=env)
    if checked.returncode != 0:
        print("adcompare run --check: asv check failed", file=sys.stderr)
        return 1
    register_machine(machine)
    slice_ = check_slice(selected)
    method = launch_method(args.launch_method)
    print(f"adcompare run --check: quick dry run of {count(slice_)} combinations ({method})", flush=True)
    status = run_asv(config, machine, slice_, env, quick=True, method=method, dry_run=True)
    if status != 0:
        print("adcompare run --check: some benchmarks failed", file=sys.stderr)
        return 1
    print("adcompare run --check: ok")
    return 0
