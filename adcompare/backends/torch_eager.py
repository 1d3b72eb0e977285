"""PyTorch eager autograd, as most users write it.

VJP: `y.backward(v)` on a fresh leaf. JVP: `torch.autograd.forward_ad` (make_dual / unpack_dual).
Batched Jacobians: `torch.autograd.functional.jacobian(vectorize=True)` with strategy
"forward-mode" (n tangents through vmap) or "reverse-mode" (m cotangents through vmap).
Sparse Jacobians, c compressed seeds S: reverse `autograd.grad(y, x, S, is_grads_batched=True)`
(c cotangents through vmap); forward `functional.jacobian(z ↦ f(x + Sᵀz), 0, vectorize=True,
strategy="forward-mode")`, which is J Sᵀ (forward AD's make_dual has no batching rule for
torch.vmap; functional.jacobian batches the c unit tangents of z with its own vmap).
Loops: one forward and m `autograd.grad(retain_graph=True)` sweeps; or n forward-AD passes.
HVPs, f scalar, H t:
  rev-rev  ∇⟨∇f(x), t⟩ by double backward (create_graph=True);
  fwd-rev  the tangent of ∇f when the backward runs on a dual input (forward AD over backward);
  rev-fwd  the gradient of the forward-AD tangent f'(x)t (backward over forward AD).
All three agree with torch.func to rounding (tests/test_backends.py checks it).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any, Callable

from adcompare.backends import register_backend
from adcompare.backends._common import (
    FrameworkBackend,
    convert_constants,
    eager_map_rows,
    first_output,
    identity,
    loop_jacobian,
    numpy_inputs,
    problem_function,
)
from adcompare.backends.base import Built, Prepared, Unavailable
from adcompare.backends.namespace import gradient_by_mode, problem_namespace
from adcompare.operators import OPERATORS, get_operator

TORCH_DEVICES = {"cpu": "cpu", "cuda": "cuda"}


def _torch():
    import torch
    return torch


@register_backend
class TorchBackend(FrameworkBackend):
    name = "torch"
    summary = "PyTorch eager autograd: y.backward(v), torch.autograd.forward_ad"
    devices = tuple(TORCH_DEVICES)
    module = "torch"
    install_hint = "pip install torch==2.13.0"
    order = 10
    operators = tuple(OPERATORS)
    # torch.func pulls in dynamo and sympy; forward AD scripts its decompositions.
    lazy_modules = ("torch.func", "torch._dynamo", "torch._decomp.decompositions_for_jvp",
                    "torch.autograd.functional")

    def preload(self) -> None:
        super().preload()
        try:
            _torch().set_num_interop_threads(1)   # settable only before torch's first inter-op work
        except RuntimeError:
            pass

    def limit_threads(self, threads: int) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def thread_report(self) -> dict[str, Any]:
        """torch's pools, where this process has loaded torch (a run without a torch backend never does)."""
        torch = sys.modules.get("torch")
        if torch is None:
            return {}
        return {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads()}

    def framework_device_missing(self, device):
        if not _torch().cuda.is_available():
            return "torch.cuda.is_available() is False (CPU-only build or no usable GPU)"
        return None

    def namespace(self):
        """torch's array API (array_api_compat) with Python loops and `xp.grad` by eager autograd:
        reverse mode `autograd.grad` (create_graph where an outer derivative reads it), forward
        mode forward_ad's dual numbers, one per unit tangent (`eager_gradient`)."""
        return _eager_namespace()

    # --- shared by torch and torch-func ------------------------------------------------------
    def _tensors(self, operator, inst, x, direction, device, dtype):
        """(fun, x, direction, constants) as tensors on the device, converted once here."""
        torch = _torch()
        xp = self.namespace()

        dev = torch.device(TORCH_DEVICES[device])
        inputs = numpy_inputs(operator, inst, x, direction, dtype)

        def tensor(a):   # a copy: the instance's arrays are read-only, torch tensors are not
            return torch.tensor(a, device=dev)

        constants = convert_constants(inputs.constants, tensor)
        d = None if inputs.direction is None else tensor(inputs.direction)
        return problem_function(inst, xp, constants), tensor(inputs.x), d, constants

    def _block(self, device) -> Callable[[Any], Any]:
        if device == "cuda":
            synchronize = _torch().cuda.synchronize

            def block(result):
                synchronize()
                return result
            return block
        return identity

    def build(self, operator, inst, x, direction, device, dtype):
        fun, x, d, _ = self._tensors(operator, inst, x, direction, device, dtype)
        run = self._run(operator, fun, x, d)
        return Built(run, self._block(device), _to_numpy)

    def tape_bytes(self, inst, x, device, dtype):
        """Bytes of the distinct storages autograd saves for backward during one forward, counted
        by `saved_tensors_hooks`; the input x and the constants exist without AD and are left
        out (as the reference engine does). torch.func.vjp records the same graph."""
        torch = _torch()
        fun, x, _, constants = self._tensors(get_operator("primal"), inst, x, None, device, dtype)
        leaf = x.detach().requires_grad_()
        return saved_bytes(lambda: fun(leaf), (leaf, *constants.values()))

    def peak_device_bytes(self, prepared: Prepared) -> int:
        """CUDA `max_memory_allocated` over one run, minus what was allocated before it."""
        if prepared.device != "cuda":
            raise Unavailable(f"{self.name}: peak device memory is measured on cuda only")
        cuda = _torch().cuda
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
        baseline = cuda.memory_allocated()
        result = prepared.run()
        cuda.synchronize()
        peak = cuda.max_memory_allocated() - baseline
        del result
        return int(peak)

    # --- eager autograd ----------------------------------------------------------------------
    def _run(self, operator, fun, x, d) -> Callable[[], Any]:
        torch = _torch()
        fwad = torch.autograd.forward_ad
        grad = torch.autograd.grad
        dual_level, make_dual, unpack_dual = fwad.dual_level, fwad.make_dual, fwad.unpack_dual
        name = operator.name

        if name == "primal":
            return functools.partial(fun, x)

        if name == "vjp":
            def vjp(x=x, v=d, fun=fun):
                leaf = x.detach().requires_grad_()
                fun(leaf).backward(v)
                return leaf.grad
            return vjp

        if name == "jvp":
            def jvp(x=x, t=d, fun=fun):
                with dual_level():
                    return unpack_dual(fun(make_dual(x, t))).tangent
            return jvp

        if name in ("jacobian-fwd", "jacobian-rev"):
            strategy = "forward-mode" if operator.mode == "fwd" else "reverse-mode"
            return functools.partial(torch.autograd.functional.jacobian, fun, x,
                                     vectorize=True, strategy=strategy)

        if name == "jacobian-fwd-sparse":
            seeds_t, origin = d.T.contiguous(), torch.zeros(d.shape[0], dtype=x.dtype, device=x.device)

            def at_x(z):
                return fun(x + seeds_t @ z)

            def compressed_fwd():
                return torch.autograd.functional.jacobian(at_x, origin, vectorize=True, strategy="forward-mode").T
            return compressed_fwd

        if name == "jacobian-rev-sparse":
            def compressed_rev(x=x, seeds=d):
                leaf = x.detach().requires_grad_()
                return grad(fun(leaf), leaf, seeds, is_grads_batched=True)[0]
            return compressed_rev

        map_rows = eager_map_rows(torch.stack)
        if name == "jacobian-fwd-loop":
            def tangent(e):
                with dual_level():
                    return unpack_dual(fun(make_dual(x, e))).tangent
            return functools.partial(loop_jacobian, tangent, d, map_rows, "fwd")

        if name == "jacobian-rev-loop":
            def jacobian_rev_loop():
                leaf = x.detach().requires_grad_()
                y = fun(leaf)        # one recording, m sweeps over it
                return loop_jacobian(lambda e: grad(y, leaf, e, retain_graph=True)[0], d, map_rows, "rev")
            return jacobian_rev_loop

        scalar = first_output(fun)
        if name == "hvp-rev-rev":
            def hvp_rev_rev(x=x, t=d):
                leaf = x.detach().requires_grad_()
                g = grad(scalar(leaf), leaf, create_graph=True)[0]
                return grad(g, leaf, t)[0]
            return hvp_rev_rev

        if name == "hvp-fwd-rev":
            def hvp_fwd_rev(x=x, t=d):
                with dual_level():
                    leaf = x.detach().requires_grad_()
                    g = grad(scalar(make_dual(leaf, t)), leaf)[0]   # backward on dual numbers
                    return unpack_dual(g).tangent
            return hvp_fwd_rev

        if name == "hvp-rev-fwd":
            def hvp_rev_fwd(x=x, t=d):
                leaf = x.detach().requires_grad_()
                with dual_level():
                    directional = unpack_dual(scalar(make_dual(leaf, t))).tangent
                return grad(directional, leaf)[0]
            return hvp_rev_fwd

        raise Unavailable(self.unsupported_reason(operator))


