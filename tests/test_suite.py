"""The benchmark grids (derived from the registries, every combination valid) and `adcompare run`'s
selection and error paths. Nothing here starts asv; tests/test_benchmarks.py does."""

import itertools
import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from adcompare import backends, grid, suite
from adcompare.backends import DTYPES, Backend, Built
from adcompare.cases import case_instance, format_case, parse_case
from adcompare.operators import OPERATORS
from adcompare.problems import Problem, registry


class _Cube(Problem):
    """f(x) = x³ elementwise — a problem that exists only inside one test."""

    name = "cube-test"
    summary = "x³"
    sweep_sizes = (5, 50)
    test_size = 5

    def f(self, xp, x, c):
        return x ** 3

    def output_size(self, n, **opts):
        return n


class _Fake(Backend):
    name = "fake-test"
    summary = "a backend that exists only inside one test"
    devices = ("cpu", "tpu")

    def build(self, operator, inst, x, direction, device, dtype):
        return Built(lambda: np.zeros(inst.m), lambda r: r, np.asarray)


@pytest.mark.parametrize("name", list(grid.FAMILIES))
@pytest.mark.parametrize("grid_name", grid.GRIDS)
def test_every_combination_is_a_valid_id(name, grid_name):
    fam = grid.FAMILIES[name]
    combos = grid.combos(fam, grid_name)
    assert len(combos) == len(set(combos))
    targets = grid.targets()
    for combo in combos:
        kw = grid.combo_kwargs(fam, combo)
        assert kw["target"] in targets
        assert kw.get("dtype", "float64") in DTYPES
        problem, n, opts = parse_case(kw["case"])
        assert format_case(problem, n, **opts) == kw["case"]       # canonical spelling
        inst = grid.instance_of(kw["case"])
        assert dict(inst.options) == opts                           # every option spelled out
        operator = kw.get("operator", "vjp")
        assert operator in OPERATORS
        assert grid.fits(kw["case"], operator), combo


@pytest.mark.parametrize("name", list(grid.FAMILIES))
def test_params_cover_the_combinations(name):
    fam = grid.FAMILIES[name]
    params = grid.params(fam, "default")
    assert len(params) == len(fam.param_names)
    product = set(itertools.product(*params))
    assert set(grid.combos(fam, "default")) <= product


def test_default_grid_has_what_the_report_needs():
    ops = grid.FAMILIES["time_operators.Operators.time_operator"]
    rows = grid.rows(ops, "default")
    assert {r[2] for r in rows} == set(OPERATORS)          # every operator is timed somewhere
    assert {r[0] for r in rows} == set(DTYPES)             # both dtypes
    cross = grid.rows(grid.FAMILIES["time_operators.Crossover.time_jacobian"], "default")
    aspects = sorted({case_instance(c).n / case_instance(c).m for _, c, _ in cross})
    assert aspects[0] == pytest.approx(1 / 64) and aspects[-1] == pytest.approx(64)
    assert 1.0 in aspects
    assert {case_instance(c).n * case_instance(c).m for _, c, _ in cross} == {grid.CROSSOVER_PRODUCT}
    tape = grid.rows(grid.FAMILIES["memory.TapeMemory.track_tape_bytes"], "default")
    steps = {parse_case(c)[2]["steps"] for _, c in tape if c.startswith("lorenz96:128:")}
    assert steps == set(grid.DEPTHS["default"])
    peak = grid.FAMILIES["memory.PeakDeviceMemory.track_peak_device_bytes"]
    assert all(not c[0].endswith(":cpu") for c in grid.combos(peak, "default"))


def test_crossover_reaches_every_backend():
    """Batched and loop Jacobians at every aspect: a backend without batching (autograd) still
    has both loops there, so every backend is in the crossover."""
    cross = grid.rows(grid.FAMILIES["time_operators.Crossover.time_jacobian"], "default")
    by_case = {}
    for _, case, op in cross:
        by_case.setdefault(case, set()).add(op)
    assert by_case and all(ops == set(grid.BATCHED_JACOBIANS + grid.LOOP_JACOBIANS) for ops in by_case.values())
    inst = case_instance(next(iter(by_case)))
    for b in backends.all_backends():
        assert all(b.unsupported_reason(OPERATORS[op]) is None for op in grid.LOOP_JACOBIANS), b.name
    assert backends.get_backend("autograd").unsupported_reason(OPERATORS["jacobian-rev"]) is not None
    assert inst.n * inst.m == grid.CROSSOVER_PRODUCT


