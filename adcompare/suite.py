"""`adcompare run`: the benchmark suite on this checkout and environment, in one command.

1. Pick the grid's jobs that can run here (narrowed by --problem, --backend, --device, --bench).
2. Take the results folder's run lock; undo an interrupted page swap; name corrupt files.
3. Measure: adcompare.campaign runs every job in several processes within the grid's budget
   (--quick: one short process each, a labelled smoke test).
4. Merge into results/ (adcompare.store): asv's results file, the figures file with the 95 %
   CIs, the environment sidecar with this run's record, machine.json and benchmarks.json — each
   written beside the old one and renamed over it.
5. Publish asv's pages and the adcompare report into a scratch folder; swap it into place whole.

`--commits A..B` runs the same benchmark classes over history in asv-built virtualenvs (asv's
own runner, one process per figure); `--check` is CI's slice of everything above.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from adcompare import asvresults, campaign, environment, figures as F, grid, store
from adcompare.backends import all_devices, get_backend
from adcompare.errors import UserError, choose_from
from adcompare.problems import get_problem
from adcompare.worker import QUICK, Settings

REPORT_PAGE = Path("html") / "adcompare" / "index.html"   # inside the results directory
# Wall-clock budget of the measurement itself, per grid (publishing and the report add ~1 min).
BUDGET_MINUTES = {"main": 8.75, "full": 50.0, "wide": 300.0}
# Environment variables that force an OpenBLAS kernel: dropped for the measurement processes,
# so they run the kernel the machine selects (recorded in the sidecar via threadpoolctl).
OPENBLAS_FORCING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MAX_REGEX_CHARS = 100_000      # one argv string may not exceed 128 KiB on Linux


def command_help(name: str) -> str:
    return "measure the benchmark suite here; merge the results; publish asv's pages and the report"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", default=grid.DEFAULT_GRID,
                        help=f"benchmark grid: {', '.join(grid.GRIDS)} (default {grid.DEFAULT_GRID}, ≤ 10 min)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: one short process per figure; numbers are marked as such")
    parser.add_argument("--problem", action="append", metavar="P", help="only this problem (repeatable)")
    parser.add_argument("--backend", action="append", metavar="B", help="only this backend (repeatable)")
    parser.add_argument("--device", action="append", metavar="D", help="only this device (repeatable)")
    parser.add_argument("--bench", metavar="REGEX",
                        help="only figures whose asv name 'benchmark(target, ...)' matches REGEX")
    parser.add_argument("--results", type=Path, metavar="DIR",
                        help="results directory (default: results/ of the checkout)")
    parser.add_argument("--machine", help="machine name for the results (default: from the hardware)")
    parser.add_argument("--budget", type=float, metavar="MINUTES",
                        help="measurement budget (default per grid: " +
                             ", ".join(f"{k} {v:g}" for k, v in BUDGET_MINUTES.items()) + ")")
    parser.add_argument("--passes", type=int, metavar="P", help="processes per figure, at least (default 3)")
    parser.add_argument("--seed", type=int, help="seed of the job order (default: random)")
    parser.add_argument("--commits", metavar="RANGE",
                        help="history: run RANGE (e.g. v0.1..main) in asv-built virtualenvs instead of here")
    parser.add_argument("--list", action="store_true", help="print the selected figures and exit")
    parser.add_argument("--check", action="store_true",
                        help="CI: asv check, then a quick slice of every family through the whole pipeline")


# --- selection ----------------------------------------------------------------------------------
def _figure_name(f: grid.FigureSpec) -> str:
    return f"{f.benchmark}({', '.join(repr(v) for v in f.params)})"


def _case_problem(f: grid.FigureSpec) -> str | None:
    case = f.param_dict().get("case")
    return str(case).split(":")[0] if case else None


def select(args) -> grid.Plan:
    """The grid's plan on this machine, narrowed by the filters."""
    grid_name = grid.check_grid(args.grid)
    problems = set(args.problem or ())
    for name in problems:
        get_problem(name)
    backends = set(args.backend or ())
    for name in backends:
        get_backend(name)
    for device in args.device or ():
        if device not in all_devices():
            raise choose_from("device", device, all_devices())
    devices = set(args.device or ())
    try:
        bench = re.compile(args.bench) if args.bench else None
    except re.error as err:
        raise UserError(f"--bench is not a valid regular expression: {err}") from None
    targets = [t for t in grid.targets()
               if (not backends or t.split(":")[0] in backends) and (not devices or t.split(":")[1] in devices)]

    def wanted(f: grid.FigureSpec) -> bool:
        if problems and _case_problem(f) not in problems:
            return False
        return not bench or bool(bench.search(_figure_name(f)))

    full = grid.plan(grid_name, targets)
    jobs = []
    for job in full.jobs:
        kept = tuple(f for f in job.figures if wanted(f))
        if kept:
            used = {n for f in kept for n in (*f.arms, *(arm for _, arm in f.parts))}
            jobs.append(grid.Job(job.kind, job.target, job.dtype, tuple(a for a in job.arms if a.name in used), kept))
    skipped = [s for s in full.skipped if wanted(s.figure)]
    if not jobs:
        raise UserError("nothing to run: no figure of the grid matches the filters on this machine")
    return grid.Plan(jobs, skipped)


