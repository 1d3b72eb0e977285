"""The results folder: one run at a time, every file replaced whole, nothing lost on a crash.

What the most trusted tools do, applied to results/:
- **One run at a time.** A run holds an exclusive lock on `results/.adcompare-run.lock` for its
  whole life (`fcntl.flock`: the kernel drops it if the process dies, so it can never go stale);
  a second run is refused with one line naming the holder.
- **Nothing is written in place.** Every file (asv's results JSON, machine.json,
  benchmarks.json, the environment sidecar, the figures file) is written to a temporary file in
  the same folder, flushed to disk, checked by reading it back, and renamed over the old one, so
  a reader — or a crash — sees the old file or the new one, never half of either.
- **Merged, not replaced.** A run's numbers are merged into the results of its commit: the
  figures it measured replace their older values, everything else stays, and the run's record is
  appended to the sidecar's list of runs, so the sidecar always describes the numbers beside it.
- **Published pages are swapped whole.** asv wipes its html folder when it publishes, so the
  pages are built in a scratch folder and renamed into place; an interrupted swap is undone by
  the next run.
- **A corrupt file is named, never fatal.** A results file that does not parse (an older
  version's crash, a hand edit) is reported with the command that removes it; the run goes on.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from adcompare.errors import UserError

LOCK_NAME = ".adcompare-run.lock"
HTML = "html"
OLD_HTML_PREFIX = ".html-old-"
MACHINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_machine_name(name: str) -> str:
    """A plain name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not MACHINE_NAME.match(name) or name in (".", ".."):
        raise UserError(f"machine name {name!r} is not a plain name (letters, digits, '.', '_', '-'; "
                        "no slashes, no leading dot)")
    return name


# --- files --------------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Temporary file beside `path`, fsync, rename over it: the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


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


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it does not exist; ValueError when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 ({err.reason} at byte {err.start})") from None
    return json.loads(text)


def corrupt_files(results: Path) -> list[tuple[Path, str]]:
    """Every JSON file under the results' machine folders (and benchmarks.json) that does not
    parse, with the reason."""
    bad = []
    if not results.is_dir():
        return bad
    candidates = [results / "benchmarks.json"] + sorted(results.glob("*/*.json"))
    for path in candidates:
        if not path.is_file() or path.parent.name == HTML or path.name.startswith("."):
            continue
        try:
            read_json(path)
        except ValueError as err:
            bad.append((path, str(err).splitlines()[0]))
    return bad


def removal_hint(path: Path) -> str:
    return f"rm '{path}'"


# --- the lock -----------------------------------------------------------------------------------
@contextlib.contextmanager
def run_lock(results: Path, command: str) -> Iterator[None]:
    """Hold the results folder's run lock, or refuse with one line naming who holds it."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise UserError(f"another adcompare run is using {results} ({holder}); "
                            "wait for it to finish") from None
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        info = f"pid {os.getpid()} on {socket.gethostname()}, started {stamp}: {command}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


# --- published pages ----------------------------------------------------------------------------
def recover_html(results: Path) -> None:
    """Undo a swap that an interrupt cut short: put the previous pages back where they were."""
    final = results / HTML
    for old in sorted(results.glob(OLD_HTML_PREFIX + "*")):
        if not final.exists():
            os.replace(old, final)
        else:
            shutil.rmtree(old, ignore_errors=True)


def swap_html(results: Path, new: Path) -> Path:
    """Put the freshly built pages folder `new` in place of results/html, whole."""
    final = results / HTML
    staged = new
    if new.stat().st_dev != results.stat().st_dev:       # rename needs one filesystem
        staged = results / f".html-new-{os.getpid()}"
        shutil.copytree(new, staged)
    old = results / f"{OLD_HTML_PREFIX}{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    _fsync_dir(results)
    shutil.rmtree(old, ignore_errors=True)
    return final


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
