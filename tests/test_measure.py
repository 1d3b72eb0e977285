"""The measurement helpers shared by the measurement processes and CLI: combinations, size guard,
memory counters, the first call, thread pinning. Only the numpy engine is used in-process."""

import json
import os
import subprocess
import sys

import pytest

from adcompare.backends import Unavailable
from adcompare.backends.base import size_reason
from adcompare.ids import Case, Target
from adcompare.measure import prepared as measure, threads
from adcompare.operators import get_operator


def case_instance(text):
    return Case.parse(text).instance()


def test_split_target():
    assert (Target.parse("torch:cuda").backend, Target.parse("torch:cuda").device) == ("torch", "cuda")
    assert str(Target.parse("jax-jit:cpu")) == "jax-jit:cpu" and Target.parse("jax-jit:cpu").backend == "jax-jit"
    for bad in ("torch", "torch:", ":cpu"):
        with pytest.raises(ValueError):
            Target.parse(bad)


def test_size_guard_rejects_what_does_not_fit():
    big = case_instance("square:100000")
    # n tangents of length n: 10^10 elements
    assert "needs" in size_reason(get_operator("jacobian-fwd"), big)
    # 100000 products per call
    assert "products per call" in size_reason(get_operator("jacobian-fwd-loop"), big)
    # one reverse pass of a scalar function is tiny, and products never hit the guard
    assert size_reason(get_operator("jacobian-rev"), case_instance("rosenbrock:100000")) is None
    assert size_reason(get_operator("vjp"), big) is None
    with pytest.raises(Unavailable):
        measure.prepared("numpy:cpu", "float64", "square:100000", "jacobian-fwd")


def test_prepared_is_cached_and_unavailable_is_not():
    first = measure.prepared("numpy:cpu", "float64", "square:10", "vjp")
    hits = measure.prepared.cache_info().hits
    assert measure.prepared("numpy:cpu", "float64", "square:10", "vjp") is first
    assert measure.prepared.cache_info().hits == hits + 1
    # f(x) = x² elementwise, v = 1: vᵀJ = 2x
    x = first.instance.x0
    assert first() == pytest.approx(2 * x)
    for combo in [("numpy:cpu", "float64", "square:10", "hvp-fwd-rev"),     # m = 10, not scalar
                  ("torch:cuda", "float64", "square:10", "vjp")]:           # no such device here
        with pytest.raises(NotImplementedError):
            measure.prepared(*combo)
        with pytest.raises(NotImplementedError):   # raised again, not cached
            measure.prepared(*combo)


def test_tape_bytes_grow_with_depth():
    """Reverse mode keeps every RK4 step's intermediates: more steps, more tape."""
    shallow = measure.tape_bytes("numpy:cpu", "float64", "lorenz96:8:steps=10")
    deep = measure.tape_bytes("numpy:cpu", "float64", "lorenz96:8:steps=40")
    assert isinstance(shallow, int) and 0 < shallow < deep
    with pytest.raises(NotImplementedError):
        measure.tape_bytes("torch:cuda", "float64", "square:1000")


def test_first_call_code_runs_in_a_fresh_interpreter():
    code = measure.first_call_code("numpy:cpu", "float64", "poly3:3", "vjp")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_pin_threads_fixes_one_thread_on_one_core():
    """In a subprocess: pinning changes the whole process (affinity, env, BLAS pools)."""
    code = ("import json, os\nfrom adcompare.measure import threads\nthreads.pin_threads()\n"
            "import torch\nr = threads.thread_report()\n"
            "json.dump({'affinity': r['cpu_affinity'], 'torch': r['torch_threads'],"
            " 'blas': [b['num_threads'] for b in r['blas']], 'omp': os.environ['OMP_NUM_THREADS'],"
            " 'xla': os.environ['XLA_FLAGS']}, open(1, 'w'))\n")
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["affinity"]) == 1
    assert report["torch"] == 1
    assert report["blas"] and all(n == 1 for n in report["blas"])
    assert report["omp"] == "1"
    assert "intra_op_parallelism_threads=1" in report["xla"]


def test_pinned_cpu_honours_the_environment(monkeypatch):
    allowed = sorted(os.sched_getaffinity(0))
    monkeypatch.setenv(threads.CPU_ENV, str(allowed[0]))
    assert threads.pinned_cpu() == allowed[0]
    monkeypatch.setenv(threads.CPU_ENV, "9999")
    with pytest.raises(RuntimeError):
        threads.pinned_cpu()
    monkeypatch.delenv(threads.CPU_ENV)
    assert threads.pinned_cpu() == allowed[-1]
