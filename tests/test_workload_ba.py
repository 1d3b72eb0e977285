"""The `ba` workload: ADBench's bundle-adjustment residuals, their x and output order, the r → 0
limit of Rodrigues' rotation, the Jacobian's block sparsity, and ADBench's data file.

The value oracle is a scalar transcription of ADBench's C++ objective (one observation at a
time, its exact `θ² != 0` branch), written here independently of the vectorised problem.
Derivatives are held against central differences (float64, the problem's `fd_rtol`) and the
adjoint identity, through the public API on every backend that runs here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import adcompare as ad
from adcompare import oracles
from adcompare.backends import backend_names, get_backend
from adcompare.errors import UserError
from adcompare.operators import OPERATORS
from adcompare.problems import get_problem
from adcompare.problems.ba import CAMERA_PARAMETERS, SMALL_ANGLE2

SMALL = {"c": 2, "p": 3, "o": 5}          # observations (0,0) (1,1) (0,2) (1,0) (0,1)


def adbench_residuals(inst, x) -> np.ndarray:
    """ADBench's objective, observation by observation: 2o reprojection errors, then o w_err."""
    c, p, o = inst.options["c"], inst.options["p"], inst.options["o"]
    cams = np.reshape(x[:11 * c], (c, 11))
    points = np.reshape(x[11 * c:11 * c + 3 * p], (p, 3))
    weights = x[11 * c + 3 * p:]
    feats = inst.constants["feature"]
    reprojection = []
    for i in range(o):
        cam, point = cams[i % c], points[i % p]
        Z = [point[k] - cam[3 + k] for k in range(3)]
        rot = cam[:3]
        sq = sum(v * v for v in rot)
        if sq != 0:
            theta = math.sqrt(sq)
            u = [v / theta for v in rot]
            cross = [u[1] * Z[2] - u[2] * Z[1], u[2] * Z[0] - u[0] * Z[2], u[0] * Z[1] - u[1] * Z[0]]
            tmp = (u[0] * Z[0] + u[1] * Z[1] + u[2] * Z[2]) * (1 - math.cos(theta))
            Y = [Z[k] * math.cos(theta) + cross[k] * math.sin(theta) + u[k] * tmp for k in range(3)]
        else:
            cross = [rot[1] * Z[2] - rot[2] * Z[1], rot[2] * Z[0] - rot[0] * Z[2],
                     rot[0] * Z[1] - rot[1] * Z[0]]
            Y = [Z[k] + cross[k] for k in range(3)]
        proj = [Y[0] / Y[2], Y[1] / Y[2]]
        rsq = proj[0] ** 2 + proj[1] ** 2
        distortion = 1 + cam[9] * rsq + cam[10] * rsq * rsq
        proj = [proj[0] * distortion * cam[6] + cam[7], proj[1] * distortion * cam[6] + cam[8]]
        reprojection += [weights[i] * (proj[0] - feats[i, 0]), weights[i] * (proj[1] - feats[i, 1])]
    return np.array(reprojection + [1 - w * w for w in weights])


def varied_x(inst, seed=0) -> np.ndarray:
    """x0 with every camera, point and weight moved differently (x0 replicates one of each)."""
    rng = np.random.default_rng(seed)
    x = inst.x0.copy()
    c, p = inst.options["c"], inst.options["p"]
    cams = x[:11 * c].reshape(c, 11)
    cams[:, :6] += 0.05 * rng.standard_normal((c, 6))
    cams[:, 6:] *= 1 + 0.1 * rng.standard_normal((c, 5))
    x[11 * c:11 * c + 3 * p] += 0.2 * rng.standard_normal(3 * p)
    x[11 * c + 3 * p:] += 0.1 * rng.standard_normal(inst.options["o"])
    return x


def runs_here(backend: str, operator: str, inst) -> None:
    reason = get_backend(backend).why_not(OPERATORS[operator], inst, "cpu", "float64")
    if reason:
        pytest.skip(reason)


# --- sizes and values ------------------------------------------------------------------------
def test_sizes_follow_the_options():
    inst = ad.instance("ba", c=3, p=5, o=7)
    assert (inst.n, inst.m) == (11 * 3 + 3 * 5 + 7, 3 * 7)
    with pytest.raises(UserError, match="n is fixed by the options"):
        ad.instance("ba", 10, c=3, p=5, o=7)
    for kw in get_problem("ba").sweep():
        inst = get_problem("ba").instance(**kw)
        assert inst.n == 11 * kw["c"] + 3 * kw["p"] + kw["o"]


