"""The `ht` workload (ADBench's hand tracking): the objective against a loop-by-loop transcription
of ADBench's definition, derivatives against finite differences and across every backend, the
x-order contract, the smooth angle-axis rotation, the synthetic model and ADBench's file reader.

Tolerances: our objective against the transcription 1e-12 (the same arithmetic in another order);
AD against central differences the problem's fd_rtol (1e-7, the oracle's own truncation and
cancellation); backends against the reference engine AD_RTOL['float64'] (1e-11); the adjoint
identity ADJOINT_RTOL['float64'] (1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest

import adcompare as ad
from adcompare import engine
from adcompare.backends import backend_names, get_backend
from adcompare.commands import check
from adcompare.errors import UserError
from adcompare.operators import OPERATORS
from adcompare.oracles import AD_RTOL, ADJOINT_RTOL, adjoint_gap, fd_jacobian, random_direction, relative_error
from adcompare.problems import _hand_model as hand
from adcompare.problems import get_problem
from adcompare.problems.ht import rotation_transposed

PROBLEM = get_problem("ht")
SMALL = {"points": 3, "vertices": 24}          # every code path, a few milliseconds per call


# --- the independent oracle: ADBench's objective, loop by loop --------------------------------------
def axis_angle_adbench(w):
    """ADBench's angle-axis rotation: Rodrigues on the unit axis, the identity below |w| = 1e-4."""
    a = np.linalg.norm(w)
    if a < 1e-4:
        return np.eye(3)
    x, y, z = w / a
    s, c = np.sin(a), np.cos(a)
    return np.array([[x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
                     [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s],
                     [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c]])


def euler_xzy(tx, tz, ty):
    """Rz·Ry·Rx, the angles given in ADBench's (x, z, y) order."""
    rx = np.array([[1, 0, 0], [0, np.cos(tx), -np.sin(tx)], [0, np.sin(tx), np.cos(tx)]])
    ry = np.array([[np.cos(ty), 0, np.sin(ty)], [0, 1, 0], [-np.sin(ty), 0, np.cos(ty)]])
    rz = np.array([[np.cos(tz), -np.sin(tz), 0], [np.sin(tz), np.cos(tz), 0], [0, 0, 1]])
    return rz @ ry @ rx


def pose_columns(theta):
    """ADBench's pose parameters (3 × (bones + 3)): rotation, scale 1, translation, then per bone
    (x, z, y) angles, filled finger by finger for the finger's bones 2, 3, 4."""
    pose = np.zeros((3, hand.BONES + 3))
    pose[:, 0], pose[:, 1], pose[:, 2] = theta[0:3], 1.0, theta[3:6]
    i, col = 6, 5
    for _finger in range(5):
        for joint in range(3):
            pose[0, col] = theta[i]
            i += 1
            if joint == 0:
                pose[1, col] = theta[i]
                i += 1
            col += 1
        col += 1
    return pose


def adbench_vertices(theta, model):
    """(V, 3) skinned, globally transformed vertices, accumulated bone by bone as ADBench does."""
    pose = pose_columns(theta)
    absolutes = []
    for b, parent in enumerate(model["parents"]):
        local = np.eye(4)
        local[:3, :3] = euler_xzy(*pose[:, b + 3])
        relative = model["base_relatives"][b] @ local
        absolutes.append(relative if parent == -1 else absolutes[parent] @ relative)
    base = model["base_positions"].T                                  # (4, V), homogeneous
    positions = np.zeros((3, base.shape[1]))
    for b in range(hand.BONES):
        current = absolutes[b] @ model["inverse_base_absolutes"][b] @ base
        for k in range(base.shape[1]):
            positions[:, k] += current[:3, k] * model["weights"][k, b]
    rotation = axis_angle_adbench(pose[:, 0]) * pose[:, 1]            # columns scaled by 1
    return (rotation @ positions + pose[:, 2:3]).T


def adbench_residuals(theta, model, points, vertex=None, triangles=None, us=None):
    """y_i − V[corr_i] (simple) or y_i − (u V_a + v V_b + (1 − u − v) V_c) (complicated)."""
    world = adbench_vertices(theta, model)
    if us is None:
        return (points - world[vertex]).ravel()
    out = []
    for i, (a, b, c) in enumerate(triangles):
        u, v = us[i]
        out.append(points[i] - (u * world[a] + v * world[b] + (1 - u - v) * world[c]))
    return np.ravel(out)


def oracle_of(inst, x):
    """The transcription evaluated on an instance's constants (its triangle corners per point)."""
    c = inst.constants
    theta = x[:hand.POSE_SIZE]
    if c["variant"] == hand.SIMPLE:
        return adbench_residuals(theta, c, c["points"], vertex=c["correspondences"])
    return adbench_residuals(theta, c, c["points"], triangles=c["corners"].T,
                             us=x[hand.POSE_SIZE:].reshape(-1, 2))


def engine_f(inst):
    return lambda x: inst.f(engine.xp, x)


# --- the objective and its derivatives ---------------------------------------------------------------
@pytest.mark.parametrize("variant", [hand.SIMPLE, hand.COMPLICATED])
def test_objective_matches_the_adbench_transcription(variant):
    inst = ad.instance("ht", points=40, vertices=200, variant=variant)
    x = inst.x0
    expected = oracle_of(inst, x)
    assert relative_error(ad.primal("ht", x, points=40, vertices=200, variant=variant), expected) < 1e-12
    # and away from x0: another pose, including a large global rotation
    x2 = x + 0.3 * np.sin(np.arange(inst.n) + 1.0)
    assert relative_error(inst.f(np, x2), oracle_of(inst, x2)) < 1e-12


def test_sizes_follow_the_options():
    for variant, n in [(hand.SIMPLE, 26), (hand.COMPLICATED, 26 + 2 * 7)]:
        inst = ad.instance("ht", points=7, vertices=10, variant=variant)
        assert (inst.n, inst.m) == (n, 21)
        assert inst.f(np, inst.x0).shape == (21,)


@pytest.mark.parametrize("variant", [hand.SIMPLE, hand.COMPLICATED])
def test_jacobians_match_central_differences(variant):
    inst = ad.instance("ht", variant=variant, **SMALL)
    x = inst.x0
    fd = fd_jacobian(inst, x)
    for jac in (engine.jacfwd(engine_f(inst))(x), engine.jacrev(engine_f(inst))(x)):
        assert jac.shape == (inst.m, inst.n)
        assert relative_error(jac, fd) < PROBLEM.fd_rtol


@pytest.mark.parametrize("variant", [hand.SIMPLE, hand.COMPLICATED])
def test_adjoint_identity(variant):
    inst = ad.instance("ht", variant=variant, **SMALL)
    t, v = random_direction(inst.n, seed=5), random_direction(inst.m, seed=6)
    _, jt = engine.jvp(engine_f(inst), inst.x0, t)
    _, pullback = engine.vjp(engine_f(inst), inst.x0)
    assert adjoint_gap(v, jt, pullback(v), t) <= ADJOINT_RTOL["float64"]


def _available(backend, operator, inst):
    reason = get_backend(backend).why_not(OPERATORS[operator], inst, "cpu", "float64")
    if reason:
        pytest.skip(reason)


# JAX's Jacobians of the hand take 10–26 s a variant (eager jax dispatches, jax-jit compiles): the
# default tier takes JAX on the simple variant, --exhaustive on both.
@pytest.mark.parametrize("backend, variant", [
    pytest.param(b, v, marks=pytest.mark.product) if b.startswith("jax") and v == hand.COMPLICATED else (b, v)
    for b in backend_names() for v in (hand.SIMPLE, hand.COMPLICATED)])
def test_every_backend_agrees_with_the_engine(backend, variant):
    opts = {"variant": variant, **SMALL}
    inst = ad.instance("ht", **opts)
    _available(backend, "vjp", inst)
    x, t, v = inst.x0, random_direction(inst.n, seed=7), random_direction(inst.m, seed=8)
    tol = AD_RTOL["float64"]
    assert relative_error(ad.primal("ht", x, backend=backend, **opts), inst.f(np, x)) < tol
    vj = ad.vjp("ht", x, v, backend=backend, **opts)
    jt = ad.jvp("ht", x, t, backend=backend, **opts)
    assert relative_error(vj, ad.vjp("ht", x, v, **opts)) < tol
    assert relative_error(jt, ad.jvp("ht", x, t, **opts)) < tol
    assert adjoint_gap(v, jt, vj, t) <= ADJOINT_RTOL["float64"]
    reference = ad.jacobian("ht", x, **opts)
    for mode in ("fwd", "rev"):
        strategy = "batched" if get_backend(backend).why_not(
            OPERATORS[f"jacobian-{mode}"], inst, "cpu", "float64") is None else "loop"
        jac = ad.jacobian("ht", x, mode=mode, strategy=strategy, backend=backend, **opts)
        assert relative_error(jac, reference) < tol, (mode, strategy)


# --- the x-order contract -------------------------------------------------------------------------------
def test_translation_moves_every_residual_by_minus_one_simple():
    inst = ad.instance("ht", variant=hand.SIMPLE, **SMALL)
    jac = ad.jacobian("ht", inst.x0, variant=hand.SIMPLE, **SMALL)
    np.testing.assert_array_equal(jac[:, 3:6], np.tile(-np.eye(3), (inst.m // 3, 1)))


def test_complicated_columns_theta_then_us_block_sparse():
    inst = ad.instance("ht", variant=hand.COMPLICATED, **SMALL)
    c, x = SMALL["points"], inst.x0
    jac = ad.jacobian("ht", x, variant=hand.COMPLICATED, **SMALL)
    # θ[3:6]: −1 per unit in its own coordinate (u + v + (1 − u − v) = 1 up to one rounding)
    np.testing.assert_allclose(jac[:, 3:6], np.tile(-np.eye(3), (c, 1)), atol=1e-15)
    # us columns: point i's (u, v) move only its own three residuals, by −(V_a − V_c), −(V_b − V_c)
    world = adbench_vertices(x[:hand.POSE_SIZE], inst.constants)
    corners = inst.constants["corners"]
    for i in range(c):
        for j in range(c):
            block = jac[3 * i: 3 * i + 3, 26 + 2 * j: 28 + 2 * j]
            if i != j:
                np.testing.assert_array_equal(block, 0.0)
        a, b, cc = corners[:, i]
        expected = -np.stack([world[a] - world[cc], world[b] - world[cc]], axis=1)
        np.testing.assert_allclose(jac[3 * i: 3 * i + 3, 26 + 2 * i: 28 + 2 * i], expected, atol=1e-14)


# --- the angle-axis rotation, smooth through 0 ----------------------------------------------------------
def cross_matrix(w):
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


def expm_series(k, terms=40):
    """exp(K) by its Taylor series: the rotation of angle-axis w is exp([w]×)."""
    out, term = np.eye(3), np.eye(3)
    for i in range(1, terms):
        term = term @ k / i
        out = out + term
    return out


@pytest.mark.parametrize("scale", [0.0, 1e-9, 9.99e-5, 1.001e-4, 0.3, 2.5])
def test_rotation_is_the_matrix_exponential(scale):
    w = scale * np.array([0.6, -0.48, 0.64])
    np.testing.assert_allclose(rotation_transposed(np, w).T, expm_series(cross_matrix(w)), rtol=0, atol=1e-15)


@pytest.mark.parametrize("scale", [0.0, 1e-7, 9.99e-5, 1.001e-4, 0.3])
def test_rotation_derivative_is_smooth_through_zero(scale):
    """AD of R(w) against central differences of exp([w]×); at w = 0, ∂R/∂w_i = [e_i]× exactly."""
    w = scale * np.array([0.6, -0.48, 0.64])
    jac = engine.jacfwd(lambda z: engine.xp.reshape(rotation_transposed(engine.xp, z), (-1,)))(w)
    h = 1e-6
    fd = np.stack([(expm_series(cross_matrix(w + h * e)).T - expm_series(cross_matrix(w - h * e)).T).ravel()
                   / (2 * h) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(jac, fd, rtol=0, atol=1e-9)
    if scale == 0.0:
        generators = np.stack([cross_matrix(e).T.ravel() for e in np.eye(3)], axis=1)
        np.testing.assert_allclose(jac, generators, rtol=0, atol=1e-15)


def test_jacobian_at_zero_global_rotation_matches_differences():
    inst = ad.instance("ht", variant=hand.SIMPLE, **SMALL)
    x = inst.x0.copy()
    x[:3] = 0.0
    jac = ad.jacobian("ht", x, variant=hand.SIMPLE, **SMALL)
    assert np.all(np.isfinite(jac))
    assert relative_error(jac, fd_jacobian(inst, x)) < PROBLEM.fd_rtol


# --- the synthetic model ----------------------------------------------------------------------------------
def test_synthetic_model_has_adbench_layout_and_consistent_transforms():
    model = hand.synthetic_model(np.random.default_rng(3), 60)
    parents = model["parents"]
    assert len(parents) == hand.BONES and parents[0] == -1
    assert all(-1 <= p < b for b, p in enumerate(parents))
    for f in range(hand.FINGERS):                    # wrist → metacarpal → proximal → middle → distal
        assert [parents[b] for b in range(1 + 4 * f, 5 + 4 * f)] == [0, 1 + 4 * f, 2 + 4 * f, 3 + 4 * f]
    assert parents[hand.FOREARM] == 0
    # the inverse base absolutes invert the chain of base relatives
    rest = []
    for b, p in enumerate(parents):
        rest.append(model["base_relatives"][b] if p < 0 else rest[p] @ model["base_relatives"][b])
    for b in range(hand.BONES):
        np.testing.assert_allclose(model["inverse_base_absolutes"][b] @ rest[b], np.eye(4), atol=1e-14)
    # weights: positive, one per bone, summing to 1 per vertex; homogeneous positions
    w = model["weights"]
    assert w.shape == (60, hand.BONES) and np.all(w > 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(model["base_positions"][:, 3], 1.0)
    tri = model["triangles"]
    assert tri.shape == (58, 3) and tri.min() >= 0 and tri.max() < 60
    assert all(len(set(t)) == 3 for t in tri.tolist())


def test_instances_are_deterministic_per_seed():
    a, b = PROBLEM.instance(seed=0, **SMALL), PROBLEM.instance(seed=0, **SMALL)
    other = PROBLEM.instance(seed=1, **SMALL)
    for key, value in a.constants.items():
        np.testing.assert_array_equal(value, b.constants[key])
    assert not np.array_equal(a.constants["points"], other.constants["points"])


@pytest.mark.parametrize("variant", [hand.SIMPLE, hand.COMPLICATED])
def test_constant_elements_counts_the_constants(variant):
    inst = ad.instance("ht", points=11, vertices=30, variant=variant)
    arrays = sum(v.size for v in inst.constants.values() if isinstance(v, np.ndarray))
    assert PROBLEM.constant_elements(inst.n, **inst.options) == arrays


def test_sweep_is_the_simple_variant_growing_in_points():
    sweep = PROBLEM.sweep()
    points = [kw["points"] for kw in sweep]
    assert points == sorted(points) and points[0] == 100 and points[-1] == 100_000
    for kw in sweep:
        n, opts = PROBLEM.resolve(**kw)
        assert (n, PROBLEM.output_size(n, **opts)) == (26, 3 * kw["points"])


def test_check_instance_is_valid_with_options_capped():
    inst = check.small_instance(PROBLEM)
    assert (inst.n, inst.m) == (26, 6)
    assert dict(inst.options) == {"points": 2, "vertices": 2, "variant": hand.SIMPLE}
    # two skin points still depend on every pose parameter (every bone carries some weight)
    jac = ad.jacobian("ht", inst.x0, points=2, vertices=2)
    assert np.all(np.any(jac != 0.0, axis=0))


@pytest.mark.parametrize("opts, message", [
    ({"variant": 3}, "option variant must be 1"),
    ({"variant": 2, "vertices": 2}, "at least 3 vertices"),
    ({"variant": 0}, "must be at least 1"),
])
def test_option_errors(opts, message):
    with pytest.raises(UserError, match=message):
        ad.instance("ht", **opts)


def test_n_is_fixed_by_the_options():
    with pytest.raises(UserError, match="n is fixed by the options"):
        ad.instance("ht", 27)


# --- ADBench's files ----------------------------------------------------------------------------------------
def _row(values):
    return ":".join(repr(float(v)) for v in np.ravel(values))


def write_model(folder, model):
    """ADBench's model folder: bones.txt, vertices.txt (nonzero weights as bone:weight pairs),
    triangles.txt."""
    folder.mkdir(parents=True)
    with open(folder / "bones.txt", "w") as out:
        for b, parent in enumerate(model["parents"]):
            out.write(f"bone{b}:{parent}:{_row(model['base_relatives'][b])}:"
                      f"{_row(model['inverse_base_absolutes'][b])}\n")
    with open(folder / "vertices.txt", "w") as out:
        for p, w in zip(model["base_positions"], model["weights"]):
            bones = np.flatnonzero(w)
            pairs = ":".join(f"{b}:{float(w[b])!r}" for b in bones)
            out.write(f"{_row(p[:3])}:0:0:0:0:0:{len(bones)}:{pairs}\n")
    with open(folder / "triangles.txt", "w") as out:
        out.writelines(f"{a}:{b}:{c}\n" for a, b, c in model["triangles"])


def write_instance(path, correspondences, points, theta, us=None):
    with open(path, "w") as out:
        out.write(f"{len(points)} {len(theta)}\n")
        for k, p in zip(correspondences, points):
            out.write(f"{k} {_row(p).replace(':', ' ')}\n")
        for u in [] if us is None else us:
            out.write(f"{_row(u).replace(':', ' ')}\n")
        out.writelines(f"{float(t)!r} \n" for t in theta)


@pytest.mark.parametrize("variant", [hand.SIMPLE, hand.COMPLICATED])
def test_reader_round_trip(tmp_path, variant):
    rng = np.random.default_rng(11)
    model = hand.synthetic_model(rng, 40)
    count = 5
    limit = 40 if variant == hand.SIMPLE else len(model["triangles"])
    corr = rng.integers(0, limit, count)
    points = rng.normal(0.0, 0.1, (count, 3))
    theta = rng.normal(0.0, 0.3, 26)
    us = hand.barycentric(rng, count) if variant == hand.COMPLICATED else None
    write_model(tmp_path / "model", model)
    path = tmp_path / "hand1_t26_c5.txt"
    write_instance(path, corr, points, theta, us)

    inst = ad.instance("ht", data=path)
    assert dict(inst.options) == {"points": count, "vertices": 40, "variant": variant}
    expected_x = theta if us is None else np.concatenate([theta, us.ravel()])
    np.testing.assert_array_equal(inst.x0, expected_x)                  # x = θ, then us
    c = inst.constants
    assert c["parents"] == model["parents"]
    for key in ("base_relatives", "inverse_base_absolutes", "base_positions", "weights"):
        np.testing.assert_array_equal(c[key], model[key])
    np.testing.assert_array_equal(c["points"], points)
    if us is None:
        np.testing.assert_array_equal(c["correspondences"], corr)
        expected = adbench_residuals(theta, model, points, vertex=corr)
    else:
        np.testing.assert_array_equal(c["corners"], model["triangles"][corr].T)
        expected = adbench_residuals(theta, model, points, triangles=model["triangles"][corr], us=us)
    assert relative_error(ad.primal("ht", None, data=path), expected) < 1e-12
    # the exact instance through the public API, as a user with ADBench's data runs it
    jac = ad.jacobian("ht", None, data=path)
    assert jac.shape == (3 * count, inst.n)
    assert relative_error(jac, fd_jacobian(inst, inst.x0)) < PROBLEM.fd_rtol


def known_model():
    """Every bone at rest (identity), except the wrist moved by (0.1, 0.2, 0.3); all skin on the
    forearm, which no pose angle moves: V_k = R(ω)(p_k + (0.1, 0.2, 0.3)) + t."""
    rel = np.tile(np.eye(4), (hand.BONES, 1, 1))
    rel[0, :3, 3] = (0.1, 0.2, 0.3)
    weights = np.zeros((3, hand.BONES))
    weights[:, hand.FOREARM] = 1.0
    return {"parents": hand.PARENTS, "base_relatives": rel, "inverse_base_absolutes": np.tile(np.eye(4), (22, 1, 1)),
            "base_positions": np.array([[1.0, 0, 0, 1], [0, 2.0, 0, 1], [0, 0, 3.0, 1]]), "weights": weights,
            "triangles": np.array([[0, 1, 2], [2, 1, 0]])}


def test_reader_known_values(tmp_path):
    """Row-major matrices, θ after the points, us before θ in the file: checked by hand. With
    ω = (0, 0, π/2), R(x, y, z) = (−y, x, z); t = (1, 2, 3)."""
    write_model(tmp_path / "model", known_model())
    theta = np.concatenate([[0.0, 0.0, np.pi / 2], [1.0, 2.0, 3.0], np.linspace(0.1, 2.0, 20)])
    moved = np.array([[1.1, 0.2, 0.3], [0.1, 2.2, 0.3], [0.1, 0.2, 3.3]])            # p_k + wrist
    world = np.stack([-moved[:, 1], moved[:, 0], moved[:, 2]], axis=1) + [1.0, 2.0, 3.0]
    points = np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]])

    simple = tmp_path / "simple.txt"
    write_instance(simple, [0, 2], points, theta)
    np.testing.assert_allclose(ad.primal("ht", None, data=simple),
                               (points - world[[0, 2]]).ravel(), rtol=0, atol=1e-15)

    complicated = tmp_path / "complicated.txt"
    us = np.array([[0.5, 0.25], [0.1, 0.2]])
    write_instance(complicated, [0, 1], points, theta, us)
    inst = ad.instance("ht", data=complicated)
    np.testing.assert_array_equal(inst.x0, np.concatenate([theta, us.ravel()]))
    inside = np.stack([0.5 * world[0] + 0.25 * world[1] + 0.25 * world[2],
                       0.1 * world[2] + 0.2 * world[1] + 0.7 * world[0]])
    np.testing.assert_allclose(ad.primal("ht", None, data=complicated), (points - inside).ravel(),
                               rtol=0, atol=1e-15)


def _valid_files(tmp_path):
    write_model(tmp_path / "model", known_model())
    path = tmp_path / "hand.txt"
    write_instance(path, [0, 2, 1], np.zeros((3, 3)), np.zeros(26))
    return path


def _replace_line(path, line, text):
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _drop_line(path, line):
    lines = path.read_text().splitlines()
    del lines[line - 1]
    path.write_text("\n".join(lines) + "\n")


BAD_FILES = {
    "matrix entry": (lambda d: _replace_line(d / "model/bones.txt", 3, "bone2:1:" + ":".join(["x"] * 32)),
                     r"bones\.txt:3: a matrix entry must be a number, got 'x'"),
    "bone fields": (lambda d: _replace_line(d / "model/bones.txt", 4, "bone3:2:1:0"),
                    r"bones\.txt:4: expected name:parent: and 32 matrix entries"),
    "parent ahead": (lambda d: _replace_line(d / "model/bones.txt", 2, "bone1:5:" + _row(np.eye(4)) + ":"
                                             + _row(np.eye(4))),
                     r"bones\.txt:2: bone 1 has parent 5"),
    "bone count": (lambda d: _drop_line(d / "model/bones.txt", 22), r"bones\.txt defines 21 bones"),
    "vertex fields": (lambda d: _replace_line(d / "model/vertices.txt", 2, "0:2:0:0:0:0:0:0:2:21:1.0"),
                      r"vertices\.txt:2: expected x:y:z"),
    "vertex bone": (lambda d: _replace_line(d / "model/vertices.txt", 1, "1:0:0:0:0:0:0:0:1:22:1.0"),
                    r"vertices\.txt:1: bone index 22 is outside"),
    "pose size": (lambda d: _replace_line(d / "hand.txt", 1, "3 25"), r"hand\.txt:1: the pose size must be 26"),
    "point value": (lambda d: _replace_line(d / "hand.txt", 3, "2 0.0 abc 0.0"),
                    r"hand\.txt:3: a point coordinate must be a number, got 'abc'"),
    "vertex index": (lambda d: _replace_line(d / "hand.txt", 2, "7 0 0 0"),
                     r"hand\.txt:2: correspondence 7 is not a vertex of the model \(0 … 2\)"),
    "value count": (lambda d: _drop_line(d / "hand.txt", 10),
                    r"hand\.txt:5: after the 3 points expected 26 pose values \(simple\) or 6 us"),
    "model folder": (lambda d: (d / "model").rename(d / "elsewhere"), r"the model folder .*model does not exist"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_reader_errors_name_the_file_and_line(tmp_path, case):
    path = _valid_files(tmp_path)
    ad.instance("ht", data=path)                        # valid before the damage
    damage, message = BAD_FILES[case]
    damage(tmp_path)
    with pytest.raises(UserError, match=message) as err:
        ad.instance("ht", data=path)
    assert "\n" not in str(err.value)


def test_reader_triangle_errors(tmp_path):
    write_model(tmp_path / "model", known_model())
    path = tmp_path / "hand.txt"
    write_instance(path, [0, 5], np.zeros((2, 3)), np.zeros(26), us=np.full((2, 2), 0.3))
    with pytest.raises(UserError, match=r"hand\.txt:3: correspondence 5 is not a triangle of the model \(0 … 1\)"):
        ad.instance("ht", data=path)
    _replace_line(tmp_path / "model/triangles.txt", 2, "0:1:9")
    with pytest.raises(UserError, match=r"triangles\.txt:2: a vertex index is outside 0 … 2"):
        ad.instance("ht", data=path)


def test_data_file_refuses_options(tmp_path):
    path = _valid_files(tmp_path)
    with pytest.raises(UserError, match="options come from the data file"):
        ad.instance("ht", data=path, points=3)
