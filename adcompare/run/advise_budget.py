"""What of an advise plan fits its budget, sized before anything is timed.

Advise promises its budget, so its first pass cannot be "every job once, however long". The
checks have already prepared each backend's primal, products and HVPs (compile and warm-up call
included) and timed one warm call of each, so every timed process can be sized before it runs
(`worker.Settings`, `measure.rounds`):

    process ≈ START + Σ arms (prepare + (CALIBRATION + rounds) · block)

where an arm's block is max(block_seconds, one call) and rounds is what the interleaved rounds
take for that block (6 to 10, fewer past four round budgets). A loop Jacobian's call is its
products: n JVPs forward, m VJPs reverse, and its preparation the product's compile plus that
call. A batched or sparse Jacobian vectorises them, so the same count bounds it from above only;
where that bound is more than a few milliseconds and at most PILOT_SHARE of the budget, one is
prepared and called here (`pilot`, cheapest bound first, on backends that compile in seconds,
while the pilots have spent less than PILOTS_SHARE of the budget) and its own seconds replace
the bound.

Arms are taken in the order the verdict needs them (products, dense Jacobians, sparse ones,
tape, preparation), the cheaper first within each, while `passes` processes of everything taken
fit in MARGIN of the seconds left. A figure that reads an arm left out is not timed, with the
budget that would hold it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time

from adcompare.families.sparse import SETUP_STEPS, SPARSE_JACOBIAN
from adcompare.measure.jobs import COUNT, PREPARE, TIMING, Job
from adcompare.measure.numbers import fmt_seconds
from adcompare.measure.rounds import FLOOR_ROUNDS
from adcompare.ids import target_text
from adcompare.operators import get_operator
from adcompare.run import plan as P
from adcompare.run.worker import Settings

# Seconds a measurement process costs beyond its arms: fork from the server, the instance, the
# record (median of advise's own jobs on 2 cores: see README "Your own function").
START_SECONDS = 0.4
# Calibration blocks an arm runs before its rounds: the growing ones add up to about one block,
# then one to three until two agree.
CALIBRATION_BLOCKS = 3
# Preparing in a fresh process, with no compile cache, against preparing in the checks.
COLD_PREPARE = 1.5
# A count job (tape bytes) runs its operator about this many times.
COUNT_CALLS = 2
# The share of the budget left that estimates may fill: they are sizes, not measurements.
MARGIN = 0.8
# A batched or sparse Jacobian is piloted (prepared and called once) where its bound lies between
# these: below, the bound costs little; above, the pilot itself might outlast its share.
PILOT_FLOOR = 0.005
PILOT_SHARE = 0.05
PILOTS_SHARE = 0.1
PILOTED = ("jacobian-fwd", "jacobian-rev", *SPARSE_JACOBIAN.values())
# Preparation this short tells nothing about how far the checks' sizes were off.
PREPARE_FLOOR = 0.5
# The order the verdict needs the jobs in (`advise.advice_jobs` groups them so).
ORDER = ("advise-products", "advise-jacobians", "sparse", COUNT, PREPARE)


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Seconds of one warm call and of preparing, per (target, operator), and of the sparse
    set-up steps, from what the checks saw."""

    call: dict[tuple[str, str], float]
    prepare: dict[tuple[str, str], float]
    setup: float = 0.0

    @classmethod
    def from_checks(cls, checks, n: int, m: int, colors: dict | None, setup: float = 0.0) -> "Sizes":
        call, prepare = {}, {}
        for c in checks:
            target = target_text(c.backend, "cpu")
            seconds, prepared = dict(c.seconds), dict(c.prepare)
            call.update({(target, op): s for op, s in seconds.items()})
            prepare.update({(target, op): s for op, s in prepared.items()})
            for op, product, count in _jacobian_products(n, m, colors):
                if product in seconds:
                    call[target, op] = count * seconds[product]
                    compile_ = max(prepared.get(product, 0.0) - seconds[product], 0.0)
                    prepare[target, op] = compile_ + call[target, op]
        return cls(call, prepare, setup)

    def pilot(self, backends, inst, budget_seconds: float, log=lambda line: None) -> "Sizes":
        """These sizes with batched and sparse Jacobians' bounds replaced by one prepared call of
        each, as the module docstring says. A Jacobian the backend cannot prepare keeps its bound:
        the timed job reports why."""
        call, prepare = dict(self.call), dict(self.prepare)
        todo = sorted((call[target, op], backend, target, op) for backend in backends if not backend.slow_compile
                      for target in [target_text(backend.name, "cpu")] for op in PILOTED
                      if PILOT_FLOOR < call.get((target, op), 0.0) <= PILOT_SHARE * budget_seconds)
        began, tried = time.perf_counter(), []
        for bound, backend, target, op in todo:
            if time.perf_counter() - began > PILOTS_SHARE * budget_seconds:
                break
            try:
                prepared = backend.prepare(get_operator(op), inst, device="cpu", dtype="float64")
                start = time.perf_counter()
                prepared.block(prepared.run())
            except Exception:        # Unavailable, a size limit, a failure: the timed job says which
                continue
            call[target, op], prepare[target, op] = time.perf_counter() - start, prepared.prepare_seconds
            tried.append(f"{backend.name} {op} {fmt_seconds(call[target, op])} (bound {fmt_seconds(bound)})")
        if tried:
            log(f"  one call of {len(tried)} Jacobian(s) in {fmt_seconds(time.perf_counter() - began)}: "
                + ", ".join(tried))
        return dataclasses.replace(self, call=call, prepare=prepare)


