"""`adcompare advise`: for one function (one problem instance), is each backend right on it, and
which way of getting each derivative is fastest here?

1. **Correctness first** (`run.correctness`): each backend's primal, VJP and JVP at x0 against
   numpy, one central difference and our engine. A wrong backend is reported and not timed; one
   that cannot run the function says why.
2. **Measure with the campaign's method**: the jobs of the one case on each target that passed,
   built from the families' own figure helpers (time per call, cost ratios, the forward/reverse
   factor, sparse Jacobians where the engine finds the pattern sparse, tape bytes, preparation
   time), reduced to what can run here (`plan.plan_of_jobs`) and run by `campaign.run`:
   interleaved rounds in ≥ 3 processes per figure within the budget (default 3 minutes, what
   the correctness checks took included). Cheap jobs are small, so when the budget runs short
   the campaign's later passes take them first; a compile-heavy target may keep fewer processes,
   and the result says so.
3. **The verdict** (`run.verdict`): per derivative the fastest way and its ties, forward against
   reverse per backend, cost over the primal, compile time and tape.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path
from typing import Callable

from adcompare import api, sparse
from adcompare.backends import all_backends, get_backend
from adcompare.errors import UserError
from adcompare.families.cases import case_id, divisor, instance_of
from adcompare.families.cost_ratios import COST_RATIO, primal_ratio
from adcompare.families.crossover import factor
from adcompare.families.prepare import PREPARE_SECONDS
from adcompare.families.profile import HVPS, JACOBIANS, PRODUCT_OPERATORS, STRATEGY_JACOBIANS
from adcompare.families.sparse import MODES, timing_job
from adcompare.families.tape import COUNTS, TAPE, Tape
from adcompare.families.time_per_call import seconds_figure
from adcompare.ids import target_text
from adcompare.measure.estimates import MeasuredFigure
from adcompare.measure.jobs import COUNT, PREPARE, REFERENCE, TIMING, ArmSpec, Job
from adcompare.operators import SPARSE_JACOBIANS
from adcompare.problems import Instance, get_problem
from adcompare.measure.numbers import fmt_seconds
from adcompare.run import advise_budget, campaign, checkout, correctness, plan as P
from adcompare.run.advise_processes import GRID, children_problems, measuring, start_fork_server
from adcompare.run.command import MAX_BUDGET_MINUTES
from adcompare.run.verdict import Verdict, verdict
from adcompare.run.worker import QUICK, Settings
from adcompare.sparse import colorings
from adcompare.store import figures_file as FF

DEFAULT_BUDGET_MINUTES = 3.0
DEVICE = "cpu"
DTYPE = "float64"
PASSES = 3
# Seconds the last stage leaves for what follows the measuring (the figures, the verdict, the output).
FINISHING = 3.0
# A job that outlasts this share of the budget (a compile of minutes) is stopped and reported.
JOB_SHARE = 0.5


# --- what is measured ------------------------------------------------------------------------------
def _timing_job(target: str, case: str, operators, reference: bool, group: tuple) -> Job:
    """Seconds of each operator, and its cost over the primal (timed in the same rounds)."""
    ops = ("primal", *operators)
    arms = tuple(ArmSpec(op, case, op) for op in ops) + ((ArmSpec(REFERENCE),) if reference else ())
    figures = tuple(seconds_figure(target, DTYPE, case, op, reference) for op in ops)
    figures += tuple(primal_ratio(COST_RATIO, target, DTYPE, case, op, divisor(case, op)) for op in operators)
    return Job(TIMING, target, DTYPE, arms, figures, group)


def _jacobians_job(target: str, case: str) -> Job:
    """The four dense Jacobians beside the primal, and t_fwd/t_rev of each strategy."""
    job = _timing_job(target, case, JACOBIANS, False, ("advise-jacobians", case))
    factors = tuple(factor(target, DTYPE, case, strategy, fwd, rev)
                    for strategy, (fwd, rev) in STRATEGY_JACOBIANS.items())
    return dataclasses.replace(job, figures=job.figures + factors)


def _sparse_job(target: str, case: str) -> Job:
    """The sparse family's job (sparse against dense, both modes), with each sparse Jacobian's
    cost over the primal."""
    job = timing_job(target, case)
    ops = [op for op in SPARSE_JACOBIANS if op in {a.operator for a in job.arms}]
    return dataclasses.replace(job, arms=job.arms + (ArmSpec("primal", case, "primal"),),
                               figures=job.figures + tuple(primal_ratio(COST_RATIO, target, DTYPE, case, op,
                                                                        divisor(case, op)) for op in ops))


def _prepare_job(target: str, case: str, operator: str) -> Job:
    """Preparation (compile) seconds in a fresh process with no compile cache, as the Prepare family."""
    return Job(PREPARE, target, DTYPE, (ArmSpec(operator, case, operator),),
               (PREPARE_SECONDS.figure((target, DTYPE, case, operator), "prepare", (operator,)),))


def _tape_job(target: str, case: str) -> Job:
    name = f"tape@{case}"
    return Job(COUNT, target, DTYPE, (ArmSpec(name, case, "vjp", Tape.name, "tape-bytes"),),
               (TAPE.figure((target, DTYPE, case), "bytes", (name,)),), COUNTS)


def advice_jobs(case: str, targets: list[str], sparse_pattern: bool) -> list[Job]:
    """Every job of the one case on each target: the products (and HVPs of a scalar f) with the
    reference kernel beside them, the dense Jacobians, the sparse ones where the pattern is
    sparse, the tape, each product's preparation. Small jobs, so the cheap figures get their
    processes first when the budget runs short."""
    products = PRODUCT_OPERATORS + (HVPS if instance_of(case).m == 1 else ())
    jobs = []
    for target in targets:
        jobs.append(_timing_job(target, case, products, True, ("advise-products", case)))
        jobs.append(_jacobians_job(target, case))
        if sparse_pattern:
            jobs.append(_sparse_job(target, case))
        jobs.append(_tape_job(target, case))
        jobs += [_prepare_job(target, case, op) for op in PRODUCT_OPERATORS]
    return jobs


def sparsity(inst: Instance) -> dict | None:
    """The engine's pattern and colourings where they save products: at least one mode needs
    fewer colours than the cheaper dense mode needs passes (min(n, m)); None otherwise (decided
    by the colourings' lower bounds where those settle it), or where the engine cannot trace f."""
    try:
        pattern = sparse.pattern_of(inst)
    except Exception:     # too many non-zeros, or f does something the engine cannot trace
        return None
    dense = min(inst.n, inst.m)
    bounds = {mode: int(colorings.lower_bound(pattern, mode)) for mode in MODES}
    if min(bounds.values()) >= dense:
        return None
    colors = {mode: int(sparse.plan(inst, mode).count) for mode in MODES}
    if min(colors.values()) >= dense:
        return None
    return {"nonzeros": int(pattern.nnz), "colors": colors, "lower_bounds": bounds}


# --- the run -------------------------------------------------------------------------------------
def check_budget(minutes) -> float:
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) \
            or not 0 < minutes <= MAX_BUDGET_MINUTES:
        raise UserError(f"the budget must be a positive number of minutes up to {MAX_BUDGET_MINUTES} (a week), "
                        f"got {minutes!r}")
    return float(minutes)


