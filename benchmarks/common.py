"""What every benchmark class shares: parameters from the grid, and one figure per process.

`adcompare run` measures with its own campaign and records the results through asv
(adcompare.asvresults); these classes are the same figures for asv's own runner — plain
`asv run`, and `adcompare run --commits` over history — where each combination is one process
that measures its figure once (adcompare.worker, adcompare.figures: the same code).
"""

from __future__ import annotations

from asv_runner.benchmarks.mark import SkipNotImplemented

from adcompare import figures, grid, worker

GRID = grid.grid_from_env()


class Figure:
    """Base: `class X(Figure, benchmark="module.Class.method")` takes params, param names and
    unit from the grid of $ADCOMPARE_GRID; combinations that cannot run here are n/a."""

    timeout = 600
    version = "1"

    def __init_subclass__(cls, benchmark: str, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.benchmark = grid.BENCHMARKS[benchmark]
        cls.params = grid.asv_params(benchmark, GRID)
        cls.param_names = list(cls.benchmark.param_names)
        cls.unit = cls.benchmark.unit

    def setup(self, *params):
        self.job = grid.figure_job(self.benchmark.name, params, GRID)
        if self.job is None:
            raise NotImplementedError(f"not in the {GRID} grid, or cannot run here")

    def measure(self):
        record = worker.run_job(self.job, worker.Settings())
        [fig] = figures.aggregate(self.job, [record])
        if fig.status == "unavailable":
            raise SkipNotImplemented(fig.reason)
        if fig.status != "ok":
            raise RuntimeError(fig.reason)
        return fig.estimate.value
