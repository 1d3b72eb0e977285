"""`adcompare run`: the benchmark suite on this checkout and environment, in one command.

1. Plan: the grid's jobs that can run here (`run.plan`), narrowed by --problem, --backend,
   --device, --bench.
2. Take the results folder's run lock; undo an interrupted page swap; name corrupt files.
3. Measure: `run.campaign` runs every job in several processes within the grid's budget
   (--quick: one short process each, a labelled smoke test). What the measurement processes
   print (frameworks' warnings) goes to the run's log, not the terminal.
4. Save into results/: the figures file with the 95 % CIs, the environment sidecar with this
   run's record, asv's results file, machine.json and benchmarks.json, each written whole
   (`run.merge`).
5. Publish asv's pages and the adcompare report into a scratch folder; swap it in whole.

Ctrl-C or SIGTERM at any moment saves what was measured (`run.interrupts`). `--commits A..B`
runs the same benchmark classes over history (`run.history`); `--check` is CI's slice of
everything above (`run.check`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path

from adcompare.backends import all_devices, get_backend
from adcompare.errors import UserError, choose_from
from adcompare.ids import Target
from adcompare.problems import get_problem
from adcompare.run import campaign, checkout, interrupts, merge, plan as P, processes
from adcompare.run.check import check
from adcompare.run.history import check_range, history
from adcompare.run.publish import publish
from adcompare.run.worker import QUICK, Settings
from adcompare.store import environment, identity
from adcompare.store.folder import check_machine_name, corrupt_files, recover_html, run_lock
from adcompare.store.figures_file import NOISE_FLAGS
from adcompare.store.files import removal_hint

CLUSTER_WORKER = "dask worker ADDRESS --nthreads 1 --resources benchmark=1"
# Wall-clock budget of the measurement itself, per grid (publishing and the report add ~1 min).
BUDGET_MINUTES = {"main": 8.75, "full": 50.0, "wide": 300.0}
MAX_BUDGET_MINUTES = 7 * 24 * 60
MAX_PASSES = 100


def command_help(name: str) -> str:
    return "measure the benchmark suite here; merge the results; publish asv's pages and the report"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", default=P.DEFAULT_GRID,
                        help=f"benchmark grid: {', '.join(P.GRIDS)} (default {P.DEFAULT_GRID}, ≤ 10 min)")
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
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the jobs on the Dask cluster at ADDRESS (workers: " + CLUSTER_WORKER + ")")
    parser.add_argument("--shard", metavar="K/N", help="measure only the K-th of N deterministic slices of the plan "
                                                       "(a CI matrix; adcompare merge joins the shards' results)")
    parser.add_argument("--resume", action="store_true",
                        help="skip the jobs an interrupted run with the same options measured (its journal)")
    parser.add_argument("--no-publish", action="store_true",
                        help="save the results but leave the pages as they are (a shard of a CI matrix: "
                             "adcompare merge publishes)")
    parser.add_argument("--list", action="store_true", help="print the selected figures and exit")
    parser.add_argument("--check", action="store_true",
                        help="CI: asv check, then a quick slice of every family through the whole pipeline")


# --- selection ----------------------------------------------------------------------------------
def select(args) -> P.Plan:
    """The grid's plan on this machine, narrowed by the filters."""
    grid_name = P.check_grid(args.grid)
    for name in args.problem or ():
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
    targets = [t for t in P.targets()
               if (not backends or Target.parse(t).backend in backends)
               and (not devices or Target.parse(t).device in devices)]
    narrowed = P.narrow(P.plan(grid_name, targets), args.problem or (), bench)
    return P.shard(narrowed, *parse_shard(args.shard)) if getattr(args, "shard", None) else narrowed


