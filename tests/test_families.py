"""The family registry drives the grid, asv's benchmark classes, the reproducibility tool and the
report: a toy family, one file added at test time, appears in all four, and its figure is
measured through the same worker and estimators as every other."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adcompare import families
from adcompare.families import all_benchmarks, all_families, family_of
from adcompare.measure import estimates
from adcompare.run import plan, worker
from adcompare.store import compare

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "results"
TOY = '''
"""A toy family: one counted figure per CPU target, whose true value is 42."""
from adcompare.families import register_family
from adcompare.families.base import Benchmark, Family
from adcompare.measure.jobs import COUNT, ArmSpec, Job

ANSWER = Benchmark("toy_bench.Toy.track_answer", ("target", "dtype", "case"), "answers",
                   "The answer, counted.", repeated=False, compare_as="toy answers", goal=(0.0, 0.0))


@register_family
class Toy(Family):
    name = "toy"
    title = "toy answers"
    order = 99
    benchmarks = (ANSWER,)

    def jobs(self, grid, target):
        if target.endswith(":cpu"):
            arm = ArmSpec("toy@square:3", "square:3", "vjp", self.name, "answer")
            yield Job(COUNT, target, "float64", (arm,), (ANSWER.figure((target, "float64", "square:3"), "bytes",
                                                                         (arm.name,)),))

    def count(self, job, arm):
        return 42
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy family registered for one test (the registry restored afterwards)."""
    (tmp_path / "toy_family.py").write_text(TOY)
    monkeypatch.setattr(families, "_FAMILIES", dict(families._FAMILIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_family", raising=False)
    __import__("toy_family")
    yield tmp_path
    sys.modules.pop("toy_family", None)


def test_every_benchmark_has_exactly_one_family():
    names = [b.name for f in all_families() for b in f.benchmarks]
    assert len(names) == len(set(names)) == len(all_benchmarks())
    assert all(family_of(name) is not None for name in names)
    assert {f.name for f in all_families()} >= {"time", "crossover", "cost-ratios", "workloads", "noise-floor",
                                                 "prepare", "first-call", "tape", "peak-device-memory", "sparse"}


def test_a_toy_family_is_in_the_grid_and_measured_by_the_worker(toy):
    main = plan.plan("main", ["numpy:cpu"])
    [job] = [j for j in main.jobs if any(f.benchmark == "toy_bench.Toy.track_answer" for f in j.figures)]
    assert job.kind == "count"        # it joined the counted job of its target, beside tape bytes
    alone = job.with_figures([f for f in job.figures if f.benchmark == "toy_bench.Toy.track_answer"])
    [fig] = estimates.aggregate(alone, [worker.run_job(alone, worker.QUICK)])
    assert fig.status == "ok" and fig.estimate.value == pytest.approx(42) and fig.unit == "answers"
    assert plan.asv_params("toy_bench.Toy.track_answer", "main")[2] == ["square:3"]


def test_a_toy_family_is_an_asv_benchmark(toy):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import toy_family, json\n"
            "from asv_runner.discovery import disc_benchmarks\n"
            "print(json.dumps({b.name: b.unit for b in disc_benchmarks(sys.argv[2])}))\n")
    done = subprocess.run([sys.executable, "-c", code, str(toy), str(ROOT / "benchmarks")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["toy_bench.Toy.track_answer"] == "answers"
    assert set(all_benchmarks()) <= set(found)


def test_a_toy_family_has_a_row_in_the_reproducibility_table(toy):
    def run(value):
        rec = {"benchmark": "toy_bench.Toy.track_answer", "value": value, "ci": [value, value], "log_se": 0.0,
               "df": 1, "processes": 1, "params": {"target": "numpy:cpu", "dtype": "float64", "case": "square:3"}}
        return {("box", rec["benchmark"], json.dumps(rec["params"], sort_keys=True)): rec}
    rows = {r.family: r for r in compare.compare(run(42), run(42)).rows}
    assert rows["toy answers"].count == 1 and rows["toy answers"].median == 0 and rows["toy answers"].meets_goal


def test_a_toy_family_is_in_the_report(toy, tmp_path):
    from adcompare.report import build_report

    page = Path(build_report(FIXTURE, tmp_path / "index.html")).read_text(encoding="utf-8")
    assert "toy_bench.Toy.track_answer" in page and "toy answers" in page and "The answer, counted." in page


def test_every_family_is_in_the_report(tmp_path):
    from adcompare.report import build_report

    page = Path(build_report(FIXTURE, tmp_path / "index.html")).read_text(encoding="utf-8")
    for family in all_families():
        assert family.title in page, family.name