# --- the checkout -------------------------------------------------------------------------------
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
        raise UserError("asv is not installed; install the project with the README's command") from None
    return root


def default_results() -> Path:
    """Where results live: results/ of the checkout (the same folder `adcompare report` reads)."""
    return Path(__file__).resolve().parents[1] / "results"


def write_config(root: Path, results_dir: Path, html_dir: Path, where: Path) -> Path:
    """asv.conf.json with absolute paths, results and pages where this run wants them."""
    from asv.util import load_json

    conf = load_json(str(root / "asv.conf.json"), js_comments=True)
    conf.update(repo=str(root), benchmark_dir=str(root / "benchmarks"), env_dir=str(root / ".asv" / "env"),
                results_dir=str(results_dir), html_dir=str(html_dir))
    path = where / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


def asv(config: Path, *args: str, env: dict | None = None, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asv", "--config", str(config), *args], env=env, text=True,
                          capture_output=capture)


def measurement_env(grid_name: str, root: Path, scratch: Path) -> dict[str, str]:
    """The measurement processes' environment: the thread policy, the grid, the compile cache,
    no forced OpenBLAS kernel, no GPU memory preallocation.

    The compile cache (JAX's and Inductor's, .asv/compile-cache beside the scratch folders) is
    kept between runs: steady-state figures never time a compile, and a cold cache made the
    first pass of the main grid 360 s against 140 s for the next. Compile-time figures never read
    it (their private caches go into this run's scratch folder)."""
    from adcompare import measure

    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_FORCING}
    env.update(measure.thread_env())
    env[grid.GRID_ENV] = grid_name
    env[measure.COMPILE_CACHE_ENV] = str(compile_cache_root(root))
    env[measure.COLD_CACHE_ENV] = str(scratch / "cold-caches")
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return env


def register_machine(machine: str) -> dict:
    """asv's detected hardware (os, arch, cpu, num_cpu, ram in bytes) under our machine name, in
    ~/.asv-machine.json (asv's own runner needs it) and returned for machine.json."""
    from asv.machine import Machine, MachineCollection

    info = {**Machine.get_defaults(), "machine": machine}
    MachineCollection.save(machine, info)
    return {**info, "version": 1}


# --- merging one run into the results folder -----------------------------------------------------
def run_id() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"


def scratch_root(root: Path) -> Path:
    return root / ".asv" / "scratch"


def compile_cache_root(root: Path) -> Path:
    """JAX's and Inductor's compile caches, kept between runs (never under scratch_root)."""
    return root / ".asv" / "compile-cache"


