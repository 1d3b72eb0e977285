"""What the framework adapters share: availability checks, input casting, loop Jacobians, and the
operators written once against JAX-style function transforms (jax, jax-jit and torch.func).

Nothing here imports a framework at module import; the adapters pass their framework's functions in.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
from typing import Any, Callable, ClassVar, Collection, Mapping

import numpy as np

from adcompare.backends.base import Backend, Unavailable
from adcompare.operators import Operator
from adcompare.problems import Instance


class FrameworkBackend(Backend):
    """A backend over one importable framework.

    `operators` names what it implements; every other operator is unsupported, with the reason
    from `unsupported` where one is known.
    """

    module: ClassVar[str]                              # import name of the framework
    operators: ClassVar[Collection[str]] = ()          # operator names it implements
    unsupported: ClassVar[Mapping[str, str]] = {}      # operator name -> why not
    # Modules the framework loads lazily on its first AD call: imported by `preload`, so that
    # ~0.5–3 s of imports do not land in the first `prepare` of every measurement process.
    lazy_modules: ClassVar[tuple[str, ...]] = ()

    def missing_reason(self) -> str | None:
        # find_spec answers without importing the framework (torch/jax take ~1 s to import).
        if importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed; install it with: {self.install_hint}"
        return None

    def preload(self) -> None:
        """Import the framework and its lazily loaded modules (fork-safe: no device, no thread)."""
        importlib.import_module(self.module)
        for name in self.lazy_modules:
            try:
                importlib.import_module(name)
            except ImportError:   # another framework version: its first call pays instead
                pass

    def device_missing_reason(self, device: str) -> str | None:
        """CPU always exists; a GPU needs the driver's device node, then the framework's word."""
        if device == "cpu":
            return None
        return nvidia_gpu_missing() or self.framework_device_missing(device)

    def framework_device_missing(self, device: str) -> str | None:
        """Why the framework cannot use `device` although an NVIDIA driver is present, or None."""
        return None

    def unsupported_reason(self, operator: Operator) -> str | None:
        if operator.name in self.operators:
            return None
        return self.unsupported.get(operator.name, f"{self.name} does not implement {operator.name}")


def nvidia_gpu_missing() -> str | None:
    """A reason when this machine plainly has no NVIDIA GPU (no driver device node), else None.

    Lets `adcompare list` and skipped GPU combinations answer without importing torch or jax;
    where the node exists, the framework itself is asked.
    """
    if not os.path.exists("/dev/nvidiactl"):
        return "no NVIDIA GPU on this machine (/dev/nvidiactl is missing)"
    return None


@dataclasses.dataclass(frozen=True)
class NumpyInputs:
    """x, the direction and the constants as numpy arrays of the requested dtype.

    `direction` is the user's v or t, or for a loop Jacobian the identity whose rows are the
    n tangents (forward) or m cotangents (reverse), or for a sparse Jacobian the c compressed
    seeds of the instance's plan (`sparse.plan`); None for operators that take none.
    """

    x: np.ndarray
    direction: np.ndarray | None
    constants: Mapping[str, Any]


def numpy_inputs(operator: Operator, inst: Instance, x: np.ndarray, direction: np.ndarray | None,
                 dtype: str) -> NumpyInputs:
    cast = np.dtype(dtype)
    if operator.kind == "jacobian" and operator.strategy == "loop":
        direction = np.eye(inst.n if operator.mode == "fwd" else inst.m)
    elif operator.kind == "jacobian" and operator.strategy == "sparse":
        from adcompare import sparse
        direction = sparse.plan(inst, operator.mode).seeds
    return NumpyInputs(
        np.asarray(x, dtype=cast),
        None if direction is None else np.asarray(direction, dtype=cast),
        convert_constants(inst.constants, lambda a: np.asarray(a, dtype=cast) if is_real(a) else a),
    )


def is_real(a: np.ndarray) -> bool:
    """Floating-point data, cast to the run's dtype; integer arrays (indices) keep their type."""
    return np.issubdtype(a.dtype, np.floating)


def convert_constants(constants: Mapping[str, Any], convert: Callable[[np.ndarray], Any]) -> dict[str, Any]:
    """Arrays through `convert`; structure (like lorenz96's `steps` int) passes unchanged."""
    return {k: convert(v) if isinstance(v, np.ndarray) else v for k, v in constants.items()}


def problem_function(inst: Instance, xp, constants: Mapping[str, Any]) -> Callable:
    """x ↦ f(x) for the instance, with namespace and converted constants bound once.

    A plain closure, not a functools.partial: jax.vjp inspects the signature of the function it
    is given on every call, which costs ~20 µs more for a partial.
    """
    f = inst.problem.f

    def fun(x):
        return f(xp, x, constants)
    return fun


def loop_jacobian(product: Callable[[Any], Any], basis, map_rows: Callable, mode: str):
    """J from single products over the rows of `basis` (the identity):
    reverse rows eᵢᵀJ stack as J, forward columns J eⱼ stack as Jᵀ and are transposed."""
    rows = map_rows(product, basis)
    return rows if mode == "rev" else rows.T