def test_hand_computed_projection():
    """r = 0, C = 0, f = 2, (u0, v0) = (1, −1), k1 = 0.5, k2 = 0.25, X = (1, 2, 4), w = 2:
    z = (1/4, 1/2), ‖z‖² = 5/16, L = 1 + 5/32 + 25/1024 = 1209/1024, proj = 2 L z + (1, −1)."""
    inst = ad.instance("ba", c=1, p=1, o=1)
    x = np.array([0, 0, 0, 0, 0, 0, 2.0, 1.0, -1.0, 0.5, 0.25, 1.0, 2.0, 4.0, 2.0])
    L = 1209 / 1024
    feature = inst.constants["feature"][0]
    expected = [2 * (2 * L / 4 + 1 - feature[0]), 2 * (2 * L / 2 - 1 - feature[1]), 1 - 4]
    np.testing.assert_allclose(ad.primal("ba", x, c=1, p=1, o=1), expected, rtol=1e-15)


def test_rotation_sense():
    """r = (0, 0, π/2) turns (1, 0, 4) into (0, 1, 4): with f = 1 and nothing else, z = (0, 1/4)."""
    inst = ad.instance("ba", c=1, p=1, o=1)
    x = np.array([0, 0, np.pi / 2, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0.0, 4.0, 1.0])
    y = ad.primal("ba", x, c=1, p=1, o=1)
    np.testing.assert_allclose(y[:2] + inst.constants["feature"][0], [0.0, 0.25], atol=1e-15)


@pytest.mark.parametrize("options", [SMALL, {"c": 4, "p": 16, "o": 64}])
def test_values_match_adbench(options):
    inst = ad.instance("ba", **options)
    for x in (inst.x0, varied_x(inst)):
        np.testing.assert_allclose(ad.primal("ba", x, **options), adbench_residuals(inst, x), rtol=1e-13)


# --- the order contracts -----------------------------------------------------------------------
def test_weight_block_and_one_weight_moves_its_own_rows():
    inst = ad.instance("ba", **SMALL)
    c, p, o = SMALL["c"], SMALL["p"], SMALL["o"]
    x = varied_x(inst)
    y = ad.primal("ba", x, **SMALL)
    weights = x[11 * c + 3 * p:]
    np.testing.assert_allclose(y[2 * o:], 1 - weights**2, rtol=1e-15)
    bumped = x.copy()
    bumped[11 * c + 3 * p + 3] += 0.01          # w_3
    moved = np.flatnonzero(ad.primal("ba", bumped, **SMALL) != y)
    assert moved.tolist() == [6, 7, 2 * o + 3]


def test_a_camera_moves_its_observations_and_a_point_its_own():
    """Observation i is (camera i mod c, point i mod p), its rows 2i and 2i + 1."""
    inst = ad.instance("ba", **SMALL)
    c, p, o = SMALL["c"], SMALL["p"], SMALL["o"]
    x = varied_x(inst)
    y = ad.primal("ba", x, **SMALL)
    for column, expected in [(11 * 1 + 6, [i for i in range(o) if i % c == 1]),       # f of camera 1
                             (11 * c + 3 * 2 + 1, [i for i in range(o) if i % p == 2])]:  # X_2's y
        bumped = x.copy()
        bumped[column] += 1e-3
        moved = np.flatnonzero(ad.primal("ba", bumped, **SMALL) != y)
        assert moved.tolist() == sorted([2 * i for i in expected] + [2 * i + 1 for i in expected])


