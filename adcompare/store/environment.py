"""The environment sidecar of a benchmark run: what asv's machine.json cannot hold.

Written beside asv's results as `results/<machine>/adcompare-env-<commit[:8]>.json`: date,
commit, machine name, CPU model and cores, the threads torch/JAX/BLAS ran with (under the same
policy the benchmarks apply, `measure.threads.pin_threads`), the BLAS kernel (threadpoolctl), library
versions, GPU model/driver/CUDA where there is one, and the grid and dtypes of the run. The
report shows it next to every number.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

SIDECAR_PREFIX = "adcompare-env-"
PACKAGES = ("numpy", "torch", "jax", "jaxlib", "autograd", "array-api-compat", "threadpoolctl",
            "asv", "asv_runner")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpus() -> list[dict[str, str]]:
    """GPU name, driver and CUDA version from nvidia-smi; [] where there is none."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True).stdout
        head = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", head)
    rows = []
    for line in out.strip().splitlines():
        name, driver, memory = (part.strip() for part in line.split(","))
        rows.append({"name": name, "driver": driver, "memory": memory,
                     "cuda": cuda.group(1) if cuda else None})
    return rows


def git_commit(root: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()


def git_dirty(root: Path) -> bool:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def machine_name() -> str:
    """A stable machine name from the hardware, not the (often random) hostname:
    e.g. 'amd-epyc-2c' or 'intel-xeon-16c-nvidia-h100'. $ADCOMPARE_MACHINE overrides it."""
    if os.environ.get("ADCOMPARE_MACHINE"):
        return os.environ["ADCOMPARE_MACHINE"]
    parts = [_slug(cpu_model(), words=3), f"{os.cpu_count()}c"]
    for gpu in gpus()[:1]:
        parts.append(_slug(gpu["name"], words=3))
    return "-".join(p for p in parts if p)


def _slug(text: str, words: int) -> str:
    cleaned = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*|\d+-core", " ", text.lower())
    return "-".join(re.findall(r"[a-z0-9]+", cleaned)[:words])


def threads_probe(backends: list[str] | None = None) -> dict[str, Any]:
    """Thread settings as a measurement process sees them: a fresh interpreter applies the
    policy, imports the frameworks of `backends` (default: every framework, each once), and
    reports (this process may have imported them differently)."""
    code = ("import json, sys\nfrom adcompare.measure import frameworks, threads\nframeworks.preload_frameworks()\n"
            "r = threads.thread_report()\n"
            "try:\n    import jax; r['jax_devices'] = [str(d) for d in jax.devices()]\n"
            "except Exception as e:\n    r['jax_devices'] = repr(e)\n"
            "json.dump(r, sys.stdout)\n")
    from adcompare.backends import all_backends
    from adcompare.measure.frameworks import PRELOAD_ENV

    if backends is None:   # one backend per framework, the first (eager) one: threads do not depend on compilers
        frameworks: dict[str, str] = {}
        for backend in all_backends():
            frameworks.setdefault(backend.module, backend.name)
        backends = list(frameworks.values())
    env = {**os.environ, PRELOAD_ENV: ",".join(backends)}
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, check=True, env=env).stdout
        return json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        return {"error": f"thread probe failed: {err}"}


def collect(root: Path, machine: str, grid: str, dtypes: list[str], extra: dict | None = None,
            backends: list[str] | None = None) -> dict:
    """Everything the report shows next to a run's numbers; the threads as a measurement process
    of `backends` (the run's) sees them."""
    commit = git_commit(root)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "commit_dirty": git_dirty(root),
        "machine": machine,
        "hostname": platform.node(),
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "arch": platform.machine()},
        "os": platform.platform(),
        "threads": threads_probe(backends),
        "versions": versions(),
        "gpus": gpus(),
        "grid": grid,
        "dtypes": dtypes,
        **(extra or {}),
    }


def sidecar_path(results_dir: Path, machine: str, commit: str) -> Path:
    return Path(results_dir) / machine / f"{SIDECAR_PREFIX}{commit[:8]}.json"
