"""The results folder: one run at a time, every file replaced whole, nothing lost on a crash.

What the most trusted tools do, applied to results/:
- **One run at a time.** A run holds an exclusive lock on `results/.adcompare-run.lock` for its
  whole life (`fcntl.flock`: the kernel drops it if the process dies, so it can never go stale);
  a second run is refused with one line naming the holder.
- **Nothing is written in place** (`store.files.write_atomically`): asv's results JSON,
  machine.json, benchmarks.json, the environment sidecar and the figures file are each written
  beside the old one, checked by reading them back, and renamed over it.
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
import os
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Iterator

from adcompare.errors import UserError
from adcompare.store.files import CorruptFile, fsync_folder, read_json

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
        except CorruptFile as err:
            bad.append((path, str(err).splitlines()[0]))
    return bad


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
    fsync_folder(results)
    shutil.rmtree(old, ignore_errors=True)
    return final


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
