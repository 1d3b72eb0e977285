"""adcompare: forward- vs reverse-mode automatic differentiation, compared on the same problems
across PyTorch, JAX, HIPS autograd and a numpy reference engine."""

from adcompare.problems import problem_names  # noqa: F401
