"""`adcompare run` end to end, and the faults a real user meets: an interrupt or a kill at every
phase of a run, a second run at once, a narrow rerun, a corrupt file, a path that tries to escape.
The tests read one shared quick run of the numpy engine (conftest `pipeline`); the runs they make
themselves are a single figure each (a few seconds) unless they need more."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, adcompare_run as run, once_per_session

from adcompare.run import interrupts
from adcompare.store import folder

pytest.importorskip("asv")
# One job: square's vjp at its smallest main size (and its primal and reference arms).
ONE = ["--quick", "--backend", "numpy", "--problem", "square", "--bench", r"Operators.*'square:1', 'vjp'"]


def every_json_parses(results: Path) -> dict[Path, object]:
    return {p: json.loads(p.read_text(encoding="utf-8")) for p in results.glob("**/*.json")
            if "html" not in p.relative_to(results).parts}


def figures_file(results: Path) -> dict:
    [path] = (results / "test-box").glob("adcompare-figures-*.json")
    return json.loads(path.read_text())


def run_records(results: Path) -> list[dict]:
    [sidecar] = (results / "test-box").glob("adcompare-env-*.json")
    return json.loads(sidecar.read_text())["runs"]


def keys(data: dict) -> set:
    return {(r["benchmark"], json.dumps(r["params"], sort_keys=True)) for r in data["figures"]}


def test_a_run_writes_results_figures_sidecar_and_pages(pipeline):
    results, done = pipeline
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
    assert record["budget_minutes"] == 8.75                  # the README says every run record has its budget
    assert (results / "html" / "index.html").is_file() and (results / "html" / "adcompare" / "index.html").is_file()
    assert str(results / "html" / "adcompare" / "index.html") in done.stdout
    # the run's scratch cleaned up (an advise in this worker keeps its own, "advise-…", until exit)
    assert not [p for p in (ROOT / ".asv" / "scratch").glob(f"*-{os.getpid()}") if not p.name.startswith("advise-")]


def test_the_terminal_shows_the_run_and_not_the_frameworks_warnings(pipeline):
    _, done = pipeline
    assert "Warning" not in done.stdout + done.stderr
    assert "adcompare run: " in done.stdout and "figures measured" in done.stdout


def test_measurement_processes_print_into_the_run_log(tmp_path):
    """What a measurement process prints (a framework's warning) lands in the run's log."""
    log = tmp_path / "run.log"
    code = ("import sys, warnings\nfrom adcompare.run import processes\nprocesses.redirect_output()\n"
            "warnings.warn('a framework warns', FutureWarning)\nprint('and prints')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "ADCOMPARE_RUN_LOG": str(log)}, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert "FutureWarning: a framework warns" in log.read_text() and "and prints" in log.read_text()


@pytest.fixture(scope="session")
def rerun(pipeline, tmp_path_factory):
    """A narrow rerun (one benchmark of one problem) into a copy of the shared run, beside a corrupt
    results file of another machine: (results, the figures file before, the bad file, its stderr)."""
    def make(folder):
        results = folder / "results"
        shutil.copytree(pipeline[0], results)
        bad = results / "other-box" / "deadbeef-existing-py3.11.json"
        bad.parent.mkdir()
        (bad.parent / "machine.json").write_text('{"machine": "other-box", "version": 1}')
        bad.write_text('{"results": {')
        before = figures_file(results)
        done = run(results, "--quick", "--backend", "numpy", "--problem", "square", "--bench", "CostRatios")
        return {"before": before, "bad": str(bad), "returncode": done.returncode, "stderr": done.stderr}
    folder, answer = once_per_session(tmp_path_factory, "rerun", make)
    assert answer["returncode"] == 0, answer["stderr"][-2000:]
    return folder / "results", answer["before"], Path(answer["bad"]), answer["stderr"]


def test_a_narrow_rerun_merges_and_adds_its_own_record(rerun):
    results, before, _, _ = rerun
    after = figures_file(results)
    assert keys(after) == keys(before)                            # nothing lost, nothing doubled
    runs_of = {r["benchmark"] for r in after["figures"] if r["run"] != after["figures"][0]["run"]}
    records = run_records(results)
    assert len(records) == 2 and records[1]["selection"]["bench"] == "CostRatios"
    assert records[1]["measured"] < records[0]["measured"]
    newest = {r["run"] for r in after["figures"] if r["benchmark"] == "ratios.CostRatios.track_cost_ratio"
              and r["params"]["case"] == "square:1"}
    assert newest == {records[1]["id"]} and runs_of


def test_a_corrupt_results_file_is_named_and_the_run_goes_on(rerun):
    results, _, bad, stderr = rerun
    assert f"{bad} is corrupt" in stderr and f"rm '{bad}'" in stderr
    assert bad.read_text() == '{"results": {'                  # reported, never silently deleted
    assert (results / "html" / "adcompare" / "index.html").is_file()


# --- interrupts and kills at every phase --------------------------------------------------------
def interrupted_run(results: Path, phase: str, sig: str = "TERM", group: bool = False):
    """A one-figure run that is sent `sig` when it reaches `phase` (run.interrupts.checkpoint);
    with `group`, the whole process group gets it, as from Ctrl-C at a terminal."""
    spec = f"{phase}:{sig}" + (":group" if group else "")
    return subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(results), "--machine",
                           "test-box", *ONE], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, interrupts.CHECKPOINT_ENV: spec}, start_new_session=True)


@pytest.mark.parametrize("phase, sig, group", [
    ("measuring", "TERM", False),      # after the first job: the campaign stops, the rest is saved
    ("measured", "INT", True),         # Ctrl-C to the whole group just after measuring
    ("environment", "TERM", True),     # while the threads probe runs (it must not die halfway)
    ("figures-file", "TERM", False),
    ("run-record", "INT", False),
    ("asv-results", "INT", True),      # while asv discovers the benchmarks in a subprocess
    ("publishing", "TERM", False),     # pages are not rebuilt; the results are saved
    ("report", "INT", True),           # during publishing: abandoned whole, the old pages stay
    ("published", "TERM", False),
])
def test_an_interrupt_at_any_phase_saves_what_was_measured(tmp_path, phase, sig, group):
    results = tmp_path / "results"
    done = interrupted_run(results, phase, sig, group)
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    assert "interrupted; the figures measured so far are saved" in done.stderr
    assert "Traceback" not in done.stderr
    every_json_parses(results)
    [record] = run_records(results)
    # the record says "interrupted" when the signal came before it was written; one that came
    # later finds every number saved and the record already on disk
    before_record = interrupts.CHECKPOINTS.index(phase) <= interrupts.CHECKPOINTS.index("run-record")
    assert record["status"] == ("interrupted" if before_record else "ok") and record["measured"] >= 1
    assert figures_file(results)["figures"]
    assert list((results / "test-box").glob("*-existing-py3.11.json"))      # asv's file too
    pages = (results / "html" / "adcompare" / "index.html").is_file()
    assert pages == (phase == "published")     # a run told to stop does not start publishing


def test_an_interrupt_before_anything_is_measured_writes_nothing(tmp_path):
    results = tmp_path / "results"
    done = interrupted_run(results, "planned", "INT", group=True)
    assert done.returncode == 130 and done.stderr.strip() == "adcompare: interrupted"
    assert not (results / "test-box").exists()


def test_a_kill_at_any_moment_loses_nothing_already_saved(pipeline, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(pipeline[0], results)
    saved = keys(figures_file(results))
    for phase in ("measuring", "figures-file", "asv-results", "report"):
        done = interrupted_run(results, phase, "KILL")
        assert done.returncode == -signal.SIGKILL
        every_json_parses(results)                               # no file is ever half-written
        assert keys(figures_file(results)) >= saved              # nothing saved before is lost
        assert (results / "html" / "index.html").is_file() or any(results.glob(folder.OLD_HTML_PREFIX + "*"))
    done = run(results, *ONE)                                    # and the next run recovers and runs
    assert done.returncode == 0, done.stderr[-2000:]
    assert (results / "html" / "adcompare" / "index.html").is_file()
    assert len(run_records(results)) >= 2


def test_a_second_run_at_once_is_refused_with_one_line(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from adcompare.store import folder\nwith folder.run_lock(Path(sys.argv[1]), 'adcompare run'):\n"
                               "    print('holding', flush=True); time.sleep(60)", str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = run(tmp_path, *ONE)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and f"pid {holder.pid}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("argv, words", [
    (["--machine", "../x"], "not a plain name"),
    (["--machine", "a/b"], "not a plain name"),
    (["--budget", "0"], "--budget must be a positive number"),
    (["--budget", "nan"], "--budget must be a positive number"),
    (["--budget", "inf"], "--budget must be a positive number"),
    (["--passes", "0"], "--passes must be at least 1"),
    (["--passes", "1000"], "--passes must be at least 1 and at most 100"),
    (["--backend", "jaxx"], "unknown backend 'jaxx'; choose from: numpy"),
    (["--problem", "nope"], "unknown problem 'nope'; choose from: affine"),
    (["--device", "tpu"], "unknown device 'tpu'; choose from: cpu"),
    (["--grid", "huge"], "unknown grid 'huge'; choose from: main, full, wide"),
    (["--bench", "("], "--bench is not a valid regular expression"),
    (["--bench", "no-such-benchmark"], "nothing to run"),
    (["--commits", "nosuchref..HEAD"], "is not a range of this repository"),
    (["--commits", "HEAD..HEAD"], "holds no commit"),
    (["--commits=--help"], "--commits must be a git range"),
])
def test_run_mistakes_are_one_line_and_exit_2(tmp_path, argv, words):
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(tmp_path / "r"), *argv],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists() and not list((tmp_path / "r").glob("*/*.json"))


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
