"""The asv suite itself: its classes come from the grid, `asv check` passes, and asv's own runner
measures a figure through them. Importing `benchmarks` pins the importing process to one thread
on one core, so the suite is inspected in subprocesses, never imported into the test process."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adcompare.families import all_benchmarks
from adcompare.run import plan as grid

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("asv")

INSPECT = r"""
import importlib, json, pkgutil
import benchmarks
from benchmarks import suite
from benchmarks.suite import Figure
modules = [importlib.import_module("benchmarks." + m.name) for m in pkgutil.iter_modules(benchmarks.__path__)]
classes = [c for mod in modules for c in vars(mod).values()
           if isinstance(c, type) and issubclass(c, Figure) and c is not Figure and c.__module__ == mod.__name__]
out = {}
for cls in classes:
    methods = [m for m in vars(cls) if m.split("_")[0] in ("time", "track", "timeraw")]
    names = [getattr(cls, m).benchmark_name for m in methods]
    out[cls.benchmark.name] = {"version": cls.version, "unit": cls.unit, "methods": methods, "names": names,
                               "params": cls.params, "param_names": cls.param_names, "cls": cls.__name__}
by_name = {c.benchmark.name: c for c in classes}
ratios = type("ratios", (), {"CostRatios": by_name["ratios.CostRatios.track_cost_ratio"]})
memory = type("memory", (), {"TapeMemory": by_name["memory.TapeMemory.track_tape_bytes"]})
# a figure measured in this process, as asv's runner does; n/a outside the grid or off this machine
ratio = ratios.CostRatios()
ratio.setup("numpy:cpu", "float64", "square:100000", "vjp")
out["ratio"] = ratio.track_cost_ratio("numpy:cpu", "float64", "square:100000", "vjp")
tape = memory.TapeMemory()
tape.setup("numpy:cpu", "float64", "lorenz96:128:steps=40")
out["tape"] = tape.track_tape_bytes("numpy:cpu", "float64", "lorenz96:128:steps=40")
na = []
for combo in [("numpy:cpu", "float32", "square:7", "vjp"), ("torch:cuda", "float64", "square:100000", "vjp")]:
    try:
        ratios.CostRatios().setup(*combo)
    except NotImplementedError as err:
        na.append(str(err))
out["na"] = na
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def suite_info():
    done = subprocess.run([sys.executable, "-c", INSPECT], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_benchmark_class_is_versioned_and_generated_from_the_grid(suite_info):
    for name, bench in all_benchmarks().items():
        info = suite_info[name]
        assert f"{name.split('.')[0]}.{info['cls']}.{bench.method}" == name   # asv's name is the grid's
        assert info["names"] == [name]                                       # and asv names it so
        assert info["version"] == "1" and info["unit"] == bench.unit, name
        assert info["methods"] == [bench.method], name
        assert info["param_names"] == list(bench.param_names)
        assert info["params"] == grid.asv_params(name, "main")


def test_a_figure_is_measured_in_process_as_asv_runs_it(suite_info):
    # y = x², vjp/primal at n = 10⁵: the engine's sweep costs a few primals, never under 1
    assert 1.0 < suite_info["ratio"] < 200
    assert isinstance(suite_info["tape"], (int, float)) and suite_info["tape"] > 0
    assert len(suite_info["na"]) == 2


def test_asv_check_passes():
    done = subprocess.run([sys.executable, "-m", "asv", "check", "-E", f"existing:{sys.executable}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout
