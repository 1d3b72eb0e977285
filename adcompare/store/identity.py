"""Machine identity: the name a machine's results are filed under, and the fingerprint that keeps
one name to one kind of host.

Two hosts that look alike can run different code: the same "AMD EPYC" VM type got OpenBLAS's
Haswell kernel on one host and its SkylakeX kernel on another, and asv then compared the two as
one machine's history (dozens of 0.2×–0.6× "changes" that no commit made). So every machine
folder's machine.json records the fingerprint of the host that measured it
(`environment.fingerprint`: CPU model and features, cores, memory, BLAS kernel, GPUs), and a run
whose fingerprint differs from the one already under its name is refused, naming the
difference and the ways out. A part one side never recorded (an older run's CPU features) is
not held against the other.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from adcompare.errors import UserError
from adcompare.store.files import CorruptFile, read_json

PARTS = ("cpu", "cpu_flags", "cores", "memory_gib", "blas", "gpus")
LABELS = {"cpu": "CPU", "cpu_flags": "CPU features", "cores": "cores", "memory_gib": "memory (GiB)",
          "blas": "BLAS kernel", "gpus": "GPUs"}


def recorded(results: Path, machine: str) -> dict[str, Any] | None:
    """The fingerprint in results/<machine>/machine.json, or None (no such machine yet, or an
    older file without one)."""
    try:
        data = read_json(Path(results) / machine / "machine.json")
    except CorruptFile:
        return None
    return data.get("fingerprint") if isinstance(data, dict) else None


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(part, old value, new value) for every part both fingerprints record and disagree on."""
    out = []
    for part in PARTS:
        a, b = old.get(part), new.get(part)
        if a is not None and b is not None and a != b:
            out.append((part, a, b))
    return out


def suffix(diffs: list[tuple[str, Any, Any]], new: dict[str, Any]) -> str:
    """A name suffix that tells this host's kind apart: its BLAS kernel, GPU, features or memory."""
    part = diffs[0][0]
    value = new.get(part)
    if part == "cpu_flags":
        value = "avx512" if "avx512f" in (value or []) else "no-avx512"
    elif part == "gpus":
        value = (value or ["no-gpu"])[0]
    elif part == "memory_gib":
        value = f"{value}gib"
    elif part == "cores":
        value = f"{value}c"
    return "-".join(re.findall(r"[a-z0-9]+", str(value).lower())[:3]) or "other"


def check(results: Path, machine: str, fingerprint: dict[str, Any]) -> None:
    """UserError (one line) when results/<machine> was measured on a host of another kind."""
    old = recorded(results, machine)
    if old is None:
        return
    diffs = differences(old, fingerprint)
    if diffs:
        said = "; ".join(f"{LABELS[p]} {a} there, {b} here" for p, a, b in diffs)
        raise UserError(f"results/{machine} was measured on another kind of host ({said}); name this one with "
                        f"--machine NAME, e.g. --machine {machine}-{suffix(diffs, fingerprint)}")


def from_sidecar(env: dict, asv_machine: dict) -> dict[str, Any]:
    """The fingerprint an older run left the parts of: CPU model and cores and the BLAS kernel
    from its environment record, memory from asv's record; CPU features were not recorded."""
    from adcompare.store.environment import blas_kernel

    ram = asv_machine.get("ram")
    memory = round(int(ram) / 2**30) if str(ram or "").isdigit() else None
    threads = env.get("threads") if isinstance(env.get("threads"), dict) else {}
    parts = {"cpu": (env.get("cpu") or {}).get("model") or asv_machine.get("cpu"), "cpu_flags": None,
             "cores": (env.get("cpu") or {}).get("cores"), "memory_gib": memory,
             "blas": blas_kernel(threads) if threads.get("blas") is not None else None,
             "gpus": [g.get("name") for g in env.get("gpus") or []]}
    return {**parts, "hash": None, "from": "an older run's environment record (no CPU features)"}


def backfill(results: Path) -> list[str]:
    """Give every machine folder whose machine.json has no fingerprint the one its newest
    environment record implies (results committed before fingerprints existed); returns the
    machines changed."""
    from adcompare.store.files import write_json

    changed = []
    for folder in sorted(p for p in Path(results).glob("*/machine.json")):
        try:
            asv_machine = read_json(folder)
            sidecars = sorted(folder.parent.glob("adcompare-env-*.json"), key=lambda p: p.stat().st_mtime)
            env = read_json(sidecars[-1]) if sidecars else None
        except CorruptFile:
            continue
        if not isinstance(asv_machine, dict) or "fingerprint" in asv_machine or not isinstance(env, dict):
            continue
        write_json(folder, machine_record(asv_machine, from_sidecar(env, asv_machine)))
        changed.append(folder.parent.name)
    return changed


def machine_record(asv_machine: dict, fingerprint: dict[str, Any]) -> dict:
    """machine.json: asv's record of the machine, and the fingerprint of the host that measured."""
    return {**asv_machine, "fingerprint": fingerprint}