def _jacobian_products(n: int, m: int, colors: dict | None):
    """(Jacobian operator, the product it repeats, how many times)."""
    yield from (("jacobian-fwd", "jvp", n), ("jacobian-fwd-loop", "jvp", n),
                ("jacobian-rev", "vjp", m), ("jacobian-rev-loop", "vjp", m))
    for mode, op in SPARSE_JACOBIAN.items():
        if colors and mode in colors:
            yield op, ("jvp" if mode == "fwd" else "vjp"), colors[mode]


def rounds(block: float, settings: Settings) -> int:
    """How many interleaved rounds a process runs when a round lasts `block` seconds."""
    if FLOOR_ROUNDS * block > 4 * settings.rounds_seconds:
        return FLOOR_ROUNDS
    past = math.floor(settings.rounds_seconds / max(block, 1e-9)) + 1
    return min(settings.max_rounds, max(settings.min_rounds, past))


def order(job: Job) -> int:
    key = job.kind if job.kind in (COUNT, PREPARE) else job.group[0] if job.group else ""
    return ORDER.index(key) if key in ORDER else len(ORDER)


class Estimator:
    """Seconds of one process of a job, arm by arm: preparing, then calling. `scale` (target ->
    factor) corrects a target's preparation by what its first processes took (`learned_scale`);
    the calls are sized by calls the checks timed, so they need no correction."""

    def __init__(self, sizes: Sizes, settings: Settings, scale: dict[str, float] | None = None):
        self.sizes, self.settings, self.scale = sizes, settings, scale or {}

    def arm(self, job: Job, name: str) -> float:
        prepare, work = self.parts(job, name)
        return self.scale.get(job.target, 1.0) * prepare + work

    def parts(self, job: Job, name: str) -> tuple[float, float]:
        """(seconds preparing the arm, seconds calling it) in one process."""
        spec = next(a for a in job.arms if a.name == name)
        s = self.settings
        if spec.family and spec.probe in SETUP_STEPS:
            return 0.0, self.sizes.setup * (CALIBRATION_BLOCKS + s.min_rounds)
        if spec.is_reference:
            return 0.0, (CALIBRATION_BLOCKS + s.max_rounds) * s.block_seconds
        key = (job.target, spec.operator)
        call, prepare = self.sizes.call.get(key, math.inf), self.sizes.prepare.get(key, math.inf)
        if job.kind == PREPARE:
            return COLD_PREPARE * prepare, 0.0
        if job.kind == COUNT:
            return prepare, COUNT_CALLS * call
        block = max(s.block_seconds, call)
        return prepare, (CALIBRATION_BLOCKS + rounds(block, s)) * block

    def job(self, job: Job, arms) -> float:
        return START_SECONDS + sum(self.arm(job, name) for name in arms)


