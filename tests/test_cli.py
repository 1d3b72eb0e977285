"""The `adcompare` command as users run it: a subprocess, its stdout, stderr and exit status."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from adcompare.backends import backend_names, get_backend
from adcompare.cli import main as cli_main
from adcompare.problems import all_problems


def adcompare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adcompare", *args], capture_output=True, text=True, timeout=600)


def json_result(*args: str):
    done = adcompare(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["result"]


def skip_if_missing(backend: str):
    reason = get_backend(backend).missing_reason()
    if reason:
        pytest.skip(reason)


def test_golden_vjp_from_the_command_line():
    """One process start (the other tests call the same `main` in this process)."""
    assert json_result("vjp", "poly3", "--backend", "numpy", "--x", "1,2,3", "--v", "3,2,1") == [10, 34, 42]


@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.product) if get_backend(b).slow_compile else b
                                     for b in backend_names()])
def test_golden_vjp_of_every_backend_through_the_command(backend, capsys):
    skip_if_missing(backend)
    for v, expected in ((None, [5, 18, 34]), ("3,2,1", [10, 34, 42])):
        args = ["vjp", "poly3", "--backend", backend, "--x", "1,2,3", "--json"] + (["--v", v] if v else [])
        assert cli_main(args) == 0
        assert json.loads(capsys.readouterr().out)["result"] == expected


def test_plain_output_and_default_x():
    skip_if_missing("torch")
    done = adcompare("vjp", "poly3", "--backend", "torch", "--v", "3,2,1")   # x0 of poly3 is (1, 2, 3)
    assert done.returncode == 0, done.stderr
    assert [float(s) for s in done.stdout.split()] == [10, 34, 42]
    done = adcompare("jacobian", "poly3", "--backend", "torch", "--mode", "rev", "--strategy", "loop")
    assert np.loadtxt(done.stdout.splitlines()).tolist() == [[2, 2, 1], [1, 12, 6], [2, 4, 27]]


def test_jvp_hvp_options_and_dtype():
    skip_if_missing("jax")
    assert json_result("jvp", "square", "--backend", "jax", "--x", "1,2,3", "--t", "1,0,-1") == [2, 0, -6]
    hvp = json_result("hvp", "rosenbrock", "--backend", "jax", "--x=1,2", "--t", "0.5,-1", "--mode", "rev-fwd")
    np.testing.assert_allclose(hvp, [402 * 0.5 + 400, -200 - 200], rtol=1e-13)
    jac = json_result("jacobian", "affine", "--backend", "jax", "--n", "3", "--opt", "m=5", "--mode", "fwd",
                      "--dtype", "float32")
    assert np.shape(jac) == (5, 3)


def test_list_shows_every_problem_and_backend():
    done = adcompare("list")
    assert done.returncode == 0, done.stderr
    for p in all_problems():
        assert p.name in done.stdout and p.summary in done.stdout
    for name in backend_names():
        assert f"\n{name} " in done.stdout
    assert "128→1 (N=16), 128→1 (N=32)," in done.stdout        # instances of one shape name their options


def test_check_passes_on_one_problem():
    done = adcompare("check", "--problem", "poly3", "--backend", "numpy", "--backend", "torch")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout and " ok" in done.stdout


@pytest.mark.parametrize("args, allowed", [
    (["vjp", "nope"], "choose from: affine"),
    (["vjp", "poly3", "--backend", "nope"], "choose from: numpy, torch"),
    (["vjp", "poly3", "--backend", "torch", "--device", "tpu"], "runs on cpu, cuda"),
    (["jacobian", "poly3", "--mode", "sideways"], "choose from: fwd, rev"),
    (["jacobian", "poly3", "--mode", "fwd", "--strategy", "zigzag"], "choose from: batched, loop"),
    (["hvp", "rosenbrock", "--mode", "rev"], "choose from: fwd-rev, rev-rev, rev-fwd"),
    (["vjp", "poly3", "--dtype", "float16"], "choose from: float64, float32"),
    (["vjp", "poly3", "--v", "1,2"], "v must be a vector of shape (3,)"),
    (["vjp", "poly3", "--x", "1,a"], "--x: '1,a' is not a comma-separated list of numbers"),
    (["vjp", "poly3", "--x", "1,2,3", "--v", "1,,2"], "--v: '1,,2' is not"),
    (["vjp", "poly3", "--n", "4"], "poly3: n must be 3"),
    (["vjp", "affine", "--opt", "m"], "--opt: 'm' is not KEY=INTEGER"),
    (["vjp", "affine", "--opt", "q=3"], "unknown option 'q'"),
    (["vjp", "poly3", "--n", "x"], "invalid int value"),
    (["check", "--backend", "nope"], "choose from: numpy"),
    (["check", "--n", "0"], "--n must be at least 1, got 0"),
    (["vjp", "affine", "--n", "100000000000"], "vjp on affine(n=100000000000, m=100000000000) needs about"),
    (["vjp", "affine", "--n", "10", "--opt", "m=1000000000000"], "vjp on affine(n=10, m=1000000000000) needs about"),
    (["jacobian", "affine", "--n", "1000000", "--mode", "fwd"], "jacobian-fwd on affine(n=1000000, m=1000000) needs about"),
    (["vjp", "square", "--x", "1,2", "--n", "2"], "not allowed with argument"),
])
def test_user_mistakes_exit_2_with_one_line(args, allowed):
    done = adcompare(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and allowed in lines[0], done.stderr


def test_a_jacobian_too_large_for_the_machine_is_a_one_line_error():
    """J of square at n = 10⁶ would hold 10¹² elements (7.3 TiB): refused before allocating, exit 2."""
    done = subprocess.run([sys.executable, "-m", "adcompare", "jacobian", "square", "--n", "1000000", "--mode", "fwd"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "jacobian-fwd on square(n=1000000) needs about" in done.stderr
    assert "Traceback" not in done.stderr


def test_json_stays_json_when_the_result_overflows():
    """float32 overflows past 3.4e38 (2·3e38 here): JSON has no Infinity, so the entry is null and a field says why."""
    done = adcompare("jvp", "square", "--x=3e38,2", "--dtype", "float32", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert out["result"] == [None, 4.0]
    assert out["non_finite"]["count"] == 1 and "infinite" in out["non_finite"]["why"]
    assert "Warning" not in done.stderr
    plain = adcompare("jvp", "square", "--x=3e38,2", "--dtype", "float32")
    assert plain.stdout.split() == ["inf", "4.0"] and "1 entries are not finite" in plain.stderr


def test_bare_command_shows_usage_and_version_is_known():
    done = adcompare()
    assert done.returncode == 2 and done.stderr.startswith("usage: adcompare") and "run" in done.stderr
    version = adcompare("--version")
    assert version.returncode == 0 and version.stdout.startswith("adcompare ")
