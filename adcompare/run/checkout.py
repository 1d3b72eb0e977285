"""The source checkout a run measures: its asv configuration, its scratch folders, the compile
cache kept between runs, and the environment of the measurement processes."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from adcompare.backends.base import COLD_CACHE_ENV, COMPILE_CACHE_ENV
from adcompare.errors import UserError
from adcompare.measure.threads import OPENBLAS_FORCING, thread_env
from adcompare.run.plan import GRID_ENV
from adcompare.store import environment

ROOT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The git checkout holding asv.conf.json and benchmarks/, with asv importable."""
    if not (ROOT / "asv.conf.json").is_file() or not (ROOT / "benchmarks").is_dir():
        raise UserError(f"adcompare run needs the source checkout (asv.conf.json and benchmarks/ in {ROOT})")
    try:
        environment.git_commit(ROOT)
    except (OSError, subprocess.CalledProcessError):
        raise UserError(f"adcompare run needs a git checkout with a commit: {ROOT} is not one") from None
    try:
        import asv  # noqa: F401
    except ImportError:
        raise UserError("asv is not installed; install the project with the README's command") from None
    return ROOT


def default_results() -> Path:
    """Where results live: results/ of the checkout (the same folder `adcompare report` reads)."""
    return ROOT / "results"


def write_config(root: Path, results_dir: Path, html_dir: Path, where: Path) -> Path:
    """asv.conf.json with absolute paths, results and pages where this run wants them."""
    from asv.util import load_json

    conf = load_json(str(root / "asv.conf.json"), js_comments=True)
    conf.update(repo=str(root), benchmark_dir=str(root / "benchmarks"), env_dir=str(root / ".asv" / "env"),
                results_dir=str(results_dir), html_dir=str(html_dir))
    path = where / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


def asv(config: Path, *args: str, env: dict | None = None, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asv", "--config", str(config), *args], env=env, text=True,
                          capture_output=capture)


def measurement_env(grid_name: str, root: Path, scratch: Path) -> dict[str, str]:
    """The measurement processes' environment: the thread policy, the grid, the compile cache,
    no forced OpenBLAS kernel, no GPU memory preallocation.

    The compile cache (JAX's and Inductor's, .asv/compile-cache beside the scratch folders) is
    kept between runs: steady-state figures never time a compile, and a cold cache made the
    first pass of the main grid 360 s against 140 s for the next. Compile-time figures never read
    it (their private caches go into this run's scratch folder)."""
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_FORCING}
    env.update(thread_env())
    env[GRID_ENV] = grid_name
    env[COMPILE_CACHE_ENV] = str(compile_cache_root(root))
    env[COLD_CACHE_ENV] = str(scratch / "cold-caches")
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return env


def register_machine(machine: str) -> dict:
    """asv's detected hardware (os, arch, cpu, num_cpu, ram in bytes) under our machine name, in
    ~/.asv-machine.json (asv's own runner needs it) and returned for machine.json."""
    from asv.machine import Machine, MachineCollection

    info = {**Machine.get_defaults(), "machine": machine}
    MachineCollection.save(machine, info)
    return {**info, "version": 1}


def run_id() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"


def scratch_root(root: Path) -> Path:
    return root / ".asv" / "scratch"


def compile_cache_root(root: Path) -> Path:
    """JAX's and Inductor's compile caches, kept between runs (never under scratch_root)."""
    return root / ".asv" / "compile-cache"


def journals_root(root: Path) -> Path:
    """Where a run's journal of records is kept until the run is saved (for --resume)."""
    return root / ".asv" / "journals"


def logs_root(root: Path) -> Path:
    """Where each run's log (what its measurement processes printed) is kept."""
    return root / ".asv" / "logs"


def clean_stale_scratch(root: Path) -> None:
    """Remove scratch folders of runs whose process is gone (killed before it could clean up)."""
    for folder in scratch_root(root).glob("*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_scratch(root: Path, prefix: str = "") -> Path:
    clean_stale_scratch(root)
    folder = scratch_root(root) / (prefix + run_id())
    folder.mkdir(parents=True)
    return folder
