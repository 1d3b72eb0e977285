"""A user's own function through every backend and subcommand: loading (path, module, entry point,
$ADCOMPARE_PROBLEMS), name clashes, user code failing as one line, backends that cannot trace it
as n/a, the examples against finite differences, and results that never mix two versions of it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import matrix
import adcompare as ad
from adcompare import cli
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.families.profile import profile_cases
from adcompare.families.tape import TAPE, tape_cases
from adcompare.measure import estimates
from adcompare.measure.jobs import COUNT, ArmSpec, Job
from adcompare.problems import get_problem, loading, registry, user_code
from adcompare.run import merge
from adcompare.store import figures_file as FF

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "user_poly3.py"
EXAMPLES = ROOT / "examples"
COMPILED_ALL = os.environ.get("ADCOMPARE_TEST_COMPILED") == "all"   # as tests/conftest.py reads it
# torch-compile's first compile in a process probes the CPU's vector ISAs (~15 s): its tests share a worker.
TORCH_COMPILE = pytest.mark.xdist_group("user-problems-torch-compile")


def backends():
    """Every backend, a slow compiler's tests in one worker."""
    return [pytest.param(b, marks=TORCH_COMPILE) if get_backend(b).slow_compile else b for b in backend_names()]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """The registry, the loader's state, $ADCOMPARE_PROBLEMS, sys.path and the user modules as they
    were: what a test loads is gone after it (entry points are not scanned unless a test asks)."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(loading, "_STATE", loading._State(entry_points=True))
    monkeypatch.setattr(user_code, "FILES", set(user_code.FILES))
    monkeypatch.setenv(loading.ENV, "")      # recorded as unset, so the CLI's export is undone too
    monkeypatch.delenv(loading.ENV)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if name.startswith(loading.MODULE_PREFIX) or file.startswith(str(tmp_path)):
            del sys.modules[name]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """`adcompare ARGS` in this process: (exit status, stdout, stderr)."""
    status = cli.main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FUNCTIONS = """
    import numpy as np
    import adcompare as ad


    def weights(n, rng, *, scale):
        return {"w": np.arange(1.0, n + 1) * scale}


    @ad.function(sizes=(4, 40), constants=weights)
    def weighted(xp, x, c, *, scale=2):
        '''y = w ⊙ sin(x), w_i = scale · i.'''
        return c["w"] * xp.sin(x)


    @ad.function(sizes=(5,))
    def loss(xp, x):
        return xp.sum(x * x)
