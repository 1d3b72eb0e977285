"""The verdict of `adcompare advise`: from one instance's measured figures, what a person can act on.

For each derivative (the gradient or VJP, the JVP, the full Jacobian, the HVP of a scalar f):
every way measured to get it (backend, mode, strategy), fastest first, and which of the others
are a *tie* with the fastest: the ratio of their times, whose 95 % CI holds 1 (`stats.is_tie`).
Two times measured in separate processes are independent estimates, so the ratio's log is the
difference of their logs, its variance the sum of theirs, its degrees of freedom Welch and
Satterthwaite's. For the Jacobian, forward against reverse per backend and strategy is the
factor t_fwd/t_rev measured in one process (the crossover's and the sparse family's figure).
Beside them: each way's cost over the primal, the preparation (compile) time and the tape.

Plain arithmetic on figures; nothing is timed here.
"""

from __future__ import annotations

import dataclasses
import math

from adcompare.families.cost_ratios import COST_RATIO
from adcompare.families.crossover import CROSSOVER
from adcompare.families.prepare import PREPARE_SECONDS
from adcompare.families.sparse import SPARSE_FACTOR
from adcompare.families.tape import TAPE
from adcompare.families.time_per_call import SECONDS
from adcompare.ids import Target
from adcompare.measure import stats
from adcompare.measure.estimates import MeasuredFigure
from adcompare.measure.stats import Estimate
from adcompare.operators import get_operator
from adcompare.measure.numbers import fmt_interval, times

FORWARD, REVERSE, TIE = "forward", "reverse", "tie"
# The derivatives a verdict names, by operator kind, and how a person calls them.
DERIVATIVES = (("vjp", "VJP vᵀJ"), ("jvp", "JVP J t"), ("jacobian", "full Jacobian"), ("hvp", "HVP H t"))


def ratio(a: Estimate, b: Estimate) -> Estimate:
    """a / b for two figures from separate processes: ln a − ln b, standard errors in quadrature,
    Welch–Satterthwaite degrees of freedom; no spread if either has none."""
    diff = a.log_mean - b.log_mean
    processes = min(a.processes, b.processes)
    if a.log_se is None or b.log_se is None:
        return Estimate(diff, None, 1, processes)
    var = a.log_se ** 2 + b.log_se ** 2
    if var == 0:
        return Estimate(diff, 0.0, 1, processes)
    denominator = sum(e.log_se ** 4 / e.df for e in (a, b) if e.log_se > 0)
    return Estimate(diff, math.sqrt(var), max(1, int(var ** 2 / denominator)), processes)


def _interval(est: Estimate | None) -> dict | None:
    if est is None:
        return None
    ci = est.ci
    return {"value": est.value, "ci": None if ci is None else list(ci), "processes": est.processes}


@dataclasses.dataclass(frozen=True)
class Way:
    """One way to get a derivative: an operator on a target, its seconds per call, and its cost
    over the primal (t / (divisor · t_primal), same process), where measured."""

    target: str
    operator: str
    seconds: Estimate
    flags: tuple[str, ...] = ()
    cost: Estimate | None = None

    @property
    def backend(self) -> str:
        return Target.parse(self.target).backend

    @property
    def mode(self) -> str:
        return get_operator(self.operator).mode

    @property
    def strategy(self) -> str:
        return get_operator(self.operator).strategy

    def name(self) -> str:
        """'torch-func jacobian-rev (rev, batched)'."""
        how = self.mode if self.strategy == "single" else f"{self.mode}, {self.strategy}"
        return f"{self.backend} {self.operator} ({how})"

    def to_dict(self) -> dict:
        return {"way": self.name(), "backend": self.backend, "target": self.target, "operator": self.operator,
                "mode": self.mode,
                "strategy": self.strategy, "seconds": _interval(self.seconds), "flags": list(self.flags),
                "cost_over_primal": _interval(self.cost)}


@dataclasses.dataclass(frozen=True)
class Choice:
    """The ways to get one derivative, fastest first, and those that tie with the fastest."""

    kind: str
    label: str
    ways: tuple[Way, ...]
    ties: tuple[Way, ...]

    @property
    def winner(self) -> Way | None:
        return self.ways[0] if self.ways else None

    def to_dict(self) -> dict:
        return {"label": self.label, "fastest": self.winner.to_dict() if self.winner else None,
                "ties": [w.name() for w in self.ties], "others": len(self.ways) - 1 if self.ways else 0,
                "ways": [w.to_dict() for w in self.ways]}


