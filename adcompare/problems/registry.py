"""The problem registry: the single list of problems that tests, benchmarks, CLI and report all read.

A problem is a family of vector functions f: Rⁿ → Rᵐ⁽ⁿ⁾ written once against an array namespace `xp`.
Each problem module defines one `Problem` subclass and decorates it with `@register`; the package
imports every module in `adcompare/problems/`, so adding a problem is adding one file. A user's
problems register the same way from their own files (`problems.loading`, `problems.user_code`).
"""

from __future__ import annotations

import dataclasses
import os
import types
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from adcompare import footprint, limits
from adcompare.datafile import regular_file
from adcompare.errors import UserError, choose_from
from adcompare.problems import user_code

_REGISTRY: dict[str, "Problem"] = {}
# Called before every lookup: `problems.loading` registers users' problems named by
# $ADCOMPARE_PROBLEMS and entry points there, so every process sees the same problems.
BEFORE_LOOKUP: list[Callable[[], None]] = []


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
    options: ClassVar[Mapping[str, "int | None | Choice"]] = {}
    # Central-difference step and relative tolerance for the finite-difference oracle (float64).
    fd_step: ClassVar[float] = 1e-6
    fd_rtol: ClassVar[float] = 1e-6
    # The option that sets the depth of the computation (time steps, sequence length): reverse
    # mode's recording grows with it, and compilers unroll it (benchmarks sweep and cap it).
    depth_option: ClassVar[str | None] = None
    # For the field's reference workloads (ADBench, GradBench): the derivative operators their
    # suites time, e.g. ("vjp",) for a gradient or ("jacobian-fwd", "jacobian-rev") for a Jacobian.
    field_derivatives: ClassVar[tuple[str, ...]] = ()
    # A Jacobian whose non-zeros are few and structured (stencils, blocks): the sparse-Jacobian
    # family times its detection, colouring and sparse Jacobians against dense ones.
    sparse_jacobian: ClassVar[bool] = False
    # f differentiates inside itself (`xp.grad`: an objective that is a derivative), so its primal
    # needs an AD namespace even where plain arrays would do (our engine's, not plain numpy).
    nested: ClassVar[bool] = False
    # Where a user's problem came from, set by `register`: its file path (or the module name it
    # was loaded by) and the sha256 of that file; None for adcompare's own problems.
    source: ClassVar[str | None] = None
    source_hash: ClassVar[str | None] = None

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

    def jacobian(self, x: np.ndarray, c: Mapping[str, np.ndarray], /, **opts: int) -> np.ndarray | None:
        """Closed-form Jacobian (m, n) in numpy, or None where there is none. x and c are
        positional-only, so an option may be named c (ba's cameras, lstm's sequence length)."""
        return None

    def check_size(self, n: int, **opts: int) -> None:
        """Raise UserError if n (or an option) is outside what the problem allows."""

    def option_default(self, key: str, n: int) -> int:
        """The value of an option whose declared default is None."""
        return n

    def input_size(self, **opts: int) -> int | None:
        """n for a family whose input size follows from its options (gmm: k(1 + d + d(d+1)/2)),
        None for a family whose n is free. Such a family sweeps options, not n (`sweep`)."""
        return None

    def sweep(self) -> list[dict[str, int]]:
        """The instances the benchmarks sweep, as `instance` keywords, smallest first: n over
        `sweep_sizes` by default; a family sized by its options overrides this with options."""
        return [{"n": n} for n in self.sweep_sizes]

    def main_instance(self) -> dict[str, int]:
        """The instance the ≤ 10-minute main grid times (as `instance` keywords): by default the
        middle of the sweep; a workload names the size the field's suites report."""
        cases = self.sweep()
        return cases[len(cases) // 2]

    def working_elements(self, n: int, **opts: int) -> int:
        """Elements of the largest array the function builds (one direction's worth): a batched
        Jacobian carries this many per direction, so it bounds what vmap / vector mode hold."""
        return max(n, self.output_size(n, **opts))

    def evaluation(self, n: int, **opts: int) -> footprint.Evaluation:
        """What one evaluation of f builds: (arrays, elements in all). Reverse mode records them,
        so a tape grows with both; the memory estimate (`adcompare.footprint`) reads them before
        anything is built. The default suits a function of a few dozen array operations, none
        larger than `working_elements`; a family with a `depth_option` counts per step."""
        return footprint.Evaluation.default(self.working_elements(n, **opts))

    def constant_elements(self, n: int, **opts: int) -> int:
        """Array elements of the instance's constants (their memory, before any is made); the
        default suits a family without large constants."""
        return 0

    def read_data(self, path: Path) -> "DataFile":
        """An instance read from a data file (ADBench's formats), or UserError."""
        raise UserError(f"{self.name} reads no data files")

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
        (None defaults derived from n; a `Choice` defaults to its first value). Case ids and
        instances both spell options this way."""
        unknown = set(opts) - set(self.options)
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise UserError(f"{self.name}: unknown option {sorted(unknown)[0]!r}; options: {allowed}")
        merged = {**self.options, **{k: v for k, v in opts.items() if v is not None}}
        for key, value in merged.items():
            declared = self.options[key]
            if isinstance(declared, Choice):
                merged[key] = declared.check(self.name, key, value)
            elif value is None:
                merged[key] = self.option_default(key, n)
            elif isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise UserError(f"{self.name}: option {key} must be an integer, got {value!r}")
            else:
                merged[key] = int(value)
        for key, value in merged.items():
            if not isinstance(value, str) and value < 1:
                raise UserError(f"{self.name}: option {key} must be at least 1, got {value}")
        return merged

    def resolve(self, n: int | None = None, **opts: int) -> tuple[int, dict[str, int]]:
        """(n, every option) of an instance, checked: n as given (default the test size), or for
        a family sized by its options derived from them (a given n must agree)."""
        if n is not None:
            n = _positive_int(self.name, "n", n)
        merged = self.resolve_options(1 if n is None else n, **opts)
        derived = self.input_size(**merged)
        if derived is not None:
            if n is not None and n != derived:
                shown = ", ".join(f"{k}={v}" for k, v in merged.items())
                raise UserError(f"{self.name}: n is fixed by the options ({shown}: n = {derived}); got n = {n}")
            n = derived
        elif n is None:
            n = self.test_size
            merged = self.resolve_options(n, **opts)
        self.check_size(n, **merged)
        return n, merged

    def instance(self, n: int | None = None, seed: int = 0, data: str | os.PathLike | None = None,
                 **opts: int) -> "Instance":
        """Fix the size (and options), or read them from a data file: the object every backend
        prepares from. Its arrays are read-only, so no caller can change later results. A user's
        problem is checked on its first instance of each size (`user_code.checked_instance`)."""
        if self.source is not None:
            return user_code.checked_instance(self, lambda: self._instance(n, seed, data, opts))
        return self._instance(n, seed, data, opts)

    def _instance(self, n: int | None, seed: int, data, opts: Mapping[str, int]) -> "Instance":
        if data is not None:
            return self._instance_from_data(Path(data), n, opts)
        n, merged = self.resolve(n, **opts)
        guard_memory(self.name, n, self.output_size(n, **merged), self.constant_elements(n, **merged),
                     problem=self, options=merged)
        rng = np.random.default_rng([seed, n, *(v for v in merged.values() if not isinstance(v, str))])
        consts = self.constants(n, rng, **merged)
        return Instance(self, n, self.output_size(n, **merged), merged, consts, self.default_x(n, **merged))

    def _instance_from_data(self, path: Path, n: int | None, opts: Mapping[str, int]) -> "Instance":
        if opts:
            raise UserError(f"{self.name}: options come from the data file {path}; got {sorted(opts)}")
        try:
            regular_file(path, "data file")
        except UserError as err:
            raise UserError(f"{self.name}: {err}") from None
        loaded = self.read_data(path)
        size = int(np.size(loaded.x))
        if n is not None and _positive_int(self.name, "n", n) != size:
            raise UserError(f"{self.name}: {path} holds n = {size} parameters; got n = {n}")
        options = self.resolve_options(size, **loaded.options)
        self.check_size(size, **options)
        return Instance(self, size, self.output_size(size, **options), options, loaded.constants,
                        np.asarray(loaded.x, dtype=np.float64), source=str(path))


@dataclasses.dataclass(frozen=True)
class Choice:
    """A string option with fixed values (declared in `Problem.options`), the first the default;
    spelled in case ids as key=value (`particle:1:modes=fr`)."""

    values: tuple[str, ...]

    def __str__(self) -> str:
        return "|".join(self.values)

    @property
    def default(self) -> str:
        return self.values[0]

    def check(self, problem: str, key: str, value) -> str:
        """The value itself (the default for the declaration), or UserError naming the choices."""
        if value is self:
            return self.default
        if not isinstance(value, str) or value not in self.values:
            raise UserError(f"{problem}: option {key} must be one of {', '.join(self.values)}, got {value!r}")
        return value


@dataclasses.dataclass(frozen=True)
class DataFile:
    """What a problem reads from a data file: its options, constants and parameters x."""

    options: dict[str, int]
    constants: dict[str, Any]
    x: np.ndarray


def guard_memory(name: str, n: int, m: int | None, constant_elements: int, *,
                 problem: Problem | None = None, options: Mapping[str, int] | None = None) -> None:
    """UserError (one line) when an instance would not fit in memory, checked before anything of
    its size is allocated: with the problem and its options, the estimated peak of building the
    instance and evaluating f once (`footprint.instance_bytes`: x, f(x), the constants and what
    one evaluation holds); without them (the options or m not known yet: m None), x, f(x) and the
    constants alone."""
    if problem is not None and options is not None:
        estimate, what = footprint.instance_bytes(problem, n, options), "x, f(x), the constants and one evaluation"
        shape = ", ".join([f"n = {n}", f"m = {problem.output_size(n, **options)}",
                           *(f"{k} = {v}" for k, v in options.items())])
    else:
        estimate, what = 8 * (2 * n + (m or 0) + constant_elements), "x, f(x) and the constants"
        shape = f"n = {n}" + ("" if m is None else f", m = {m}")
    reason = limits.memory_reason(f"{name}: {shape}", estimate, what)
    if reason:
        raise UserError(reason)


def _positive_int(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name}: {what} must be an integer, got {value!r}")
    if value < 1:
        raise UserError(f"{name}: {what} must be at least 1, got {value}")
    return int(value)


def _read_only(value):
    """A read-only copy of an array (structure such as an int passes unchanged)."""
    if isinstance(value, np.ndarray):
        value = np.array(value)
        value.setflags(write=False)
    return value


@dataclasses.dataclass(frozen=True)
class Instance:
    """One member of a problem family: size, options, constants and default input, all numpy.

    Immutable: the constants mapping is a read-only view and every array is a read-only copy, so
    a caller that changes what it was given cannot change any later result.
    """

    problem: Problem
    n: int
    m: int
    options: Mapping[str, int]
    constants: Mapping[str, np.ndarray]
    x0: np.ndarray
    source: str | None = None       # the data file the instance was read from, if any

    def __post_init__(self):
        object.__setattr__(self, "options", types.MappingProxyType(dict(self.options)))
        object.__setattr__(self, "constants", types.MappingProxyType(
            {k: _read_only(v) for k, v in self.constants.items()}))
        object.__setattr__(self, "x0", _read_only(np.asarray(self.x0, dtype=np.float64)))

    @property
    def name(self) -> str:
        return self.problem.name

    def f(self, xp, x, c=None):
        """Evaluate with namespace xp; c defaults to the numpy constants."""
        return self.problem.f(xp, x, self.constants if c is None else c)

    def closed_form_jacobian(self, x: np.ndarray) -> np.ndarray | None:
        return self.problem.jacobian(np.asarray(x, dtype=np.float64), self.constants, **self.options)

    def check_input(self, x, what: str = "x", length: int | None = None) -> np.ndarray:
        """A user-given vector as a read-only float64 copy, of the expected length, or a clear
        UserError."""
        expected = self.n if length is None else length
        arr = as_real_vector(x, what, prefix=f"{self.name}: ")
        if arr.shape[0] != expected:
            raise UserError(
                f"{self.name}: {what} must be a vector of shape ({expected},), got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise UserError(f"{self.name}: {what} contains non-finite values")
        return arr

    def label(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in self.options.items())
        return f"{self.name}(n={self.n}{opts})"


def as_real_vector(values, what: str = "x", prefix: str = "") -> np.ndarray:
    """A user's vector as a read-only float64 copy; UserError for anything that is not a 1-D
    vector of real numbers (complex, boolean, text and objects are refused, never coerced)."""
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):
        raise UserError(f"{prefix}{what} must be a vector of real numbers, got {values!r}") from None
    if raw.dtype.kind not in "iuf":
        kind = {"c": "complex", "b": "boolean", "U": "text", "S": "text", "O": "non-numeric"}.get(
            raw.dtype.kind, str(raw.dtype))
        raise UserError(f"{prefix}{what} must be a vector of real numbers, got {kind} values")
    if raw.ndim != 1:
        raise UserError(f"{prefix}{what} must be a 1-D vector, got shape {raw.shape}")
    arr = np.array(raw, dtype=np.float64)
    arr.setflags(write=False)
    return arr


def register(cls: type[Problem]) -> type[Problem]:
    """Class decorator: add one problem to the registry under `cls.name`. A user's problem records
    its source and hash; its name may not be a built-in's or another source's (UserError), and
    registering it again from the same source replaces it (a re-run notebook cell)."""
    source, digest = user_code.provenance(cls)
    if source is None:
        if cls.name in _REGISTRY:
            raise RuntimeError(f"problem {cls.name!r} registered twice")
    else:
        user_code.check_class(cls, source)
        existing = _REGISTRY.get(cls.name)
        if existing is not None and existing.source != source:
            raise user_code.clash(cls.name, source, existing.source)
        cls.source, cls.source_hash = source, digest
    _REGISTRY[cls.name] = cls()
    return cls


def unregister(names) -> None:
    """Remove problems (a user's file that failed half-way through its import)."""
    for name in names:
        _REGISTRY.pop(name, None)


def _lookup_ready() -> None:
    for hook in BEFORE_LOOKUP:
        hook()


def problem_names() -> list[str]:
    _lookup_ready()
    return sorted(_REGISTRY)


def get_problem(name: str) -> Problem:
    _lookup_ready()
    try:
        return _REGISTRY[name]
    except KeyError:
        err = choose_from("problem", name, problem_names())
        raise UserError(f"{err} (a problem of your own: load its file with --problems PATH)") from None


def all_problems() -> list[Problem]:
    return [_REGISTRY[k] for k in problem_names()]


def instance(name: str, n: int | None = None, data: str | os.PathLike | None = None, **opts: int) -> Instance:
    return get_problem(name).instance(n, data=data, **opts)


