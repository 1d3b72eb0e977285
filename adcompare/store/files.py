"""Files that are never half-written and never misread: one way to write them, one to read them.

- **Nothing is written in place.** A file is written to a temporary file in the same folder,
  flushed to disk, and renamed over the old one, so a reader, or a crash, sees the old file or
  the new one, never half of either.
- **A file that cannot be used says why** (`CorruptFile`: unreadable, not UTF-8, not JSON), so
  the caller can name it with the command that removes it and go on.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


class CorruptFile(ValueError):
    """A file that exists but cannot be used; the message says why ("is not valid JSON (...)")."""


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Temporary file beside `path`, fsync, rename over it: the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)   # mkstemp makes it 0600; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def fsync_folder(path: Path) -> None:
    """Make a rename inside `path` durable."""
    _fsync_dir(path)


def _finite(value: Any) -> Any:
    """JSON without NaN/Infinity (which JSON parsers reject): non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(_finite(data), indent=1, sort_keys=True, allow_nan=False) + "\n"
    write_atomically(path, text)


def read_json(path: Path, missing_ok: bool = True) -> Any:
    """The parsed file; None when it does not exist (or CorruptFile, with `missing_ok=False`);
    CorruptFile when it cannot be read, is not UTF-8 or is not JSON. asv writes NaN / Infinity
    literals, which Python's json reads."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise CorruptFile("does not exist") from None
    except OSError as err:
        raise CorruptFile(f"cannot be read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorruptFile(f"is not UTF-8 text (bad byte at offset {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptFile(f"is not valid JSON ({err.msg} at line {err.lineno}; truncated or corrupt)") from None
    except (ValueError, RecursionError) as err:
        raise CorruptFile(f"is not valid JSON ({err})") from None


def quoted(path: Path) -> str:
    """A path in single quotes for a shell command, always (so the command reads the same for every path)."""
    return "'" + str(path).replace("'", "'\\''") + "'"


def removal_hint(path: Path) -> str:
    return f"rm {quoted(path)}"