def eager_map_rows(stack: Callable) -> Callable:
    """A Python loop over the rows of a basis, results stacked (the 'loop' strategy)."""
    def map_rows(product, basis):
        return stack([product(e) for e in basis])
    return map_rows


def identity(result):
    return result


def first_output(fun: Callable) -> Callable:
    """The scalar f(x)[0] of a scalar-output problem (m = 1), as grad transforms require."""
    return lambda z: fun(z)[0]


def unsupported_for_problem(backend: str, inst: Instance, err: Exception) -> Unavailable:
    return Unavailable(f"{backend} cannot differentiate {inst.label()}: {err}")


@dataclasses.dataclass(frozen=True)
class Transforms:
    """JAX-style transforms, spelled identically by jax and torch.func:
    vjp(f, x) -> (y, pullback) with pullback(v) -> (x̄,); jvp(f, (x,), (t,)) -> (y, ẏ);
    jacfwd(f)(x), jacrev(f)(x), grad(f)(x); map_rows(product, basis) -> stacked products;
    vmap(g)(batch) -> g over the leading axis, vectorised (the sparse Jacobians need it)."""

    vjp: Callable
    jvp: Callable
    jacfwd: Callable
    jacrev: Callable
    grad: Callable
    map_rows: Callable
    vmap: Callable | None = None


def _primal(T, fun):
    return lambda x, d: fun(x)


def _vjp(T, fun):
    vjp = T.vjp
    return lambda x, v: vjp(fun, x)[1](v)[0]


def _jvp(T, fun):
    jvp = T.jvp
    return lambda x, t: jvp(fun, (x,), (t,))[1]


def _jacobian_fwd(T, fun):
    jac = T.jacfwd(fun)
    return lambda x, d: jac(x)


def _jacobian_rev(T, fun):
    jac = T.jacrev(fun)
    return lambda x, d: jac(x)


def _jacobian_fwd_loop(T, fun):
    jvp, map_rows = T.jvp, T.map_rows
    return lambda x, basis: loop_jacobian(lambda e: jvp(fun, (x,), (e,))[1], basis, map_rows, "fwd")


def _jacobian_rev_loop(T, fun):
    vjp, map_rows = T.vjp, T.map_rows

    def jacobian(x, basis):
        pullback = vjp(fun, x)[1]          # one recording, m sweeps
        return loop_jacobian(lambda e: pullback(e)[0], basis, map_rows, "rev")
    return jacobian


def _jacobian_fwd_sparse(T, fun):
    """The c JVPs J s_k of the seed rows, vmapped: (c, m)."""
    jvp, vmap = T.jvp, T.vmap
    return lambda x, seeds: vmap(lambda s: jvp(fun, (x,), (s,))[1])(seeds)


def _jacobian_rev_sparse(T, fun):
    """One recording, the c VJPs s_kᵀJ of the seed rows vmapped over its pullback: (c, n)."""
    vjp, vmap = T.vjp, T.vmap

    def compressed(x, seeds):
        pullback = vjp(fun, x)[1]
        return vmap(lambda s: pullback(s)[0])(seeds)
    return compressed


def _hvp_fwd_rev(T, fun):
    gradient, jvp = T.grad(first_output(fun)), T.jvp
    return lambda x, t: jvp(gradient, (x,), (t,))[1]


def _hvp_rev_rev(T, fun):
    gradient, grad = T.grad(first_output(fun)), T.grad
    return lambda x, t: grad(lambda z: (gradient(z) * t).sum())(x)


def _hvp_rev_fwd(T, fun):
    scalar, grad, jvp = first_output(fun), T.grad, T.jvp
    return lambda x, t: grad(lambda z: jvp(scalar, (z,), (t,))[1])(x)


TRANSFORM_OPERATORS: dict[str, Callable[[Transforms, Callable], Callable]] = {
    "primal": _primal,
    "vjp": _vjp,
    "jvp": _jvp,
    "jacobian-fwd": _jacobian_fwd,
    "jacobian-rev": _jacobian_rev,
    "jacobian-fwd-loop": _jacobian_fwd_loop,
    "jacobian-rev-loop": _jacobian_rev_loop,
    "hvp-fwd-rev": _hvp_fwd_rev,
    "hvp-rev-rev": _hvp_rev_rev,
    "hvp-rev-fwd": _hvp_rev_fwd,
}


# The compressed products of the sparse Jacobians (their decompression is `Backend.prepare`'s);
# they need `Transforms.vmap`.
SPARSE_OPERATORS: dict[str, Callable[[Transforms, Callable], Callable]] = {
    "jacobian-fwd-sparse": _jacobian_fwd_sparse,
    "jacobian-rev-sparse": _jacobian_rev_sparse,
}


def transform_operator(operator: Operator, T: Transforms, fun: Callable) -> Callable:
    """g(x, d) computing `operator` for f = fun with the transforms T (d: v, t, basis, seeds or
    None)."""
    if operator.name in SPARSE_OPERATORS:
        return SPARSE_OPERATORS[operator.name](T, fun)
    return TRANSFORM_OPERATORS[operator.name](T, fun)

