"""What a run was measured on, read from asv's machine.json and adcompare's environment sidecar.

The sidecar (`adcompare.environment.collect`) holds ``cpu: {model, cores, arch}``, ``threads``
(policy, ``torch_threads``, threadpoolctl's ``blas`` pools, the thread variables in ``env``),
``versions``, ``gpus: [{name, driver, cuda, memory}]``, ``grid``, ``dtypes``, ``date`` and the run
records (``runs: [{id, date, quick, grid, selection, combinations, passes, seconds, status}]``,
or one ``run`` object in older sidecars). Every accessor falls back to machine.json, then to
"unknown", so older or partial records still render.
"""

from __future__ import annotations

from typing import Any

from adcompare.report.results import Run, format_ms, sidecar_runs

UNKNOWN = "unknown"
VERSION_ORDER = ("python", "numpy", "torch", "jax", "jaxlib", "autograd", "array-api-compat")


def _present(value: Any) -> bool:
    return value is not None and value != ""


def cpu(run: Run) -> str:
    node = run.env.get("cpu")
    model = node.get("model") if isinstance(node, dict) else node
    return str(model) if _present(model) else str(run.machine_info.get("cpu") or UNKNOWN)


def cores(run: Run) -> str:
    node = run.env.get("cpu")
    count = node.get("cores") if isinstance(node, dict) else run.env.get("cores")
    return str(count) if _present(count) else str(run.machine_info.get("num_cpu") or UNKNOWN)


def gpu(run: Run) -> str:
    """'none' when the run recorded that there is none; 'unknown' when it recorded nothing."""
    if "gpus" in run.env:
        node = run.env["gpus"]
    elif "gpu" in run.env:
        node = run.env["gpu"]
    else:
        return UNKNOWN
    if not node:
        return "none"
    gpus = node if isinstance(node, list) else [node]
    parts = []
    for g in gpus:
        if not isinstance(g, dict):
            parts.append(str(g))
            continue
        extra = [f"{label} {g[key]}" for key, label in (("driver", "driver"), ("cuda", "CUDA"), ("memory", "memory"))
                 if _present(g.get(key))]
        name = g.get("name") or g.get("model") or UNKNOWN
        parts.append(f"{name} ({', '.join(extra)})" if extra else str(name))
    return "; ".join(parts)


def _blas_pools(run: Run) -> list[dict]:
    threads = run.env.get("threads")
    pools = threads.get("blas") if isinstance(threads, dict) else None
    return [p for p in pools if isinstance(p, dict)] if isinstance(pools, list) else []


def threads(run: Run) -> str:
    node = run.env.get("threads")
    if not isinstance(node, dict):
        return str(node) if _present(node) else UNKNOWN
    if "error" in node:
        return f"not recorded ({node['error']})"
    parts = []
    if _present(node.get("torch_threads")):
        parts.append(f"torch {node['torch_threads']}")
    for pool in _blas_pools(run):
        parts.append(f"{pool.get('internal_api') or pool.get('user_api') or 'pool'} {pool.get('num_threads')}")
    env = node.get("env") if isinstance(node.get("env"), dict) else {}
    if _present(env.get("XLA_FLAGS")):
        parts.append(f"XLA_FLAGS {env['XLA_FLAGS']}")
    skip = {"torch_threads", "torch_interop_threads", "blas", "env", "policy", "cpu_affinity", "jax_devices"}
    parts += [f"{k} {v}" for k, v in node.items() if k not in skip and isinstance(v, (int, float, str))]
    text = ", ".join(parts) or UNKNOWN
    return f"{text} ({node['policy']})" if _present(node.get("policy")) else text


def blas_kernel(run: Run) -> str:
    if _present(run.env.get("blas_kernel")):
        return str(run.env["blas_kernel"])
    kernels = [f"{p.get('internal_api')} {p['architecture']}" for p in _blas_pools(run) if _present(p.get("architecture"))]
    return ", ".join(kernels) or UNKNOWN


def versions(run: Run) -> dict[str, str]:
    node = run.env.get("versions")
    if not isinstance(node, dict):
        return {}
    return {k: (str(v) if _present(v) else "not installed") for k, v in node.items()}


def version_names(runs: list[Run]) -> list[str]:
    found = {k for r in runs for k in versions(r)}
    return [k for k in VERSION_ORDER if k in found] + sorted(found - set(VERSION_ORDER))


def grid(run: Run) -> str:
    return str(run.env["grid"]) if _present(run.env.get("grid")) else UNKNOWN


def recorded_at(run: Run) -> str:
    """When the run was recorded: the sidecar's date, else the first benchmark's start."""
    date = run.env.get("date")
    if isinstance(date, (int, float)):
        return format_ms(date)
    if isinstance(date, str) and date:
        return date.replace("T", " ").replace("+00:00", " UTC")
    return run.started


def ram(run: Run) -> str:
    """machine.json's `ram` is asv's util.get_memsize(): bytes (MemTotal in kB × 1024 on Linux)."""
    value = run.machine_info.get("ram")
    try:
        return f"{int(value) / 2**30:.1f} GiB"
    except (TypeError, ValueError):
        return UNKNOWN


RUN_FIELDS = ("id", "date", "quick", "grid", "selection", "combinations", "passes", "seconds", "status")


def run_records(run: Run) -> list[dict[str, str]]:
    """The runs merged into this commit's results, each field as text ("unknown" where absent)."""
    rows = []
    for record in sidecar_runs(run.env):
        row = {}
        for key in RUN_FIELDS:
            value = record.get(key)
            if key == "status" and value is None:
                value = record.get("asv_status")     # older sidecars
            if key == "quick" and isinstance(value, bool):
                value = "quick (smoke test)" if value else "full"
            elif isinstance(value, (list, tuple)):
                value = ", ".join(map(str, value))
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            row[key] = str(value) if _present(value) else UNKNOWN
        rows.append(row)
    return rows


def runs_summary(run: Run) -> str:
    records = run_records(run)
    if not records:
        return "not recorded"
    quick = sum(1 for r in records if r["quick"].startswith("quick"))
    text = f"{len(records)} run{'s' * (len(records) != 1)}"
    return text + (f", {quick} quick" if quick else "")