def choose(kind: str, label: str, ways) -> Choice:
    """The fastest way (smallest time) and every other whose time over it is a tie."""
    ranked = tuple(sorted(ways, key=lambda w: w.seconds.log_mean))
    if not ranked:
        return Choice(kind, label, (), ())
    best = ranked[0].seconds
    ties = tuple(w for w in ranked[1:] if stats.is_tie(ratio(w.seconds, best).ci))
    return Choice(kind, label, ranked, ties)


@dataclasses.dataclass(frozen=True)
class Modes:
    """Forward against reverse for one backend and Jacobian strategy: t_fwd / t_rev, one process."""

    target: str
    strategy: str
    factor: Estimate
    flags: tuple[str, ...] = ()

    @property
    def backend(self) -> str:
        return Target.parse(self.target).backend

    @property
    def verdict(self) -> str:
        """forward or reverse, or tie where the 95 % CI of t_fwd/t_rev holds 1 (or is unknown)."""
        if stats.is_tie(self.factor.ci):
            return TIE
        return FORWARD if self.factor.value < 1 else REVERSE

    @property
    def speedup(self) -> tuple[float, tuple[float, float] | None]:
        """How many times faster the faster mode is (≥ 1), with its CI."""
        value, ci = self.factor.value, self.factor.ci
        if value < 1:
            return 1 / value, None if ci is None else (1 / ci[1], 1 / ci[0])
        return value, ci

    def text(self) -> str:
        """'forward 3.1× [2.8×, 3.4×] faster', or 'tie (t_fwd/t_rev 0.95× [0.80, 1.10])'."""
        if self.verdict == TIE:
            return f"tie (t_fwd/t_rev {fmt_interval(self.factor.value, self.factor.ci, 'ratio')})"
        value, ci = self.speedup
        return f"{self.verdict} {times(value)} [{times(ci[0])}, {times(ci[1])}] faster"

    def to_dict(self) -> dict:
        value, ci = self.speedup
        return {"backend": self.backend, "target": self.target, "strategy": self.strategy,
                "t_fwd_over_t_rev": _interval(self.factor), "flags": list(self.flags), "verdict": self.verdict,
                "times_faster": value, "times_faster_ci": None if ci is None else list(ci), "text": self.text()}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Per derivative its choice; per backend and strategy forward against reverse; per backend
    the preparation time of each product and the tape one VJP keeps."""

    choices: tuple[Choice, ...]
    modes: tuple[Modes, ...]
    prepare: tuple[tuple[str, str, Estimate], ...]     # (target, operator, seconds)
    tape: tuple[tuple[str, float], ...]                 # (target, bytes)

    def choice(self, kind: str) -> Choice | None:
        return next((c for c in self.choices if c.kind == kind), None)

    def to_dict(self) -> dict:
        return {"derivatives": {c.kind: c.to_dict() for c in self.choices},
                "jacobian_forward_vs_reverse": [m.to_dict() for m in self.modes],
                "prepare_seconds": [{"backend": Target.parse(t).backend, "target": t, "operator": op,
                                     "seconds": _interval(e)} for t, op, e in self.prepare],
                "tape_bytes": [{"backend": Target.parse(t).backend, "target": t, "bytes": b} for t, b in self.tape]}


def verdict(figures: list[MeasuredFigure], scalar: bool) -> Verdict:
    """The verdict from one instance's measured figures (those without an estimate are left out)."""
    by: dict[str, list[MeasuredFigure]] = {}
    for f in figures:
        if f.status == "ok" and f.estimate is not None:
            by.setdefault(f.spec.benchmark, []).append(f)
    costs = {tuple(f.spec.params): f.estimate for f in by.get(COST_RATIO.name, [])}
    ways: dict[str, list[Way]] = {}
    for f in by.get(SECONDS.name, []):
        target, dtype, case, operator = f.spec.params
        kind = get_operator(operator).kind
        ways.setdefault(kind, []).append(Way(target, operator, f.estimate, tuple(f.flags),
                                             costs.get((target, dtype, case, operator))))
    kinds = [(kind, label) for kind, label in DERIVATIVES if kind != "hvp" or scalar]
    choices = tuple(choose(kind, "gradient ∇f" if kind == "vjp" and scalar else label, ways.get(kind, []))
                    for kind, label in kinds)
    modes = [Modes(f.spec.params[0], f.spec.params[3], f.estimate, tuple(f.flags)) for f in by.get(CROSSOVER.name, [])]
    modes += [Modes(f.spec.params[0], "sparse", f.estimate, tuple(f.flags)) for f in by.get(SPARSE_FACTOR.name, [])]
    prepare = tuple((f.spec.params[0], f.spec.params[3], f.estimate) for f in by.get(PREPARE_SECONDS.name, []))
    tape = tuple((f.spec.params[0], float(round(f.estimate.value))) for f in by.get(TAPE.name, []))   # a count
    return Verdict(choices, tuple(modes), prepare, tape)
