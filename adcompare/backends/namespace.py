"""The namespace a problem's f receives: the framework's array API plus two loops and the nested-AD
interface, built once per backend as a plain namespace (attribute lookups stay dictionary reads).

- `xp.fori_loop(lower, upper, body, init)` and `xp.while_loop(cond, body, init)`, jax.lax's
  signatures, the carry an array or a tuple of arrays: a recurrence written once, which eager
  backends run as Python loops (`engine.namespace`'s) and a compiler may keep a loop (jax-jit:
  lax.fori_loop, a scan when the bounds are Python ints, and lax.while_loop);
- `xp.grad(fun, mode)`: the gradient function of a scalar (0-d) `fun`, by forward mode ("fwd": the
  n unit tangents) or reverse mode ("rev"), nestable on every backend that can nest, so an
  objective that is itself a derivative (particle, saddle) is written once.
"""

from __future__ import annotations

import functools
import types
from typing import Callable, Mapping

import numpy as np

from adcompare.engine import namespace as engine_namespace
from adcompare.engine.namespace import fori_loop as python_fori_loop
from adcompare.engine.namespace import while_loop as python_while_loop
from adcompare.engine.transforms import GRAD_MODES
from adcompare.errors import choose_from


def problem_namespace(array_api, grad: Callable, fori_loop: Callable = python_fori_loop,
                      while_loop: Callable = python_while_loop) -> types.SimpleNamespace:
    """The array API module (or namespace) with the loops and `grad` added, copied into one plain
    namespace: `xp.exp` is one dictionary read, as on the module itself."""
    return types.SimpleNamespace(**{**vars(array_api), "fori_loop": fori_loop, "while_loop": while_loop,
                                    "grad": grad})


def gradient_by_mode(by_mode: Mapping[str, Callable[[Callable], Callable]]) -> Callable:
    """`grad(fun, mode)` from one builder per mode (fun ↦ its gradient function); an unknown mode
    is one line naming the choices."""
    def grad(fun, mode="rev"):
        builder = by_mode.get(mode)
        if builder is None:
            raise choose_from("xp.grad mode", mode, GRAD_MODES)
        return builder(fun)
    return grad


def transform_gradient(grad: Callable, jacfwd: Callable) -> Callable:
    """`xp.grad` from JAX-style transforms (jax, torch.func): reverse mode is `grad`, forward mode
    `jacfwd` (the n unit tangents, vmapped); both nest, each transform at a level of its own."""
    return gradient_by_mode({"rev": grad, "fwd": jacfwd})


def numpy_namespace(problem):
    """The namespace of a primal on numpy: plain numpy with Python loops; for a problem whose f
    differentiates inside itself (`Problem.nested`), our engine's (numpy underneath, and the
    derivatives inside f need tracers)."""
    return engine_namespace if problem.nested else _plain_numpy()


@functools.cache
def _plain_numpy() -> types.SimpleNamespace:
    return problem_namespace(np, grad=_no_derivatives)


def _no_derivatives(fun, mode="rev"):
    raise TypeError("xp.grad in f on plain numpy: a problem whose f differentiates inside itself declares "
                    "`nested = True`, so that its primal runs on an AD namespace")