def clean_stale_scratch(root: Path) -> None:
    """Remove scratch folders of runs whose process is gone (killed before it could clean up)."""
    for folder in scratch_root(root).glob("*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_scratch(root: Path, prefix: str = "") -> Path:
    clean_stale_scratch(root)
    folder = scratch_root(root) / (prefix + run_id())
    folder.mkdir(parents=True)
    return folder


def _valid_or_aside(path: Path, log) -> dict | None:
    """The file's JSON; a corrupt one is renamed to `<name>.corrupt` (never deleted) and None."""
    try:
        return store.read_json(path)
    except ValueError as err:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log(f"adcompare run: {path} was corrupt ({err}); kept as {aside}; remove it with: "
            f"{store.removal_hint(aside)}")
        return None


def merge_run(root: Path, results: Path, scratch: Path, machine: str, machine_info: dict, commit: str,
              figures: list[F.Figure], skipped: list[grid.Skipped], record: dict, env_info: dict,
              durations: dict[str, float], log=print) -> Path:
    """Write this run into results/ (see adcompare.store): asv's file, figures, sidecar."""
    staged = scratch / "results"
    config = write_config(root, staged, scratch / "html", scratch)
    benchmarks = asvresults.discover(config, commit, staged)
    python = store.python_tag()
    target = results / machine / f"{commit[:8]}-{asvresults.env_name(python)}.json"
    machine_dir = results / machine
    machine_dir.mkdir(parents=True, exist_ok=True)
    previous = target if _valid_or_aside(target, log) is not None else None
    started = datetime.datetime.fromtimestamp(record["started"], tz=datetime.timezone.utc)
    res, missing = asvresults.build(machine_info, commit, asvresults.commit_date_ms(root, commit), python,
                                    benchmarks, figures, skipped, previous, started, durations)
    if missing:
        log(f"adcompare run: {len(missing)} figures are not in the benchmark suite's parameters (not in asv's "
            f"file; they are in the figures file), e.g. {_figure_name(missing[0].spec)}")
    res.save(str(staged))
    written = staged / res._filename
    store.read_json(written)   # asv wrote it; it must parse before it replaces anything
    store.write_atomically(target, written.read_text(encoding="utf-8"))
    store.write_json(machine_dir / "machine.json", machine_info)
    store.write_atomically(results / "benchmarks.json", (staged / "benchmarks.json").read_text(encoding="utf-8"))

    figures_path = machine_dir / F.file_name(commit)
    old_figures = _valid_or_aside(figures_path, log)
    measured = [F.figure_record(f, record["id"], record["quick"]) for f in figures if f.status == "ok"]
    unavailable = [F.unavailable_record(f.spec, f.status, f.reason or "", record["id"])
                   for f in figures if f.status != "ok"] + F.skipped_records(skipped, record["id"])
    store.write_json(figures_path, F.merge_file(old_figures, machine, commit, measured, unavailable))

    sidecar = environment.sidecar_path(results, machine, commit)
    old = _valid_or_aside(sidecar, log) or {}
    runs = old.get("runs") or ([old["run"]] if isinstance(old.get("run"), dict) else [])
    info = {**env_info, "runs": [*runs, record]}
    info.pop("run", None)
    store.write_json(sidecar, info)
    return sidecar


def publish(root: Path, results: Path, scratch: Path, log=print) -> tuple[bool, Path | None]:
    """asv's pages and the adcompare report, built in scratch and swapped into results/html."""
    html = scratch / "html"
    config = write_config(root, results, html, scratch)
    published = asv(config, "publish", capture=True)
    if published.returncode != 0:
        log((published.stdout + published.stderr).strip())
        html.mkdir(parents=True, exist_ok=True)
    page = None
    try:
        from adcompare.report import build_report
        page = Path(build_report(results, html / "adcompare" / "index.html"))
    except ImportError as err:
        log(f"note: the adcompare report was not built ({err}); install the project with the README's command")
    except UserError as err:
        log(f"note: the adcompare report was not built: {err}")
    store.swap_html(results, html)
    return published.returncode == 0, (results / REPORT_PAGE) if page else None


# --- the command --------------------------------------------------------------------------------
def campaign_settings(args) -> tuple[Settings, campaign.Budget]:
    minutes = args.budget if args.budget is not None else BUDGET_MINUTES[args.grid]
    if minutes <= 0:
        raise UserError(f"--budget must be a positive number of minutes, got {minutes:g}")
    passes = args.passes if args.passes is not None else (1 if args.quick else campaign.Budget.passes)
    if passes < 1:
        raise UserError(f"--passes must be at least 1, got {passes}")
    budget = campaign.Budget(passes=passes, max_passes=max(passes, campaign.Budget.max_passes), seconds=60 * minutes)
    return (QUICK if args.quick else Settings()), budget


def _terminate(signum, frame):
    """SIGTERM (a scheduler, `timeout`, `kill`) ends the run like Ctrl-C: what was measured is
    saved and the scratch folder removed. Only SIGKILL cannot be caught; then nothing in
    results/ is touched until the merge, and the merge replaces each file whole."""
    raise KeyboardInterrupt


def main(args) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    root = project_root()
    grid.check_grid(args.grid)
    if args.machine is not None:
        store.check_machine_name(args.machine)
    plan = select(args)
    if args.list:
        for f in plan.figures:
            print(_figure_name(f))
        print(f"{len(plan.figures)} figures in {len(plan.jobs)} jobs", file=sys.stderr)
        return 0
    settings, budget = campaign_settings(args)
    machine = store.check_machine_name(args.machine or environment.machine_name())
    if args.check:
        return check(root, machine, plan, args)
    results = (args.results or default_results()).resolve()
    command = "adcompare run " + " ".join(sys.argv[2:])
    with store.run_lock(results, command):
        store.recover_html(results)
        for path, why in store.corrupt_files(results):
            print(f"adcompare run: {path} is corrupt ({why}); the report skips it; remove it with: "
                  f"{store.removal_hint(path)}", file=sys.stderr)
        if args.commits:
            return history(root, results, machine, plan, args)
        return measure_and_publish(root, results, machine, plan, settings, budget, args)


def measure_and_publish(root: Path, results: Path, machine: str, plan: grid.Plan, settings: Settings,
                        budget: campaign.Budget, args) -> int:
    scratch = new_scratch(root)
    try:
        commit = environment.git_commit(root)
        machine_info = register_machine(machine)
        os.environ.update(measurement_env(args.grid, root, scratch))
        for var in OPENBLAS_FORCING:
            os.environ.pop(var, None)
        timing = sum(1 for j in plan.jobs if j.kind != "count")
        print(f"adcompare run: {len(plan.figures)} figures in {len(plan.jobs)} jobs of the {args.grid} grid on "
              f"{machine!r}, {'quick (smoke test)' if args.quick else f'{budget.passes} processes per timed job'}, "
              f"budget {budget.seconds / 60:g} min; results in {results}", flush=True)
        started = time.time()
        done = campaign.run(plan, settings, budget, scratch / "journal.jsonl", seed=args.seed,
                            log=lambda line: print(line, flush=True), quick=args.quick)
        figs = done.figures(args.quick)
        ok = [f for f in figs if f.status == "ok"]
        failed = [f for f in figs if f.status == "failed"]
        record = {"id": run_id(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "started": started, "quick": args.quick, "grid": args.grid,
                  "selection": {k: getattr(args, k) for k in ("problem", "backend", "device", "bench")},
                  "combinations": len(figs), "measured": len(ok), "failed": len(failed), "passes": done.passes,
                  "seconds": round(done.seconds, 1), "status": "interrupted" if done.interrupted else
                  ("some figures failed" if failed else "ok"), "commit": commit}
        if not ok:
            print("adcompare run: no figure was measured; nothing is written", file=sys.stderr)
            return 1
        env_info = environment.collect(root, machine, args.grid, sorted({f.spec.param_dict().get("dtype", "float64")
                                                                          for f in ok}))
        durations = {}
        for job in plan.jobs:
            for f in job.figures:
                durations[f.benchmark] = durations.get(f.benchmark, 0.0) + sum(
                    r.get("seconds", 0.0) for r in done.records.get(job.id, [])) / len(job.figures)
        sidecar = merge_run(root, results, scratch, machine, machine_info, commit, figs, plan.skipped, record,
                            env_info, durations, log=lambda line: print(line, file=sys.stderr))
        published, page = publish(root, results, scratch, log=lambda line: print(line, file=sys.stderr))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    flagged = sum(1 for f in ok if f.flags)
    print(f"\nadcompare run: {len(ok)} figures measured ({flagged} flagged as noisy), {len(failed)} failed, "
          f"{len(figs) - len(ok) - len(failed)} not available here, in {done.seconds / 60:.1f} min")
    for f in failed[:10]:
        print(f"  failed: {_figure_name(f.spec)}: {f.reason}", file=sys.stderr)
    print(f"  results:    {results / machine}")
    print(f"  env:        {sidecar}")
    if published:
        print(f"  asv pages:  {results / 'html' / 'index.html'} (serve with: asv preview)")
    if page:
        print(f"  report:     {page}")
    if done.interrupted:
        print("adcompare run: interrupted; the figures measured so far are saved", file=sys.stderr)
        return 130
    return 1 if failed or not published else 0


# --- history and CI -------------------------------------------------------------------------------
def bench_regexes(plan: grid.Plan) -> list[str]:
    """asv -b patterns matching exactly the plan's figures ('benchmark(param, ...)'), chunked
    so no single argument exceeds MAX_REGEX_CHARS."""
    by_benchmark: dict[str, list[grid.FigureSpec]] = {}
    for f in plan.figures:
        by_benchmark.setdefault(f.benchmark, []).append(f)
    patterns = []
    for name, figs in by_benchmark.items():
        head, tail = "^" + re.escape(name) + r"\((?:", r")\)$"
        chunk: list[str] = []
        size = len(head) + len(tail)
        for f in figs:
            inner = re.escape(", ".join(repr(v) for v in f.params))
            if chunk and size + len(inner) + 1 > MAX_REGEX_CHARS:
                patterns.append(head + "|".join(chunk) + tail)
                chunk, size = [], len(head) + len(tail)
            chunk.append(inner)
            size += len(inner) + 1
        if chunk:
            patterns.append(head + "|".join(chunk) + tail)
    return patterns


def history(root: Path, results: Path, machine: str, plan: grid.Plan, args) -> int:
    """asv's own runner over a commit range, in asv-built virtualenvs (asv.conf.json's matrix
    reads the lock of tested versions), one process per figure; results written into scratch
    and then merged file by file."""
    scratch = new_scratch(root)
    staged = scratch / "results"
    try:
        if (results / machine).is_dir():
            shutil.copytree(results / machine, staged / machine)
        config = write_config(root, staged, scratch / "html", scratch)
        register_machine(machine)
        env = measurement_env(args.grid, root, scratch)
        cmd = ["run", args.commits, "--machine", machine, "--launch-method", "spawn", "--show-stderr",
               "--record-samples"] + (["--quick"] if args.quick else [])
        for pattern in bench_regexes(plan):
            cmd += ["-b", pattern]
        status = asv(config, *cmd, env=env).returncode
        for path in sorted(staged.glob("*/*.json")) + [staged / "benchmarks.json"]:
            if path.is_file():
                store.read_json(path)
                dest = results / path.relative_to(staged)
                store.write_atomically(dest, path.read_text(encoding="utf-8"))
        publish(root, results, scratch, log=lambda line: print(line, file=sys.stderr))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if status == 0 else 1


CHECK_JOBS_PER_KIND = 1


def check_plan(plan: grid.Plan) -> grid.Plan:
    """CI's slice: per target, the first job of each kind and of each benchmark."""
    seen, jobs = set(), []
    for job in plan.jobs:
        keys = {(job.target, job.kind)} | {(job.target, f.benchmark) for f in job.figures}
        if keys - seen:
            jobs.append(job)
            seen |= keys
    return grid.Plan(jobs, plan.skipped)


def check(root: Path, machine: str, plan: grid.Plan, args) -> int:
    """CI: `asv check` of the suite, asv's own runner on one figure per benchmark (a dry run),
    then the whole pipeline — quick campaign, merge, publish, report — into a throwaway results
    folder; fails if anything fails."""
    scratch = new_scratch(root, "check-")
    try:
        env = measurement_env(args.grid, root, scratch)
        config = write_config(root, scratch / "asv-results", scratch / "asv-html", scratch)
        if asv(config, "check", "-E", f"existing:{sys.executable}", env=env).returncode != 0:
            print("adcompare run --check: asv check failed", file=sys.stderr)
            return 1
        register_machine(machine)
        one_each = grid.Plan([j for j in check_plan(plan).jobs if j.kind != "first-call"][:8], [])
        cmd = ["run", "-E", f"existing:{sys.executable}", "--machine", machine, "--quick", "--dry-run",
               "--show-stderr", "--launch-method", "spawn"]
        for pattern in bench_regexes(one_each):
            cmd += ["-b", pattern]
        if asv(config, *cmd, env=env).returncode != 0:
            print("adcompare run --check: asv's runner failed on the benchmark classes", file=sys.stderr)
            return 1
        results = scratch / "results"
        settings, budget = QUICK, campaign.Budget(passes=1, seconds=600)
        args.quick = True
        status = measure_and_publish(root, results, machine, check_plan(plan), settings, budget, args)
        if status != 0:
            print("adcompare run --check: the pipeline failed", file=sys.stderr)
            return 1
        print("adcompare run --check: ok")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