def parse_shard(text: str) -> tuple[int, int]:
    """'2/5' -> (2, 5); UserError unless 1 ≤ K ≤ N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserError(f"--shard must be K/N, e.g. 2/5, got {text!r}") from None
    if not 1 <= k <= n:
        raise UserError(f"--shard K/N needs 1 ≤ K ≤ N, got {text!r}")
    return k, n


def campaign_settings(args) -> tuple[Settings, campaign.Budget]:
    minutes = args.budget if args.budget is not None else BUDGET_MINUTES[args.grid]
    if not math.isfinite(minutes) or not 0 < minutes <= MAX_BUDGET_MINUTES:
        raise UserError(f"--budget must be a positive number of minutes up to {MAX_BUDGET_MINUTES} (a week), "
                        f"got {minutes:g}")
    passes = args.passes if args.passes is not None else (1 if args.quick else campaign.Budget.passes)
    if not 1 <= passes <= MAX_PASSES:
        raise UserError(f"--passes must be at least 1 and at most {MAX_PASSES}, got {passes}")
    budget = campaign.Budget(passes=passes, max_passes=max(passes, campaign.Budget.max_passes), seconds=60 * minutes)
    return (QUICK if args.quick else Settings()), budget


# --- the command --------------------------------------------------------------------------------
def main(args) -> int:
    signals = interrupts.Interrupts().install()
    root = checkout.project_root()
    P.check_grid(args.grid)
    if args.machine is not None:
        check_machine_name(args.machine)
    plan = select(args)
    if args.list:
        for f in plan.figures:
            print(P.figure_name(f))
        print(f"{len(plan.figures)} figures in {len(plan.jobs)} jobs", file=sys.stderr)
        return 0
    settings, budget = campaign_settings(args)
    if args.scheduler and args.machine:
        raise UserError("--machine names this machine; with --scheduler each worker names its own machine "
                        "($ADCOMPARE_MACHINE in the worker's environment, else from its hardware)")
    if args.commits is not None:
        check_range(root, args.commits)     # before asv sees it (or anything is locked)
    threads = None if args.machine or args.scheduler else environment.threads_probe(
        sorted({Target.parse(j.target).backend for j in plan.jobs}))
    machine = check_machine_name(args.machine or environment.machine_name(threads))
    if args.check:
        args.quick = True

        def pipeline(results, selected, settings, budget):
            return measure_and_publish(root, results, machine, selected, settings, budget, args, signals)
        return check(root, machine, plan, args.grid, pipeline)
    results = (args.results or checkout.default_results()).resolve()
    command = "adcompare run " + " ".join(sys.argv[2:])
    with run_lock(results, command):
        recover_html(results)
        identity.backfill(results)
        for path, why in corrupt_files(results):
            print(f"adcompare run: {path} is corrupt ({why}); the report skips it; remove it with: "
                  f"{removal_hint(path)}", file=sys.stderr)
        if args.commits is not None:
            return history(root, results, machine, plan, args.commits, args.grid, args.quick)
        return measure_and_publish(root, results, machine, plan, settings, budget, args, signals)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _durations(plan: P.Plan, done: campaign.Campaign) -> dict[str, float]:
    """Seconds of measurement per benchmark (asv's `duration` column), shared among a job's figures."""
    out: dict[str, float] = {}
    for job in plan.jobs:
        for f in job.figures:
            out[f.benchmark] = out.get(f.benchmark, 0.0) + sum(
                r.get("seconds", 0.0) for r in done.records.get(job.id, [])) / len(job.figures)
    return out


@dataclasses.dataclass
class Machine:
    """A machine a run measures on: its name, machine.json (asv's record and the host's
    fingerprint), the threads its measurement processes run with, and, for a cluster's worker,
    the environment it described (None: this machine's, collected here)."""

    name: str
    info: dict
    threads: dict
    described: dict | None = None
    shared_host: bool = False


def _executor(args, results: Path, settings: Settings, budget: campaign.Budget, plan: P.Plan, machine: str):
    """(the executor, {record machine key: Machine}): this machine, or a Dask cluster's workers;
    a machine whose fingerprint differs from the one its name has in results/ is refused."""
    backends = sorted({Target.parse(j.target).backend for j in plan.jobs})
    if not args.scheduler:
        threads = environment.threads_probe(backends)
        fingerprint = environment.fingerprint(threads)
        identity.check(results, machine, fingerprint)
        return None, {None: Machine(machine, identity.machine_record(checkout.register_machine(machine), fingerprint),
                                    threads)}
    from adcompare.run.cluster import Cluster, connect

    executor = Cluster(connect(args.scheduler), settings, budget.job_timeout, args.grid, backends,
                       log=lambda line: print(line, flush=True))
    machines = {}
    for name, info in executor.identify().items():
        check_machine_name(name)
        if len({fp["hash"] for fp in info["fingerprints"]}) > 1:
            raise UserError(f"the workers named {name!r} run on hosts of different kinds; give each kind its own "
                            "name ($ADCOMPARE_MACHINE on the worker)")
        identity.check(results, name, info["fingerprint"])
        shared = len(info["workers"]) > len(set(info["workers"]))
        machines[name] = Machine(name, identity.machine_record(info["asv_machine"], info["fingerprint"]),
                                 info["threads"], info, shared)
    return executor, machines


def journal_path(root: Path, commit: str, plan: P.Plan, args) -> Path:
    """Where the campaign appends every record as it arrives: one file per commit, selection and
    settings, kept until the run is saved, so `--resume` can skip what a cut-short run measured."""
    key = "|".join([commit, args.grid, str(args.quick), str(args.passes), *sorted(j.id for j in plan.jobs)])
    return checkout.journals_root(root) / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.jsonl"


def measure_and_publish(root: Path, results: Path, machine: str, plan: P.Plan, settings: Settings,
                        budget: campaign.Budget, args, signals: interrupts.Interrupts) -> int:
    scratch = checkout.new_scratch(root)
    run_id = checkout.run_id()
    log_path = checkout.logs_root(root) / f"{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved: list[tuple[str, Path, list]] = []
    try:
        commit = environment.git_commit(root)
        os.environ.update(checkout.measurement_env(args.grid, root, scratch))
        for var in checkout.OPENBLAS_FORCING:
            os.environ.pop(var, None)
        os.environ[processes.RUN_LOG_ENV] = str(log_path)
        executor, machines = _executor(args, results, settings, budget, plan, machine)
        journal = journal_path(root, commit, plan, args)
        journal.parent.mkdir(parents=True, exist_ok=True)
        resumed = campaign.journal_records(journal, plan) if getattr(args, "resume", False) else {}
        if not resumed:
            journal.unlink(missing_ok=True)
        where = ", ".join(repr(m.name) for m in machines.values())
        slots = f" on {executor.slots} workers" if executor else ""
        print(f"adcompare run: {len(plan.figures)} figures in {len(plan.jobs)} jobs of the {args.grid} grid on "
              f"{where}{slots}, {'quick (smoke test)' if args.quick else f'{budget.passes} processes per timed job'}, "
              f"budget {budget.seconds / 60:g} min; results in {results}"
              + (f"; resuming {sum(map(len, resumed.values()))} records" if resumed else ""), flush=True)
        interrupts.checkpoint("planned")
        started = time.time()
        done = campaign.run(plan, settings, budget, journal, seed=args.seed, log=lambda line: print(line, flush=True),
                            quick=args.quick, finishing=signals.quiet, executor=executor, resumed=resumed,
                            scratch=scratch / "records")
        figures = {key: done.figures(args.quick, key) for key in done.machines if key in machines}
        if not any(f.status == "ok" for figs in figures.values() for f in figs):
            _err("adcompare run: no figure was measured; nothing is written")
            return 130 if signals.interrupted else 1
        with signals.held():
            interrupts.checkpoint("measured")
            for key, figs in figures.items():
                where = machines[key]
                if where.shared_host:
                    for f in figs:
                        if f.status == "ok":
                            f.flags.append("shared-host")
                saved.append((where.name, _save(root, results, scratch, where, commit, run_id, plan, done, figs,
                                                started, budget, args, signals), figs))
            if not done.interrupted:
                journal.unlink(missing_ok=True)     # saved whole: nothing to resume
        published, page = False, None
        if not signals.interrupted and not getattr(args, "no_publish", False):
            signals.arm()
            try:
                interrupts.checkpoint("publishing")
                published, page = publish(root, results, scratch, log=_err)
                interrupts.checkpoint("published")
            except KeyboardInterrupt:
                pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    failures = 0
    for name, sidecar, figs in saved:
        ok = [f for f in figs if f.status == "ok"]
        failed = [f for f in figs if f.status == "failed"]
        failures += len(failed)
        flagged = sum(1 for f in ok if set(f.flags) & set(NOISE_FLAGS))
        print(f"\nadcompare run: {len(ok)} figures measured ({flagged} flagged as noisy), {len(failed)} failed, "
              f"{len(figs) - len(ok) - len(failed)} not available here, in {done.seconds / 60:.1f} min")
        for f in failed[:10]:
            _err(f"  failed: {P.figure_name(f.spec)}: {f.reason}")
        print(f"  results:    {results / name}")
        print(f"  env:        {sidecar}")
    if published:
        print(f"  asv pages:  {results / 'html' / 'index.html'} (serve with: asv preview)")
    if page:
        print(f"  report:     {page}")
    if log_path.is_file() and log_path.stat().st_size:
        print(f"  log:        {log_path} (what the measurement processes printed)")
    else:
        log_path.unlink(missing_ok=True)
    if signals.interrupted:
        _err("adcompare run: interrupted; the figures measured so far are saved"
             + ("" if published else "; the pages were not rebuilt (adcompare report rebuilds the report)")
             + ("; adcompare run --resume with the same options measures the rest" if done.interrupted else ""))
        return 130
    return 1 if failures or not (published or getattr(args, "no_publish", False)) else 0


def _save(root, results, scratch, where: Machine, commit, run_id, plan, done, figs, started, budget, args,
          signals) -> Path:
    """Everything one machine measured into results/<machine>/, with signals held: the figures file
    and the run record first (every number and what it was measured on), then asv's results file."""
    ok = [f for f in figs if f.status == "ok"]
    failed = [f for f in figs if f.status == "failed"]
    interrupts.checkpoint("environment")
    dtypes = sorted({f.spec.param_dict().get("dtype", "float64") for f in ok})
    backends = sorted({Target.parse(j.target).backend for j in plan.jobs})
    env_info = environment.collect(root, where.name, args.grid, dtypes, backends=backends, described=where.described,
                                   threads=where.threads)
    interrupts.checkpoint("figures-file")
    merge.write_figures(results, where.name, commit, figs, plan.skipped, {"id": run_id, "quick": args.quick}, _err)
    interrupts.checkpoint("run-record")
    record = {"id": run_id, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "started": started, "quick": args.quick, "grid": args.grid,
              "selection": {k: getattr(args, k, None) for k in ("problem", "backend", "device", "bench", "problems")},
              "budget_minutes": round(budget.seconds / 60, 3), "combinations": len(figs), "measured": len(ok),
              "failed": len(failed), "passes": done.passes, "seconds": round(done.seconds, 1),
              "status": "interrupted" if done.interrupted or signals.interrupted else
              ("some figures failed" if failed else "ok"), "commit": commit,
              "shard": getattr(args, "shard", None), "scheduler": getattr(args, "scheduler", None),
              "shared_host": where.shared_host}
    sidecar = merge.write_record(results, where.name, commit, record, env_info, _err)
    interrupts.checkpoint("asv-results")
    try:
        merge.write_asv_results(root, results, scratch, where.name, where.info, commit, figs, plan.skipped, started,
                                _durations(plan, done), _err)
    except Exception as err:   # asv's file is derived; ours above already hold every number
        _err(f"adcompare run: asv's results file was not written ({type(err).__name__}: {err}); "
             "the figures file and the run record are saved")
    return sidecar
