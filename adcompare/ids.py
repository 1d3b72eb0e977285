"""The ids that name what is measured: a *case* (one problem instance) and a *target* (a backend
on a device).

Both travel as strings, in asv's parameters and in every results file, so they stay readable
and stable: a case is ``problem:n`` or ``problem:n:key=value,key=value`` (``square:1000``,
``affine:16:m=1024``, ``lorenz96:128:steps=40``, ``particle:1:modes=fr``: a value is an integer or
a word), a target ``backend:device`` (``torch:cuda``).
In code they are value types, parsed and spelled here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping

from adcompare.errors import UserError

# An option's value in a case id: an integer, or a word (a problem's `Choice`).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclasses.dataclass(frozen=True)
class Case:
    """One problem instance by name: problem, n and every option (sorted by name)."""

    problem: str
    n: int
    options: tuple[tuple[str, int | str], ...] = ()

    @classmethod
    def of(cls, problem: str, n: int, **options: int | str) -> "Case":
        return cls(problem, int(n), tuple(sorted((k, v if isinstance(v, str) else int(v)) for k, v in options.items())))

    @classmethod
    def parse(cls, text: str) -> "Case":
        """'affine:16:m=1024' -> Case('affine', 16, (('m', 1024),)); UserError when malformed."""
        parts = str(text).split(":")
        try:
            if len(parts) not in (2, 3) or not parts[0]:
                raise ValueError
            options = {}
            if len(parts) == 3 and parts[2]:
                for item in parts[2].split(","):
                    key, value = item.split("=")
                    options[key] = option_value(value)
            return cls.of(parts[0], int(parts[1]), **options)
        except ValueError:
            raise UserError(f"malformed case {text!r}; expected problem:n or problem:n:key=value,...") from None

    @property
    def opts(self) -> dict[str, int | str]:
        return dict(self.options)

    def __str__(self) -> str:
        tail = ",".join(f"{k}={v}" for k, v in self.options)
        return f"{self.problem}:{self.n}" + (f":{tail}" if tail else "")

    def instance(self):
        """The problem instance this case names (built afresh; `run.plan.instance_of` caches)."""
        from adcompare.problems import get_problem

        return get_problem(self.problem).instance(self.n, **self.opts)


def option_value(text: str) -> int | str:
    """An option's value as a case id spells it: an integer, or a word; ValueError otherwise."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if _WORD.fullmatch(text):
        return text
    raise ValueError(text)


def case_text(problem: str, n: int, options: Mapping[str, int | str] | None = None) -> str:
    """The canonical spelling of a case (options sorted by name)."""
    return str(Case.of(problem, n, **dict(options or {})))


def problem_of(text: str) -> str | None:
    """The problem name a case string starts with, without validating the rest."""
    return str(text).partition(":")[0] or None


@dataclasses.dataclass(frozen=True)
class Target:
    """A backend on a device, spelled 'backend:device'."""

    backend: str
    device: str

    @classmethod
    def parse(cls, text: str) -> "Target":
        backend, sep, device = str(text).partition(":")
        if not sep or not backend or not device or ":" in device:
            raise ValueError(f"malformed target {text!r}; expected backend:device")
        return cls(backend, device)

    def __str__(self) -> str:
        return f"{self.backend}:{self.device}"


def target_text(backend: str, device: str) -> str:
    return str(Target(backend, device))
