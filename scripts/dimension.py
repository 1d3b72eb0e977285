"""Dimensioning experiment: how the timing noise of this machine splits between rounds and processes.

Kalibera & Jones (ISMM 2013): repeat most at the level whose variance costs least to average
away. For a handful of combinations this runs P fresh worker processes one after another; each
times its arms (operator A, operator B, A again for an A/A control, and the fixed reference
kernel) in R randomized interleaved rounds (`adcompare.measure.rounds`), blocks of `--block-ms`. On the
log scale, for ln t_A, ln(t_A/t_B), ln(t_A/t_A') and ln(t_A/t_ref):

    σ_w²  the variance between rounds of one process (pooled over processes);
    σ_b²  the variance between process means beyond σ_w²/R (what more rounds cannot remove).

The standard error of a P-process × R-round estimate is √((σ_b² + σ_w²/R)/P); `adcompare.design`
sizes the suite from these numbers. Prints a table and writes the raw data as JSON.

    python scripts/dimension.py [--processes 8] [--rounds 30] [--block-ms 5] [--out dimension.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

# Each spec: a target, and two arms (case, operator) whose ratio is a headline figure.
SPECS = [
    {"label": "engine vjp/primal square:100000", "target": "numpy:cpu", "a": ["square:100000", "vjp"],
     "b": ["square:100000", "primal"]},
    {"label": "torch jvp/vjp mlp:100", "target": "torch:cpu", "a": ["mlp:100", "jvp"], "b": ["mlp:100", "vjp"]},
    {"label": "jax-jit fwd/rev affine:16:m=1024", "target": "jax-jit:cpu",
     "a": ["affine:16:m=1024", "jacobian-fwd"], "b": ["affine:16:m=1024", "jacobian-rev"]},
    {"label": "jax vjp/primal lorenz96:128:steps=2", "target": "jax:cpu", "a": ["lorenz96:128:steps=2", "vjp"],
     "b": ["lorenz96:128:steps=2", "primal"]},
    {"label": "torch-func vjp/primal softmax:100", "target": "torch-func:cpu", "a": ["softmax:100", "vjp"],
     "b": ["softmax:100", "primal"]},
    {"label": "autograd vjp/primal rosenbrock:1000", "target": "autograd:cpu", "a": ["rosenbrock:1000", "vjp"],
     "b": ["rosenbrock:1000", "primal"]},
    {"label": "engine fwd-loop/rev-loop mlp:64:m=256", "target": "numpy:cpu",
     "a": ["mlp:64:m=256", "jacobian-fwd-loop"], "b": ["mlp:64:m=256", "jacobian-rev-loop"]},
    {"label": "torch vjp/primal square:10", "target": "torch:cpu", "a": ["square:10", "vjp"],
     "b": ["square:10", "primal"]},
]


def worker(spec: dict, rounds: int, block_seconds: float) -> dict:
    from adcompare.measure import prepared as operators, reference, threads
    from adcompare.measure.frameworks import use_compile_cache
    from adcompare.measure.rounds import Arm, interleaved_rounds

    start = time.perf_counter()
    threads.pin_threads()
    use_compile_cache()
    prepared = {k: operators.prepared(spec["target"], "float64", *spec[k]) for k in ("a", "b")}
    prepare_seconds = time.perf_counter() - start

    def call(p):
        run, block = p.run, p.block
        return lambda: block(run())

    if spec.get("blocks"):   # the same arms at several block lengths, interleaved in one process
        arms = [Arm(f"{k}@{ms:g}", fn, ms / 1000) for ms in spec["blocks"]
                for k, fn in (("a", call(prepared["a"])), ("b", call(prepared["b"])), ("ref", reference.kernel))]
    else:
        arms = [Arm("a", call(prepared["a"])), Arm("a2", call(prepared["a"])), Arm("b", call(prepared["b"])),
                Arm("ref", reference.kernel)]
    result = interleaved_rounds(arms, block_seconds=block_seconds, min_rounds=rounds, max_rounds=rounds)
    return {"seconds": result.seconds, "calls": result.calls, "warmup": result.warmup_seconds,
            "prepare_seconds": prepare_seconds, "wall_seconds": time.perf_counter() - start}


def components(per_process: list[list[float]]) -> dict:
    """σ_w, σ_b and the process means' spread of one log-scale quantity (P lists of R values)."""
    means = [statistics.fmean(v) for v in per_process]
    medians = [statistics.median(v) for v in per_process]
    rounds = statistics.fmean(len(v) for v in per_process)
    within = statistics.fmean(statistics.variance(v) for v in per_process)
    between_means = statistics.variance(means)
    between = max(0.0, between_means - within / rounds)
    return {"sigma_w": math.sqrt(within), "sigma_b": math.sqrt(between),
            "sd_process_means": math.sqrt(between_means), "sd_process_medians": statistics.stdev(medians),
            "estimate": math.exp(statistics.fmean(medians))}


