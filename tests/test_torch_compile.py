"""torch-compile: prepare compiles, run never does; graph breaks are n/a; every operator agrees
with eager torch; the compiled tape is what AOTAutograd saves; a missing compiler says why.

Compilations are counted by dynamo's own counters (`torch._dynamo.utils.counters`: one
"unique_graphs" per captured graph, one aot_autograd "total" per graph AOTAutograd compiles),
and the runs also go through `torch.compiler.set_stance("fail_on_recompile")`, under which dynamo
raises instead of compiling. Each compile takes seconds on one core, so the operators are
compiled once per module (`compiled` fixture) and every test reuses them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from adcompare import oracles
from adcompare.backends import Unavailable, get_backend
from adcompare.backends import torch_compile
from adcompare.commands.check import check_direction, small_instance
from adcompare.operators import OPERATORS
from adcompare.problems import Problem, get_problem

torch = pytest.importorskip("torch")
BACKEND = get_backend("torch-compile")
if BACKEND.missing_reason():
    pytest.skip(BACKEND.missing_reason(), allow_module_level=True)

pytestmark = pytest.mark.slow

# Every operator torch-compile implements, on a problem where it applies: mlp (R⁵ → R³, with
# constant matrices, which the compiled function takes as arguments) and rosenbrock for the HVPs.
CASES = [("rosenbrock" if op.kind == "hvp" else "mlp", name) for name, op in OPERATORS.items()
         if name in BACKEND.operators]


def compile_counts() -> tuple[int, int]:
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"], counters["aot_autograd"]["total"]


def instance(problem: str):
    return small_instance(get_problem(problem))


@pytest.fixture(scope="module")
def compiled():
    """{(problem, operator): (prepared, compilations seen during its prepare)}."""
    out = {}
    for problem, operator in CASES:
        inst, op = instance(problem), OPERATORS[operator]
        before = compile_counts()
        prepared = BACKEND.prepare(op, inst, inst.x0, check_direction(op, inst))
        out[problem, operator] = prepared, np.subtract(compile_counts(), before)
    return out


def test_every_implemented_operator_is_covered():
    assert {name for _, name in CASES} == set(BACKEND.operators)
    assert len(CASES) == 10


@pytest.mark.parametrize("problem, operator", CASES)
def test_prepare_compiles_and_run_compiles_nothing(compiled, problem, operator):
    prepared, during_prepare = compiled[problem, operator]
    assert during_prepare[0] >= 1, "prepare captured no graph: the counters are not seeing compilations"
    before = compile_counts()
    with torch.compiler.set_stance("fail_on_recompile"):
        results = [prepared.block(prepared.run()) for _ in range(3)]   # the same inputs each time
    assert compile_counts() == before, "run compiled"
    for r in results[1:]:
        assert torch.equal(r, results[0])


@pytest.mark.parametrize("problem, operator", CASES)
def test_agrees_with_eager_torch(compiled, problem, operator):
    """Inductor may reassociate sums and fuse multiply-adds: a few ulp per primitive, AD_RTOL."""
    prepared, _ = compiled[problem, operator]
    inst, op = instance(problem), OPERATORS[operator]
    eager = get_backend("torch").prepare(op, inst, inst.x0, check_direction(op, inst))()
    assert oracles.relative_error(prepared(), eager) <= oracles.AD_RTOL["float64"]


def test_prepare_reports_a_cold_cache_by_default(compiled):
    prepared, _ = compiled["mlp", "vjp"]
    assert get_backend("torch-compile").compile_cache_state(prepared) == "cold"
    torch_prepared = get_backend("torch").prepare(OPERATORS["vjp"], instance("mlp"))
    assert get_backend("torch").compile_cache_state(torch_prepared) is None


def test_shared_cache_turns_a_second_prepare_warm(tmp_path):
    """The second process (here: the second prepare) to compile an operator reads it from the cache."""
    torch_compile.use_shared_cache(str(tmp_path / "inductor"))
    try:
        inst, op = instance("square"), OPERATORS["vjp"]
        first = BACKEND.prepare(op, inst)
        second = BACKEND.prepare(op, inst)
    finally:
        torch_compile.use_shared_cache(None)
    assert (first.cache_state, second.cache_state) == ("cold", "warm")
    assert np.array_equal(first(), second())
    assert any((tmp_path / "inductor").iterdir())


class GraphBreak(Problem):
    """A function dynamo cannot capture in one graph: Python control flow on the data."""

    name = "graph-break"
    summary = "test only"
    sweep_sizes = (3,)
    test_size = 3

    def f(self, xp, x, c):
        return 2 * x if xp.sum(x) > 0 else -x

    def output_size(self, n, **opts):
        return n


def test_graph_break_is_unavailable_with_torchs_reason():
    inst = GraphBreak().instance(3)
    with pytest.raises(Unavailable) as err:
        BACKEND.prepare(OPERATORS["vjp"], inst)
    message = str(err.value)
    assert "without graph breaks" in message and "vjp" in message
    assert "\n" not in message and len(message) < 500


def test_a_result_unlike_eager_torch_func_is_unavailable(monkeypatch):
    """A miscompilation (here: simulated, the compiled result off by 1e-6) is n/a, never a number."""
    built = BACKEND.build

    def off(*args):
        b = built(*args)
        return dataclasses.replace(b, run=lambda: b.run() + 1e-6)
    monkeypatch.setattr(BACKEND, "build", off)
    with pytest.raises(Unavailable, match="miscompiles vjp on square"):
        BACKEND.prepare(OPERATORS["vjp"], instance("square"))


class Gather(Problem):
    """y = x[idx]², the gather that ba and ht do (`take`), on a repeated index: Jᵢⱼ = 2xⱼ [idxᵢ = j]."""

    name = "gather"
    summary = "test only"
    sweep_sizes = (3,)
    test_size = 3

    def f(self, xp, x, c):
        return xp.take(x, c["idx"], axis=0) ** 2

    def output_size(self, n, **opts):
        return 4

    def constants(self, n, rng, **opts):
        return {"idx": np.array([0, 2, 0, 1])}


def test_jacrev_through_take_is_refused_not_wrong():
    """torch 2.13's Inductor scatters vmap's batched backward of `take` into one stride-0 buffer
    (pytorch#183986: every row of J comes out as the sum of all rows), so ba's and ht's reverse
    Jacobians are n/a. When torch fixes it, this test fails: the guard is then no longer needed
    for them, and the operators agree with the oracles instead (tests/test_backends.py)."""
    inst = Gather().instance(3)
    assert np.array_equal(get_backend("torch").prepare(OPERATORS["jacobian-rev"], inst)(),
                          2 * np.eye(3)[[0, 2, 0, 1]] * inst.x0)   # eager is right
    with pytest.raises(Unavailable, match="miscompiles jacobian-rev"):
        BACKEND.prepare(OPERATORS["jacobian-rev"], inst)


def tape(backend: str, steps: int) -> int:
    inst = get_problem("lorenz96").instance(128, steps=steps)
    return get_backend(backend).tape_bytes(inst, inst.x0, "cpu", "float64")


def test_compiled_tape_is_what_the_partitioner_saves():
    """mlp: x̄ = W1ᵀ((1 − h²) ⊙ W2ᵀv) needs h = tanh(W1x + b1); recomputing it takes a matmul,
    which the partitioner never recomputes, so exactly `hidden` float64 values are saved."""
    inst = get_problem("mlp").instance(5, m=3, hidden=16)
    assert BACKEND.tape_bytes(inst, inst.x0, "cpu", "float64") == 16 * 8


def test_compiled_tape_of_lorenz96_does_not_grow_with_depth():
    """Eager torch keeps every RK4 stage (linear in depth); Inductor's partitioner recomputes the
    pointwise chain from x in the backward instead, so it saves nothing beyond x at any depth."""
    eager = [tape("torch", s) for s in (1, 2)]
    assert eager[0] >= 128 * 8 and 1.95 * eager[0] <= eager[1] <= 2.05 * eager[0]
    assert [tape("torch-compile", s) for s in (1, 2)] == [0, 0]


def test_missing_compiler_names_the_install_command(monkeypatch):
    import shutil

    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    reason = BACKEND.missing_reason()
    assert "'g++' is not on PATH" in reason and "apt-get install g++" in reason
    assert BACKEND.why_not(OPERATORS["vjp"], instance("square"), "cpu", "float64") == reason
    with pytest.raises(Unavailable, match="apt-get install g"):
        BACKEND.prepare(OPERATORS["vjp"], instance("square"))


def test_compiler_named_by_cxx_is_the_one_checked(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    assert "'no-such-c++-compiler' is not on PATH" in BACKEND.missing_reason()


def test_missing_torch_names_the_pip_command(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert "pip install torch==2.13.0" in BACKEND.missing_reason()


def test_toolchain_initialization_starts_no_thread():
    """What the fork server runs (the backend's preload hook): builds and probes in child
    processes, but no thread of its own in this process, so forking after it stays safe."""
    import os

    threads = len(os.listdir("/proc/self/task"))
    seconds = torch_compile.initialize_toolchain()
    assert set(seconds) >= {"vector ISA probe", "torch source hash"}
    assert len(os.listdir("/proc/self/task")) == threads
