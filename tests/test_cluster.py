"""Past one machine: a real Dask scheduler and two workers on loopback (processes, started here),
a selection run through them, a worker killed mid-job, shards merged into one run, an unreachable
scheduler, and a cut-short run resumed from its journal."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, adcompare_run as run

pytest.importorskip("distributed")
pytest.importorskip("asv")
pytestmark = pytest.mark.slow
DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
SELECTION = ["--quick", "--backend", "numpy", "--problem", "square", "--no-publish"]


def listed(*args) -> set[str]:
    """The figures `adcompare run --list` selects: what a run of the same selection must measure."""
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--list", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines())


def measured(results: Path, machine: str) -> set[str]:
    """The figures a results folder holds, named as `adcompare run --list` names them."""
    from adcompare.families import all_benchmarks

    [path] = (results / machine).glob("adcompare-figures-*.json")
    data = json.loads(path.read_text())
    names = {name: b.param_names for name, b in all_benchmarks().items()}
    return {f"{r['benchmark']}({', '.join(repr(r['params'][k]) for k in names[r['benchmark']])})"
            for r in data["figures"]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, worker processes): a scheduler and two workers, one benchmark slot each."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    scheduler = subprocess.Popen([*DASK, "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(scheduler_file)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
    workers = []
    try:
        for _ in range(100):
            if scheduler_file.is_file() and scheduler_file.read_text().strip():
                break
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        env = {**os.environ, "ADCOMPARE_MACHINE": "test-cluster"}
        for name in ("w1", "w2"):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--resources",
                 "benchmark=1", "--no-dashboard", "--name", name], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for proc in [*workers, scheduler]:
            with_group(proc, signal.SIGKILL)


def with_group(proc, sig) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    proc.wait()


def test_a_selection_runs_through_two_workers_as_it_runs_here(cluster, tmp_path):
    address, _ = cluster
    done = run(tmp_path / "results", *SELECTION, "--scheduler", address, machine=None)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "on 2 workers" in done.stdout
    assert measured(tmp_path / "results", "test-cluster") == listed("--backend", "numpy", "--problem", "square")
    [sidecar] = (tmp_path / "results" / "test-cluster").glob("adcompare-env-*.json")
    [record] = json.loads(sidecar.read_text())["runs"]
    assert record["scheduler"] == address and record["shared_host"] is True      # two workers on this host
    figures = json.loads(next((tmp_path / "results" / "test-cluster").glob("adcompare-figures-*")).read_text())
    assert all("shared-host" in f["flags"] for f in figures["figures"] if f["unit"] != "bytes")


def test_a_worker_killed_mid_job_loses_no_figure(cluster, tmp_path):
    """One of the two workers is killed while it measures; its job runs again on the other."""
    address, workers = cluster
    from distributed import Client

    args = [a for a in SELECTION if a != "--quick"]     # jobs of seconds: time to catch one in flight
    proc = subprocess.Popen([sys.executable, "-m", "adcompare", "run", "--results", str(tmp_path / "results"),
                             *args, "--scheduler", address, "--budget", "5"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    victim = None
    with Client(address, timeout=30) as client:
        deadline = time.time() + 120
        while victim is None and time.time() < deadline and proc.poll() is None:
            busy = {w for w, tasks in client.processing().items() if tasks}
            for worker, info in client.scheduler_info(n_workers=-1)["workers"].items():
                if worker in busy and info.get("name") == "w1":
                    victim = workers[0]
            time.sleep(0.05)
    assert victim is not None, "never saw worker w1 measure"
    with_group(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    assert measured(tmp_path / "results", "test-cluster") == listed(*[a for a in args if a != "--no-publish"])


def test_shards_merged_equal_one_run(tmp_path):
    for k in (1, 2):
        done = run(tmp_path / f"shard{k}", *SELECTION, "--shard", f"{k}/2")
        assert done.returncode == 0, done.stderr[-2000:]
    one, two = measured(tmp_path / "shard1", "test-box"), measured(tmp_path / "shard2", "test-box")
    assert one and two and not one & two                   # every job in exactly one shard
    merged = subprocess.run([sys.executable, "-m", "adcompare", "merge", str(tmp_path / "shard1"),
                             str(tmp_path / "shard2"), "--results", str(tmp_path / "merged"), "--no-publish"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert merged.returncode == 0, merged.stderr[-2000:]
    assert measured(tmp_path / "merged", "test-box") == one | two == listed("--backend", "numpy", "--problem",
                                                                             "square")
    [sidecar] = (tmp_path / "merged" / "test-box").glob("adcompare-env-*.json")
    assert [r["shard"] for r in json.loads(sidecar.read_text())["runs"]] == ["1/2", "2/2"]
    asv_file = next((tmp_path / "merged" / "test-box").glob("*-existing-*.json"))
    values = json.loads(asv_file.read_text())["results"]
    assert {"time_operators.Operators.track_seconds", "memory.TapeMemory.track_tape_bytes"} <= set(values)


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path):
    started = time.time()
    done = run(tmp_path / "results", *SELECTION, "--scheduler", "tcp://127.0.0.1:9", machine=None, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in done.stderr
    assert time.time() - started < 60 and not (tmp_path / "results" / "test-box").exists()


@pytest.mark.parametrize("argv, words", [
    (["--shard", "3/2"], "--shard K/N needs 1 ≤ K ≤ N"),
    (["--shard", "x"], "--shard must be K/N"),
    (["--scheduler", "tcp://127.0.0.1:9", "--machine", "m"], "with --scheduler each worker names its own"),
])
def test_cluster_mistakes_are_one_line(tmp_path, argv, words):
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(tmp_path), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr


def test_a_cut_short_run_resumes_from_its_journal(tmp_path):
    from adcompare.run import interrupts

    results = tmp_path / "results"
    cut = subprocess.run([sys.executable, "-m", "adcompare", "run", "--results", str(results), "--machine",
                          "test-box", *SELECTION], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, interrupts.CHECKPOINT_ENV: "measuring"})
    assert cut.returncode == 130 and "--resume" in cut.stderr, cut.stderr
    done = run(results, *SELECTION, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming 1 records" in done.stdout
    assert measured(results, "test-box") == listed("--backend", "numpy", "--problem", "square")
