"""Where the measurement processes of `adcompare advise` run: their environment (one thread,
the compile cache, a scratch folder and log kept for this process's lifetime, since the
campaign's fork server keeps the environment it was started with), and a user's problem made
visible to them (they look problems up by name, loading what $ADCOMPARE_PROBLEMS names)."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from adcompare.errors import UserError
from adcompare.measure import frameworks
from adcompare.measure.frameworks import PRELOAD_ENV
from adcompare.problems import loading
from adcompare.run import checkout, processes

# The grid whose depth cap holds for compiling targets (`plan.MAX_COMPILED_DEPTH`), and whose
# name the measurement processes see: the widest, since the user asked for this instance.
GRID = "wide"
OWN_BACKENDS = "adcompare.backends."
_WORKSPACE: dict[int, tuple[Path, Path]] = {}


def _workspace() -> tuple[Path, Path]:
    """(scratch folder, log file) of this process's advise runs, made once: the campaign's fork
    server keeps the environment it was started with, so every later run reuses both."""
    pid = os.getpid()
    if pid not in _WORKSPACE:
        root = checkout.ROOT
        if (root / "asv.conf.json").is_file():     # a source checkout: its scratch and logs folders
            scratch = checkout.new_scratch(root, "advise-")
            log = checkout.logs_root(root) / f"advise-{checkout.run_id()}.log"
        else:
            scratch = Path(tempfile.mkdtemp(prefix="adcompare-advise-"))
            log = scratch / "measurement.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        atexit.register(shutil.rmtree, scratch, True)
        _WORKSPACE[pid] = scratch, log
    return _WORKSPACE[pid]


def _cache_root() -> Path:
    """Where the compile cache lives: the checkout's (kept between runs), else the user's cache."""
    if (checkout.ROOT / "asv.conf.json").is_file():
        return checkout.ROOT
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adcompare"


@contextlib.contextmanager
def measuring() -> Iterator[Path]:
    """The measurement processes' environment (`checkout.measurement_env`: one thread, the
    compile cache) for the length of an advise run, this process's compile caches pointed at it;
    os.environ as it was afterwards. Yields the run's log file."""
    scratch, log = _workspace()
    saved = dict(os.environ)
    os.environ.update(checkout.measurement_env(GRID, _cache_root(), scratch))
    for var in checkout.OPENBLAS_FORCING:
        os.environ.pop(var, None)
    os.environ[processes.RUN_LOG_ENV] = str(log)
    frameworks.use_compile_cache()   # the checks' compiles warm the cache the timed processes read
    try:
        yield log
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- a user's problem in the measurement processes ----------------------------------------------------
# pid -> (preloaded backends, $ADCOMPARE_PROBLEMS) of the fork server this module started there
_SERVED: dict[int, tuple[str, str | None]] = {}


def children_problems(problem) -> str | None:
    """The $ADCOMPARE_PROBLEMS the measurement processes need to find `problem` (they look it up
    by name, `problems.loading`): None for a built-in one or one they load already; else the
    variable with the problem's source added. UserError for a problem defined without a file (an
    interactive session), which no other process can import."""
    source = getattr(problem, "source", None)
    if source is None:
        return None
    current = loading.environment_sources()
    if source in current or source in {m for m, _ in loading.entry_point_modules()}:
        return None
    if not _importable(source):
        raise UserError(f"problem {problem.name!r} has no file: advise measures in separate processes, which "
                        "load a problem from its file; put it in a .py file and load it with "
                        "adcompare.load_problems(path) (or --problems PATH)")
    return os.pathsep.join([*current, source])


def _importable(source: str) -> bool:
    """A source another process can load: an existing file, or a module it finds by name."""
    if os.path.isabs(source):
        return os.path.isfile(source)
    try:
        return source != "__main__" and importlib.util.find_spec(source) is not None
    except (ImportError, ValueError):
        return False


def start_fork_server(backends, problems: str | None) -> None:
    """Start the campaign's fork server now, so that it imports the frameworks of `backends`
    while this process checks them (on two cores the imports and the checks overlap); the
    campaign then finds it running. multiprocessing's fork server keeps the environment it was
    started with, so one this module started for other backends or problems, or one started
    elsewhere without the user's problems, is stopped first.

    Only adcompare's own backends that can run here are preloaded (one registered in this
    process alone, a test's, is unknown to the server and would stop it). `problems`:
    $ADCOMPARE_PROBLEMS as `children_problems` says, set for the server only (not while this
    process looks problems up: it would import the user's file a second time)."""
    import multiprocessing
    from multiprocessing import forkserver

    preload = ",".join(b.name for b in backends
                       if type(b).__module__.startswith(OWN_BACKENDS) and b.missing_reason() is None)
    server, pid = forkserver._forkserver, os.getpid()
    ours = _SERVED.get(pid)
    # What the server will see: `problems`, else this process's own $ADCOMPARE_PROBLEMS (the CLI's
    # --problems sets it, so two commands in one process may differ only there).
    seen = problems if problems is not None else os.environ.get(loading.ENV) or None
    if server._forkserver_pid is not None and ours != (preload, seen) and (ours is not None or seen is not None):
        server._stop()
    if server._forkserver_pid is None:
        _SERVED[pid] = (preload, seen)
    saved = dict(os.environ)
    os.environ[PRELOAD_ENV] = preload
    if problems is not None:
        os.environ[loading.ENV] = problems
    try:
        multiprocessing.get_context("forkserver").set_forkserver_preload([processes.PRELOAD])
        forkserver.ensure_running()
    finally:
        os.environ.clear()
        os.environ.update(saved)
