"""HIPS autograd, the established numpy AD library and the peer of our engine.

Problems run on `autograd.numpy`. Reverse mode: `make_vjp`; forward mode: `make_jvp` (autograd's
forward mode, with its own JVP rules). autograd has no vmap and no vector mode, so the batched
and sparse Jacobians are unsupported; `autograd.jacobian` is itself one recording and a loop of
m VJPs, which is exactly the `jacobian-rev-loop` operator. HVPs, all three by nesting:
  rev-rev  `hessian_vector_product` (the gradient of ⟨∇f, t⟩);
  fwd-rev  `make_jvp(grad(f))`;
  rev-fwd  `grad(x ↦ make_jvp(f)(x)(t))`.
An op without a VJP/JVP rule makes that problem unsupported (with autograd's message), not a crash.
"""

from __future__ import annotations

import functools
import types

import numpy as np

from adcompare.backends import register_backend
from adcompare.backends._common import (
    FrameworkBackend,
    eager_map_rows,
    first_output,
    identity,
    loop_jacobian,
    numpy_inputs,
    problem_function,
    unsupported_for_problem,
)
from adcompare.backends.base import Built
from adcompare.backends.namespace import gradient_by_mode, problem_namespace

_NO_VMAP = "autograd has no vmap or vector mode; use the loop strategy"


@functools.cache
def array_namespace():
    """autograd.numpy, with the array-API functions autograd has no derivative rule for spelled
    through ones it has: `take(x, indices, axis)` as integer-array indexing (autograd's getitem
    rule adds the cotangent back at the indices, so repeated indices are summed), and `concat`
    as `concatenate` (numpy 2's `concat` alias is not wrapped: it would build an object array)."""
    import autograd.numpy as anp

    def take(x, indices, axis=None):
        if axis is None:
            axis = 0
        axis = axis % anp.ndim(x)
        return x[(slice(None),) * axis + (indices,)]

    return types.SimpleNamespace(**{**vars(anp), "take": take, "concat": anp.concatenate})


@functools.cache
def autograd_namespace():
    """`array_namespace` with Python loops and `xp.grad`: reverse mode `autograd.grad`, forward mode
    one `make_jvp` product per unit tangent; autograd nests both (each trace has its own id)."""
    import autograd
    from autograd.tracer import getval    # the plain array under autograd's boxes

    anp = autograd.numpy

    def forward(fun):
        make_jvp = autograd.make_jvp(fun)

        def gradient(z):
            shape = anp.shape(z)
            size = int(np.prod(shape, dtype=int))
            jvp_at = make_jvp(z)
            basis = np.eye(size, dtype=getval(z).dtype).reshape((size, *shape))
            return anp.reshape(anp.stack([jvp_at(e)[1] for e in basis]), shape)
        return gradient

    return problem_namespace(array_namespace(), gradient_by_mode({"rev": autograd.grad, "fwd": forward}))


@register_backend
class AutogradBackend(FrameworkBackend):
    name = "autograd"
    summary = "HIPS autograd: make_vjp, make_jvp, jacobian, hessian_vector_product"
    module = "autograd"
    install_hint = "pip install autograd"
    order = 30
    operators = ("primal", "vjp", "jvp", "jacobian-fwd-loop", "jacobian-rev-loop",
                 "hvp-fwd-rev", "hvp-rev-rev", "hvp-rev-fwd")
    unsupported = {"jacobian-fwd": _NO_VMAP, "jacobian-rev": _NO_VMAP,
                   "jacobian-fwd-sparse": _NO_VMAP, "jacobian-rev-sparse": _NO_VMAP}

    def build(self, operator, inst, x, direction, device, dtype):
        import autograd

        inputs = numpy_inputs(operator, inst, x, direction, dtype)
        fun = problem_function(inst, autograd_namespace(), inputs.constants)
        run = self._run(autograd, operator, fun, inputs.x, inputs.direction)
        try:
            run()     # autograd reports a missing derivative rule only when it meets the op
        except NotImplementedError as err:
            raise unsupported_for_problem(self.name, inst, err) from err
        return Built(run, identity, identity)

    def _run(self, autograd, operator, fun, x, d):
        name = operator.name
        if name == "primal":
            return functools.partial(fun, x)
        if name == "vjp":
            make_vjp = autograd.make_vjp(fun)
            return lambda: make_vjp(x)[0](d)
        if name == "jvp":
            make_jvp = autograd.make_jvp(fun)
            return lambda: make_jvp(x)(d)[1]
        if name == "jacobian-rev-loop":
            return functools.partial(autograd.jacobian(fun), x)
        if name == "jacobian-fwd-loop":
            make_jvp, map_rows = autograd.make_jvp(fun), eager_map_rows(autograd.numpy.stack)

            def jacobian_fwd_loop():
                jvp_at_x = make_jvp(x)
                return loop_jacobian(lambda e: jvp_at_x(e)[1], d, map_rows, "fwd")
            return jacobian_fwd_loop

        scalar = first_output(fun)
        if name == "hvp-rev-rev":
            return functools.partial(autograd.hessian_vector_product(scalar), x, d)
        if name == "hvp-fwd-rev":
            make_jvp = autograd.make_jvp(autograd.grad(scalar))
            return lambda: make_jvp(x)(d)[1]
        if name == "hvp-rev-fwd":
            make_jvp = autograd.make_jvp(scalar)
            return functools.partial(autograd.grad(lambda z: make_jvp(z)(d)[1]), x)
        raise AssertionError(f"no builder for {name}")   # `operators` and this table disagree
