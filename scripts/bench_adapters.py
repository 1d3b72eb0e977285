"""Adapter overhead: a backend's prepared `run` vs the same framework call written by hand.

For each backend, the VJP of `square` (y = x², vᵀJ = 2 x v) at n = 1 and n = 10⁵, timed as
`block(run())`, single thread. Adapter and hand-written calls alternate in short batches (order
flipped every round) so that drift and other load hit both alike; the statistics are medians
over rounds of the per-call times and of the paired (adjacent-batch) differences and ratios.
Goals: at n = 10⁵ the adapter costs ≤ 5 % more; at n = 1 (pure overhead) ≤ 2 µs more.
Prints a table; exits 1 if a goal is missed.

    python scripts/bench_adapters.py [--rounds 41] [--backend torch ...]
"""

from __future__ import annotations

import os

# One thread for every framework, fixed before any of them is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from adcompare.backends import Unavailable, get_backend  # noqa: E402
from adcompare.operators import get_operator  # noqa: E402
from adcompare.problems import instance  # noqa: E402

SIZES = (1, 100_000)
RATIO_GOAL = 1.05        # at n = 10⁵
OVERHEAD_GOAL = 2e-6     # seconds, at n = 1


def hand_written(backend: str, x: np.ndarray, v: np.ndarray):
    """The raw VJP of x ↦ x² as a user would write it in that framework: a zero-argument call."""
    if backend in ("torch", "torch-func"):
        import torch

        torch.set_num_threads(1)
        xt, vt = torch.as_tensor(x), torch.as_tensor(v)
        if backend == "torch":
            def raw():
                leaf = xt.detach().requires_grad_()
                (leaf * leaf).backward(vt)
                return leaf.grad
            return raw
        vjp = torch.func.vjp
        return lambda: vjp(lambda z: z * z, xt)[1](vt)[0]
    if backend in ("jax", "jax-jit"):
        import jax

        jax.config.update("jax_enable_x64", True)
        xj, vj = jax.numpy.asarray(x), jax.numpy.asarray(v)
        if backend == "jax":
            return lambda: jax.vjp(lambda z: z * z, xj)[1](vj)[0]
        jitted = jax.jit(lambda x, v: jax.vjp(lambda z: z * z, x)[1](v)[0])
        jax.block_until_ready(jitted(xj, vj))
        return lambda: jitted(xj, vj)
    raise KeyError(backend)


def batch_seconds(call, block, count: int) -> float:
    """Mean seconds per block(call()) over `count` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(count):
        block(call())
    return (time.perf_counter() - start) / count


def compare(backend: str, n: int, rounds: int) -> dict[str, float]:
    """Medians over alternating batches: adapter and hand-written s/call, their paired
    difference (s) and ratio."""
    inst = instance("square", n)
    v = np.ones(n)
    prepared = get_backend(backend).prepare(get_operator("vjp"), inst, inst.x0, v)
    raw = hand_written(backend, inst.x0, v)
    block = prepared.block
    np.testing.assert_allclose(prepared.to_numpy(block(raw())), prepared(), rtol=1e-15)
    once = batch_seconds(raw, block, 3)
    count = max(3, min(2000, int(0.005 / max(once, 1e-7))))     # batches of ~5 ms
    adapter, hand = [], []
    for i in range(rounds):
        pair = [(prepared.run, adapter), (raw, hand)]
        for call, out in (pair if i % 2 == 0 else pair[::-1]):
            out.append(batch_seconds(call, block, count))
    return {
        "adapter": statistics.median(adapter),
        "hand": statistics.median(hand),
        "extra": statistics.median(a - h for a, h in zip(adapter, hand)),
        "ratio": statistics.median(a / h for a, h in zip(adapter, hand)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=101)
    parser.add_argument("--backend", action="append", choices=["torch", "torch-func", "jax", "jax-jit"])
    args = parser.parse_args(argv)
    backends = args.backend or ["torch", "torch-func", "jax", "jax-jit"]
    print(f"VJP of square, 1 thread, medians over {args.rounds} rounds of alternating batches")
    print(f"{'backend':<11} {'n':>7} {'adapter':>11} {'by hand':>11} {'extra':>10} {'ratio':>7}  goal")
    print(f"{'':<11} {'':>7} {'':>11} {'':>11} {'(paired)':>10} {'(paired)':>7}")
    missed = 0
    for backend in backends:
        for n in SIZES:
            try:
                stats = compare(backend, n, args.rounds)
            except Unavailable as err:
                print(f"{backend:<11} {n:>7}  skipped: {err}")
                continue
            adapter, hand, extra, ratio = stats["adapter"], stats["hand"], stats["extra"], stats["ratio"]
            ok = extra <= OVERHEAD_GOAL if n == 1 else ratio <= RATIO_GOAL
            goal = f"extra ≤ {OVERHEAD_GOAL * 1e6:.0f} µs" if n == 1 else f"ratio ≤ {RATIO_GOAL}"
            missed += not ok
            print(f"{backend:<11} {n:>7} {adapter * 1e6:>9.2f}µs {hand * 1e6:>9.2f}µs {extra * 1e6:>8.2f}µs "
                  f"{ratio:>7.3f}  {goal}: {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
