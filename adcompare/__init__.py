"""adcompare: forward- vs reverse-mode automatic differentiation, compared on the same problems
across PyTorch, JAX, HIPS autograd and a numpy reference engine.

    import adcompare as ad
    ad.vjp("poly3", [1, 2, 3], v=[3, 2, 1], backend="torch")   # array([10., 34., 42.])

Your own function is a problem like the built-in ones (README, "Your own function"):

    @ad.function(sizes=(10, 100, 1000))
    def heat_residual(xp, x, *, steps=10): ...

or a `Problem` subclass decorated with `@ad.register`; `ad.load_problems("f.py")` imports a file
of them, as `--problems f.py` and $ADCOMPARE_PROBLEMS do for the command line.
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
from adcompare.run.advise import advise  # noqa: F401
from adcompare.errors import UserError  # noqa: F401
from adcompare.problems import Problem, function, load_problems, register  # noqa: F401
