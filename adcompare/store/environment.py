"""The environment sidecar of a benchmark run: what asv's machine.json cannot hold.

Written beside asv's results as `results/<machine>/adcompare-env-<commit[:8]>.json`: date,
commit, machine name, CPU model and cores, the threads torch/JAX/BLAS ran with (under the same
policy the benchmarks apply, `measure.threads.pin_threads`), the BLAS kernel (threadpoolctl), library
versions, GPU model/driver/CUDA where there is one, and the grid and dtypes of the run. The
report shows it next to every number.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
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


# What a run writes into the checkout itself: results/ (the committed reference runs are updated by
# a run) does not make the measured code dirty; .asv/ (scratch, caches, logs) is ignored by git.
NOT_CODE = ("results",)


def git_dirty(root: Path) -> bool:
    """Tracked files changed since the commit, outside what a run writes (results/): a second run
    in a fresh clone measures the same clean commit as the first."""
    excludes = [f":(exclude){path}" for path in NOT_CODE]
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *excludes], cwd=root,
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def machine_name(threads: dict | None = None) -> str:
    """A stable machine name from the hardware, not the (often random) hostname: the CPU, its cores,
    the BLAS kernel the measurement processes run (hosts of one VM type can differ there, and run
    different code), the GPU; e.g. 'amd-epyc-2c-haswell' or 'intel-xeon-16c-skylakex-nvidia-h100'.
    `threads`: a measurement process's threads record (`threads_probe`), for the BLAS kernel.
    $ADCOMPARE_MACHINE overrides it."""
    if os.environ.get("ADCOMPARE_MACHINE"):
        return os.environ["ADCOMPARE_MACHINE"]
    parts = [_slug(cpu_model(), words=3), f"{os.cpu_count()}c", _slug(blas_kernel(threads) or "", words=1)]
    for gpu in gpus()[:1]:
        parts.append(_slug(gpu["name"], words=3))
    return "-".join(p for p in parts if p)


# CPU features that select different code paths in numpy, OpenBLAS, XLA and Inductor.
SPEED_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile",
               "asimd", "sve")


def cpu_flags() -> list[str]:
    """The SPEED_FLAGS this CPU reports (/proc/cpuinfo's flags or Features), sorted."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return sorted(f for f in SPEED_FLAGS if f in have)
    except OSError:
        pass
    return []


def blas_kernel(threads: dict | None = None) -> str | None:
    """The BLAS kernel a measurement process runs (threadpoolctl's architecture of its pools), from
    a threads record (`threads_probe`), else from this process."""
    pools = (threads or {}).get("blas")
    if pools is None:
        try:
            from threadpoolctl import threadpool_info
            pools = threadpool_info()
        except ImportError:
            pools = []
    kernels = sorted({str(p.get("architecture")) for p in pools or [] if p.get("architecture")})
    return ",".join(kernels) or None


def fingerprint(threads: dict | None = None) -> dict[str, Any]:
    """What makes code run differently fast on two hosts that look alike: CPU model and features
    (AVX-512 or not), cores, memory, the BLAS kernel, the GPUs; and a short hash of them all.
    Two hosts with one fingerprint run the same code paths; a machine name must not mix two."""
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError, AttributeError):
        memory = None
    parts = {"cpu": cpu_model(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(), "memory_gib": memory,
             "blas": blas_kernel(threads), "gpus": [g["name"] for g in gpus()]}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
    return {**parts, "hash": digest}


def _slug(text: str, words: int) -> str:
    cleaned = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*|\d+-core", " ", text.lower())
    return "-".join(re.findall(r"[a-z0-9]+", cleaned)[:words])


def threads_probe(backends: list[str] | None = None) -> dict[str, Any]:
    """Thread settings as a measurement process sees them: a fresh interpreter, without a forced
    OpenBLAS kernel, applies the policy, imports the frameworks of `backends` (default: every
    framework, each once), and reports (this process may have imported them differently).
    Asked once per process and set of backends."""
    return _threads_probe(None if backends is None else tuple(backends))


@functools.lru_cache(maxsize=8)
def _threads_probe(backends: tuple[str, ...] | None) -> dict[str, Any]:
    code = ("import json, sys\nfrom adcompare.measure import frameworks, threads\nframeworks.preload_frameworks()\n"
            "r = threads.thread_report()\n"
            "try:\n    r['jax_devices'] = [str(d) for d in sys.modules['jax'].devices()] if 'jax' in sys.modules else None\n"
            "except Exception as e:\n    r['jax_devices'] = repr(e)\n"
            "json.dump(r, sys.stdout)\n")
    from adcompare.backends import all_backends
    from adcompare.measure.frameworks import PRELOAD_ENV
    from adcompare.measure.threads import OPENBLAS_FORCING

    if backends is None:   # one backend per framework, the first (eager) one: threads do not depend on compilers
        frameworks: dict[str, str] = {}
        for backend in all_backends():
            frameworks.setdefault(backend.module, backend.name)
        backends = list(frameworks.values())
    env = {**{k: v for k, v in os.environ.items() if k not in OPENBLAS_FORCING}, PRELOAD_ENV: ",".join(backends)}
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, check=True, env=env).stdout
        return json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        return {"error": f"thread probe failed: {err}"}


def collect(root: Path, machine: str, grid: str, dtypes: list[str], extra: dict | None = None,
            backends: list[str] | None = None, described: dict | None = None, threads: dict | None = None) -> dict:
    """Everything the report shows next to a run's numbers; the threads as a measurement process
    of `backends` (the run's) sees them (`threads`, when already probed). `described`: what a
    cluster's worker reported of its machine (`run.cluster.describe`), used instead of this one's."""
    commit = git_commit(root)
    if described is None:
        threads = threads if threads is not None else threads_probe(backends)
        here = {"hostname": platform.node(), "cpu": {"model": cpu_model(), "cores": os.cpu_count(),
                                                     "arch": platform.machine()},
                "os": platform.platform(), "threads": threads, "versions": versions(), "gpus": gpus(),
                "fingerprint": fingerprint(threads)}
    else:
        env = described["environment"]
        here = {"hostname": ", ".join(sorted(set(described.get("workers") or [env["hostname"]]))),
                "cpu": env["cpu"], "os": described["asv_machine"].get("os"), "threads": env["threads"],
                "versions": env["versions"], "gpus": env["gpus"], "fingerprint": described["fingerprint"]}
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "commit_dirty": git_dirty(root),
        "machine": machine,
        **here,
        "grid": grid,
        "dtypes": dtypes,
        **(extra or {}),
    }


def sidecar_path(results_dir: Path, machine: str, commit: str) -> Path:
    return Path(results_dir) / machine / f"{SIDECAR_PREFIX}{commit[:8]}.json"
