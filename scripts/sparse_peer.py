#!/usr/bin/env python
"""asdex as a peer: its sparsity pattern, colour counts and sparse Jacobian time beside ours.

asdex (PyPI `asdex`; it needs jax ≥ 0.9 and numba) detects the global Jacobian pattern from a
JAX function's jaxpr, colours it greedily and computes the compressed JVPs (VJPs) under jax.jit.
We run the same problem functions (written once on `xp`) through both, on square, lorenz96,
brusselator and ba, and print one row per instance:

- pattern: whether asdex's equals ours, and the non-zeros;
- colours, forward and reverse: ours (`adcompare.sparse.colorings`, "best"), asdex's, the lower bound;
- seconds (best of --repeats, one thread, pinned to --cpu): detection and colouring, each tool's
  own; the forward sparse Jacobian on our engine and on jax-jit (compressed products, then
  decompressed into a scipy CSR matrix), and asdex's `jacobian_from_coloring` under jax.jit
  (a BCOO matrix on the device: it skips the CSR conversion ours pays).

asdex is not a dependency of adcompare; where it is not installed the script says so and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

INSTANCES = {
    "quick": [("square", {"n": 1000}), ("lorenz96", {"n": 512, "steps": 1}), ("brusselator", {"N": 32}),
              ("ba", {"c": 8, "p": 128, "o": 512})],
    "full": [("square", {"n": 100_000}), ("lorenz96", {"n": 4096, "steps": 1}), ("lorenz96", {"n": 4096, "steps": 2}),
             ("brusselator", {"N": 32}), ("brusselator", {"N": 128}), ("ba", {"c": 16, "p": 1024, "o": 4096}),
             ("ba", {"c": 49, "p": 7776, "o": 31843})],
}


def best_of(repeats: int, call) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def fmt(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def compare(name: str, opts: dict, repeats: int) -> list:
    import asdex
    import jax
    import jax.numpy as jnp
    import numpy as np
    import scipy.sparse as sp

    import adcompare as ad
    from adcompare import sparse
    from adcompare.sparse import colorings
    from adcompare.backends import get_backend
    from adcompare.operators import jacobian_operator

    inst = ad.instance(name, **opts)
    constants = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in inst.constants.items()}
    x = jnp.asarray(inst.x0)

    def f(z):
        return inst.f(jnp, z, constants)

    ours = sparse.jacobian_pattern(inst)
    detect_ours = best_of(repeats, lambda: sparse.jacobian_pattern(inst))
    theirs = asdex.jacobian_sparsity(f, x)
    detect_theirs = best_of(repeats, lambda: asdex.jacobian_sparsity(f, x))
    theirs_csr = sp.csr_matrix((np.ones(len(theirs.rows), dtype=bool), (theirs.rows, theirs.cols)),
                                      shape=theirs.shape)
    same = theirs_csr.shape == ours.shape and (theirs_csr != ours).nnz == 0

    counts = {}
    for mode in ("fwd", "rev"):
        colors = colorings.color(ours, mode)
        colored = asdex.jacobian_coloring_from_sparsity(theirs, mode=mode)
        counts[mode] = (colorings.count(colors), colored.num_colors, colorings.lower_bound(ours, mode))
    colour_ours = best_of(repeats, lambda: colorings.color(ours, "fwd"))
    colour_theirs = best_of(repeats, lambda: asdex.jacobian_coloring_from_sparsity(theirs, mode="fwd"))

    seconds = {}
    for backend in ("numpy", "jax-jit"):
        prepared = get_backend(backend).prepare(jacobian_operator("fwd", "sparse"), inst)
        seconds[backend] = best_of(repeats, lambda: prepared.block(prepared.run()))
    jac = jax.jit(asdex.jacobian_from_coloring(f, asdex.jacobian_coloring_from_sparsity(theirs, mode="fwd")))
    jax.block_until_ready(jac(x))
    seconds["asdex"] = best_of(repeats, lambda: jax.block_until_ready(jac(x)))
    fwd, rev = counts["fwd"], counts["rev"]
    return [inst.label(), "equal" if same else "DIFFERENT", f"{ours.nnz}/{len(theirs.rows)}",
            f"{fwd[0]}/{fwd[1]} (≥{fwd[2]})", f"{rev[0]}/{rev[1]} (≥{rev[2]})",
            f"{fmt(detect_ours)}/{fmt(detect_theirs)}", f"{fmt(colour_ours)}/{fmt(colour_theirs)}",
            fmt(seconds["numpy"]), fmt(seconds["jax-jit"]), fmt(seconds["asdex"])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", choices=sorted(INSTANCES), default="quick")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=0, help="the core to pin to (default 0)")
    args = parser.parse_args()
    if importlib.util.find_spec("asdex") is None:
        print("asdex is not installed, so there is nothing to compare: pip install asdex "
              "(it needs jax >= 0.9 and numba; use a separate venv if that would change your jax)")
        return 2
    from adcompare.measure import threads as measure

    os.environ[measure.CPU_ENV] = str(args.cpu)
    measure.pin_threads()                  # before jax starts: its thread flags are read then

    header = ["instance", "pattern", "nnz ours/asdex", "fwd colours ours/asdex", "rev colours ours/asdex",
              "detection ours/asdex", "colouring ours/asdex", "J fwd engine", "J fwd jax-jit", "J fwd asdex"]
    rows = [compare(name, opts, args.repeats) for name, opts in INSTANCES[args.sizes]]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(f"asdex {importlib.metadata.version('asdex')}; one thread, core {args.cpu}; best of {args.repeats}")
    for row in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 0 if all(r[1] == "equal" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
