#!/usr/bin/env python
"""Sparse Jacobians against their goals (the sparse-Jacobian issue), one thread on one core:

1. colour counts within 1.2× of the lower bound (max non-zeros per row for columns, per column
   for rows) on ba and brusselator; lorenz96 and square shown beside them;
2. sparsity detection plus colouring faster than one dense Jacobian (our engine, same mode), at
   every swept size where a dense batched Jacobian fits (`Backend.why_not` lets it run);
3. ba with 10⁶ observations: the sparse forward Jacobian in ≤ 30 s on our engine and on jax-jit
   (the instance is beyond the grid's 2²⁵-element guard, which this script lifts for itself).

Times are the minimum over repeats (`--repeats`), with detection and colouring measured afresh
(no cache) after one warm-up (numba's compile). The script re-executes itself in a child with
one thread per pool, pinned to `--cpu` (default 0: the lead times on core 1), and glibc's
allocator kept warm (as scripts/bench_engine.py does: a 10⁶-observation Jacobian allocates
gigabytes, and page-faulting them afresh every call is the kernel's time, not the engine's).
Prints the tables; exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

CHILD_FLAG = "ADCOMPARE_BENCH_CHILD"
WARM_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296",
                  "MALLOC_TOP_PAD_": "268435456"}
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

COLOR_GOAL = 1.2
SECONDS_GOAL = 30.0
COLOR_PROBLEMS = ("ba", "brusselator")                  # the colour-count goal is theirs
PROBLEMS = ("square", "lorenz96", "brusselator", "ba")
EXTRA_CASES = {"lorenz96": [{"n": 4096, "steps": 1}, {"n": 4096, "steps": 2}]}


def timings(repeats: int, call, budget: float = 3.0) -> list[float]:
    """Seconds of up to `repeats` calls (fewer once they have taken `budget` seconds)."""
    times: list[float] = []
    while len(times) < repeats and sum(times) < budget:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def best_of(repeats: int, call, budget: float = 3.0) -> float:
    """The fastest of `repeats` calls (timing noise is positive)."""
    return min(timings(repeats, call, budget))


def cases(problem) -> list[dict]:
    return problem.sweep() + EXTRA_CASES.get(problem.name, [])


def fmt_seconds(s: float) -> str:
    if s != s:
        return "-"
    return f"{s * 1e6:.0f} µs" if s < 1e-3 else f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def table(header, rows) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def colour_counts(repeats: int) -> bool:
    import adcompare as ad
    from adcompare import sparse
    from adcompare.sparse import colorings
    from adcompare.problems import get_problem

    rows, ok = [], True
    for name in PROBLEMS:
        for opts in cases(get_problem(name)):
            inst = ad.instance(name, **opts)
            pattern = sparse.pattern_of(inst)
            for mode in ("fwd", "rev"):
                start = time.perf_counter()
                colors = colorings.color(pattern, mode)
                seconds = time.perf_counter() - start
                count, bound = colorings.count(colors), colorings.lower_bound(pattern, mode)
                ratio = count / bound
                goal = "" if name not in COLOR_PROBLEMS else ("ok" if ratio <= COLOR_GOAL else "MISSED")
                ok &= goal != "MISSED"
                orders = " ".join(f"{colorings.count(colorings.color(pattern, mode, o))}" for o in colorings.ORDERS)
                rows.append([inst.label(), mode, inst.n if mode == "fwd" else inst.m, pattern.nnz, count, bound,
                             f"{ratio:.2f}", orders, fmt_seconds(seconds), goal])
    print(f"\n1. Colours against the lower bound (goal ≤ {COLOR_GOAL}× on {', '.join(COLOR_PROBLEMS)})")
    print(table(["instance", "mode", "n or m", "nnz", "colours", "bound", "ratio",
                 "natural/LF/SL", "colouring", "goal"], rows))
    return ok


def detection_against_dense(repeats: int) -> bool:
    import adcompare as ad
    from adcompare import sparse
    from adcompare.sparse import colorings
    from adcompare.backends import get_backend
    from adcompare.operators import jacobian_operator
    from adcompare.problems import get_problem

    numpy = get_backend("numpy")
    rows, ok = [], True
    for name in PROBLEMS:
        for opts in get_problem(name).sweep():
            inst = ad.instance(name, **opts)
            dense_ops = {mode: jacobian_operator(mode, "batched") for mode in ("fwd", "rev")}
            if all(numpy.why_not(op, inst, "cpu", "float64") for op in dense_ops.values()):
                continue
            detect = best_of(repeats, lambda: sparse.jacobian_pattern(inst))
            pattern = sparse.jacobian_pattern(inst)
            for mode, op in dense_ops.items():
                if numpy.why_not(op, inst, "cpu", "float64"):
                    continue
                colour = best_of(repeats, lambda: colorings.color(pattern, mode))
                prepared = numpy.prepare(op, inst)
                dense = best_of(repeats, lambda: prepared.block(prepared.run()))
                faster = detect + colour < dense
                ok &= faster
                rows.append([inst.label(), mode, fmt_seconds(detect), fmt_seconds(colour),
                             fmt_seconds(detect + colour), fmt_seconds(dense), f"{(detect + colour) / dense:.2f}",
                             "ok" if faster else "MISSED"])
    print("\n2. Detection + colouring against one dense Jacobian of our engine (same mode), where one fits")
    print(table(["instance", "mode", "detection", "colouring", "sum", "dense J (engine)", "sum/dense", "goal"],
                rows))
    return ok


def ba_goal(observations: int, repeats: int, backends) -> bool:
    import adcompare as ad
    from adcompare import sparse
    from adcompare import limits
    from adcompare.backends import get_backend
    from adcompare.operators import jacobian_operator

    limits.MAX_JACOBIAN_ELEMENTS = 1 << 33        # this instance is past the grid's guard on purpose
    c, p = max(1, observations // 1000), observations // 4          # BAL-like: 4 observations a point
    inst = ad.instance("ba", c=c, p=p, o=observations)
    start = time.perf_counter()
    pattern = sparse.pattern_of(inst)
    detect = time.perf_counter() - start
    start = time.perf_counter()
    plan = sparse.plan(inst, "fwd")
    colour = time.perf_counter() - start
    print(f"\n3. {inst.label()}: m = {inst.m}, {pattern.nnz} non-zeros; detection {fmt_seconds(detect)}, "
          f"colouring {fmt_seconds(colour)}: {plan.count} colours (bound {plan.lower_bound})")
    rows, ok = [], True
    for name in backends:
        start = time.perf_counter()
        prepared = get_backend(name).prepare(jacobian_operator("fwd", "sparse"), inst)
        prepare = time.perf_counter() - start
        times = timings(repeats, lambda: prepared.block(prepared.run()), budget=float("inf"))
        met = max(times) <= SECONDS_GOAL            # every call, not only the fastest, within the goal
        ok &= met
        rows.append([name, fmt_seconds(prepare), fmt_seconds(min(times)), fmt_seconds(max(times)), len(times),
                     "ok" if met else "MISSED"])
        del prepared
    print(table(["backend", "prepare (incl. warm-up)", "sparse fwd J: fastest", "slowest", "calls",
                 f"goal ≤ {SECONDS_GOAL:.0f} s (every call)"], rows))
    return ok


def run_child(args) -> int:
    from adcompare.measure import threads as measure
    from adcompare.sparse import colorings
    from adcompare.problems import get_problem  # noqa: F401  (imports every problem)

    os.environ[measure.CPU_ENV] = str(args.cpu)
    policy = measure.pin_threads()
    colorings.kernels()
    colorings.color(__import__("adcompare").sparsity_pattern("brusselator", N=3), "fwd")   # numba, once
    print(f"one thread, cores {policy['cpu_affinity']}, allocator: {os.environ.get(CHILD_FLAG)}")
    ok = colour_counts(args.repeats)
    ok &= detection_against_dense(args.repeats)
    if args.observations:
        ok &= ba_goal(args.observations, min(args.repeats, 3), args.backends)
    print("\nall goals met" if ok else "\nsome goal MISSED (see the tables)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, default=0, help="the core to pin to (default 0)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats, the minimum is kept")
    parser.add_argument("--observations", type=int, default=1_000_000,
                        help="ba's observations for goal 3 (0 skips it; it needs ~6 GB)")
    parser.add_argument("--backends", nargs="+", default=["numpy", "jax-jit"], help="backends for goal 3")
    args = parser.parse_args()
    if os.environ.get(CHILD_FLAG):
        return run_child(args)
    threads = {var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {**os.environ, **threads, **WARM_ALLOCATOR, CHILD_FLAG: "kept warm (glibc mmap/trim thresholds raised)"}
    return subprocess.call(["taskset", "-c", str(args.cpu), sys.executable, *sys.argv], env=env)


if __name__ == "__main__":
    sys.exit(main())
