"""JAX under `jax.jit`: the same transform-built operators as `jax`, compiled ahead of time.

`build` lowers and compiles `jit(operator)` for the exact arguments (`.lower(...).compile()`), so
`run` calls the compiled executable and can never trigger a compilation. Constant arrays are
passed as arguments, not closed over (closing over them would bake them into the program as
literals); structure such as lorenz96's `steps` stays a Python value. A problem's loops stay
loops (`namespace`: lax.fori_loop, lax.while_loop), so compile time does not grow with the depth
(`compiles_loops`); reverse mode through a while loop is Unavailable (JAX has no derivative for
it). Loop Jacobians use `jax.lax.map`, a compiled loop of single products, rather than n unrolled
copies.
"""

from __future__ import annotations

import functools

import numpy as np

from adcompare.backends import register_backend
from adcompare.backends._common import Transforms, transform_operator
from adcompare.backends.base import Built, Unavailable
from adcompare.backends.namespace import problem_namespace, transform_gradient
from adcompare.backends.jax_eager import JaxBackend, _jax, residual_leaves
from adcompare.operators import get_operator

# The start of JAX's error for reverse mode through lax.while_loop (a fori_loop with traced bounds
# is one too).
WHILE_LOOP_REVERSE = "Reverse-mode differentiation does not work for lax.while_loop"


@register_backend
class JaxJitBackend(JaxBackend):
    name = "jax-jit"
    summary = "JAX transforms under jax.jit, compiled in prepare"
    order = 21
    compiles = True
    compiles_loops = True
    costly_jacobians = False   # one XLA program per Jacobian, read from the compile cache

    def transforms(self) -> Transforms:
        jax = _jax()
        return Transforms(jax.vjp, jax.jvp, jax.jacfwd, jax.jacrev, jax.grad, jax.lax.map, jax.vmap)

    def namespace(self):
        """jax.numpy with the loops JAX compiles as loops (`lax.fori_loop`, a scan when its bounds
        are Python ints, so reverse mode works through it; `lax.while_loop`, which has no
        reverse-mode derivative) and `xp.grad` by jax.grad / jax.jacfwd."""
        return _compiled_namespace()

    def _compiled(self, traced, *args):
        return _jax().jit(traced).lower(*args).compile()

    def build(self, operator, inst, x, direction, device, dtype):
        jax = _jax()
        x, d, c = self._arrays(operator, inst, x, direction, device, dtype)
        arrays, structure = _split_constants(c)
        transforms, f, xp = self.transforms(), inst.problem.f, self.namespace()

        def traced(x, d, arrays):
            constants = {**structure, **arrays}
            return transform_operator(operator, transforms, lambda z: f(xp, z, constants))(x, d)

        try:
            compiled = self._compiled(traced, x, d, arrays)
        except ValueError as err:
            if WHILE_LOOP_REVERSE not in str(err):
                raise
            raise Unavailable(f"{self.name} cannot take {operator.name} of {inst.label()}: reverse mode runs through "
                              "a while loop, and lax.while_loop has no reverse-mode derivative (its trip count is "
                              "known only when it runs)") from err
        return Built(functools.partial(compiled, x, d, arrays), jax.block_until_ready, np.asarray)

    def tape_bytes(self, inst, x, device, dtype):
        """XLA's compiled memory analysis of the jitted forward half of a VJP: the output bytes
        of `jit(x ↦ residuals of jax.vjp)`, i.e. what a compiled reverse pass must keep between
        its forward and backward sweeps, after XLA's own fusion; x and the constants left out."""
        jax = _jax()
        x, _, c = self._arrays(get_operator("vjp"), inst, x, None, device, dtype)
        arrays, structure = _split_constants(c)
        f, xp = inst.problem.f, self.namespace()

        def residuals(x, arrays):
            constants = {**structure, **arrays}
            pullback = jax.vjp(lambda z: f(xp, z, constants), x)[1]
            return residual_leaves(jax, pullback, x, arrays)

        analysis = self._compiled(residuals, x, arrays).memory_analysis()
        return int(analysis.output_size_in_bytes)


@functools.cache
def _compiled_namespace():
    jax = _jax()
    return problem_namespace(jax.numpy, transform_gradient(jax.grad, jax.jacfwd), jax.lax.fori_loop,
                             jax.lax.while_loop)


def _split_constants(c):
    """(arrays passed to the compiled program, Python structure baked into it)."""
    arrays = {k: v for k, v in c.items() if hasattr(v, "shape")}
    return arrays, {k: v for k, v in c.items() if k not in arrays}