def chosen_backends(names) -> list:
    """The backends asked for (default: every one), each named once; UserError for an unknown one."""
    if names is None:
        return all_backends()
    if isinstance(names, str):
        names = [names]
    chosen = [get_backend(name) for name in dict.fromkeys(names)]
    if not chosen:
        raise UserError("no backend given; name at least one (default: every backend)")
    return chosen


@dataclasses.dataclass
class Advice:
    """One advise run: the instance, each backend's correctness, the figures measured (and those
    that could not be, with why) and the verdict. `to_dict()` is what `--json` prints."""

    case: str
    instance: Instance
    checks: list[correctness.BackendCheck]
    reference: correctness.BackendCheck
    sparsity: dict | None
    plan: P.Plan
    figures: list[MeasuredFigure]
    verdict: Verdict
    quick: bool
    budget_minutes: float
    passes: int
    started: float                   # unix time
    seconds: float                   # wall clock of the whole run, checks included
    interrupted: bool = False
    records: dict[str, list[dict]] = dataclasses.field(default_factory=dict)
    run_id: str = ""
    planned: float = 0.0             # seconds the timed jobs were sized at (`advise_budget`)

    @property
    def measured(self) -> list[MeasuredFigure]:
        return [f for f in self.figures if f.status == "ok"]

    @property
    def not_measured(self) -> list[dict]:
        """Every figure that has no value, with its reason: failed or unavailable while measuring,
        or left out by the plan."""
        return ([FF.unavailable_record(f.spec, f.status, f.reason or "", self.run_id)
                 for f in self.figures if f.status != "ok"] + FF.skipped_records(self.plan.skipped, self.run_id))

    def timed(self) -> list[MeasuredFigure]:
        """The measured figures of timed (repeated) jobs: those that should have `passes` processes."""
        repeated = {f.key for job in self.plan.jobs if job.repeated for f in job.figures}
        return [f for f in self.measured if f.spec.key in repeated]

    def fewer_processes(self) -> dict[str, int]:
        """target -> the fewest processes of any of its timed figures, where below `passes`."""
        out: dict[str, int] = {}
        for f in self.timed():
            target, got = f.spec.params[0], f.estimate.processes
            if got < self.passes:
                out[target] = min(got, out.get(target, got))
        return out

    def to_dict(self) -> dict:
        inst = self.instance
        timed = self.timed()
        return {
            "problem": inst.name, "case": self.case, "n": inst.n, "m": inst.m, "options": dict(inst.options),
            "device": DEVICE, "dtype": DTYPE, "quick": self.quick, "budget_minutes": self.budget_minutes,
            "seconds": round(self.seconds, 2), "planned_seconds": round(self.planned, 2),
            "interrupted": self.interrupted,
            "backends": {c.backend: c.to_dict() for c in self.checks},
            "reference_engine": self.reference.to_dict(),
            "sparsity": self.sparsity,
            "processes": {"wanted": self.passes, "timed_figures": len(timed),
                          "with_wanted": sum(f.estimate.processes >= self.passes for f in timed),
                          "fewer_by_target": self.fewer_processes()},
            "figures": [FF.figure_record(f, self.run_id, self.quick) for f in self.measured],
            "not_measured": self.not_measured,
            "verdict": self.verdict.to_dict(),
        }


