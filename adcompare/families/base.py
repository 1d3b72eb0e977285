"""A measurement family: one kind of question the suite answers (time per call, the crossover,
cost ratios, ...), everything about it in one object.

A family declares its asv benchmarks (name, parameters, unit, how the reproducibility tool
compares them, the goal it is held to), yields the jobs that measure their figures on each grid
and target, and measures its own probes (arms that are not a prepared operator: a colouring, a
tape's bytes). The grid (`adcompare.run.plan`), asv's benchmark classes (`benchmarks/`), the
reproducibility tool (`adcompare.store.compare`) and the report read families from the registry
(`adcompare.families`); adding a family is adding one module to this package.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Iterator

from adcompare.measure.jobs import ArmSpec, FigureSpec, Job


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One asv benchmark: its name (module.Class.method), parameter names (target first), unit,
    and what the reproducibility tool does with its figures.

    `compare_as`: the row of the reproducibility table (benchmarks that answer the same kind of
    question share one); `goal`: (median, p90) of |B/A − 1| the row is held to; `winner`: a
    forward/reverse factor (t_fwd/t_rev), whose winner may flip between runs; `slope`: times
    over n, whose log–log slopes are compared."""

    name: str
    param_names: tuple[str, ...]
    unit: str
    doc: str = ""
    repeated: bool = True            # timed in every pass, or counted once
    compare_as: str = ""
    goal: tuple[float, float] | None = None
    winner: bool = False
    slope: bool = False

    @property
    def method(self) -> str:
        return self.name.rsplit(".", 1)[1]

    @property
    def asv_class(self) -> str:
        return self.name.split(".")[1]

    def figure(self, params: tuple, formula: str, arms: tuple[str, ...], divisor: int = 1,
               parts: tuple[tuple[str, str], ...] = ()) -> FigureSpec:
        return FigureSpec(self.name, tuple(params), formula, tuple(arms), divisor, tuple(parts), self.unit,
                          self.param_names)


class Family:
    """Base class: subclasses set `name`, `title`, `order`, `benchmarks` and implement `jobs`."""

    name: ClassVar[str]
    title: ClassVar[str]
    order: ClassVar[int] = 100
    benchmarks: ClassVar[tuple[Benchmark, ...]] = ()

    def jobs(self, grid: str, target: str) -> Iterator[Job]:
        """The jobs that measure this family's figures on `target` in `grid` (every figure the
        grid wants, runnable here or not: the plan drops what cannot run, with the reason)."""
        raise NotImplementedError

    def timed_call(self, job: Job, arm: ArmSpec) -> Callable[[], Any]:
        """The zero-argument call timed for one of this family's probes (arm.family == name)."""
        raise NotImplementedError(f"family {self.name} has no timed probe {arm.probe!r}")

    def count(self, job: Job, arm: ArmSpec) -> int:
        """The counter read for one of this family's probes in a count job."""
        raise NotImplementedError(f"family {self.name} has no counted probe {arm.probe!r}")

    def benchmark(self, name: str) -> Benchmark:
        for b in self.benchmarks:
            if b.name == name:
                return b
        raise KeyError(name)
