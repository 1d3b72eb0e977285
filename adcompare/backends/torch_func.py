"""`torch.func`: PyTorch's composable transforms (vjp, jvp, jacfwd, jacrev, grad, vmap).

Every operator is written once against JAX-style transforms in `_common` and shared with jax:
batched Jacobians are `jacfwd` / `jacrev` (vmap over n tangents / m cotangents), sparse ones
vmap the c products of their compressed seeds, loops are Python loops of single `jvp` / `vjp`
products, and all three HVP modes nest the transforms.
Conversion, devices, blocking and memory counters are those of the eager `torch` backend.
"""

from __future__ import annotations

import functools

from adcompare.backends import register_backend
from adcompare.backends._common import (
    SPARSE_OPERATORS,
    TRANSFORM_OPERATORS,
    Transforms,
    eager_map_rows,
    transform_operator,
)
from adcompare.backends.namespace import problem_namespace, transform_gradient
from adcompare.backends.torch_eager import TorchBackend, _torch, array_api


@functools.cache
def transform_namespace():
    """torch's array API with Python loops and the nested gradient of torch.func's transforms."""
    func = _torch().func
    return problem_namespace(array_api(), transform_gradient(func.grad, func.jacfwd))


@register_backend
class TorchFuncBackend(TorchBackend):
    name = "torch-func"
    summary = "torch.func transforms: vjp, jvp, jacfwd, jacrev, vmap"
    order = 11
    operators = (*TRANSFORM_OPERATORS, *SPARSE_OPERATORS)

    def namespace(self):
        """torch's array API with Python loops and `xp.grad` by torch.func.grad / jacfwd."""
        return transform_namespace()

    def _run(self, operator, fun, x, d):
        torch = _torch()
        func = torch.func
        transforms = Transforms(func.vjp, func.jvp, func.jacfwd, func.jacrev, func.grad,
                                eager_map_rows(torch.stack), func.vmap)
        return functools.partial(transform_operator(operator, transforms, fun), x, d)