def _instance(name: str, n, options: dict) -> tuple[Instance, str]:
    """The instance and its case id; UserError for an unknown problem, bad n or options."""
    get_problem(name)
    api.check_option_names(name, options)    # before they meet api.instance's own parameters
    inst = api.instance(name, n, **options)
    return inst, case_id(inst.problem, inst.n, **inst.options)


def _no_backend_left(inst: Instance, checks: list[correctness.BackendCheck]) -> UserError:
    """'fails everywhere': every backend chosen is n/a or wrong on this function."""
    first = checks[0]
    wrong = [c for c in checks if c.status == correctness.WRONG]
    if wrong:
        return UserError(f"{inst.label()}: no backend passed the correctness checks ({wrong[0].backend}: "
                         f"{wrong[0].reason}); is f smooth near x0?")
    more = f" (and {len(checks) - 1} more backend{'s' * (len(checks) > 2)})" if len(checks) > 1 else ""
    return UserError(f"{inst.label()}: no backend can run f: {first.backend}: {first.reason}{more}")


def run_advice(name: str, n: int | None = None, options: dict | None = None, *,
               budget: float = DEFAULT_BUDGET_MINUTES, backends=None, quick: bool = False,
               log: Callable[[str], None] = lambda line: None) -> Advice:
    """The advise run (see the module docstring); `log` gets the progress lines."""
    started, clock = time.time(), time.perf_counter()
    minutes = check_budget(budget)
    chosen = chosen_backends(backends)
    inst, case = _instance(name, n, dict(options or {}))
    problems = children_problems(inst.problem)
    with measuring():
        start_fork_server(chosen, problems)
        log(f"checking {len(chosen)} backend(s) on {inst.label()} against finite differences and our engine")
        checks, reference = correctness.check_backends(inst, chosen, log)
        passed = [c.backend for c in checks if c.status == correctness.OK]
        if not passed:
            raise _no_backend_left(inst, checks)
        detecting = time.perf_counter()
        pattern = sparsity(inst)
        setup = time.perf_counter() - detecting
        jobs = advice_jobs(case, [target_text(b, DEVICE) for b in passed], pattern is not None)
        jobs, cannot = _without(jobs, left_out(checks))
        runnable = P.plan_of_jobs(jobs, GRID)
        passes, settings = (1, QUICK) if quick else (PASSES, Settings())
        sizes = advise_budget.Sizes.from_checks([c for c in checks if c.status == correctness.OK], inst.n, inst.m,
                                                pattern and pattern["colors"], setup)
        log("sizing the Jacobians")
        sizes = sizes.pilot([b for b in chosen if b.name in passed], inst, minutes * 60, log)
        estimator = advise_budget.Estimator(sizes, settings)
        run_id = "advise-" + checkout.run_id()
        with tempfile.TemporaryDirectory(prefix="adcompare-advise-") as tmp:
            journal = Path(tmp) / "journal.jsonl"
            stage = _Stage(clock, minutes, passes, settings, journal, log)
            first = stage.fit(runnable.jobs, estimator)
            done = stage.measure(first.jobs, 1, {})
            fitted, skipped = first, first.skipped
            if first.left and not done.interrupted:
                # the first processes say how far the checks' sizes were off, per target: size the
                # jobs left out again with that, in what the first ones leave of the budget
                scale = advise_budget.learned_scale(first, estimator, done.records)
                later = (passes - 1) * sum(advise_budget.START_SECONDS + r[0].get("seconds", 0.0)
                                           for r in done.records.values() if r)
                second = stage.fit(first.left, advise_budget.Estimator(sizes, settings, scale), later)
                redone = {f.key for job in first.left for f in job.figures}
                skipped = [s for s in first.skipped if s.figure.key not in redone] + second.skipped
                fitted = dataclasses.replace(first, jobs=first.jobs + second.jobs, planned=first.planned + second.planned)
            plan = P.Plan(fitted.jobs, cannot + runnable.skipped + skipped)
            if skipped:
                log(f"{len(skipped)} figure(s) do not fit the budget: all of them would take about --budget "
                    f"{math.ceil((stage.elapsed() + first.needed / advise_budget.MARGIN) / 30) / 2:g}")
            if not done.interrupted:
                done = stage.measure(plan.jobs, passes, done.records, extra=True)
    figures = done.figures(quick)
    return Advice(case, inst, checks, reference, pattern, plan, figures, verdict(figures, inst.m == 1), quick,
                  minutes, passes, started, time.perf_counter() - clock, done.interrupted, done.records, run_id,
                  fitted.planned)


