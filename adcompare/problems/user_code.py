"""A user's problem code: where it came from, where it failed, and its first evaluation checked.

adcompare's own problems (modules of this package) are trusted. A user's problem (a file or module
given with --problems or $ADCOMPARE_PROBLEMS, an entry point, or a class registered from the
user's own module) carries its `source` (the file path, or the module name it was loaded by) and
the sha256 of that file, so results of a changed function are never mixed with older ones. Each
of its instances is checked once, before any backend sees it: f evaluated with numpy at x0 must
return a finite 1-D array of m numbers. What goes wrong in user code is a `UserError` naming the
file, the line, the problem and the cause: one line, never adcompare's traceback.

The registry imports this module; it imports nothing of the registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import linecache
import os
import re
import sys
import traceback
from typing import Any, Callable

import numpy as np

from adcompare.errors import UserError

BUILTIN_PACKAGE = "adcompare.problems."
# A problem's name is part of every case id ("name:n:key=value") and results file.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
# Files of users' problems, and files being imported: a traceback frame in one is user code.
FILES: set[str] = set()
_loading: list[str] = []    # module names the loader is importing (their problems' source)
_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+)')


@contextlib.contextmanager
def loading_module(name: str):
    """Problems registered while `name` (or a submodule) imports take `name` as their source."""
    _loading.append(name)
    try:
        yield
    finally:
        _loading.pop()


def module_file(module_name: str) -> str | None:
    file = getattr(sys.modules.get(module_name), "__file__", None)
    return os.path.abspath(file) if file else None


def file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def provenance(cls: type) -> tuple[str | None, str | None]:
    """(source, sha256 of its file) of a problem class; (None, None) for adcompare's own. A class
    without a file (an interactive session) is hashed by its own source text where there is one."""
    module = cls.__module__
    if module.startswith(BUILTIN_PACKAGE):
        return None, None
    file = module_file(module)
    if file:
        FILES.add(file)
    by_name = [name for name in _loading if module == name or module.startswith(name + ".")]
    source = by_name[-1] if by_name else file or module
    if file:
        return source, file_hash(file)
    try:
        text = inspect.getsource(getattr(cls, "function", cls))
    except (OSError, TypeError):
        return source, None
    return source, hashlib.sha256(text.encode()).hexdigest()


def shown(source: str) -> str:
    """A source as the user reads it: a path relative to the current folder where it is inside."""
    if not os.path.isabs(source):
        return source
    relative = os.path.relpath(source)
    return source if relative.startswith("..") else relative


def check_class(cls: type, source: str) -> None:
    """UserError unless a user's problem class names itself validly, says its sizes and defines f
    and output_size; `summary` and `test_size` default to the docstring's first line and the
    smallest size."""
    where = shown(source)
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"{where}: problem class {cls.__name__} needs a `name` of letters, digits, _ and - "
                        f"(starting with a letter), got {name!r}")
    sizes = getattr(cls, "sweep_sizes", None)
    if not isinstance(sizes, (tuple, list)) or not sizes or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise UserError(f"{where}: problem {name!r} needs `sweep_sizes`, positive integers (the n it is "
                        f"measured at), got {sizes!r}")
    missing = [m for m in ("f", "output_size") if getattr(cls, m).__qualname__ == f"Problem.{m}"]
    if missing:
        raise UserError(f"{where}: problem {name!r} must define {' and '.join(missing)} (see adcompare.Problem)")
    if not isinstance(getattr(cls, "summary", None), str):
        cls.summary = ((cls.__doc__ or "").strip().splitlines() or [f"user problem {name}"])[0]
    if getattr(cls, "test_size", None) is None:
        cls.test_size = int(min(sizes))


def clash(name: str, source: str, other: str | None) -> UserError:
    """A user's problem named like a built-in one, or like a problem from another source."""
    if other is None:
        return UserError(f"{shown(source)}: problem {name!r} has the name of a built-in problem; rename it")
    return UserError(f"{shown(source)}: problem {name!r} is already defined by {shown(other)}; rename one of them")


# --- where user code failed -------------------------------------------------------------------------
def causes(err: BaseException) -> list[BaseException]:
    """The exception and what caused it, innermost last."""
    out: list[BaseException] = []
    while err is not None and err not in out:
        out.append(err)
        err = err.__cause__ or err.__context__
    return out