def test_jacobian_block_sparsity():
    """15 structural non-zeros per reprojection row (camera, point, weight), 1 per weight row.
    ∂e_x/∂v0 and ∂e_y/∂u0 are identically 0 (ADBench's CSR stores them as zeros), the other
    14 are non-zero at a generic x; the weight row is −2 w_i."""
    inst = ad.instance("ba", **SMALL)
    c, p, o = SMALL["c"], SMALL["p"], SMALL["o"]
    x = varied_x(inst, seed=3)
    jac = ad.jacobian("ba", x, mode="rev", **SMALL)
    np.testing.assert_allclose(jac, oracles.fd_jacobian(inst, x), rtol=0, atol=1e-6 * np.abs(jac).max())
    for i in range(o):
        camera = [CAMERA_PARAMETERS * (i % c) + k for k in range(CAMERA_PARAMETERS)]
        point = [CAMERA_PARAMETERS * c + 3 * (i % p) + k for k in range(3)]
        weight = CAMERA_PARAMETERS * c + 3 * p + i
        block = camera + point + [weight]
        assert len(block) == 15
        for axis, other_principal in ((0, camera[8]), (1, camera[7])):
            row = jac[2 * i + axis]
            assert set(np.flatnonzero(row)) == set(block) - {other_principal}
        assert np.flatnonzero(jac[2 * o + i]).tolist() == [weight]
        assert jac[2 * o + i, weight] == pytest.approx(-2 * x[weight], rel=1e-15)


# --- the r → 0 limit ------------------------------------------------------------------------------
LIMIT_ROTATIONS = {
    "zero": [0.0, 0.0, 0.0],
    "tiny": [1e-9, -2e-9, 5e-10],
    "below the switch": [0.6 * math.sqrt(SMALL_ANGLE2), 0.0, -0.79 * math.sqrt(SMALL_ANGLE2)],
    "above the switch": [0.6 * math.sqrt(SMALL_ANGLE2), 0.0, -0.81 * math.sqrt(SMALL_ANGLE2)],
}


def limit_x(inst, rotation) -> np.ndarray:
    x = varied_x(inst, seed=5)
    x[:3] = rotation                     # camera 0
    return x


@pytest.mark.parametrize("name", LIMIT_ROTATIONS)
def test_small_rotations_match_adbench_and_finite_differences(name):
    inst = ad.instance("ba", **SMALL)
    x = limit_x(inst, LIMIT_ROTATIONS[name])
    np.testing.assert_allclose(ad.primal("ba", x, **SMALL), adbench_residuals(inst, x), rtol=1e-13)
    fd = oracles.fd_jacobian(inst, x)
    for mode in ("fwd", "rev"):
        jac = ad.jacobian("ba", x, mode=mode, **SMALL)
        assert oracles.relative_error(jac, fd) < inst.problem.fd_rtol


def test_derivative_at_zero_rotation_is_the_cross_product():
    """At r = 0, ∂(R(r) Z)/∂r = −[Z]×: with f = 1, u0 = v0 = k = 0 and w = 1,
    e = (Y₁/Y₃, Y₂/Y₃) − q, so ∂e/∂r follows from the quotient rule on Y = Z + r × Z."""
    inst = ad.instance("ba", c=1, p=1, o=1)
    Z = np.array([0.3, -0.4, 2.0])
    x = np.concatenate([np.zeros(6), [1.0, 0, 0, 0, 0], Z, [1.0]])
    dY = -np.array([[0, -Z[2], Z[1]], [Z[2], 0, -Z[0]], [-Z[1], Z[0], 0]])    # −[Z]×
    expected = np.array([(dY[k] * Z[2] - Z[k] * dY[2]) / Z[2] ** 2 for k in range(2)])
    jac = ad.jacobian("ba", x, mode="rev", c=1, p=1, o=1)
    np.testing.assert_allclose(jac[:2, :3], expected, rtol=1e-14, atol=1e-15)


# eager jax's loop Jacobians dispatch ~10⁴ operations (15 s): jax-jit checks JAX's `where` here,
# --exhaustive both
@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.product) if b == "jax" else b
                                     for b in backend_names()])
def test_every_backend_at_zero_and_tiny_rotations(backend):
    """No NaN through either branch of the switch (jax's `where` gotcha), in both modes."""
    inst = ad.instance("ba", **SMALL)
    runs_here(backend, "jacobian-rev-loop", inst)
    for name in ("zero", "tiny"):
        x = limit_x(inst, LIMIT_ROTATIONS[name])
        fd = oracles.fd_jacobian(inst, x)
        for mode in ("fwd", "rev"):
            jac = ad.jacobian("ba", x, mode=mode, strategy="loop", backend=backend, **SMALL)
            assert np.all(np.isfinite(jac))
            assert oracles.relative_error(jac, fd) < inst.problem.fd_rtol