class _Stage:
    """Fitting and measuring within what is left of the budget (`run_advice`)."""

    def __init__(self, clock: float, minutes: float, passes: int, settings: Settings, journal: Path, log):
        self.clock, self.minutes, self.passes, self.settings = clock, minutes, passes, settings
        self.journal, self.log = journal, log

    def elapsed(self) -> float:
        return time.perf_counter() - self.clock

    def left(self) -> float:
        return max(self.minutes * 60 - self.elapsed(), 1.0)

    def fit(self, jobs: list[Job], estimator, reserved: float = 0.0) -> advise_budget.Fit:
        """The jobs (or parts) whose `passes` processes fit what is left, less `reserved` seconds."""
        return advise_budget.fit(jobs, estimator, self.passes, max(self.left() - reserved, 0.0), self.elapsed())

    def measure(self, jobs: list[Job], passes: int, records: dict, extra: bool = False) -> campaign.Campaign:
        """`passes` processes of each job (those in `records` counted), then with `extra` more for
        the noisiest while the budget lasts."""
        seconds = max(self.left() - (FINISHING if extra else 0.0), 1.0)
        most = max(passes, campaign.Budget.max_passes) if extra else passes
        limits = campaign.Budget(passes=passes, max_passes=most, seconds=seconds,
                                  job_timeout=max(60.0, min(campaign.Budget.job_timeout, JOB_SHARE * self.minutes * 60)))
        figures = sum(len(j.figures) for j in jobs)
        self.log(f"measuring {figures} figures in {len(jobs)} jobs, {passes} process(es) each, "
                 f"{seconds / 60:.1f} min left of the budget")
        return campaign.run(P.Plan(jobs, []), self.settings, limits, self.journal, log=self.log,
                            quick=self.passes == 1, resumed=records)


def left_out(checks: list[correctness.BackendCheck]) -> dict[tuple[str, str], str]:
    """(target, operator) -> why it is not timed: an operator the backend could not run in its check."""
    return {(target_text(c.backend, DEVICE), op): why for c in checks for op, why in c.cannot}


def _without(jobs: list[Job], reasons: dict[tuple[str, str], str]) -> tuple[list[Job], list[P.Skipped]]:
    """The jobs without the figures that read an operator left out (`left_out`), and those
    figures, skipped with the reason."""
    out, skipped = [], []
    for job in jobs:
        bad = {a.name: reasons[job.target, a.operator] for a in job.arms if (job.target, a.operator) in reasons}
        kept = [f for f in job.figures if not (f.reads & set(bad))]
        skipped += [P.Skipped(f, bad[next(iter(f.reads & set(bad)))]) for f in job.figures if f.reads & set(bad)]
        if kept:
            out.append(job.with_figures(kept))
    return out, skipped


def advise(name: str, n: int | None = None, *, budget: float = DEFAULT_BUDGET_MINUTES, backends=None,
           quick: bool = False, **options) -> Advice:
    """Which backend, mode and strategy gets each derivative of one problem instance fastest here.

    Every backend (or those named in `backends`) is first checked at x0 against finite
    differences and our engine; a wrong one is reported and not timed. The others are measured
    on the CPU within `budget` minutes (≥ 3 processes per figure, 95 % CIs; `quick`: one short
    process each, for a smoke test). Keywords are the problem's options (`Problem.options`).
    Returns an `Advice`: `.verdict`, `.figures`, `.checks`, and `.to_dict()`.

        import adcompare as ad
        advice = ad.advise("mlp", 1000, m=100)
        advice.verdict.choice("vjp").winner.name()      # e.g. 'jax-jit vjp (rev)'
    """
    return run_advice(name, n, options, budget=budget, backends=backends, quick=quick)
