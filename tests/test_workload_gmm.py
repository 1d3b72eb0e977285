"""gmm (GradBench's Gaussian mixture log-posterior) against oracles that share no code with it.

- The objective vs scipy's own densities: Σ_i log Σ_k softmax(α)_k N(x_i; μ_k, (Q_kᵀQ_k)⁻¹) plus
  Σ_k log W(Q_kᵀQ_k; ν = d + m + 1, I/γ²), with Q_k built as GradBench's naive validator builds
  it. That pins the sign convention and every constant (1e-12 relative: the sums differ in order).
- The closed-form gradient vs central differences (float64, `fd_rtol`) and vs the engine
  (AD_RTOL = 1e-11: both are exact up to rounding).
- The x order (α, μ row-major, per component q then l): the gradient's α and μ blocks vs
  responsibilities computed with scipy, and the whole gradient vs differences of the scipy
  objective of parameters unpacked by this file's own reading of the contract.
- Every available backend through the public API vs the closed form.
- The ADBench reader: a file written here, read back to known values; malformed files.
"""

import math

import numpy as np
import pytest

import adcompare as ad
from adcompare import engine
from adcompare.backends import Unavailable, backend_names
from adcompare.errors import UserError
from adcompare.oracles import (
    AD_RTOL,
    ADJOINT_RTOL,
    adjoint_gap,
    fd_jacobian,
    random_direction,
    relative_error,
)
from adcompare.problems import get_problem

stats = pytest.importorskip("scipy.stats")
special = pytest.importorskip("scipy.special")

# Small instances: d = 1 (no l at all), the check instance, d = 3 (three l entries), and
# GradBench's smallest d and k with fewer points.
SMALL = [dict(d=1, k=3, N=4), dict(d=2, k=2, N=2), dict(d=3, k=2, N=7), dict(d=2, k=5, N=30)]
SMALL_IDS = ["d{d}-k{k}-N{N}".format(**s) for s in SMALL]


# --- an independent reading of the contract -------------------------------------------------------
def unpack_contract(x, d, k):
    """α, μ, q, Q from x as the spec orders it, written here without the module's helpers:
    α (k); μ (k × d, row-major); then k rows of q (d) followed by l (d(d−1)/2), l filling the
    strictly lower part of Q_k column by column (GradBench's validator's loop)."""
    x = list(x)
    alpha = np.array(x[:k])
    mu = np.array(x[k:k + k * d]).reshape(k, d)
    width = d + d * (d - 1) // 2
    Qs, qs = [], []
    for comp in range(k):
        row = x[k + k * d + comp * width: k + k * d + (comp + 1) * width]
        q, rest = row[:d], row[d:]
        Q = np.zeros((d, d))
        for j in range(d):
            Q[j, j] = math.exp(q[j])
        i = 0
        for col in range(d):
            for r in range(col + 1, d):
                Q[r, col] = rest[i]
                i += 1
        Qs.append(Q)
        qs.append(q)
    return alpha, mu, np.array(qs), Qs


def scipy_log_posterior(x, points, d, k, gamma=1.0, m=0.0):
    """log Π_i Σ_k φ_k N(x_i; μ_k, Σ_k) + Σ_k log W(Σ_k⁻¹; d + m + 1, I/γ²), by scipy."""
    alpha, mu, _, Qs = unpack_contract(x, d, k)
    log_phi = alpha - special.logsumexp(alpha)
    precisions = [Q.T @ Q for Q in Qs]
    comps = np.array([np.atleast_1d(stats.multivariate_normal.logpdf(points, mu[c], np.linalg.inv(precisions[c])))
                      for c in range(k)])
    likelihood = np.sum(special.logsumexp(comps + log_phi[:, None], axis=0))
    prior = sum(stats.wishart.logpdf(P if d > 1 else P[0, 0], df=d + m + 1, scale=np.eye(d) / gamma**2 if d > 1
                                     else 1 / gamma**2) for P in precisions)
    return float(likelihood + prior)


