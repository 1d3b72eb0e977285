"""Reading ADBench's whitespace-separated data files, with errors that name the file and line.

ADBench's C++ readers take numbers with `fscanf`, so line breaks carry no meaning there; its
Python readers expect one block per line. `Numbers` reads the numbers in order whatever the
layout, so both kinds of file read the same, and it remembers the line of every number so that
a malformed file is one UserError pointing at the place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adcompare.errors import UserError


class Numbers:
    """The numbers of a text file, taken in order by `ints` and `floats`; `end` checks that
    nothing follows them."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"{self.path}: cannot read it as a text file ({err})") from None
        lines = text.splitlines()
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
        """`count` finite real numbers, as float64."""
        values = np.empty(count)
        for i, (word, line) in enumerate(self._take(count, what)):
            try:
                values[i] = float(word)
            except ValueError:
                raise UserError(f"{self.path}: line {line}: {what} must be numbers, got {word!r}") from None
            if not np.isfinite(values[i]):
                raise UserError(f"{self.path}: line {line}: {what} must be finite, got {word!r}")
        return values

    def end(self, after: str) -> None:
        """UserError if anything follows the last number read."""
        if self._next < len(self._tokens):
            word, line = self._tokens[self._next]
            raise UserError(f"{self.path}: line {line}: unexpected {word!r} after {after}")
