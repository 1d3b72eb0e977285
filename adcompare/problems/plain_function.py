"""`@adcompare.function`: a plain function as a problem, the light form of `Problem` + `@register`.

    import adcompare as ad

    @ad.function(sizes=(10, 100, 1000))
    def heat_residual(xp, x, *, steps=10):
        ...                                   # a 1-D array (or a scalar: m = 1)

f(xp, x) or f(xp, x, c), written against the array namespace xp (numpy, torch, jax.numpy, ...
as each backend passes it). Keyword-only parameters with integer defaults are the problem's
options (`--opt steps=40`, `ad.vjp(..., steps=40)`). The decorator registers a real `Problem`
subclass under the function's name and returns the function unchanged. Keywords, all optional:

    name         the problem's name (default: the function's)
    sizes        the n it is measured at (default 10, 100, 1000); test_size defaults to the smallest
    output_size  m: an int, or a callable (n, **options) -> int; default: f's length, evaluated
                 with numpy at x0 once per size
    constants    (n, rng, **options) -> dict of numpy arrays, passed as c (f's third parameter)
    jacobian     closed-form J (m × n, numpy): jacobian(x, **options), or jacobian(x, c, **options)
                 when f takes c; `adcompare check` then holds every backend to it
    x0           (n, **options) -> the default input, or one vector (default linspace(0.5, 1.5, n))
    summary      one line for `adcompare list` (default: the docstring's first line)
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, ClassVar

import numpy as np

from adcompare.errors import UserError
from adcompare.problems import user_code
from adcompare.problems.registry import Problem, guard_memory, register

DEFAULT_SIZES = (10, 100, 1_000)
# The key under which a function's options travel in its constants (as lorenz96's steps do): the
# backends pass constants to f and bake Python structure into what they trace.
OPTIONS_KEY = "__options__"


class FunctionProblem(Problem):
    """A problem made from a plain function by `function` (the function's docstring is its math)."""

    function: ClassVar[Callable]
    takes_constants: ClassVar[bool] = False
    given_output_size: ClassVar[Any] = None
    make_constants: ClassVar[Callable | None] = None
    given_x0: ClassVar[Any] = None

    def __init__(self):
        self._output_sizes: dict[tuple, int] = {}

    def f(self, xp, x, c):
        if self.takes_constants:
            y = self.function(xp, x, c, **c[OPTIONS_KEY])
        else:
            y = self.function(xp, x, **c[OPTIONS_KEY])
        return xp.reshape(y, (1,)) if getattr(y, "ndim", 1) == 0 else y

    def constants(self, n, rng, **opts):
        made = {} if self.make_constants is None else dict(self.make_constants(n, rng, **opts))
        return {**made, OPTIONS_KEY: dict(opts)}

    def default_x(self, n, **opts):
        if self.given_x0 is None:
            return super().default_x(n, **opts)
        x0 = self.given_x0(n, **opts) if callable(self.given_x0) else self.given_x0
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.shape != (n,):
            raise UserError(f"x0 has shape {x0.shape}; n = {n} needs shape ({n},)")
        return x0

    def output_size(self, n, **opts):
        given = self.given_output_size
        m = given(n, **opts) if callable(given) else given
        if m is None:
            return self._evaluated_output_size(n, opts)
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise user_code.labelled(self, UserError(f"output_size must be a positive integer, got {m!r} for n = {n}"))
        return int(m)

    def _evaluated_output_size(self, n: int, opts: dict) -> int:
        """f's length at x0(n), by numpy: once per size and options, after the memory guard."""
        key = (n, tuple(sorted(opts.items())))
        if key not in self._output_sizes:
            try:
                guard_memory(self.name, n, None, 0)
            except UserError as err:
                raise user_code.labelled(self, err) from None
            constants = self.constants(n, np.random.default_rng(0), **opts)
            y = user_code.evaluate(self, self.default_x(n, **opts), constants, n)
            user_code.check_output(self, y, n, None)
            self._output_sizes[key] = int(y.shape[0])
        return self._output_sizes[key]


def _closed_form(jacobian: Callable, takes_constants: bool) -> Callable:
    def closed_form(self, x, c, /, **opts):
        return np.asarray(jacobian(x, c, **opts) if takes_constants else jacobian(x, **opts), dtype=np.float64)
    return closed_form


def _options(fn: Callable, complain) -> tuple[dict[str, int], bool]:
    """(options from the keyword-only parameters, whether f takes c) from f's signature."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise complain("its signature cannot be read; write it as def f(xp, x, *, option=1)") from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) not in (2, 3) or any(p.default is not p.empty for p in positional):
        raise complain("f takes (xp, x) or (xp, x, c) positionally, then keyword-only integer options")
    options = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise complain(f"f may not take *{p.name} or **{p.name}; name each option as a keyword-only parameter")
        if p.kind == p.KEYWORD_ONLY:
            if isinstance(p.default, bool) or not isinstance(p.default, int) or p.default < 1:
                raise complain(f"option {p.name!r} needs a positive integer default (options are integers; other "
                               "values belong in constants)")
            options[p.name] = p.default
    return options, len(positional) == 3


def _sizes(sizes, complain) -> tuple[int, ...]:
    try:
        values = tuple(sizes)
    except TypeError:
        values = ()
    if not values or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in values):
        raise complain(f"sizes must be positive integers, got {sizes!r}")
    return tuple(sorted(int(s) for s in values))


def function(fn: Callable | None = None, *, name: str | None = None, sizes=DEFAULT_SIZES, output_size=None,
             constants: Callable | None = None, jacobian: Callable | None = None, x0=None,
             test_size: int | None = None, summary: str | None = None):
    """Register `fn` as a problem (see the module docstring); `@function` and `@function(...)` both
    work, and the function is returned unchanged."""
    if fn is None:
        return functools.partial(function, name=name, sizes=sizes, output_size=output_size, constants=constants,
                                 jacobian=jacobian, x0=x0, test_size=test_size, summary=summary)
    problem_name = fn.__name__ if name is None else name
    code = getattr(fn, "__code__", None)
    where = f"{user_code.shown(code.co_filename)}, line {code.co_firstlineno}: " if code else ""

    def complain(text: str) -> UserError:
        return UserError(f"{where}@adcompare.function {problem_name}: {text}")

    options, takes_constants = _options(fn, complain)
    swept = _sizes(sizes, complain)
    for label, value in (("output_size", output_size), ("constants", constants), ("jacobian", jacobian)):
        if value is not None and not callable(value) and not (label == "output_size" and isinstance(value, int)):
            raise complain(f"{label} must be {'an int or ' if label == 'output_size' else ''}a callable, got {value!r}")
    body = {
        "__module__": fn.__module__, "__qualname__": problem_name, "__doc__": fn.__doc__,
        "name": problem_name, "sweep_sizes": swept, "options": options,
        "test_size": swept[0] if test_size is None else test_size,
        "summary": summary or ((fn.__doc__ or "").strip().splitlines() or [f"user function {problem_name}"])[0],
        "function": staticmethod(fn), "takes_constants": takes_constants, "given_output_size": output_size,
        "make_constants": None if constants is None else staticmethod(constants), "given_x0": x0,
    }
    for key, value in (("given_x0", x0), ("given_output_size", output_size)):
        if callable(value):
            body[key] = staticmethod(value)
    if jacobian is not None:
        body["jacobian"] = _closed_form(jacobian, takes_constants)
    register(type(problem_name, (FunctionProblem,), body))
    return fn
