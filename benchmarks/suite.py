"""Every benchmark of every measurement family, as asv classes: one class per benchmark, named
and parametrised by the family (`adcompare.families`), its figures from the grid of
$ADCOMPARE_GRID (default main). A new family appears here with no edit.

`adcompare run` measures with its own campaign and records the results through asv; these
classes are the same figures for asv's own runner (plain `asv run`, and `adcompare run --commits`
over history), where each combination is one process that measures its figure once, with the
same worker and estimators. asv names each benchmark by its `benchmark_name`, the family's
(e.g. "time_operators.Operators.track_seconds"), so results keep their names.
"""

from __future__ import annotations

from asv_runner.benchmarks.mark import SkipNotImplemented

from adcompare.families import all_benchmarks
from adcompare.measure import estimates
from adcompare.run import plan as P, worker

GRID = P.grid_from_env()


class Figure:
    """Base: one asv benchmark of a family; combinations that cannot run here are n/a."""

    timeout = 600
    version = "1"
    benchmark = None

    def setup(self, *params):
        self.job = P.figure_job(self.benchmark.name, params, GRID)
        if self.job is None:
            raise NotImplementedError(f"not in the {GRID} grid, or cannot run here")

    def measure(self):
        record = worker.run_job(self.job, worker.Settings())
        [fig] = estimates.aggregate(self.job, [record])
        if fig.status == "unavailable":
            raise SkipNotImplemented(fig.reason)
        if fig.status != "ok":
            raise RuntimeError(fig.reason)
        return fig.estimate.value


def _benchmark_class(benchmark) -> type:
    def track(self, *params):
        return self.measure()

    track.__name__ = benchmark.method
    track.benchmark_name = benchmark.name
    track.unit = benchmark.unit
    return type(benchmark.asv_class, (Figure,), {
        "__doc__": benchmark.doc, "__module__": __name__, "benchmark": benchmark, benchmark.method: track,
        "params": P.asv_params(benchmark.name, GRID), "param_names": list(benchmark.param_names),
        "unit": benchmark.unit})


for _benchmark in all_benchmarks().values():
    globals()[f"{_benchmark.name.split('.')[0]}_{_benchmark.asv_class}"] = _benchmark_class(_benchmark)