@dataclasses.dataclass
class Fit:
    """The jobs that fit (narrowed to the figures whose arms fit), the figures left out with why,
    and the seconds the kept jobs are expected to take in `passes` processes."""

    jobs: list[Job]
    skipped: list[P.Skipped]
    planned: float
    needed: float                        # seconds all of the plan would take
    started: dict[str, Job]              # id of a job as given -> the kept (narrowed) job
    left: list[Job]                      # the jobs as given of which nothing fits


def fit(jobs: list[Job], est: Estimator, passes: int, seconds: float, elapsed: float) -> Fit:
    """The jobs, in the verdict's order and cheaper arms first, while `passes` processes of them
    fit in MARGIN × `seconds`; `elapsed` (the checks) is part of the budget a reader is told."""
    room = MARGIN * seconds
    base = {job.id: _base_arms(job) for job in jobs}
    items = []
    for job in jobs:
        extra = [a.name for a in job.arms if a.name not in base[job.id]]
        items += [(order(job), est.arm(job, name), job, name) for name in extra]
    items.sort(key=lambda item: (item[0], item[1]))
    copies = {job.id: (passes if job.repeated else 1) for job in jobs}
    kept: dict[str, set[str]] = {}
    total = 0.0
    reasons: dict[tuple[str, str], str] = {}
    for _, seconds_arm, job, name in items:
        start = 0.0 if job.id in kept else est.job(job, base[job.id])
        cost = (seconds_arm + start) * copies[job.id]
        if total + cost <= room:
            kept.setdefault(job.id, set()).add(name)
            total += cost
        else:
            reasons[job.id, name] = _reason(cost, copies[job.id], room - total, elapsed + (total + cost) / MARGIN)
    out, skipped, started, left = [], [], {}, []
    for job in jobs:
        arms = kept.get(job.id, set()) | base[job.id]
        good = [f for f in job.figures if f.reads <= arms]
        for f in job.figures:
            if not f.reads <= arms:
                name = next(iter(sorted(f.reads - arms)))
                skipped.append(P.Skipped(f, reasons.get((job.id, name), "its job does not fit the budget")))
        if good and job.id in kept:
            started[job.id] = job.with_figures(good)
            out.append(started[job.id])
        else:
            left.append(job)
    needed = sum(est.job(job, [a.name for a in job.arms]) * copies[job.id] for job in jobs)
    return Fit(out, skipped, total, needed, started, left)


def learned_scale(first: Fit, est: Estimator, records: dict[str, list[dict]]) -> dict[str, float]:
    """target -> what its first processes spent preparing over what the checks' sizes said (the
    median over its timing jobs; every target's median where it has none). The checks prepare in
    this process with each framework cold; a timed process, forked from a server that has
    imported them and reading the compile cache, prepares much faster."""
    ratios: dict[str, list[float]] = {}
    for job in first.jobs:
        done = [r for r in records.get(job.id, [])
                if job.kind == TIMING and not any("error" in a for a in r.get("arms", {}).values())]
        parts = [est.parts(job, a.name) for a in job.arms]
        prepare, work = sum(p for p, _ in parts), sum(w for _, w in parts)
        if done and prepare > PREPARE_FLOOR:
            spent = done[0].get("seconds", 0.0) - work
            ratios.setdefault(job.target, []).append(max(spent, 0.0) / prepare)
    everyone = [r for rs in ratios.values() for r in rs]
    if not everyone:
        return {}
    middle = {t: statistics.median(rs) for t, rs in ratios.items()}
    default = max(statistics.median(everyone), 0.1)
    return {job.target: max(middle.get(job.target, default), 0.1) for job in first.jobs + first.left}


def _base_arms(job: Job) -> set[str]:
    """Arms every figure of a timing job sits beside (the primal, the reference kernel): kept
    with the job, not on their own."""
    if job.kind in (COUNT, PREPARE):
        return set()
    return {a.name for a in job.arms if a.is_reference or a.operator == "primal"}


def _reason(cost: float, copies: int, free: float, needs: float) -> str:
    if not math.isfinite(cost):
        return "not timed: the checks did not size it (its operator was not run there)"
    processes = f"{copies} processes" if copies > 1 else "its process"
    return (f"not timed: {processes} would take about {fmt_seconds(cost)} and {fmt_seconds(max(free, 0.0))} of "
            f"the budget is free for it; --budget {math.ceil(needs / 30) / 2:g} would hold it")
