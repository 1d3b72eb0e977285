"""JAX under `jax.jit`: the same transform-built operators as `jax`, compiled ahead of time.

`build` lowers and compiles `jit(operator)` for the exact arguments (`.lower(...).compile()`), so
`run` calls the compiled executable and can never trigger a compilation. Constant arrays are
passed as arguments, not closed over (closing over them would bake them into the program as
literals); structure such as lorenz96's `steps` stays a Python value and is unrolled. Loop
Jacobians use `jax.lax.map`, a compiled loop of single products, rather than n unrolled copies.
"""

from __future__ import annotations

import functools

import numpy as np

from adcompare.backends import register_backend
from adcompare.backends._common import Transforms, transform_operator
from adcompare.backends.base import Built
from adcompare.backends.jax_eager import JaxBackend, _jax, residual_leaves
from adcompare.operators import get_operator


@register_backend
class JaxJitBackend(JaxBackend):
    name = "jax-jit"
    summary = "JAX transforms under jax.jit, compiled in prepare"
    order = 21
    compiles = True
    costly_jacobians = False   # one XLA program per Jacobian, read from the compile cache

    def transforms(self) -> Transforms:
        jax = _jax()
        return Transforms(jax.vjp, jax.jvp, jax.jacfwd, jax.jacrev, jax.grad, jax.lax.map, jax.vmap)

    def _compiled(self, traced, *args):
        return _jax().jit(traced).lower(*args).compile()

    def build(self, operator, inst, x, direction, device, dtype):
        jax = _jax()
        x, d, c = self._arrays(operator, inst, x, direction, device, dtype)
        arrays, structure = _split_constants(c)
        transforms, f, jnp = self.transforms(), inst.problem.f, jax.numpy

        def traced(x, d, arrays):
            constants = {**structure, **arrays}
            return transform_operator(operator, transforms, lambda z: f(jnp, z, constants))(x, d)

        compiled = self._compiled(traced, x, d, arrays)
        return Built(functools.partial(compiled, x, d, arrays), jax.block_until_ready, np.asarray)

    def tape_bytes(self, inst, x, device, dtype):
        """XLA's compiled memory analysis of the jitted forward half of a VJP: the output bytes
        of `jit(x ↦ residuals of jax.vjp)`, i.e. what a compiled reverse pass must keep between
        its forward and backward sweeps, after XLA's own fusion; x and the constants left out."""
        jax = _jax()
        x, _, c = self._arrays(get_operator("vjp"), inst, x, None, device, dtype)
        arrays, structure = _split_constants(c)
        f, jnp = inst.problem.f, jax.numpy

        def residuals(x, arrays):
            constants = {**structure, **arrays}
            pullback = jax.vjp(lambda z: f(jnp, z, constants), x)[1]
            return residual_leaves(jax, pullback, x, arrays)

        analysis = self._compiled(residuals, x, arrays).memory_analysis()
        return int(analysis.output_size_in_bytes)


def _split_constants(c):
    """(arrays passed to the compiled program, Python structure baked into it)."""
    arrays = {k: v for k, v in c.items() if hasattr(v, "shape")}
    return arrays, {k: v for k, v in c.items() if k not in arrays}
