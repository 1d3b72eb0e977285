"""`adcompare run` end to end, and the faults a real user meets: a kill at any moment, a second
run at once, a narrow rerun, a corrupt file, a path that tries to escape. Each run here is a
quick one of a few figures of the numpy engine (about 15 s)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adcompare.store import folder

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("asv")
# square's two main sizes (timed) and lorenz96's depths (tape bytes): a small main-grid run
SMALL = ["--quick", "--backend", "numpy", "--problem", "square", "--problem", "lorenz96"]


def run(results: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(results),
                           "--machine", "test-box", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def every_json_parses(results: Path) -> dict[Path, object]:
    return {p: json.loads(p.read_text(encoding="utf-8")) for p in results.glob("**/*.json")
            if "html" not in p.relative_to(results).parts}


def figures_file(results: Path) -> dict:
    [path] = (results / "test-box").glob("adcompare-figures-*.json")
    return json.loads(path.read_text())


def keys(data: dict) -> set:
    return {(r["benchmark"], json.dumps(r["params"], sort_keys=True)) for r in data["figures"]}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("run") / "results"
    done = run(results, *SMALL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return results, done


def test_a_run_writes_results_figures_sidecar_and_pages(first_run):
    results, done = first_run
    files = every_json_parses(results)
    box = results / "test-box"
    [asv_file] = [p for p in files if p.parent == box and p.name.endswith("-existing-py3.11.json")]
    asv_data = files[asv_file]
    assert asv_data["results"]["time_operators.Operators.track_seconds"] is not None
    figs = figures_file(results)
    vjp = next(r for r in figs["figures"] if r["benchmark"] == "time_operators.Operators.track_seconds"
               and r["params"] == {"target": "numpy:cpu", "dtype": "float64", "case": "square:1", "operator": "vjp"})
    assert 0 < vjp["value"] < 0.1 and vjp["quick"] is True and "quick" in vjp["flags"]
    tape = next(r for r in figs["figures"] if r["benchmark"] == "memory.TapeMemory.track_tape_bytes"
                and r["params"]["case"] == "lorenz96:128:steps=40")
    assert tape["value"] > 0 and tape["ci"] == [tape["value"], tape["value"]]
    [sidecar] = box.glob("adcompare-env-*.json")
    env = files[sidecar]
    assert env["machine"] == "test-box" and env["versions"]["numpy"]
    [record] = env["runs"]
    assert record["quick"] is True and record["measured"] == len(figs["figures"]) and record["status"] == "ok"
    assert (results / "html" / "index.html").is_file() and (results / "html" / "adcompare" / "index.html").is_file()
    assert str(results / "html" / "adcompare" / "index.html") in done.stdout
    assert not list((ROOT / ".asv" / "scratch").glob(f"*-{os.getpid()}"))      # scratch cleaned up


def test_a_narrow_rerun_merges_and_adds_its_own_record(first_run, tmp_path):
    results = tmp_path / "results"
    import shutil
    shutil.copytree(first_run[0], results)
    before = keys(figures_file(results))
    done = run(results, "--quick", "--backend", "numpy", "--problem", "square", "--bench", "CostRatios")
    assert done.returncode == 0, done.stderr[-2000:]
    after = figures_file(results)
    assert keys(after) == before                                  # nothing lost, nothing doubled
    runs_of = {r["benchmark"] for r in after["figures"] if r["run"] != after["figures"][0]["run"]}
    [sidecar] = (results / "test-box").glob("adcompare-env-*.json")
    records = json.loads(sidecar.read_text())["runs"]
    assert len(records) == 2 and records[1]["selection"]["bench"] == "CostRatios"
    assert records[1]["measured"] < records[0]["measured"]
    newest = {r["run"] for r in after["figures"] if r["benchmark"] == "ratios.CostRatios.track_cost_ratio"
              and r["params"]["case"] == "square:1"}
    assert newest == {records[1]["id"]} and runs_of


def test_a_kill_at_any_moment_loses_nothing_already_saved(first_run, tmp_path):
    import shutil
    results = tmp_path / "results"
    shutil.copytree(first_run[0], results)
    saved = keys(figures_file(results))
    for delay in (1.0, 4.0, 8.0, 11.0, 14.0):
        proc = subprocess.Popen([sys.executable, "-m", "adcompare", "run", "--results", str(results), "--machine",
                                 "test-box", *SMALL], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        every_json_parses(results)                               # no file is ever half-written
        assert keys(figures_file(results)) >= saved              # nothing saved before is lost
        assert (results / "html" / "index.html").is_file() or any(results.glob(folder.OLD_HTML_PREFIX + "*"))
    done = run(results, *SMALL)                                  # and the next run recovers and runs
    assert done.returncode == 0, done.stderr[-2000:]
    assert (results / "html" / "adcompare" / "index.html").is_file()


def test_sigterm_saves_what_was_measured(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "adcompare", "run", "--results", str(results), "--machine",
                             "test-box", "--backend", "numpy", "--problem", "lorenz96", "--problem", "square"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:                       # wait until measuring has started and a job is done
        if "figures in" in line:
            break
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "interrupted; the figures measured so far are saved" in err
    [sidecar] = (results / "test-box").glob("adcompare-env-*.json")
    [record] = json.loads(sidecar.read_text())["runs"]
    assert record["status"] == "interrupted" and record["measured"] > 0
    assert figures_file(results)["figures"]


def test_a_second_run_at_once_is_refused_with_one_line(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from adcompare.store import folder\nwith folder.run_lock(Path(sys.argv[1]), 'adcompare run'):\n"
                               "    print('holding', flush=True); time.sleep(60)", str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = run(tmp_path, *SMALL)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and f"pid {holder.pid}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_corrupt_results_file_is_named_and_the_run_goes_on(first_run, tmp_path):
    import shutil
    results = tmp_path / "results"
    shutil.copytree(first_run[0], results)
    bad = results / "other-box" / "deadbeef-existing-py3.11.json"
    bad.parent.mkdir()
    (bad.parent / "machine.json").write_text('{"machine": "other-box", "version": 1}')
    bad.write_text('{"results": {')
    done = run(results, "--quick", "--backend", "numpy", "--problem", "square")   # (main times square; poly3 only in full)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{bad} is corrupt" in done.stderr and f"rm '{bad}'" in done.stderr
    assert bad.read_text() == '{"results": {'                  # reported, never silently deleted
    assert (results / "html" / "adcompare" / "index.html").is_file()


@pytest.mark.parametrize("argv, words", [
    (["--machine", "../x"], "not a plain name"),
    (["--machine", "a/b"], "not a plain name"),
    (["--budget", "0"], "--budget must be a positive number"),
    (["--passes", "0"], "--passes must be at least 1"),
    (["--backend", "jaxx"], "unknown backend 'jaxx'; choose from: numpy"),
    (["--problem", "nope"], "unknown problem 'nope'; choose from: affine"),
    (["--device", "tpu"], "unknown device 'tpu'; choose from: cpu"),
    (["--grid", "huge"], "unknown grid 'huge'; choose from: main, full, wide"),
    (["--bench", "("], "--bench is not a valid regular expression"),
    (["--bench", "no-such-benchmark"], "nothing to run"),
])
def test_run_mistakes_are_one_line_and_exit_2(tmp_path, argv, words):
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(tmp_path / "r"), *argv],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "r").exists()


def test_run_list_prints_asv_names():
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--list", "--backend", "numpy", "--problem",
                           "square"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "time_operators.Operators.track_seconds('numpy:cpu', 'float64', 'square:1', 'vjp')" in lines
    assert done.stderr.strip().endswith("jobs") and done.stderr.startswith(f"{len(lines)} figures")


def test_the_compile_cache_outlives_a_run_and_cold_caches_do_not(tmp_path):
    """Steady-state processes read compilations kept beside the scratch folders; compile-time
    processes make private caches inside this run's scratch folder, removed with it."""
    from adcompare.backends.base import COLD_CACHE_ENV, COMPILE_CACHE_ENV
    from adcompare.run import checkout

    scratch = checkout.scratch_root(tmp_path) / "20261202T000000Z-1"
    env = checkout.measurement_env("main", tmp_path, scratch)
    assert env[COMPILE_CACHE_ENV] == str(tmp_path / ".asv" / "compile-cache")
    assert Path(env[COLD_CACHE_ENV]).parent == scratch
