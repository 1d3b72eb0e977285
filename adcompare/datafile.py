"""Reading ADBench's whitespace-separated data files, with errors that name the file and line.

ADBench's C++ readers take numbers with `fscanf`, so line breaks carry no meaning there; its
Python readers expect one block per line. `Numbers` reads the numbers in order whatever the
layout, so both kinds of file read the same, and it remembers the line of every number so that
a malformed file is one UserError pointing at the place. `regular_file`, `read_text` and
`finite_number` are the checks every reader shares (ht's colon-separated model files too).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from adcompare.errors import UserError


def regular_file(path: Path, what: str = "data file") -> Path:
    """`path` if it names a regular file; else UserError saying what it names instead, since
    "does not exist" for a folder or an empty path sends the user looking for the wrong mistake."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a {what}")
    if not path.exists():
        raise UserError(f"{what} {path} does not exist")
    if not path.is_file():
        raise UserError(f"{path} is not a regular file, so not a {what}")
    return path


def read_text(path: Path, what: str = "data file") -> str:
    """The UTF-8 text of a regular file that holds more than whitespace; else UserError naming
    the file (and for a byte that is not UTF-8, its line)."""
    path = regular_file(path, what)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read it ({err.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = len((data[:err.start].decode("utf-8") + "?").splitlines())    # as `Numbers` counts lines
        raise UserError(f"{path}: line {line}: byte 0x{data[err.start]:02x} is not UTF-8 text; "
                        f"a {what} is UTF-8 (or ASCII) text") from None
    if not text.strip():
        raise UserError(f"{path} is empty")
    return text


def finite_number(word: str, where: str, what: str, noun: str = "a number") -> float:
    """`word` as a finite float, else UserError "{where}: {what} must be ...": float() alone
    takes 'nan', 'inf' and '1e999' (inf), which no instance of ours can use."""
    try:
        value = float(word)
    except ValueError:
        raise UserError(f"{where}: {what} must be {noun}, got {word!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: {what} must be finite, got {word!r}")
    return value


class Numbers:
    """The numbers of a text file, taken in order by `ints` and `floats`; `end` checks that
    nothing follows them."""

    def __init__(self, path: Path):
        self.path = Path(path)
        lines = read_text(self.path).splitlines()
        self._tokens = [(word, number) for number, line in enumerate(lines, start=1) for word in line.split()]
        self._next = 0
        self._last_line = max(len(lines), 1)

    def _take(self, count: int, what: str) -> list[tuple[str, int]]:
        taken = self._tokens[self._next:self._next + count]
        if len(taken) < count:
            raise UserError(f"{self.path}: line {self._last_line}: the file ends after "
                            f"{len(taken)} of the {count} numbers of {what}")
        self._next += count
        return taken

    @property
    def line(self) -> int:
        """The line of the last number read (1 before any)."""
        return self._tokens[self._next - 1][1] if self._next else 1

    @property
    def remaining(self) -> int:
        """How many numbers are left (a format with an optional block tells its variants apart by it)."""
        return len(self._tokens) - self._next

    def ints(self, count: int, what: str) -> list[int]:
        """`count` positive integers (sizes)."""
        values = []
        for word, line in self._take(count, what):
            try:
                value = int(word)
            except ValueError:
                raise UserError(f"{self.path}: line {line}: {what} must be positive integers, "
                                f"got {word!r}") from None
            if value < 1:
                raise UserError(f"{self.path}: line {line}: {what} must be positive integers, got {value}")
            values.append(value)
        return values

    def floats(self, count: int, what: str) -> np.ndarray:
        """`count` finite real numbers, as float64. The count (often a header's) is checked
        against the numbers the file holds before anything of that size is allocated."""
        taken = self._take(count, what)
        values = np.empty(count)
        for i, (word, line) in enumerate(taken):
            values[i] = finite_number(word, f"{self.path}: line {line}", what, "numbers")
        return values

    def end(self, after: str) -> None:
        """UserError if anything follows the last number read."""
        if self._next < len(self._tokens):
            word, line = self._tokens[self._next]
            raise UserError(f"{self.path}: line {line}: unexpected {word!r} after {after}")
