"""The problem registry: the single list of problems that tests, benchmarks, CLI and report all read.

A problem is a family of vector functions f: Rⁿ → Rᵐ⁽ⁿ⁾ written once against an array namespace `xp`.
Each problem module defines one `Problem` subclass and decorates it with `@register`; the package
imports every module in `adcompare/problems/`, so adding a problem is adding one file.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from adcompare.errors import UserError, choose_from

_REGISTRY: dict[str, "Problem"] = {}


class Problem:
    """A family of vector functions of scaling size n.

    Subclasses set the class attributes and implement `f`, `output_size`, and optionally
    `constants`, `default_x`, `jacobian` and `check_size`.
    """

    name: ClassVar[str]
    summary: ClassVar[str]                      # one line, shown by `adcompare list`
    sweep_sizes: ClassVar[tuple[int, ...]]      # the n the benchmarks sweep by default
    test_size: ClassVar[int]                    # a small n for correctness tests
    # Extra integer parameters and their defaults; a default of None is derived from n by
    # `option_default` (e.g. "m defaults to n").
    options: ClassVar[Mapping[str, int | None]] = {}
    # Central-difference step and relative tolerance for the finite-difference oracle (float64).
    fd_step: ClassVar[float] = 1e-6
    fd_rtol: ClassVar[float] = 1e-6

    # --- to implement -------------------------------------------------------------------------
    def f(self, xp, x, c: Mapping[str, Any]):
        """The function, on a 1-D array x of length n; returns a 1-D array of length m."""
        raise NotImplementedError

    def output_size(self, n: int, **opts: int) -> int:
        raise NotImplementedError

    def constants(self, n: int, rng: np.random.Generator, **opts: int) -> dict[str, np.ndarray]:
        """Fixed (never differentiated) arrays, made deterministically from the seed and n."""
        return {}

    def default_x(self, n: int, **opts: int) -> np.ndarray:
        """A default input x0(n): deterministic, away from any kink or singularity."""
        return np.linspace(0.5, 1.5, n)

    def jacobian(self, x: np.ndarray, c: Mapping[str, np.ndarray], **opts: int) -> np.ndarray | None:
        """Closed-form Jacobian (m, n) in numpy, or None where there is none."""
        return None

    def check_size(self, n: int, **opts: int) -> None:
        """Raise UserError if n (or an option) is outside what the problem allows."""

    def option_default(self, key: str, n: int) -> int:
        """The value of an option whose declared default is None."""
        return n

    # --- provided -----------------------------------------------------------------------------
    @property
    def has_closed_form(self) -> bool:
        return type(self).jacobian is not Problem.jacobian

    @property
    def description(self) -> str:
        """The math, from the class docstring."""
        return (type(self).__doc__ or "").strip()

    def resolve_options(self, n: int, **opts: int) -> dict[str, int]:
        """Every option of the instance of size n: the given ones checked, the rest defaulted
        (None defaults derived from n). Case ids and instances both spell options this way."""
        unknown = set(opts) - set(self.options)
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise UserError(f"{self.name}: unknown option {sorted(unknown)[0]!r}; options: {allowed}")
        merged = {**self.options, **{k: v for k, v in opts.items() if v is not None}}
        for key, value in merged.items():
            if value is None:
                merged[key] = self.option_default(key, n)
            elif isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise UserError(f"{self.name}: option {key} must be an integer, got {value!r}")
            else:
                merged[key] = int(value)
        for key, value in merged.items():
            if value < 1:
                raise UserError(f"{self.name}: option {key} must be at least 1, got {value}")
        return merged

    def instance(self, n: int | None = None, seed: int = 0, **opts: int) -> "Instance":
        """Fix the size (and options): the object every backend prepares from."""
        if n is None:
            n = self.test_size
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise UserError(f"{self.name}: n must be an integer, got {n!r}")
        n = int(n)
        if n < 1:
            raise UserError(f"{self.name}: n must be at least 1, got {n}")
        merged = self.resolve_options(n, **opts)
        self.check_size(n, **merged)
        rng = np.random.default_rng([seed, n, *merged.values()])
        consts = self.constants(n, rng, **merged)
        return Instance(self, n, self.output_size(n, **merged), merged, consts, self.default_x(n, **merged))


@dataclasses.dataclass(frozen=True)
class Instance:
    """One member of a problem family: size, options, constants and default input, all numpy."""

    problem: Problem
    n: int
    m: int
    options: Mapping[str, int]
    constants: Mapping[str, np.ndarray]
    x0: np.ndarray

    @property
    def name(self) -> str:
        return self.problem.name

    def f(self, xp, x, c=None):
        """Evaluate with namespace xp; c defaults to the numpy constants."""
        return self.problem.f(xp, x, self.constants if c is None else c)

    def closed_form_jacobian(self, x: np.ndarray) -> np.ndarray | None:
        return self.problem.jacobian(np.asarray(x, dtype=np.float64), self.constants, **self.options)

    def check_input(self, x, what: str = "x", length: int | None = None) -> np.ndarray:
        """A user-given vector as float64 numpy, of the expected length, or a clear UserError."""
        expected = self.n if length is None else length
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 1 or arr.shape[0] != expected:
            raise UserError(
                f"{self.name}: {what} must be a vector of shape ({expected},), got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise UserError(f"{self.name}: {what} contains non-finite values")
        return arr

    def label(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in self.options.items())
        return f"{self.name}(n={self.n}{opts})"


def register(cls: type[Problem]) -> type[Problem]:
    """Class decorator: add one problem to the registry under `cls.name`."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"problem {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def problem_names() -> list[str]:
    return sorted(_REGISTRY)


def get_problem(name: str) -> Problem:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise choose_from("problem", name, problem_names()) from None


def all_problems() -> list[Problem]:
    return [_REGISTRY[k] for k in problem_names()]


def instance(name: str, n: int | None = None, **opts: int) -> Instance:
    return get_problem(name).instance(n, **opts)