def test_wide_grid_is_a_superset():
    for fam in grid.FAMILIES.values():
        assert len(grid.combos(fam, "wide")) >= len(grid.combos(fam, "default")), fam.name


def test_a_new_problem_adds_benchmarks(monkeypatch):
    before = grid.combos(grid.FAMILIES["time_operators.Operators.time_operator"], "default")
    monkeypatch.setitem(registry._REGISTRY, _Cube.name, _Cube())
    after = grid.combos(grid.FAMILIES["time_operators.Operators.time_operator"], "default")
    added = set(after) - set(before)
    assert {c[2] for c in added} == {"cube-test:5", "cube-test:50"}
    assert ("numpy:cpu", "float64", "cube-test:50", "vjp") in added
    assert not any(c[3].startswith("hvp") for c in added)      # m = n: no HVPs
    tape = grid.combos(grid.FAMILIES["memory.TapeMemory.track_tape_bytes"], "default")
    assert ("numpy:cpu", "float64", "cube-test:5") in tape


def test_a_new_backend_adds_targets(monkeypatch):
    monkeypatch.setitem(backends._BACKENDS, _Fake.name, _Fake())
    assert {"fake-test:cpu", "fake-test:tpu"} <= set(grid.targets())
    fam = grid.FAMILIES["time_operators.Operators.time_operator"]
    combos = grid.combos(fam, "default")
    assert ("fake-test:cpu", "float64", "square:1000", "vjp") in combos
    assert "fake-test:tpu" in grid.params(fam, "default")[0]
    peak = grid.FAMILIES["memory.PeakDeviceMemory.track_peak_device_bytes"]
    assert "fake-test:tpu" in grid.family_targets(peak) and "fake-test:cpu" not in grid.family_targets(peak)
    # it runs on cpu, but does not measure tape memory
    assert grid.unavailable_reason(fam, ("fake-test:cpu", "float64", "square:1000", "vjp")) is None
    tape = grid.FAMILIES["memory.TapeMemory.track_tape_bytes"]
    assert "tape_bytes" in grid.unavailable_reason(tape, ("fake-test:cpu", "float64", "square:1000"))


def _args(**kw):
    base = dict(grid="default", problem=None, backend=None, device=None, bench=None)
    return SimpleNamespace(**{**base, **kw})


def test_selection_narrows_and_skips_what_cannot_run():
    selected = suite.select(_args(backend=["numpy"], problem=["square"]))
    combos = [c for cs in selected.values() for c in cs]
    assert combos and all(c[0] == "numpy:cpu" for c in combos)
    assert all(grid.combo_kwargs(grid.FAMILIES[n], c)["case"].startswith("square:")
               for n, cs in selected.items() for c in cs)
    # no GPU targets on a machine without one; the peak-memory family then has nothing to run
    if grid.unavailable_reason(grid.FAMILIES["time_operators.Operators.time_operator"],
                               ("torch:cuda", "float64", "square:1000", "vjp")) is not None:
        everything = suite.select(_args())
        assert all(c[0].endswith(":cpu") for cs in everything.values() for c in cs)
        assert "memory.PeakDeviceMemory.track_peak_device_bytes" not in everything
    only = suite.select(_args(backend=["numpy"], bench=r"Operators.*'vjp'"))
    assert list(only) == ["time_operators.Operators.time_operator"]
    assert {c[3] for c in only["time_operators.Operators.time_operator"]} == {"vjp"}


def test_bench_regexes_match_exactly_the_selection(monkeypatch):
    monkeypatch.setattr(suite, "MAX_REGEX_CHARS", 400)    # force several chunks
    selected = suite.select(_args(backend=["numpy"], problem=["square", "mlp"]))
    patterns = [re.compile(p) for p in suite.bench_regexes(selected)]
    assert len(patterns) > len(selected)
    for name, fam in grid.FAMILIES.items():
        wanted = set(selected.get(name, []))
        for combo in itertools.product(*grid.params(fam, "default")):
            asv_name = grid.asv_name(fam, combo)
            assert any(p.search(asv_name) for p in patterns) == (combo in wanted), asv_name


def test_check_slice_is_small_and_covers_every_family_and_target():
    selected = suite.select(_args())
    slice_ = suite.check_slice(selected)
    assert set(slice_) == set(selected)
    for name, combos in slice_.items():
        assert {c[0] for c in combos} == {c[0] for c in selected[name]}
    assert suite.count(slice_) <= len(grid.targets()) * len(grid.FAMILIES)


