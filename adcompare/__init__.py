"""adcompare: forward- vs reverse-mode automatic differentiation, compared on the same problems
across PyTorch, JAX, HIPS autograd and a numpy reference engine.

    import adcompare as ad
    ad.vjp("poly3", [1, 2, 3], v=[3, 2, 1], backend="torch")   # array([10., 34., 42.])
"""

from adcompare.api import (  # noqa: F401
    coloring,
    hvp,
    instance,
    jacobian,
    jvp,
    prepare,
    primal,
    problem_names,
    sparsity_pattern,
    vjp,
)
from adcompare.backends import Unavailable, backend_names  # noqa: F401
from adcompare.errors import UserError  # noqa: F401
