"""A run's figures as asv results, so asv's pages, `asv compare` and its history read them.

adcompare measures with its own campaign (adcompare.run.campaign: several processes per figure,
randomized interleaved rounds) and records the outcome through asv's own `Results` class, in
asv's own file layout: one results file per machine, commit and environment, merged with what
that file already held (the figures this run measured are replaced, all others kept). Each
value is asv's median of the samples, and the samples are the per-process estimates
(`--record-samples` in asv's terms), so asv shows their spread; adcompare's 95 % CI sits beside
them in the figures file (adcompare.store.figures_file), which is what the report reads.

The benchmark definitions (benchmarks.json) come from asv's discovery of the suite in
benchmarks/, whose parameter lists are the grid's (adcompare.run.plan.asv_params).
"""

from __future__ import annotations

import datetime
import itertools
import math
import subprocess
import sys
from pathlib import Path

from adcompare.measure.estimates import MeasuredFigure

ENV_TOOL = "existing"


def env_name(python: str) -> str:
    from asv.environment import get_env_name

    return get_env_name(ENV_TOOL, python, {}, {})


def discover(config: Path, commit: str, results_dir: Path) -> dict:
    """asv's discovery of the benchmark suite (imports benchmarks/ in this interpreter's
    environment); writes benchmarks.json into `results_dir` and returns the benchmarks by name."""
    from asv.benchmarks import Benchmarks
    from asv.config import Config
    from asv.environment import get_environments
    from asv.repo import get_repo

    conf = Config.load(str(config))
    conf.results_dir = str(results_dir)
    environments = list(get_environments(conf, [f"existing:{sys.executable}"]))
    found = Benchmarks.discover(conf, get_repo(conf), environments, [commit])
    found.save()
    return {name: found[name] for name in found}


def commit_date_ms(root: Path, commit: str) -> int:
    out = subprocess.run(["git", "log", "-1", "--format=%ct", commit], cwd=root, capture_output=True,
                         text=True, check=True).stdout.strip()
    return int(out) * 1000


def _index(benchmark: dict, params: tuple) -> int | None:
    """Position of one parameter combination in asv's flat product (values stored as repr)."""
    wanted = tuple(repr(v) for v in params)
    for i, combo in enumerate(itertools.product(*benchmark["params"])):
        if tuple(combo) == wanted:
            return i
    return None


def build(machine_info: dict, commit: str, date_ms: int, python: str, benchmarks: dict,
          figures: list[MeasuredFigure], skipped: list, previous: Path | None,
          started: datetime.datetime, durations: dict[str, float]):
    """asv `Results` for this machine and commit: the previous file's content (if given and
    valid) with this run's figures merged in. Returns (results, figures not in the suite)."""
    from asv.results import Results
    from asv.runner import BenchmarkResult

    # asv's own machine fields only (machine.json also holds adcompare's fingerprint, a dict that
    # asv's parameters cannot hold)
    params = {**{k: v for k, v in machine_info.items() if k != "version" and not isinstance(v, (dict, list))},
              "python": python}
    results = Results(params, {}, commit, date_ms, python, env_name(python), {})
    if previous is not None and previous.is_file():
        old = Results.load(str(previous))
        for attr in ("_results", "_samples", "_stats", "_benchmark_params", "_profiles", "_started_at",
                     "_duration", "_benchmark_version"):
            setattr(results, attr, getattr(old, attr))
    by_benchmark: dict[str, dict[int, tuple]] = {}
    missing = []
    for fig in figures:
        bench = benchmarks.get(fig.spec.benchmark)
        index = None if bench is None else _index(bench, fig.spec.params)
        if index is None:
            missing.append(fig)
            continue
        if fig.status == "ok":
            entry = (True, fig.samples, 1)
        elif fig.status == "unavailable":
            entry = (math.nan, None, None)
        else:
            entry = (None, None, None)
        by_benchmark.setdefault(fig.spec.benchmark, {})[index] = entry
    for s in skipped:
        bench = benchmarks.get(s.figure.benchmark)
        index = None if bench is None else _index(bench, s.figure.params)
        if index is not None:
            by_benchmark.setdefault(s.figure.benchmark, {}).setdefault(index, (math.nan, None, None))
    for name, entries in by_benchmark.items():
        bench = benchmarks[name]
        size = math.prod(len(p) for p in bench["params"]) if bench["params"] else 1
        result, samples, number = [math.nan] * size, [None] * size, [None] * size
        for i, (value, sample, count) in entries.items():
            result[i], samples[i], number[i] = value, sample, count
        # A measured figure is "True" plus samples (asv then computes the median and its CI);
        # NaN is n/a (skipped here), None a failure.
        done = BenchmarkResult(result=result, samples=samples, number=number, errcode=0, stderr="", profile=None)
        results.add_result(bench, done, started_at=started, duration=durations.get(name),
                           record_samples=True, selected_idx=set(entries))
    return results, missing