# --- every backend through the public API ---------------------------------------------------------
@pytest.mark.parametrize("backend", backend_names())
def test_backends_agree_with_the_engine_and_the_adjoint_identity(backend):
    inst = ad.instance("ba", **SMALL)
    runs_here(backend, "vjp", inst)
    runs_here(backend, "jvp", inst)
    x = varied_x(inst, seed=7)
    v, t = oracles.random_direction(inst.m, 1), oracles.random_direction(inst.n, 2)
    vj = ad.vjp("ba", x, v, backend=backend, **SMALL)
    jt = ad.jvp("ba", x, t, backend=backend, **SMALL)
    fd = oracles.fd_jacobian(inst, x)
    assert oracles.relative_error(vj, v @ fd) < inst.problem.fd_rtol
    assert oracles.relative_error(jt, fd @ t) < inst.problem.fd_rtol
    assert oracles.relative_error(vj, ad.vjp("ba", x, v, **SMALL)) < oracles.AD_RTOL["float64"]
    assert oracles.relative_error(jt, ad.jvp("ba", x, t, **SMALL)) < oracles.AD_RTOL["float64"]
    assert oracles.adjoint_gap(v, jt, vj, t) <= oracles.ADJOINT_RTOL["float64"]
    np.testing.assert_allclose(ad.primal("ba", x, backend=backend, **SMALL), adbench_residuals(inst, x),
                               rtol=1e-13)


# --- ADBench's data file ---------------------------------------------------------------------------
CAMERA = [0.01, -0.02, 0.03, 0.1, 0.2, -0.3, 400.0, 1.5, -2.5, -1e-3, 2e-6]
POINT = [0.5, -0.25, 6.0]
ADBENCH_FILE = ("3 4 5\n" + " ".join(map(str, CAMERA)) + "\n" + " ".join(map(str, POINT)) + "\n0.75\n"
                "-12.5 40.25\n")


def test_reads_adbench_file(tmp_path):
    path = tmp_path / "ba1_n3_m4_p5.txt"
    path.write_text(ADBENCH_FILE)
    inst = ad.instance("ba", data=path)
    assert dict(inst.options) == {"c": 3, "p": 4, "o": 5} and (inst.n, inst.m) == (50, 15)
    expected_x = np.concatenate([np.tile(CAMERA, 3), np.tile(POINT, 4), [0.75] * 5])
    np.testing.assert_array_equal(inst.x0, expected_x)
    np.testing.assert_array_equal(inst.constants["camera_of"], [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(inst.constants["point_of"], [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(inst.constants["feature"], np.tile([-12.5, 40.25], (5, 1)))
    np.testing.assert_allclose(ad.primal("ba", data=path), adbench_residuals(inst, inst.x0), rtol=1e-13)
    # fscanf reads ADBench's files: the same numbers on one line are the same instance
    flat = tmp_path / "flat.txt"
    flat.write_text(" ".join(ADBENCH_FILE.split()))
    np.testing.assert_array_equal(ad.primal("ba", data=flat), ad.primal("ba", data=path))


@pytest.mark.parametrize("text, message", [
    ("3 4\n", r"line 1: the file ends after 2 of the 3 numbers of the sizes"),
    ("3 0 5\n", r"line 1: the sizes .* must be positive integers, got 0"),
    ("3 4.5 5\n", r"line 1: the sizes .* must be positive integers, got '4.5'"),
    (ADBENCH_FILE.replace("0.75", "0.7x5"), r"line 4: the weight must be numbers, got '0.7x5'"),
    (ADBENCH_FILE.replace("400.0", "nan"), r"line 2: the camera must be finite, got 'nan'"),
    (ADBENCH_FILE.replace("-12.5 40.25\n", "-12.5\n"),
     r"line 5: the file ends after 1 of the 2 numbers of the feature"),
    (ADBENCH_FILE + "7\n", r"line 6: unexpected '7' after the feature"),
    ("1000000000 1000000000 1000000000\n", r"line 1: ba: .* GiB"),
])
def test_malformed_files_name_the_file_and_the_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as err:
        ad.instance("ba", data=path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_options_come_from_the_file(tmp_path):
    path = tmp_path / "ba.txt"
    path.write_text(ADBENCH_FILE)
    with pytest.raises(UserError, match="options come from the data file"):
        ad.instance("ba", data=path, c=3)