def responsibilities(x, points, d, k):
    """r_ik = posterior probability of component k for point i (scipy densities)."""
    alpha, mu, _, Qs = unpack_contract(x, d, k)
    logs = np.array([np.atleast_1d(stats.multivariate_normal.logpdf(points, mu[c], np.linalg.inv(Q.T @ Q)))
                     for c, Q in enumerate(Qs)]) + alpha[:, None]
    return np.exp(logs - special.logsumexp(logs, axis=0))


def engine_function(inst):
    return lambda z: inst.f(engine.xp, z)


# --- the objective -------------------------------------------------------------------------------
def test_gradbench_smallest_instance_matches_scipy_log_posterior():
    """d = 2, k = 5, N = 1000: GradBench's first instance (generator seeded 31337)."""
    inst = ad.instance("gmm", d=2, k=5, N=1000)
    expected = scipy_log_posterior(inst.x0, inst.constants["points"], 2, 5)
    value = ad.primal("gmm", d=2, k=5, N=1000)
    assert value.shape == (1,)
    assert value[0] == pytest.approx(expected, rel=1e-12)
    assert value[0] == pytest.approx(-3944.6880490807353, rel=1e-12)   # the scipy value, recorded


@pytest.mark.parametrize("size", SMALL, ids=SMALL_IDS)
def test_objective_matches_scipy_log_posterior(size):
    inst = ad.instance("gmm", **size)
    expected = scipy_log_posterior(inst.x0, inst.constants["points"], size["d"], size["k"])
    assert ad.primal("gmm", **size)[0] == pytest.approx(expected, rel=1e-12)


