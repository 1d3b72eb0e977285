"""Where a user's problems come from: files and modules named by `--problems` or
$ADCOMPARE_PROBLEMS, and installed packages' entry points (group `adcompare.problems`).

Every process sees the same problems. `--problems` makes its paths absolute and adds them to
$ADCOMPARE_PROBLEMS (entries joined by os.pathsep); before every lookup the registry asks this
module to load what that variable and the entry points name and this process has not loaded yet.
So the measurement processes `adcompare run` forks, asv's discovery and runner, and a fresh
interpreter's first call load them as the command did. A source that does not import is one line
naming it and the cause (`UserError`), and the problems it registered before it failed are removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from pathlib import Path

from adcompare.datafile import regular_file
from adcompare.errors import UserError
from adcompare.problems import registry, user_code

ENV = "ADCOMPARE_PROBLEMS"
ENTRY_POINT_GROUP = "adcompare.problems"
MODULE_PREFIX = "_adcompare_user_"     # the modules imported from a file path are named with it
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclasses.dataclass
class _State:
    loaded: set[str] = dataclasses.field(default_factory=set)   # sources imported (paths, module names)
    entry_points: bool = False      # the entry points were loaded
    env_seen: str | None = None     # the value of $ADCOMPARE_PROBLEMS last loaded in full
    busy: bool = False              # loading now (a lookup from inside a user's file loads nothing)


_STATE = _State()


def is_path(spec: str) -> bool:
    """A source is a file when it ends in .py or names a folder; else it is a module name."""
    return spec.endswith(".py") or os.sep in spec or bool(os.altsep and os.altsep in spec)


def normalized(spec: str, what: str = "--problems") -> str:
    """A file source as an absolute path (of a file that exists), a module name as given;
    UserError for anything else."""
    text = str(spec).strip()
    if is_path(text):
        path = Path(text).expanduser()
        try:
            regular_file(path, "problems file")
        except UserError as err:
            raise UserError(f"{what}: {err}") from None
        return os.path.abspath(path)
    if not _MODULE_NAME.fullmatch(text):
        raise UserError(f"{what}: {spec!r} is neither a .py file nor a module name")
    return text


def environment_sources() -> list[str]:
    return [s.strip() for s in os.environ.get(ENV, "").split(os.pathsep) if s.strip()]


def use(specs) -> None:
    """What `--problems` does: everything pending and each source loaded here, then each added to
    $ADCOMPARE_PROBLEMS (paths made absolute, the variable's own entries too), so that every
    process this one starts loads it as well."""
    entries = [normalized(s, ENV) for s in environment_sources()] + [normalized(s) for s in specs or ()]
    load_pending()
    for source in entries:
        load(source)
    if entries:
        os.environ[ENV] = os.pathsep.join(dict.fromkeys(entries))


def load_pending() -> None:
    """Load the entry points (once) and the sources of $ADCOMPARE_PROBLEMS not loaded yet; the
    registry calls this before every lookup."""
    env = os.environ.get(ENV, "")
    if _STATE.busy or (_STATE.entry_points and env == _STATE.env_seen):
        return
    _STATE.busy = True
    try:
        if not _STATE.entry_points:
            for module, what in entry_point_modules():
                _load(module, f"{module} ({what})")
            _STATE.entry_points = True
        for spec in environment_sources():
            source = normalized(spec, ENV)
            _load(source, user_code.shown(source))
        _STATE.env_seen = env
    finally:
        _STATE.busy = False


def load(spec: str) -> list[str]:
    """Import one user source, a .py file or a module name (`adcompare.load_problems`); the names
    of the problems it registered (none when it was loaded before)."""
    busy, _STATE.busy = _STATE.busy, True
    try:
        source = normalized(spec)
        return _load(source, user_code.shown(source))
    finally:
        _STATE.busy = busy


def entry_point_modules() -> list[tuple[str, str]]:
    """(module, 'entry point NAME of DISTRIBUTION') of every installed `adcompare.problems` entry point."""
    out = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        out.append((ep.module, f"entry point {ep.name!r} of {dist}"))
    return out


def _registered() -> dict:
    return {name: registry.get_problem(name) for name in registry.problem_names()}


def _load(source: str, shown: str) -> list[str]:
    """Import `source` once (an absolute path or a module name); UserError naming `shown` when it
    does not import or registers no problem. What it registered before failing is removed."""
    if source in _STATE.loaded:
        return []
    before = _registered()
    module_name = None
    try:
        if os.path.isabs(source):
            module_name = _import_file(source)
        else:
            _import_module(source)
    except BaseException as err:
        registry.unregister([name for name, p in _registered().items() if before.get(name) is not p])
        if isinstance(err, (KeyboardInterrupt, UserError)):
            raise
        if not isinstance(err, (Exception, SystemExit)):
            raise
        raise UserError(_import_failure(shown, source, err)) from None
    _STATE.loaded.add(source)
    added = [name for name, p in _registered().items() if before.get(name) is not p]
    if not added and module_name:
        raise UserError(f"{user_code.shown(source)} registers no problem: decorate a function with "
                        "@adcompare.function or a Problem subclass with @adcompare.register")
    return added


def _import_file(path: str) -> str:
    """Import a .py file as a module of its own (its folder appended to sys.path, for its own
    imports); returns the module name."""
    digest = hashlib.sha256(path.encode()).hexdigest()[:8]
    name = f"{MODULE_PREFIX}{re.sub(r'[^0-9A-Za-z_]', '_', Path(path).stem)}_{digest}"
    if name in sys.modules:
        return name
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.append(folder)
    user_code.FILES.add(path)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]     # as a failed import leaves nothing behind
        raise
    return name


def _import_module(name: str) -> None:
    with user_code.loading_module(name):
        found = importlib.util.find_spec(name)
        if found is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        if found.origin and os.path.isfile(found.origin):
            user_code.FILES.add(os.path.abspath(found.origin))
        importlib.import_module(name)


def _import_failure(shown: str, source: str, err: BaseException) -> str:
    """One line: which source did not import, and why (with the line of user code that failed)."""
    if isinstance(err, ModuleNotFoundError) and err.name == source:
        return (f"cannot import {shown}: no module named {source!r} (a file must end in .py; a module must be "
                "importable, e.g. on PYTHONPATH)")
    if isinstance(err, SystemExit):
        return (f"cannot import {shown}: it called sys.exit({err.code!r}) while being imported "
                "(put script code under `if __name__ == \"__main__\":`)")
    if isinstance(err, SyntaxError):
        file = os.path.abspath(err.filename) if err.filename else source
        where = "" if file == source else f"{user_code.shown(file)}, "
        return f"cannot import {shown}: {where}line {err.lineno}: {type(err).__name__}: {err.msg}"
    return f"cannot import {shown}: {user_code.first_line(err)}{user_code.site_text(err)}"


registry.BEFORE_LOOKUP.append(load_pending)
