"""`numpy`: adcompare's own reference engine (`adcompare.engine`) on numpy.

Forward mode by dual arrays in vector mode (`jacfwd` is one pass carrying n tangents), reverse
mode by a tape swept backwards with batched cotangents (`jacrev` is one sweep carrying m). The
sparse Jacobians are the same passes carrying the c compressed seeds. The loops are single
`jvp`s, and single pullbacks of one recording. All three HVP modes nest the engine's
transforms; the primal is plain numpy (with Python loops), the baseline every ratio is taken
against, except where f itself differentiates (`Problem.nested`): there it runs on the engine.
"""

from __future__ import annotations

import functools

import numpy as np

from adcompare.backends import register_backend
from adcompare.backends._common import (
    FrameworkBackend,
    eager_map_rows,
    identity,
    loop_jacobian,
    numpy_inputs,
    problem_function,
)
from adcompare.backends.base import Built
from adcompare.backends.namespace import numpy_namespace
from adcompare.operators import OPERATORS, get_operator

# operator name -> the engine transform that computes it in one call
_ENGINE_FUNCTION = {
    "jacobian-fwd": "jacfwd",
    "jacobian-rev": "jacrev",
    "hvp-fwd-rev": "hvp_fwd_rev",
    "hvp-rev-rev": "hvp_rev_rev",
    "hvp-rev-fwd": "hvp_rev_fwd",
}


def _engine():
    from adcompare import engine
    return engine


@register_backend
class NumpyEngineBackend(FrameworkBackend):
    name = "numpy"
    summary = "adcompare's reference AD engine on numpy (dual numbers, tape)"
    module = "numpy"
    order = 0
    operators = tuple(OPERATORS)

    def build(self, operator, inst, x, direction, device, dtype):
        engine = _engine()
        inputs = numpy_inputs(operator, inst, x, direction, dtype)
        x, d = inputs.x, inputs.direction
        name = operator.name
        if name == "primal":
            fun = problem_function(inst, numpy_namespace(inst.problem), inputs.constants)
            return Built(functools.partial(fun, x), identity, identity)

        fun = problem_function(inst, engine.xp, inputs.constants)
        if name in ("vjp", "jacobian-rev-sparse"):     # the sparse one: d holds the c seeds
            vjp = engine.vjp
            run = lambda: vjp(fun, x)[1](d)  # noqa: E731
        elif name in ("jvp", "jacobian-fwd-sparse"):
            jvp = engine.jvp
            run = lambda: jvp(fun, x, d)[1]  # noqa: E731
        elif name == "jacobian-fwd-loop":
            jvp = engine.jvp
            run = functools.partial(loop_jacobian, lambda e: jvp(fun, x, e)[1], d, eager_map_rows(np.stack), "fwd")
        elif name == "jacobian-rev-loop":
            def run():
                pullback = engine.vjp(fun, x)[1]     # one recording, m sweeps
                return loop_jacobian(pullback, d, eager_map_rows(np.stack), "rev")
        elif operator.kind == "jacobian":
            run = functools.partial(getattr(engine, _ENGINE_FUNCTION[name])(fun), x)
        else:  # hvp
            run = functools.partial(getattr(engine, _ENGINE_FUNCTION[name]), fun, x, d)
        return Built(run, identity, identity)

    def tape_bytes(self, inst, x, device, dtype):
        """The engine's own count of what one recording saved for the reverse sweep."""
        engine = _engine()
        inputs = numpy_inputs(get_operator("vjp"), inst, x, None, dtype)
        pullback = engine.vjp(problem_function(inst, engine.xp, inputs.constants), inputs.x)[1]
        return int(pullback.tape_bytes)