def test_launch_method_defaults_to_forkserver():
    assert suite.launch_method("auto") == "forkserver"
    assert suite.launch_method("spawn") == "spawn"


def test_compiling_targets_stay_shallow_in_the_default_grid():
    ops = grid.FAMILIES["time_operators.Operators.time_operator"]
    tape = grid.FAMILIES["memory.TapeMemory.track_tape_bytes"]
    assert grid.compiles("jax-jit:cpu") and not grid.compiles("jax:cpu")
    deep = [c for c in grid.combos(tape, "default") if c[0] == "jax-jit:cpu" and c[2].startswith("lorenz96")]
    assert deep and all(parse_case(c[2])[2]["steps"] <= grid.MAX_COMPILED_STEPS["default"] for c in deep)
    assert ("jax:cpu", "float64", "lorenz96:128:steps=160") in grid.combos(tape, "default")
    assert ("jax-jit:cpu", "float64", "lorenz96:128:steps=10", "vjp") in grid.combos(ops, "wide")
    assert ("jax-jit:cpu", "float64", "lorenz96:128:steps=10", "vjp") not in grid.combos(ops, "default")


@pytest.mark.parametrize("argv, words", [
    (["--backend", "jaxx"], "unknown backend 'jaxx'; choose from: numpy"),
    (["--problem", "nope"], "unknown problem 'nope'; choose from: affine"),
    (["--device", "tpu"], "unknown device 'tpu'; choose from: cpu"),
    (["--grid", "huge"], "unknown grid 'huge'; choose from: default, wide"),
    (["--bench", "("], "--bench is not a valid regular expression"),
    (["--bench", "no-such-benchmark"], "nothing to run"),
])
def test_run_user_errors_are_one_line_and_exit_2(argv, words):
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--list", *argv],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_run_list_prints_asv_names():
    done = subprocess.run([sys.executable, "-m", "adcompare", "run", "--list", "--backend", "numpy",
                           "--problem", "poly3", "--bench", "Operators"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "time_operators.Operators.time_operator('numpy:cpu', 'float64', 'poly3:3', 'vjp')" in lines
    assert done.stderr.strip() == f"{len(lines)} combinations"


def test_asv_command_lines(monkeypatch, tmp_path):
    """Here: -E existing against HEAD; history: the commit range in asv's own environments."""
    calls = []
    monkeypatch.setattr(suite, "asv", lambda config, *args, env=None, capture=False:
                        calls.append(args) or SimpleNamespace(returncode=0))
    monkeypatch.setattr(suite, "config_root", lambda config: suite.project_root())
    selected = {"time_operators.Operators.time_operator": [("numpy:cpu", "float64", "poly3:3", "vjp")]}
    suite.run_asv(tmp_path / "asv.conf.json", "m", selected, {}, quick=True, method="forkserver")
    suite.run_asv(tmp_path / "asv.conf.json", "m", selected, {}, quick=False, method="spawn", commits="A..B")
    here, history = calls
    assert here[:3] == ("run", "-E", f"existing:{sys.executable}")
    assert "--set-commit-hash" in here and "--quick" in here and "forkserver" in here
    assert history[:2] == ("run", "A..B")
    assert "-E" not in history and "--set-commit-hash" not in history and "--quick" not in history
    assert history[-2] == "-b" and re.search(history[-1], grid.asv_name(
        grid.FAMILIES["time_operators.Operators.time_operator"], ("numpy:cpu", "float64", "poly3:3", "vjp")))


def test_machine_registration_keeps_the_hardware(monkeypatch, tmp_path):
    """asv's pages describe a machine by what ~/.asv-machine.json holds: the name and the hardware."""
    from asv.machine import Machine, MachineCollection

    monkeypatch.setattr(MachineCollection, "get_machine_file_path", staticmethod(lambda: str(tmp_path / "m.json")))
    suite.register_machine("box-2c")
    suite.register_machine("box-2c")   # again: same entry, no prompt, no duplicate
    stored = MachineCollection.load("box-2c")
    detected = Machine.get_defaults()
    assert stored == {**detected, "machine": "box-2c"}
    assert stored["num_cpu"] == detected["num_cpu"] and stored["cpu"] and stored["ram"].isdigit()