def test_default_instance_is_gradbench_recipe():
    """GradBench's generate(): one Generator(31337); points, μ, q, l, α drawn row by row."""
    d, k, N = 3, 4, 6
    rng = np.random.default_rng(seed=31337)
    points = [list(rng.normal(size=d)) for _ in range(N)]
    mu = [list(rng.uniform(size=d)) for _ in range(k)]
    q = [list(rng.normal(size=d)) for _ in range(k)]
    l = [list(rng.normal(size=d * (d - 1) // 2)) for _ in range(k)]
    alpha = list(rng.normal(size=k))
    inst = ad.instance("gmm", d=d, k=k, N=N)
    np.testing.assert_array_equal(inst.constants["points"], np.array(points))
    expected_x = alpha + sum(mu, []) + sum((qi + li for qi, li in zip(q, l)), [])
    np.testing.assert_array_equal(inst.x0, np.array(expected_x))
    assert inst.n == k * (1 + d + d * (d + 1) // 2) == len(expected_x)


def test_logsumexp_is_shifted():
    """Large α and far points must not overflow: the value stays finite and agrees with scipy."""
    inst = ad.instance("gmm", d=2, k=3, N=5)
    x = np.array(inst.x0)
    x[:3] += 800.0                               # exp(800) overflows float64
    points = inst.constants["points"] * 30.0
    data = {**inst.constants, "points": points}
    value = inst.problem.f(np, x, data)[0]
    assert np.isfinite(value)
    assert value == pytest.approx(scipy_log_posterior(x, points, 2, 3), rel=1e-12)


# --- the gradient --------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SMALL, ids=SMALL_IDS)
def test_closed_form_gradient_vs_finite_differences(size):
    inst = ad.instance("gmm", **size)
    closed = inst.closed_form_jacobian(inst.x0)
    assert closed.shape == (1, inst.n)
    assert relative_error(closed, fd_jacobian(inst, inst.x0)) < inst.problem.fd_rtol


@pytest.mark.parametrize("size", SMALL, ids=SMALL_IDS)
def test_closed_form_gradient_vs_engine(size):
    inst = ad.instance("gmm", **size)
    f, x = engine_function(inst), inst.x0
    closed = inst.closed_form_jacobian(x)
    assert relative_error(engine.jacrev(f)(x), closed) <= AD_RTOL["float64"]
    assert relative_error(engine.jacfwd(f)(x), closed) <= AD_RTOL["float64"]


def test_closed_form_gradient_with_wishart_parameters(tmp_path):
    """γ ≠ 1 and m ≠ 0 (from a data file) enter the prior's gradient: closed form vs FD and engine."""
    lines, _, _ = small_file_contents(gamma=0.7, m=2)
    inst = ad.instance("gmm", data=write_file(tmp_path / "g.txt", lines))
    x = inst.x0
    closed = inst.closed_form_jacobian(x)
    assert relative_error(closed, fd_jacobian(inst, x)) < inst.problem.fd_rtol
    assert relative_error(engine.jacrev(engine_function(inst))(x), closed) <= AD_RTOL["float64"]


@pytest.mark.parametrize("size", SMALL, ids=SMALL_IDS)
def test_adjoint_identity(size):
    inst = ad.instance("gmm", **size)
    f, x = engine_function(inst), inst.x0
    t, v = random_direction(inst.n, seed=5), random_direction(1, seed=6)
    _, jt = engine.jvp(f, x, t)
    vj = engine.vjp(f, x)[1](v)
    assert adjoint_gap(v, jt, vj, t) <= ADJOINT_RTOL["float64"]


def test_x_order_alpha_and_mu_blocks():
    """∂F/∂α_k = Σ_i r_ik − N softmax(α)_k and ∂F/∂μ_k = Σ_i r_ik Σ_k⁻¹(x_i − μ_k), from scipy's
    responsibilities and this file's unpacking, sit where the contract puts them in the AD gradient."""
    d, k, N = 3, 4, 9
    inst = ad.instance("gmm", d=d, k=k, N=N)
    x, points = inst.x0, inst.constants["points"]
    grad = ad.vjp("gmm", x, [1.0], d=d, k=k, N=N)
    alpha, mu, _, Qs = unpack_contract(x, d, k)
    r = responsibilities(x, points, d, k)
    softmax = np.exp(alpha - special.logsumexp(alpha))
    np.testing.assert_allclose(grad[:k], r.sum(axis=1) - N * softmax, rtol=1e-11, atol=1e-12)
    g_mu = np.stack([(r[c][:, None] * ((points - mu[c]) @ (Qs[c].T @ Qs[c]))).sum(axis=0) for c in range(k)])
    np.testing.assert_allclose(grad[k:k + k * d], g_mu.ravel(), rtol=1e-10, atol=1e-12)


def test_x_order_whole_gradient_vs_differences_of_scipy_objective():
    """Every block, icf included: central differences of the scipy objective over the contract's x."""
    d, k, N = 3, 2, 5
    inst = ad.instance("gmm", d=d, k=k, N=N)
    x, points = inst.x0, inst.constants["points"]
    grad = ad.vjp("gmm", x, [1.0], d=d, k=k, N=N)
    fd = np.empty(inst.n)
    for j in range(inst.n):
        h = 1e-6 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        fd[j] = (scipy_log_posterior(up, points, d, k) - scipy_log_posterior(down, points, d, k)) / (2 * h)
    assert relative_error(grad, fd) < 1e-7


# --- every backend through the public API --------------------------------------------------------
@pytest.mark.parametrize("backend", backend_names())
def test_every_backend_gradient_agrees(backend):
    size = dict(d=3, k=2, N=7)
    inst = ad.instance("gmm", **size)
    closed = inst.closed_form_jacobian(inst.x0)[0]
    try:
        grad = ad.vjp("gmm", None, [1.0], backend=backend, **size)
        value = ad.primal("gmm", backend=backend, **size)
    except Unavailable as err:
        pytest.skip(str(err))
    assert relative_error(grad, closed) <= AD_RTOL["float64"]
    assert value[0] == pytest.approx(ad.primal("gmm", **size)[0], rel=1e-13)


# --- sizes ---------------------------------------------------------------------------------------
def test_sweep_is_gradbench_sizes_small_to_large_with_the_goal_size():
    problem = get_problem("gmm")
    sweep = problem.sweep()
    assert {"d": 10, "k": 25, "N": 1000} in sweep
    ns = [problem.resolve(**kw)[0] for kw in sweep]
    assert ns == sorted(ns) and len(set(ns)) == len(ns)
    for kw in sweep:
        assert kw["d"] in (2, 10, 20, 32, 64) and kw["k"] in (5, 10, 25, 50, 100) and kw["N"] == 1000


def test_n_follows_from_d_and_k():
    inst = ad.instance("gmm", d=10, k=25, N=3)
    assert inst.n == 25 * (1 + 10 + 55) == 1650 and inst.m == 1
    with pytest.raises(UserError, match="n is fixed by the options"):
        ad.instance("gmm", 31, d=2, k=5, N=3)


# --- the ADBench reader --------------------------------------------------------------------------
def small_file_contents(gamma=1.0, m=0, replicate=False):
    """(lines, expected x, points) of a d = 2, k = 2, N = 3 file."""
    alpha = [0.5, -0.25]
    means = [[0.1, 0.2], [-0.3, 0.4]]
    icf = [[0.05, -0.1, 0.3], [0.2, 0.0, -0.6]]             # q (2) then l (1) per component
    points = [[1.0, -1.0], [0.5, 0.25], [-2.0, 0.75]]
    shown = points[:1] if replicate else points
    lines = (["2 2 3"] + [f"{a}" for a in alpha] + [" ".join(map(str, r)) + " " for r in means]
             + [" ".join(map(str, r)) for r in icf] + [" ".join(map(str, p)) for p in shown] + [f"{gamma} {m}"])
    x = np.array(alpha + sum(means, []) + sum(icf, []))
    expected_points = np.array(points[:1] * 3 if replicate else points)
    return lines, x, expected_points


def write_file(path, lines, newline="\n"):
    path.write_text(newline.join(lines) + newline)
    return path


def test_reader_round_trip(tmp_path):
    lines, x, points = small_file_contents(gamma=0.7, m=2)
    path = write_file(tmp_path / "gmm_d2_K2.txt", lines, newline="\r\n")      # ADBench writes CRLF
    inst = ad.instance("gmm", data=path)
    assert dict(inst.options) == {"d": 2, "k": 2, "N": 3} and inst.n == 12
    np.testing.assert_array_equal(inst.x0, x)
    np.testing.assert_array_equal(inst.constants["points"], points)
    assert float(inst.constants["gamma"]) == 0.7 and float(inst.constants["m"]) == 2.0
    expected = scipy_log_posterior(x, points, 2, 2, gamma=0.7, m=2)
    assert ad.primal("gmm", data=path)[0] == pytest.approx(expected, rel=1e-12)
    grad = ad.vjp("gmm", None, [1.0], data=path)
    assert relative_error(grad, inst.closed_form_jacobian(x)[0]) <= AD_RTOL["float64"]


def test_reader_replicated_point(tmp_path):
    lines, x, points = small_file_contents(replicate=True)
    inst = ad.instance("gmm", data=write_file(tmp_path / "rep.txt", lines))
    np.testing.assert_array_equal(inst.constants["points"], points)
    assert inst.constants["points"].shape == (3, 2)
    np.testing.assert_array_equal(inst.x0, x)
    assert ad.primal("gmm", data=tmp_path / "rep.txt")[0] == pytest.approx(
        scipy_log_posterior(x, points, 2, 2), rel=1e-12)


def test_reader_matches_generated_instance(tmp_path):
    """A file holding the generated instance reads back to the same objective."""
    inst = ad.instance("gmm", d=3, k=2, N=4)
    d, k = 3, 2
    x = inst.x0
    width = d + d * (d - 1) // 2
    def row(values):
        return " ".join(repr(float(v)) for v in values)      # repr: the shortest exact decimal

    rows = ([f"{d} {k} 4"] + [row([a]) for a in x[:k]]
            + [row(x[k + i * d:k + (i + 1) * d]) for i in range(k)]
            + [row(x[k + k * d + i * width:k + k * d + (i + 1) * width]) for i in range(k)]
            + [row(p) for p in inst.constants["points"]] + ["1 0"])
    path = write_file(tmp_path / "gen.txt", rows)
    np.testing.assert_array_equal(ad.instance("gmm", data=path).x0, x)
    assert ad.primal("gmm", data=path)[0] == ad.primal("gmm", d=3, k=2, N=4)[0]


def _malformed(lines):
    """The small file with one change applied by `lines` (a function of the line list)."""
    base, _, _ = small_file_contents()
    return lines(list(base))


# Numbers are read in order whatever the line breaks (as ADBench's fscanf readers do), so a
# missing or extra number is caught where the counts stop adding up: after the parameters, where
# N points (or one replicated point) and 'γ m' must be what is left.
MALFORMED = {
    "header not integer": (lambda ls: ["2 2.5 3"] + ls[1:], 1, "must be positive integers, got '2.5'"),
    "header zero": (lambda ls: ["2 0 3"] + ls[1:], 1, "must be positive integers, got 0"),
    "header short": (lambda ls: ["2 2"] + ls[1:], 2, "must be positive integers, got '0.5'"),
    "alpha not a number": (lambda ls: ls[:2] + ["abc"] + ls[3:], 3, "the weights α must be numbers, got 'abc'"),
    "mean too short": (lambda ls: ls[:3] + ["0.1"] + ls[4:], 8, "found 7 numbers"),
    "icf too long": (lambda ls: ls[:5] + ["1 2 3 4"] + ls[6:], 7, "found 9 numbers"),
    "missing point line": (lambda ls: ls[:8] + ls[9:], 7, "expected 3 points of 2 numbers"),
    "missing wishart line": (lambda ls: ls[:-1], 7, "found 6 numbers"),
    "wishart short": (lambda ls: ls[:-1] + ["1.0"], 7, "found 7 numbers"),
    "non-finite": (lambda ls: ls[:7] + ["nan 1.0"] + ls[8:], 8, "the points must be finite, got 'nan'"),
    "gamma not positive": (lambda ls: ls[:-1] + ["0 0"], 11, "γ must be positive"),
    "m too small": (lambda ls: ls[:-1] + ["1 -2"], 11, "m must be greater than −2"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_reader_malformed_file_names_file_and_line(tmp_path, case):
    change, line, message = MALFORMED[case]
    path = write_file(tmp_path / "bad.txt", _malformed(change))
    with pytest.raises(UserError) as err:
        ad.instance("gmm", data=path)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{path}: line {line}: ") and message in text


def test_reader_truncated_file(tmp_path):
    base, _, _ = small_file_contents()
    path = write_file(tmp_path / "short.txt", base[:4])
    with pytest.raises(UserError, match="line 4: the file ends after 2 of the 4 numbers of the means μ"):
        ad.instance("gmm", data=path)


def test_reader_refuses_options_and_missing_file(tmp_path):
    lines, _, _ = small_file_contents()
    path = write_file(tmp_path / "ok.txt", lines)
    with pytest.raises(UserError, match="options come from the data file"):
        ad.instance("gmm", data=path, d=2)
    with pytest.raises(UserError, match="does not exist"):
        ad.instance("gmm", data=tmp_path / "nope.txt")


def test_reader_refuses_a_header_too_large_for_memory(tmp_path):
    base, _, _ = small_file_contents()
    path = write_file(tmp_path / "huge.txt", ["2 2 1000000000000"] + base[1:])
    with pytest.raises(UserError, match="line 1: gmm: .*GiB"):
        ad.instance("gmm", data=path)
