"""The asv suite itself: structure, `asv check`, and a tiny real run through `adcompare run`.

Importing `benchmarks` pins the importing process to one thread on one core, so the suite is
inspected in subprocesses, never imported into the test process."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adcompare import grid

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("asv")

INSPECT = r"""
import json, time
from adcompare import grid, measure
from benchmarks import compile, memory, ratios, time_operators
classes = [time_operators.Operators, time_operators.Crossover, memory.TapeMemory,
           memory.PeakDeviceMemory, ratios.CostRatios, compile.Prepare, compile.FirstCall]
out = {}
for cls in classes:
    methods = [m for m in vars(cls) if m.split("_")[0] in ("time", "track", "timeraw")]
    out[cls.__name__] = {"version": vars(cls).get("version"),
                         "unit": getattr(cls, "unit", None), "methods": methods,
                         "params": cls.params, "param_names": cls.param_names}
# setup: n/a outside the grid and on a missing device; O(1) (cached) when called again
ops = time_operators.Operators()
na = []
for combo in [("numpy:cpu", "float32", "square:1", "hvp-fwd-rev"), ("torch:cuda", "float64", "square:1000", "vjp")]:
    try:
        ops.setup(*combo)
    except NotImplementedError as err:
        na.append(str(err))
ops.setup("numpy:cpu", "float64", "square:1000", "vjp")
hits = measure.prepared.cache_info().hits
ops.setup("numpy:cpu", "float64", "square:1000", "vjp")
ops.time_operator("numpy:cpu", "float64", "square:1000", "vjp")
tape = memory.TapeMemory()
tape.setup("numpy:cpu", "float64", "lorenz96:8:steps=10")
out["na"] = na
out["cache_hits"] = measure.prepared.cache_info().hits - hits
out["tape"] = tape.track_tape_bytes("numpy:cpu", "float64", "lorenz96:8:steps=10")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def suite_info():
    done = subprocess.run([sys.executable, "-c", INSPECT], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_benchmark_is_versioned_and_generated_from_the_grid(suite_info):
    families = {name.split(".")[1]: fam for name, fam in grid.FAMILIES.items()}
    for cls, fam in families.items():
        info = suite_info[cls]
        assert info["version"] == "1", cls
        assert info["methods"] == [fam.name.split(".")[2]], cls
        assert info["param_names"] == fam.param_names
        assert info["params"] == grid.params(fam, "default")
    assert suite_info["TapeMemory"]["unit"] == "bytes"
    assert suite_info["PeakDeviceMemory"]["unit"] == "bytes"
    assert suite_info["CostRatios"]["unit"] == "ratio"
    assert suite_info["Prepare"]["unit"] == "seconds"


def test_setup_is_na_outside_the_grid_and_cached_inside(suite_info):
    assert len(suite_info["na"]) == 2
    assert "not in the default grid" in suite_info["na"][0]
    assert suite_info["cache_hits"] == 1
    assert isinstance(suite_info["tape"], int) and suite_info["tape"] > 0


def test_asv_check_passes():
    done = subprocess.run([sys.executable, "-m", "asv", "check", "-E", f"existing:{sys.executable}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


def _results(results_dir: Path) -> dict:
    machine_dirs = [d for d in results_dir.iterdir() if (d / "machine.json").is_file()]
    assert len(machine_dirs) == 1
    files = [f for f in machine_dirs[0].glob("*.json")
             if f.name != "machine.json" and not f.name.startswith("adcompare-env-")]
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    out = {}
    for name, row in data["results"].items():
        row = dict(zip(data["result_columns"], row))
        for combo, value in zip(itertools.product(*row["params"]), row["result"]):
            if value is not None and value == value:
                out[(name, tuple(eval(p) for p in combo))] = value
    return out


@pytest.mark.slow
def test_adcompare_run_writes_results_sidecar_and_pages(tmp_path):
    """A tiny real run: numpy engine, three families, quick."""
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "adcompare", "run", "--quick", "--backend", "numpy",
         "--bench", r"Operators.*'poly3:3', '(vjp|jvp)'|TapeMemory.*'lorenz96:8:steps=10'|CostRatios.*'poly3:3', 'vjp'", "--results", str(results),
         "--machine", "adcompare-test"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    numbers = _results(results)
    t_vjp = numbers[("time_operators.Operators.time_operator", ("numpy:cpu", "float64", "poly3:3", "vjp"))]
    assert 0 < t_vjp < 1.0
    assert ("time_operators.Operators.time_operator", ("numpy:cpu", "float64", "poly3:3", "jvp")) in numbers
    # ten RK4 steps keep their intermediate states for the backward pass
    assert numbers[("memory.TapeMemory.track_tape_bytes", ("numpy:cpu", "float64", "lorenz96:8:steps=10"))] > 0
    assert numbers[("ratios.CostRatios.track_cost_ratio", ("numpy:cpu", "float64", "poly3:3", "vjp"))] > 0
    assert ("time_operators.Operators.time_operator", ("numpy:cpu", "float32", "poly3:3", "vjp")) in numbers
    assert len(numbers) == 6      # every selected combination gave a number: vjp, jvp × 2 dtypes, tape, ratio
    sidecars = list(results.glob("adcompare-test/adcompare-env-*.json"))
    assert len(sidecars) == 1
    env = json.loads(sidecars[0].read_text())
    assert env["machine"] == "adcompare-test" and env["grid"] == "default"
    assert env["threads"]["torch_threads"] in (1, None)
    assert env["versions"]["numpy"]
    assert env["run"]["combinations"] == 6
    assert (results / "html" / "index.html").is_file()
    assert str(results / "html" / "index.html") in done.stdout