def analyse(runs: list[dict]) -> dict:
    def series(f):
        return [[f(r["seconds"], i) for i in range(len(r["seconds"]["a"]))] for r in runs]

    out = {
        "ln t_A": components(series(lambda s, i: math.log(s["a"][i]))),
        "ln t_A/t_B": components(series(lambda s, i: math.log(s["a"][i] / s["b"][i]))),
        "ln t_A/t_A' (A/A)": components(series(lambda s, i: math.log(s["a"][i] / s["a2"][i]))),
        "ln t_A/t_ref": components(series(lambda s, i: math.log(s["a"][i] / s["ref"][i]))),
        "ln t_ref": components(series(lambda s, i: math.log(s["ref"][i]))),
    }
    out["cost"] = {"prepare_seconds": statistics.median(r["prepare_seconds"] for r in runs),
                   "wall_seconds": statistics.median(r["wall_seconds"] for r in runs)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block-ms", type=float, default=5.0)
    parser.add_argument("--only", help="run only specs whose label contains this text")
    parser.add_argument("--blocks", help="compare block lengths (ms, comma-separated) in one process")
    parser.add_argument("--out", default="dimension.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        json.dump(worker(json.loads(args.worker), args.rounds, args.block_ms / 1000), sys.stdout)
        return 0
    from adcompare.backends.base import COMPILE_CACHE_ENV
    from adcompare.measure.threads import thread_env

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(thread_env())
    env.setdefault(COMPILE_CACHE_ENV, os.path.abspath(".asv/dimension-compile-cache"))
    report = {"processes": args.processes, "rounds": args.rounds, "block_ms": args.block_ms, "specs": {}}
    for spec in SPECS:
        if args.only and args.only not in spec["label"]:
            continue
        if args.blocks:
            spec = {**spec, "blocks": [float(b) for b in args.blocks.split(",")]}
        runs = []
        for _ in range(args.processes):
            proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec), "--rounds",
                                   str(args.rounds), "--block-ms", str(args.block_ms)],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            runs.append(json.loads(proc.stdout))
        if spec.get("blocks"):
            report["specs"][spec["label"]] = {"spec": spec, "runs": runs}
            print(f"\n{spec['label']}: sd across processes of the min-based estimates, by block length")
            for ms in spec["blocks"]:
                def sd(f):
                    return 100 * statistics.stdev(f(r["seconds"]) for r in runs)
                a, b, ref = (f"{k}@{ms:g}" for k in ("a", "b", "ref"))
                print(f"  {ms:5g} ms  ln t_A {sd(lambda s: math.log(min(s[a]))):5.2f} %  "
                      f"ln t_A/t_B {sd(lambda s: math.log(min(s[a]) / min(s[b]))):5.2f} %  "
                      f"ln t_ref {sd(lambda s: math.log(min(s[ref]))):5.2f} %")
            continue
        stats = analyse(runs)
        report["specs"][spec["label"]] = {"spec": spec, "stats": stats, "runs": runs}
        print(f"\n{spec['label']}  (prepare {stats['cost']['prepare_seconds']:.2f} s, "
              f"worker {stats['cost']['wall_seconds']:.2f} s)")
        for key, c in stats.items():
            if key != "cost":
                print(f"  {key:22s} σ_w {100 * c['sigma_w']:6.2f} %  σ_b {100 * c['sigma_b']:6.2f} %  "
                      f"sd(process medians) {100 * c['sd_process_medians']:6.2f} %  est {c['estimate']:.4g}")
        sys.stdout.flush()
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
