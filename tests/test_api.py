"""The Python API: golden numbers through every backend, defaults, options, errors, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import adcompare as ad
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.operators import OPERATORS

X = [1.0, 2.0, 3.0]
POLY3_J = np.array([[2.0, 2.0, 1.0], [1.0, 12.0, 6.0], [2.0, 4.0, 27.0]])   # at x = (1, 2, 3)


def skip_unless_runs(backend: str, operator: str):
    """Skip where this backend cannot run `operator` on poly3 here (framework, operator support)."""
    inst = ad.instance("poly3", 3)
    reason = get_backend(backend).why_not(OPERATORS[operator], inst, "cpu", "float64")
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("backend", backend_names())
def test_golden_vjp(backend):
    skip_unless_runs(backend, "vjp")
    np.testing.assert_allclose(ad.vjp("poly3", X, backend=backend), [5, 18, 34], rtol=1e-14)
    np.testing.assert_allclose(ad.vjp("poly3", X, [3, 2, 1], backend=backend), [10, 34, 42], rtol=1e-14)
    np.testing.assert_allclose(ad.vjp("square", X, backend=backend), [2, 4, 6], rtol=1e-14)


@pytest.mark.parametrize("backend", backend_names())
def test_golden_jvp_and_primal(backend):
    skip_unless_runs(backend, "jvp")
    np.testing.assert_allclose(ad.jvp("poly3", X, [1, 0, 0], backend=backend), POLY3_J[:, 0], rtol=1e-14)
    np.testing.assert_allclose(ad.jvp("square", X, backend=backend), [2, 4, 6], rtol=1e-14)
    np.testing.assert_allclose(ad.primal("poly3", X, backend=backend), [8, 18, 33], rtol=1e-14)


@pytest.mark.parametrize("strategy", ["batched", "loop"])
@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("backend", backend_names())
def test_golden_jacobian(backend, mode, strategy):
    skip_unless_runs(backend, f"jacobian-{mode}" + ("-loop" if strategy == "loop" else ""))
    jac = ad.jacobian("poly3", X, mode=mode, strategy=strategy, backend=backend)
    np.testing.assert_allclose(jac, POLY3_J, rtol=1e-14)


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev", "rev-fwd"])
@pytest.mark.parametrize("backend", backend_names())
def test_hvp_of_rosenbrock(backend, mode):
    """f = 100 (x2 − x1²)² + (1 − x1)²: H = [[1200x1² − 400x2 + 2, −400x1], [−400x1, 200]]."""
    skip_unless_runs(backend, "hvp-" + mode)
    x, t = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    hessian = np.array([[1200 * 1 - 400 * 2 + 2, -400.0], [-400.0, 200.0]])
    np.testing.assert_allclose(ad.hvp("rosenbrock", x, t, mode=mode, backend=backend), hessian @ t, rtol=1e-13)


def test_problem_options_as_keywords():
    skip_unless_runs("numpy", "jacobian-rev")
    jac = ad.jacobian("affine", np.ones(3), mode="rev", m=5)
    assert jac.shape == (5, 3)
    np.testing.assert_allclose(jac, ad.instance("affine", 3, m=5).constants["A"], rtol=1e-14)


def test_prepare_gives_the_timed_operator():
    skip_unless_runs("numpy", "vjp")
    prepared = ad.prepare("vjp", "poly3", X, [3, 2, 1])
    assert prepared.prepare_seconds > 0
    np.testing.assert_allclose(prepared.to_numpy(prepared.block(prepared.run())), [10, 34, 42])


@pytest.mark.parametrize("call, message", [
    (lambda: ad.vjp("nope", X), "unknown problem 'nope'"),
    (lambda: ad.vjp("poly3", X, backend="nope"), "unknown backend 'nope'"),
    (lambda: ad.vjp("poly3", X, [1, 2]), "v must be a vector of shape (3,)"),
    (lambda: ad.vjp("poly3", [[1, 2, 3]]), "x must be a 1-D vector"),
    (lambda: ad.vjp("poly3", ["a", 2, 3]), "x must be a vector of real numbers, got text values"),
    (lambda: ad.vjp("poly3", np.array([1 + 2j, 2, 3])), "x must be a vector of real numbers, got complex values"),
    (lambda: ad.vjp("poly3", np.array([True, False, True])), "got boolean values"),
    (lambda: ad.vjp("poly3", X, "abc"), "v must be a vector of real numbers, got text values"),
    (lambda: ad.jvp("poly3", X, [1j, 0, 0]), "t must be a vector of real numbers, got complex values"),
    (lambda: ad.vjp("square", n=True), "n must be an integer, got True"),
    (lambda: ad.vjp("square", n=2.0), "n must be an integer, got 2.0"),
    (lambda: ad.vjp("affine", n=2, m=True), "option m must be an integer, got True"),
    (lambda: ad.vjp("affine", n=10**11), "needs about"),
    (lambda: ad.jacobian("affine", n=1000, m=10**12), "this machine has"),
    (lambda: ad.vjp("poly3", X, dtype="float16"), "unknown dtype 'float16'"),
    (lambda: ad.jacobian("poly3", X, mode="sideways"), "unknown jacobian mode 'sideways'"),
    (lambda: ad.hvp("rosenbrock", X, mode="fwd-fwd"), "unknown hvp mode 'fwd-fwd'"),
    (lambda: ad.vjp("poly3", [1, 2]), "poly3: n must be 3"),
    (lambda: ad.vjp("affine", X, mm=3), "unknown option 'mm'"),
])
def test_user_mistakes_raise_user_error(call, message):
    with pytest.raises(ad.UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_unrunnable_combinations_raise_unavailable():
    with pytest.raises(Unavailable, match="scalar-output"):
        ad.hvp("poly3", X, backend="torch")
    with pytest.raises(Unavailable, match="runs on cpu"):
        ad.vjp("poly3", X, backend="numpy", device="cuda")


def test_importing_adcompare_and_using_numpy_imports_no_framework():
    code = (
        "import sys, adcompare as ad\n"
        "from adcompare.cli import main\n"
        "assert main(['list']) == 0\n"
        "if ad.backends.get_backend('numpy').missing_reason() is None:\n"
        "    ad.vjp('poly3', [1, 2, 3]); ad.jacobian('square', [1.0, 2.0], mode='rev')\n"
        "loaded = [m for m in ('torch', 'jax', 'jaxlib', 'autograd') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_validation_does_not_depend_on_what_ran_before():
    """The instance cache must not let True or 2.0 through because 1 or 2 was cached first."""
    ad.vjp("square", n=2)
    ad.vjp("affine", n=2, m=1)
    with pytest.raises(ad.UserError, match="n must be an integer"):
        ad.vjp("square", n=2.0)
    with pytest.raises(ad.UserError, match="option m must be an integer"):
        ad.vjp("affine", n=2, m=True)


def test_instances_are_immutable_and_inputs_are_copied():
    inst = ad.instance("affine", 3, m=2)
    assert inst.n == 3 and inst.m == 2 and dict(inst.options) == {"m": 2}
    with pytest.raises(ValueError, match="read-only"):
        inst.constants["A"][0, 0] = 1.0
    with pytest.raises(TypeError):
        inst.constants["A"] = np.zeros((2, 3))
    with pytest.raises(ValueError, match="read-only"):
        inst.x0[0] = 5.0
    x = np.array([1.0, 2.0, 3.0])
    v = np.array([3.0, 2.0, 1.0])
    prepared = ad.prepare("vjp", "poly3", x, v)
    x[:] = 0.0          # the caller changes its arrays after preparing
    v[:] = 0.0
    np.testing.assert_allclose(prepared(), [10, 34, 42])
    np.testing.assert_allclose(ad.vjp("poly3", [1, 2, 3], [3, 2, 1]), [10, 34, 42])