"""


# --- the public API and loading ------------------------------------------------------------------
def test_the_function_form_is_a_problem_like_the_built_in_ones(isolated):
    path = write(isolated, "funcs.py", FUNCTIONS)
    assert sorted(ad.load_problems(str(path))) == ["loss", "weighted"]
    weighted = get_problem("weighted")
    assert isinstance(weighted, ad.Problem) and dict(weighted.options) == {"scale": 2}
    assert (weighted.source, weighted.source_hash) == (str(path), sha256(path))
    assert weighted.summary == "y = w ⊙ sin(x), w_i = scale · i."
    inst = ad.instance("weighted", n=4, scale=3)
    assert (inst.n, inst.m) == (4, 4)
    x = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(ad.jvp("weighted", x, np.ones(4), scale=3), 3 * np.arange(1, 5) * np.cos(x))
    assert ad.instance("loss").m == 1         # a scalar output is m = 1
    np.testing.assert_allclose(ad.vjp("loss", [1.0, 2, 3, 4, 5], backend="torch"), [2, 4, 6, 8, 10])
    assert ad.load_problems(str(path)) == []   # loaded once


def test_loading_by_module_name_environment_variable_and_entry_point(isolated, monkeypatch):
    site = isolated / "site"
    (site / "mypkg").mkdir(parents=True)
    write(site / "mypkg", "__init__.py", "")
    module_file = write(site / "mypkg", "problems.py", FUNCTIONS)
    write(site, "ep_problems.py", """
        import adcompare as ad

        @ad.function(sizes=(3,))
        def from_entry_point(xp, x):
            return x * x
    """)
    dist = site / "adc_demo-1.0.dist-info"
    dist.mkdir()
    write(dist, "METADATA", "Metadata-Version: 2.1\nName: adc-demo\nVersion: 1.0\n")
    write(dist, "entry_points.txt", "[adcompare.problems]\ndemo = ep_problems\n")
    monkeypatch.syspath_prepend(str(site))

    assert sorted(ad.load_problems("mypkg.problems")) == ["loss", "weighted"]
    assert (get_problem("loss").source, get_problem("loss").source_hash) == ("mypkg.problems", sha256(module_file))

    monkeypatch.setattr(loading, "_STATE", loading._State(entry_points=False))
    assert get_problem("from_entry_point").source == "ep_problems"   # the lookup loaded the entry points

    other = write(isolated, "other.py", "import adcompare as ad\n\n@ad.function\ndef by_env(xp, x):\n    return x\n")
    monkeypatch.setenv(loading.ENV, str(other))
    np.testing.assert_allclose(ad.primal("by_env", [1.0, 2.0]), [1, 2])   # $ADCOMPARE_PROBLEMS, read lazily


def test_problems_sets_the_variable_for_child_processes(isolated, capsys, monkeypatch):
    monkeypatch.chdir(isolated)
    write(isolated, "funcs.py", FUNCTIONS)
    status, out, err = run_cli(capsys, "primal", "weighted", "--problems", "funcs.py", "--x", "0,0,0,0")
    assert (status, out.split(), err) == (0, ["0.0"] * 4, "")
    assert os.environ[loading.ENV] == str(isolated / "funcs.py")    # absolute: children may run elsewhere


def test_a_name_that_is_taken_is_refused_in_one_line(isolated, capsys):
    write(isolated, "clash.py", "import adcompare as ad\n\n@ad.function\ndef square(xp, x):\n    return x\n")
    status, _, err = run_cli(capsys, "list", "--problems", str(isolated / "clash.py"))
    assert status == 2 and err.count("\n") == 1
    assert "clash.py: problem 'square' has the name of a built-in problem; rename it" in err
    write(isolated, "a.py", FUNCTIONS)
    write(isolated, "b.py", "import adcompare as ad\n\n@ad.function\ndef loss(xp, x):\n    return x\n")
    ad.load_problems(str(isolated / "a.py"))
    with pytest.raises(ad.UserError, match=r"b.py: problem 'loss' is already defined by .*a.py; rename one"):
        ad.load_problems(str(isolated / "b.py"))
    assert get_problem("loss").source == str(isolated / "a.py")     # the first one stays


FAILURES = {   # file text, problem, what the one line says
    "syntax": ("import adcompare as ad\n\n@ad.function\ndef f(xp, x)\n    return x\n", None,
               "cannot import {file}: line 4: SyntaxError"),
    "import": ("import adcompare as ad\nimport no_such_module_here\n", None,
               "cannot import {file}: ModuleNotFoundError: No module named 'no_such_module_here' ({file}, line 2"),
    "at-import": ("import adcompare as ad\nX = 1 / 0\n", None,
                  "cannot import {file}: ZeroDivisionError: division by zero ({file}, line 2: `X = 1 / 0`)"),
    "raises": ("import adcompare as ad\n\n@ad.function(sizes=(3,))\ndef bad(xp, x):\n    return x / {}[0]\n", "bad",
               "{file}: problem 'bad': f raised KeyError: 0 at x0 (n = 3) ({file}, line 5"),
    "shape": ("import adcompare as ad\n\n@ad.function(sizes=(4,))\ndef bad(xp, x):\n    return xp.reshape(x, (2, 2))\n",
              "bad", "{file}: problem 'bad': f must return a 1-D array; at x0 (n = 4) it returned shape (2, 2)"),
    "length": ("import adcompare as ad\n\n@ad.function(sizes=(3,), output_size=2)\ndef bad(xp, x):\n    return x\n",
               "bad", "{file}: problem 'bad': f returned 3 values at x0 (n = 3) but its output size is m = 2"),
    "non-finite": ("import adcompare as ad\n\n@ad.function(sizes=(3,))\ndef bad(xp, x):\n    return xp.log(x - 1)\n",
                   "bad", "{file}: problem 'bad': f(x0) has 2 non-finite values (NaN or inf) at n = 3"),
    "memory": ("import adcompare as ad\n\n@ad.function(sizes=(3,))\ndef bad(xp, x):\n    return x\n", "bad",
               "{file}: problem 'bad': n = 1000000000000000 needs about"),
    "options": ("import adcompare as ad\n\n@ad.function\ndef bad(xp, x, *, alpha=0.5):\n    return x\n", None,
                "{file}, line 3: @adcompare.function bad: option 'alpha' needs a positive integer default"),
    "no-output-size": ("import adcompare as ad\n\n@ad.register\nclass Bad(ad.Problem):\n    name = 'bad'\n"
                       "    sweep_sizes = (3,)\n\n    def f(self, xp, x, c):\n        return x\n", None,
                       "{file}: problem 'bad' must define output_size"),
    "method-raises": ("import adcompare as ad\n\n@ad.register\nclass Bad(ad.Problem):\n    name = 'bad'\n"
                      "    sweep_sizes = (3,)\n\n    def f(self, xp, x, c):\n        return x\n\n"
                      "    def output_size(self, n, **opts):\n        return n / undefined\n", "bad",
                      "{file}, line 12: problem 'bad': NameError: name 'undefined' is not defined"),
}


@pytest.mark.parametrize("kind", FAILURES)
def test_user_code_fails_in_one_line_with_exit_status_2(isolated, capsys, monkeypatch, kind):
    monkeypatch.chdir(isolated)
    text, problem, expected = FAILURES[kind]
    write(isolated, "user.py", text)
    args = ["vjp", problem] if problem else ["list"]
    if kind == "memory":
        args += ["--n", "1000000000000000"]
    status, _, err = run_cli(capsys, *args, "--problems", "user.py")
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert expected.format(file="user.py") in err


def test_a_broken_file_is_one_line_from_a_real_process_too(tmp_path):
    write(tmp_path, "broken.py", FAILURES["at-import"][0])
    done = subprocess.run([sys.executable, "-m", "adcompare", "list", "--problems", "broken.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("adcompare: error: cannot import broken.py: ZeroDivisionError: division by zero "
                           "(broken.py, line 2: `X = 1 / 0`)\n")


# --- backends that cannot run a user's f ---------------------------------------------------------
BRANCHY = """
    import numpy as np
    import adcompare as ad


    @ad.function(sizes=(3,))
    def branchy(xp, x):
        if x[0] > 0:
            return 2 * x
        return x


    @ad.function(sizes=(3,))
    def numpy_inside(xp, x):
        return np.sin(x)


    @ad.function(sizes=(3,))
    def in_place(xp, x):
        y = x * 1.0
        y[0] = 0.0
        return y
