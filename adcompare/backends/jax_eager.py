"""JAX without jit: `jax.vjp`, `jax.jvp`, `jax.jacfwd`, `jax.jacrev`, `jax.grad`, op by op.

Every operator is written once against JAX-style transforms in `_common` (shared with
torch.func); the sparse Jacobians vmap the c products of their compressed seeds. float64 needs
`jax_enable_x64`, switched on when adcompare first imports jax, before any jax array exists. JAX dispatch is asynchronous on CPU too, so `block` is always
`jax.block_until_ready`.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np

from adcompare.backends import register_backend
from adcompare.backends._common import (
    SPARSE_OPERATORS,
    TRANSFORM_OPERATORS,
    FrameworkBackend,
    Transforms,
    convert_constants,
    eager_map_rows,
    numpy_inputs,
    problem_function,
    transform_operator,
)
from adcompare.backends.base import Built, Prepared, Unavailable
from adcompare.backends.namespace import problem_namespace, transform_gradient
from adcompare.operators import get_operator


@functools.cache
def _jax():
    """jax, imported once, with 64-bit floats enabled before any array is made."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


@register_backend
class JaxBackend(FrameworkBackend):
    name = "jax"
    summary = "JAX eager transforms: jax.vjp, jax.jvp, jacfwd, jacrev (no jit)"
    devices = ("cpu", "gpu")
    module = "jax"
    install_hint = "pip install jax"
    order = 20
    # jacfwd / jacrev without jit dispatch every batched primitive: one process of ht's, ba's or
    # ode's Jacobian by both modes took 7–12 s at the main grid's sizes.
    costly_jacobians = True
    operators = (*TRANSFORM_OPERATORS, *SPARSE_OPERATORS)

    def preload(self) -> None:
        """Import jax with 64-bit floats on. Running JAX in a fork server is not safe (it would start
        XLA's thread pools), so its first trace stays in each measurement's prepare."""
        _jax()

    def use_compile_cache(self, directory: str | None) -> None:
        """JAX's persistent compilation cache in `directory`, every compilation cached."""
        if directory is None:
            return
        settings = {"jax_compilation_cache_dir": directory, "jax_persistent_cache_min_compile_time_secs": 0.0,
                    "jax_persistent_cache_min_entry_size_bytes": 0}
        if "jax" in sys.modules:
            for name, value in settings.items():
                sys.modules["jax"].config.update(name, value)
        else:   # read by jax when it is imported
            os.environ.update({name.upper(): str(value) for name, value in settings.items()})

    def framework_device_missing(self, device):
        try:
            _jax().devices(device)
        except RuntimeError as err:
            return f"jax sees no GPU: {err}"
        return None

    def _arrays(self, operator, inst, x, direction, device, dtype):
        """(x, direction, constants) as jax arrays on the device; structure entries unchanged."""
        jax = _jax()
        dev = jax.devices(device)[0]
        inputs = numpy_inputs(operator, inst, x, direction, dtype)

        def put(a):
            return jax.device_put(a, dev)

        d = None if inputs.direction is None else put(inputs.direction)
        return put(inputs.x), d, convert_constants(inputs.constants, put)

    def namespace(self):
        """jax.numpy with Python loops (each iteration dispatched, as eager JAX runs them) and
        `xp.grad` by jax.grad / jax.jacfwd."""
        return _eager_namespace()

    def transforms(self) -> Transforms:
        jax = _jax()
        return Transforms(jax.vjp, jax.jvp, jax.jacfwd, jax.jacrev, jax.grad, eager_map_rows(jax.numpy.stack),
                          jax.vmap)

    def build(self, operator, inst, x, direction, device, dtype):
        jax = _jax()
        x, d, c = self._arrays(operator, inst, x, direction, device, dtype)
        fun = problem_function(inst, self.namespace(), c)
        run = functools.partial(transform_operator(operator, self.transforms(), fun), x, d)
        return Built(run, jax.block_until_ready, np.asarray)

    def tape_bytes(self, inst, x, device, dtype):
        """Bytes of the distinct residual arrays held by the pullback `jax.vjp` returns, the input
        x and the constants left out (they exist without AD; as the reference engine counts)."""
        jax = _jax()
        x, _, c = self._arrays(get_operator("vjp"), inst, x, None, device, dtype)
        pullback = jax.vjp(problem_function(inst, self.namespace(), c), x)[1]
        leaves = {id(a): a for a in residual_leaves(jax, pullback, x, c)}
        return int(sum(a.nbytes for a in leaves.values()))

    def peak_device_bytes(self, prepared: Prepared) -> int:
        """`memory_stats()['peak_bytes_in_use']` after one run, minus the bytes in use before it.

        JAX has no peak reset: the peak is the process's, so the number is this operator's
        only when nothing larger ran earlier in the process (prepare's warm-up is the same run).
        """
        device = _jax().devices(prepared.device)[0]
        before = device.memory_stats()
        if not before or "peak_bytes_in_use" not in before:
            raise Unavailable(f"{self.name}: {prepared.device} reports no memory statistics")
        prepared.block(prepared.run())
        return int(device.memory_stats()["peak_bytes_in_use"] - before["bytes_in_use"])


@functools.cache
def _eager_namespace():
    jax = _jax()
    return problem_namespace(jax.numpy, transform_gradient(jax.grad, jax.jacfwd))


def residual_leaves(jax, pullback, x, constants) -> list:
    """The arrays a `jax.vjp` pullback holds, minus x and the constants (by identity)."""
    given = {id(x), *(id(v) for v in constants.values())}
    return [a for a in jax.tree_util.tree_leaves(pullback) if hasattr(a, "nbytes") and id(a) not in given]
