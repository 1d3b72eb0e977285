"""Checkpointing's memory in each framework: the measured peak of lorenz96's VJP, plain and with
its loop checkpointed, on torch (`torch.utils.checkpoint` around each step), jax-jit
(`jax.checkpoint` of lax.fori_loop's body) and our engine (binomial, `engine.checkpoint`).

torch and JAX checkpoint every step: the backward pass keeps each step's input (steps states)
and recomputes each step once, so the tape of `steps` RK4 steps becomes `steps` n-vectors plus
one step's tape. Our engine's revolve keeps `snaps` states and recomputes more. The problem's
f is used as written: only the namespace's `fori_loop` is swapped. Gradients are checked
against the plain VJP; peaks are `adcompare.measure.memory`'s (repeated, median [min, max]).

    PYTHONPATH=. python scripts/framework_checkpoint_memory.py [--n 20000] [--steps 40]
"""

from __future__ import annotations

import argparse
import statistics
import types

import numpy as np

from adcompare.measure.threads import pin_threads

pin_threads()

from adcompare import engine  # noqa: E402
from adcompare.engine.checkpoint import checkpointed_vjp  # noqa: E402
from adcompare.ids import Case  # noqa: E402
from adcompare.measure import memory  # noqa: E402

MB = 1 / 2**20


def with_loop(namespace, fori_loop) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{**vars(namespace), "fori_loop": fori_loop})


def torch_calls(inst, x0, v):
    """(plain, checkpointed): each returns x̄ as numpy."""
    import torch
    from torch.utils.checkpoint import checkpoint

    from adcompare.backends.torch_eager import _eager_namespace

    plain_ns = _eager_namespace()

    def checkpointed_loop(lower, upper, body, val):
        for i in range(lower, upper):
            val = checkpoint(body, i, val, use_reentrant=False)
        return val

    ckpt_ns = with_loop(plain_ns, checkpointed_loop)
    x, vt = torch.tensor(x0), torch.tensor(v)

    def vjp(ns):
        def call():
            xr = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(inst.problem.f(ns, xr, inst.constants), xr, vt)
            return g.numpy()
        return call
    return vjp(plain_ns), vjp(ckpt_ns)


def jax_calls(inst, x0, v):
    import jax

    jax.config.update("jax_enable_x64", True)
    from adcompare.backends.jax_jit import _compiled_namespace

    plain_ns = _compiled_namespace()
    ckpt_ns = with_loop(plain_ns, lambda lo, hi, body, val: jax.lax.fori_loop(lo, hi, jax.checkpoint(body), val))
    x, vj = jax.numpy.asarray(x0), jax.numpy.asarray(v)

    def vjp(ns):
        f = jax.jit(lambda x, v: jax.vjp(lambda u: inst.problem.f(ns, u, inst.constants), x)[1](v)[0])
        return lambda: np.asarray(f(x, vj).block_until_ready())
    return vjp(plain_ns), vjp(ckpt_ns)


def engine_calls(inst, x0, v, snaps):
    fun = lambda u: inst.problem.f(engine.xp, u, inst.constants)   # noqa: E731
    one_step = {**inst.constants, "steps": 1}
    step = lambda i, u: inst.problem.f(engine.xp, u, one_step)   # noqa: E731
    steps = inst.options["steps"]
    return (lambda: engine.vjp(fun, x0)[1](v)), (lambda: checkpointed_vjp(step, x0, v, steps, snaps)[1])


def report(name: str, plain, checkpointed, repeats: int) -> None:
    reference = plain()
    err = np.abs(checkpointed() - reference).max() / np.abs(reference).max()
    cells = []
    for call in (plain, checkpointed):
        peaks = memory.repeated_peaks(call, repeats)
        cells.append(f"{statistics.median(peaks) * MB:8.2f} [{min(peaks) * MB:.2f}, {max(peaks) * MB:.2f}]")
    print(f"{name:28} {cells[0]:>26} {cells[1]:>26} {err:10.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--snaps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    inst = Case.parse(f"lorenz96:{args.n}:steps={args.steps}").instance()
    x0 = np.asarray(inst.x0, dtype=np.float64)
    v = np.random.default_rng(0).standard_normal(inst.m)
    print(f"lorenz96 n={args.n}, steps={args.steps}, float64: peak MB median [min, max] of one VJP")
    print(f"{'':28} {'plain':>26} {'checkpointed':>26} {'rel. diff':>10}")
    report(f"numpy (engine, {args.snaps} snaps)", *engine_calls(inst, x0, v, args.snaps), args.repeats)
    report("torch (every step)", *torch_calls(inst, x0, v), args.repeats)
    report("jax-jit (every step)", *jax_calls(inst, x0, v), args.repeats)


if __name__ == "__main__":
    main()