"""


def line_of(code: str) -> int:
    """The line of `code` in BRANCHY as written to its file."""
    return textwrap.dedent(BRANCHY).lstrip().splitlines().index(code) + 1


def test_a_data_dependent_branch_is_na_under_jax_jit_and_runs_eagerly(isolated):
    ad.load_problems(str(write(isolated, "branchy.py", BRANCHY)))
    for backend in ("numpy", "torch", "jax"):
        np.testing.assert_allclose(ad.vjp("branchy", backend=backend), [2, 2, 2])
    with pytest.raises(Unavailable) as caught:
        ad.vjp("branchy", backend="jax-jit")
    assert str(caught.value) == ("jax-jit cannot trace a Python `if` (or `while`, `and`, `or`, bool()) on a traced "
                                 f"value ({isolated / 'branchy.py'}, line {line_of('    if x[0] > 0:')}: "
                                 "`if x[0] > 0:`): write it with xp.where")


@TORCH_COMPILE
def test_a_data_dependent_branch_is_na_under_torch_compile(isolated):
    if get_backend("torch-compile").missing_reason():
        pytest.skip(get_backend("torch-compile").missing_reason())
    ad.load_problems(str(write(isolated, "branchy.py", BRANCHY)))
    with pytest.raises(Unavailable, match=r"^torch-compile cannot trace a Python `if`.*xp.where$"):   # a graph break
        ad.vjp("branchy", backend="torch-compile")


def test_numpy_calls_and_in_place_writes_say_what_to_change(isolated):
    ad.load_problems(str(write(isolated, "branchy.py", BRANCHY)))
    numpy_line, in_place_line = line_of("    return np.sin(x)"), line_of("    y[0] = 0.0")
    with pytest.raises(Unavailable, match=rf"f calls numpy on jax's traced value .*line {numpy_line}.*xp.sin, not np"):
        ad.vjp("numpy_inside", backend="jax")
    with pytest.raises(Unavailable, match=rf"f assigns into an array in place .*line {in_place_line}.*numpy cannot"):
        ad.vjp("in_place", backend="numpy")
    np.testing.assert_allclose(ad.vjp("in_place", backend="torch"), [0, 1, 1])   # torch's autograd allows it


# --- the worked example as a user's file, every backend ------------------------------------------
@pytest.mark.parametrize("backend", backends())
def test_the_worked_example_from_a_user_file_on_every_backend(isolated, capsys, backend):
    if get_backend(backend).missing_reason():
        pytest.skip(get_backend(backend).missing_reason())
    compiled_sample = get_backend(backend).slow_compile and not COMPILED_ALL   # one compile per path
    ad.load_problems(str(FIXTURE))
    if not compiled_sample:
        np.testing.assert_allclose(ad.vjp("user-poly3", [1, 2, 3], [1, 1, 1], backend=backend), [5, 18, 34])
    np.testing.assert_allclose(ad.vjp("user-poly3", [1, 2, 3], [3, 2, 1], backend=backend), [10, 34, 42])
    for v, expected in ((None, [5, 18, 34]), ("3,2,1", [10, 34, 42]))[:1 if compiled_sample else 2]:
        status, out, err = run_cli(capsys, "vjp", "user-poly3", "--problems", str(FIXTURE), "--backend", backend,
                                   "--x", "1,2,3", *(("--v", v) if v else ()), "--json")
        assert status == 0, err
        assert json.loads(out)["result"] == expected


# --- the examples against finite differences -----------------------------------------------------
EXAMPLE_CASES = {   # file, problem, a small instance (n, options)
    "burgers": ("burgers.py", "burgers", 8, {}),
    "pendulum": ("pendulum.py", "pendulum", 4, {"steps": 3}),
    "mlp-loss": ("mlp_loss.py", "mlp-loss", None, {"hidden": 2}),
}
PRODUCTS = ("vjp", "jvp", "jacobian")


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("example", EXAMPLE_CASES)
def test_the_examples_match_finite_differences_on_every_backend(isolated, capsys, request, fd_jacobian,
                                                                 example, backend):
    """Each example through `adcompare vjp | jvp | jacobian` on each backend: all three with
    --exhaustive; by default one per (example, backend), rotating, so every example meets every
    operator and every backend too."""
    b = get_backend(backend)
    if b.missing_reason():
        pytest.skip(b.missing_reason())
    file, name, n, options = EXAMPLE_CASES[example]
    row, column = list(EXAMPLE_CASES).index(example), backend_names().index(backend)
    commands = PRODUCTS if request.config.getoption(matrix.EXHAUSTIVE) else (PRODUCTS[(row + column) % 3],)
    if b.slow_compile and not COMPILED_ALL:
        pytest.skip(f"{backend} compiles for seconds per case: the worked example and the branch test cover it "
                    "for users' problems (ADCOMPARE_TEST_COMPILED=all runs the examples too)")
    path = str(EXAMPLES / file)
    ad.load_problems(path)
    inst = ad.instance(name, n, **options)
    J = fd_jacobian(lambda z: inst.f(np, z), inst.x0)
    expected = {"vjp": np.ones(inst.m) @ J, "jvp": J @ np.ones(inst.n), "jacobian": J}
    size = ["--n", str(n)] if n else []
    opts = [a for k, v in options.items() for a in ("--opt", f"{k}={v}")]
    for command in commands:
        strategy = "loop" if backend == "autograd" else "batched"     # autograd has no vectorised Jacobian
        mode = ["--mode", "rev", "--strategy", strategy] if command == "jacobian" else []
        status, out, err = run_cli(capsys, command, name, "--problems", path, "--backend", backend, *size, *opts, *mode,
                                   "--json")
        assert status == 0, err
        np.testing.assert_allclose(json.loads(out)["result"], expected[command], rtol=1e-6, atol=1e-8)


# --- measurement and results ---------------------------------------------------------------------
def test_a_user_problem_joins_the_main_grid_at_its_smallest_and_largest_size(isolated):
    ad.load_problems(str(write(isolated, "funcs.py", FUNCTIONS)))
    weighted = get_problem("weighted")
    assert profile_cases("main", weighted) == ["weighted:4:scale=2", "weighted:40:scale=2"]
    assert {"weighted:4:scale=2", "weighted:40:scale=2"} <= set(tape_cases("main"))


def test_a_run_measures_a_user_problem_in_its_measurement_processes(tmp_path):
    """--problems reaches the forked measurement processes and asv's discovery through
    $ADCOMPARE_PROBLEMS; the figures carry the source and its hash; the report lists them."""
    pytest.importorskip("asv")
    user = write(tmp_path, "mine.py", FUNCTIONS)
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--quick", "--backend", "numpy", "--problems",
                           str(user), "--problem", "weighted", "--results", str(results), "--machine", "test-box",
                           "--bench", "Operators.*'vjp'"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [figures] = (results / "test-box").glob("adcompare-figures-*.json")
    records = json.loads(figures.read_text())["figures"]
    assert {r["params"]["case"] for r in records} == {"weighted:4:scale=2", "weighted:40:scale=2"}
    assert all((r["source"], r["source_hash"]) == (str(user), sha256(user)) for r in records)
    page = (results / "html" / "adcompare" / "index.html").read_text()
    assert "Your own problems" in page and sha256(user)[:12] in page


def tape_figure(case: str, count: int):
    job = Job(COUNT, "numpy:cpu", "float64", (ArmSpec("tape", case, "vjp"),),
              (TAPE.figure(("numpy:cpu", "float64", case), "bytes", ("tape",)),))
    [fig] = estimates.aggregate(job, [{"job": job.id, "kind": COUNT, "arms": {"tape": {"count": count}}}])
    return fig


def reload(path: Path) -> None:
    """Load `path` afresh, as a new process would after the file changed."""
    registry.unregister([n for n in registry.problem_names() if get_problem(n).source == str(path)])
    loading._STATE.loaded.discard(str(path))
    for name in [m for m in sys.modules if m.startswith(loading.MODULE_PREFIX)]:
        del sys.modules[name]
    ad.load_problems(str(path))


def test_figures_of_a_changed_function_replace_the_older_ones_and_are_never_mixed(isolated):
    path = write(isolated, "funcs.py", FUNCTIONS)
    ad.load_problems(str(path))
    results, lines = isolated / "results", []
    merge.write_figures(results, "box", "c" * 40, [tape_figure("weighted:4:scale=2", 100),
                                                  tape_figure("weighted:40:scale=2", 1000),
                                                  tape_figure("square:1", 8)], [], {"id": "run-1", "quick": True},
                        lines.append)
    first_hash = sha256(path)
    path.write_text(path.read_text() + "\n# changed\n")
    reload(path)
    merge.write_figures(results, "box", "c" * 40, [tape_figure("weighted:4:scale=2", 200)], [],
                        {"id": "run-2", "quick": True}, lines.append)
    data = json.loads((results / "box" / FF.file_name("c" * 40)).read_text())
    kept = {(r["params"]["case"], r["run"], r.get("source_hash")) for r in data["figures"]}
    assert kept == {("weighted:4:scale=2", "run-2", sha256(path)), ("square:1", "run-1", None)}
    assert first_hash != sha256(path)
    [line] = lines
    assert line.startswith("adcompare run: weighted changed (") and "dropped 2 figures of its older version" in line


def test_asv_numbers_no_current_figure_backs_are_set_to_na():
    benchmarks = {"memory.TapeMemory.track_tape_bytes": {
        "param_names": ["target", "dtype", "case"],
        "params": [["'numpy:cpu'"], ["'float64'"], ["'mine:3'", "'mine:30'", "'square:1'"]]}}
    recorded = {"figures": [{"benchmark": "memory.TapeMemory.track_tape_bytes",
                             "params": {"target": "numpy:cpu", "dtype": "float64", "case": "mine:3"}}]}
    stale = merge.stale_entries(benchmarks, recorded, {"mine"})
    assert [s.figure.params for s in stale] == [("numpy:cpu", "float64", "mine:30")]
    assert merge.stale_entries(benchmarks, recorded, set()) == []


def test_two_advise_commands_in_one_process_each_measure_their_own_file(isolated, capsys):
    """The measurement processes fork from a server that keeps the environment it started with:
    a second command's --problems (another file) restarts it, so its problem is found there."""
    first = write(isolated, "first.py", FUNCTIONS)
    for path, name in ((first, "weighted"), (FIXTURE, "user-poly3")):
        status, out, err = run_cli(capsys, "advise", name, "--problems", str(path), "--backend", "numpy",
                                   "--quick", "--json")
        assert status == 0, err
        advice = json.loads(out)
        assert advice["problem"] == name and not advice["not_measured"]
        assert advice["verdict"]["derivatives"]["vjp"]["fastest"]["backend"] == "numpy"
