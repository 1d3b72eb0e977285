"""What one measurement process does: a *job* prepares a few *arms* (operators on cases, the
reference kernel, or a family's own probe) on one target and measures them together; each of its
*figures* is a formula over the arms' per-process estimates (one arm's seconds, the ratio of two,
a count). Arms a figure compares are always in the same job, so drift cancels in every ratio.

These are plain values: families build them (`adcompare.families`), the plan selects them
(`adcompare.run.plan`), a forked process measures them (`adcompare.run.worker`), and the
estimators turn the records into figures (`adcompare.measure.estimates`).
"""

from __future__ import annotations

import dataclasses
import hashlib

from adcompare.measure.reference import NAME as REFERENCE_KERNEL

# Job kinds: how the arms are measured.
TIMING = "timing"           # randomized interleaved rounds (adcompare.measure.rounds)
PREPARE = "prepare"         # one preparation per process, no compile cache
FIRST_CALL = "first-call"   # a fresh interpreter that imports, prepares and runs once
COUNT = "count"             # deterministic counters (bytes, colours), measured once
KINDS = (TIMING, PREPARE, FIRST_CALL, COUNT)

REFERENCE = REFERENCE_KERNEL   # the arm name of the fixed reference kernel


@dataclasses.dataclass(frozen=True)
class ArmSpec:
    """One arm of a job: an operator on a case (prepared by its backend), the reference kernel
    (no case), or a probe that `family` measures itself (`Family.timed_call` / `Family.count`)."""

    name: str
    case: str | None = None
    operator: str | None = None
    family: str | None = None
    probe: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.case is None and self.family is None


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One figure of a job: `formula` over the arms named in `arms`.

    "seconds": per-call seconds of arms[0]; "ratio": arms[0] / (divisor · arms[1]);
    "sum-ratio": (arms[0] + arms[1]) / arms[2]; "prepare": the process's preparation seconds of
    arms[0]; "first-call": a fresh interpreter's seconds to import, prepare and run arms[0];
    "bytes": the counter of arms[0] (bytes, colours). `parts` are (label, arm) pairs: arms whose
    own seconds are reported beside the figure. `names` are the benchmark's parameter names."""

    benchmark: str
    params: tuple
    formula: str
    arms: tuple[str, ...]
    divisor: int = 1
    parts: tuple[tuple[str, str], ...] = ()
    unit: str = ""
    names: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        return self.benchmark, self.params

    def param_dict(self) -> dict:
        return dict(zip(self.names, self.params))

    @property
    def reads(self) -> set[str]:
        """Every arm the figure reads: its formula's and its parts'."""
        return {*self.arms, *(arm for _, arm in self.parts)}


@dataclasses.dataclass(frozen=True)
class Job:
    """What one measurement process does. `group` lets several families share one job: the plan
    merges the jobs of one kind, target, dtype and (non-empty) group into one, so an operator
    timed for one family is the same arm as for another (its primal measured once, beside them)."""

    kind: str
    target: str
    dtype: str
    arms: tuple[ArmSpec, ...]
    figures: tuple[FigureSpec, ...]
    group: tuple = ()

    @property
    def repeated(self) -> bool:
        return self.kind != COUNT

    @property
    def id(self) -> str:
        """Stable across runs and processes: kind, target, dtype and the arms."""
        text = "|".join([self.kind, self.target, self.dtype] + [f"{a.name}={a.case}/{a.operator}" for a in self.arms])
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def with_figures(self, figures) -> "Job":
        """The job measuring only `figures`, and only the arms they read."""
        used = {n for f in figures for n in f.reads}
        return dataclasses.replace(self, arms=tuple(a for a in self.arms if a.name in used), figures=tuple(figures))