def failure_site(err: BaseException) -> tuple[str, int, str] | None:
    """(file, line, code) of the innermost frame of user code in the exception's traceback (or in
    what caused it), or None when none of its frames is in a user's file."""
    for e in causes(err):
        frames = [f for f in traceback.extract_tb(e.__traceback__) if os.path.abspath(f.filename) in FILES]
        if isinstance(e, SyntaxError) and e.filename and os.path.abspath(e.filename) in FILES:
            return os.path.abspath(e.filename), e.lineno or 0, (e.text or "").strip()
        if frames:
            last = frames[-1]
            return os.path.abspath(last.filename), last.lineno or 0, (last.line or "").strip()
    for e in causes(err):   # a tracer's own report of user code (torch.compile's "from user code: File ...")
        named = [(os.path.abspath(f), int(n)) for f, n in _FILE_LINE.findall(str(e)) if os.path.abspath(f) in FILES]
        if named:
            file, line = named[-1]
            return file, line, linecache.getline(file, line).strip()
    return None


def first_line(err: BaseException, limit: int = 200) -> str:
    """The exception's message as one line: its first line, shortened."""
    text = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def site_text(err: BaseException) -> str:
    """' (file.py, line 12: `code`)' for the innermost user frame, or ''."""
    site = failure_site(err)
    if site is None:
        return ""
    file, line, code = site
    return f" ({shown(file)}, line {line}" + (f": `{code}`" if code else "") + ")"


def failing_problem(err: BaseException) -> str | None:
    """The name of the user's problem whose method was running when `err` was raised (the
    innermost frame whose `self` is a user's problem), or None."""
    for e in causes(err):
        for frame, _ in reversed(list(traceback.walk_tb(e.__traceback__))):
            owner = frame.f_locals.get("self")
            if getattr(owner, "source", None) is not None and isinstance(getattr(owner, "name", None), str):
                return owner.name
    return None


def describe_failure(err: BaseException) -> str | None:
    """One line for an exception that user code raised (a frame of it is in a user's file), or
    None for anything else (adcompare's own bugs keep their traceback)."""
    site = failure_site(err)
    if site is None:
        return None
    file, line, code = site
    name = failing_problem(err)
    return (f"{shown(file)}, line {line}: " + (f"problem {name!r}: " if name else "") + first_line(err)
            + (f" (in `{code}`)" if code else ""))


# --- the first evaluation of an instance --------------------------------------------------------------
def label(problem) -> str:
    return f"{shown(problem.source)}: problem {problem.name!r}"


def labelled(problem, err: UserError) -> UserError:
    """A user mistake about a user's problem, naming its file and the problem (once)."""
    text = str(err)
    if text.startswith(shown(problem.source)):
        return err
    return UserError(f"{label(problem)}: {text.removeprefix(f'{problem.name}: ')}")


def evaluate(problem, x: np.ndarray, constants, n: int) -> np.ndarray:
    """f(x) with numpy, as an array; UserError when f raises or returns no real numbers."""
    with np.errstate(all="ignore"):
        try:
            y = problem.f(np, np.array(x, dtype=np.float64), constants)
        except UserError:
            raise
        except Exception as err:
            raise UserError(f"{label(problem)}: f raised {first_line(err)} at x0 (n = {n}){site_text(err)}") from None
    try:
        out = np.asarray(y)
    except Exception:
        out = np.asarray(None, dtype=object)
    if out.dtype.kind not in "iuf":
        raise UserError(f"{label(problem)}: f must return an array of real numbers; at x0 (n = {n}) it returned "
                        f"{type(y).__name__} of dtype {out.dtype}")
    return out


def check_output(problem, y: np.ndarray, n: int, m: int | None) -> None:
    """UserError unless f(x0) is a finite 1-D array of length m (any length when m is None)."""
    if y.ndim != 1:
        raise UserError(f"{label(problem)}: f must return a 1-D array; at x0 (n = {n}) it returned shape {y.shape}")
    if m is not None and y.shape[0] != m:
        raise UserError(f"{label(problem)}: f returned {y.shape[0]} values at x0 (n = {n}) but its output size "
                        f"is m = {m}; fix f or output_size")
    bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
    if bad:
        raise UserError(f"{label(problem)}: f(x0) has {bad} non-finite value{'s' * (bad != 1)} (NaN or inf) at "
                        f"n = {n}; choose an x0 where f is defined")


def checked_instance(problem, build: Callable[[], Any]):
    """The instance `build` makes, every failure in it a UserError naming the problem's file, and
    its f checked once per size and options (numpy at x0: shape, length m, finite values)."""
    try:
        inst = build()
    except UserError as err:
        raise labelled(problem, err) from None
    except Exception as err:
        raise UserError(f"{label(problem)}: building the instance raised {first_line(err)}{site_text(err)}") from None
    checked = problem.__dict__.setdefault("_checked_instances", set())
    key = (inst.n, tuple(inst.options.items()), inst.source)
    if key not in checked:
        check_output(problem, evaluate(problem, inst.x0, inst.constants, inst.n), inst.n, inst.m)
        checked.add(key)
    return inst