@functools.cache
def array_api():
    """The array-API spelling of torch (array_api_compat.torch), resolved once."""
    import array_api_compat.torch as xp
    return xp


@functools.cache
def _eager_namespace():
    return problem_namespace(array_api(), eager_gradient(_torch()))


# forward_ad's error on entering a dual level inside another (torch 2.13 has one level).
NESTED_DUAL_LEVEL = "Nested forward mode AD is not supported"


def eager_gradient(torch) -> Callable:
    """`xp.grad` in eager autograd, nested as a user nests it.
    rev: autograd.grad of fun(z + 0ₗ) with respect to a fresh zero leaf 0ₗ (z may be an outer
         derivative's dual or recorded tensor; the shift keeps both), create_graph=True where an
         outer reverse derivative reads the gradient: inside another `xp.grad` in reverse mode,
         or where z itself is recorded (an outer vjp);
    fwd: one forward_ad dual number per unit tangent. forward_ad has a single dual level, so a
         forward-mode gradient inside another forward-mode derivative is Unavailable."""
    grad, fwad = torch.autograd.grad, torch.autograd.forward_ad
    reverse_depth = [0]      # `xp.grad(..., "rev")` evaluations under way: their backward reads ours

    def reverse(fun):
        def gradient(z):
            leaf = torch.zeros_like(z, requires_grad=True)
            recorded = z.requires_grad
            reverse_depth[0] += 1
            try:
                y = fun(z + leaf)
            finally:
                reverse_depth[0] -= 1
            return grad(y, leaf, create_graph=recorded or reverse_depth[0] > 0, materialize_grads=True)[0]
        return gradient

    def forward(fun):
        def gradient(z):
            basis = torch.eye(z.numel(), dtype=z.dtype, device=z.device).reshape((-1, *z.shape))
            with contextlib.ExitStack() as level:
                try:
                    level.enter_context(fwad.dual_level())
                except RuntimeError as err:
                    if NESTED_DUAL_LEVEL not in str(err):
                        raise
                    raise Unavailable("torch's forward AD has one dual level (torch.autograd.forward_ad): a "
                                      "forward-mode gradient cannot nest inside another forward-mode derivative") from err
                tangents = [fwad.unpack_dual(fun(fwad.make_dual(z, e))).tangent for e in basis]
            zero = torch.zeros((), dtype=z.dtype, device=z.device)
            return torch.stack([zero if t is None else t for t in tangents]).reshape(z.shape)
        return gradient

    return gradient_by_mode({"rev": reverse, "fwd": forward})


def _to_numpy(result):
    return result.detach().cpu().numpy()


def saved_bytes(forward, existing) -> int:
    """Bytes of the distinct storages autograd saves for backward while `forward()` runs; the
    tensors in `existing` (input, constants: there without AD) are left out."""
    torch = _torch()
    not_tape = {t.untyped_storage().data_ptr() for t in existing if torch.is_tensor(t)}
    storages: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in not_tape:
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, identity):
        forward()
    return sum(storages.values())
