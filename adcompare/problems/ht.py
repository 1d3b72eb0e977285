import numpy as np

from adcompare.errors import UserError
from adcompare.problems import _hand_model as hand
from adcompare.problems.registry import DataFile, Problem, register

# Below this squared rotation angle the angle-axis coefficients switch to their Taylor series
# (truncation error < angle⁴/120 ≈ 1e-18): smooth through 0, where sin(a)/a is 0/0.
SMALL_ANGLE_SQ = 1e-8


@register
class HandTracking(Problem):
    """ADBench's hand tracking (ht): residuals of a skinned 22-bone hand model against observed
    3-D points. Simple: R²⁶ → R^{3c}; complicated: R^{26+2c} → R^{3c} (c = `points`).

    x = θ (26), then us (2 per point, in point order, complicated only). θ = global rotation
    (angle-axis, 3), global translation (3), then per finger (thumb, index, middle, ring, pinky)
    [flexion, abduction] of its proximal bone and the flexion of its middle and distal bones.

    Each bone b gets R_b = Rz(abduction)·Rx(flexion) (an angle it does not have is 0), then
        L_b = B_b · [R_b 0; 0 1]                  posed relative (B_b: base relative),
        A_b = A_parent(b) · L_b                   absolute, along the parent chain,
        M_b = A_b · A⁰_b⁻¹                        (A⁰_b⁻¹: the model's inverse base absolute),
        v_k = Σ_b w_kb · (M_b p_k)[0:3]           linear blend skinning, p_k = (x, y, z, 1),
        V_k = R(θ[0:3]) v_k + θ[3:6]              global rotation and translation, with
        R(ω) = I + (sin a / a)[ω]× + ((1 − cos a)/a²)[ω]×²,  a = |ω|.
    Residual i: y_i − V[corr_i] (simple), or y_i − (u_i V_j + v_i V_k + (1 − u_i − v_i) V_l) with
    (j, k, l) = triangle corr_i and (u_i, v_i) = us_i (complicated).

    Forward mode's workload: 26 inputs against thousands of outputs. The synthetic model
    (`vertices` skin points, weights, a triangle strip, targets at a known pose plus noise) comes
    from the instance seed; ADBench's files are read with `data=` (_hand_model.read_hand). Where
    |ω| < 1e-4 ADBench uses R = I; here R follows its Taylor series, so it stays smooth.
    """

    name = "ht"
    summary = "ADBench hand tracking: skinned 22-bone hand, 26 pose (+2c) → 3c residuals"
    test_size = hand.POSE_SIZE         # the check instance: simple variant
    # points: correspondences c; vertices: skin points of the synthetic model (ADBench's small
    # model has 544); variant: 1 simple, 2 complicated (with barycentric us per point).
    options = {"points": 100, "vertices": 544, "variant": hand.SIMPLE}
    # ADBench times the full Jacobian; by both modes it is the real-world crossover (26 inputs).
    field_derivatives = ("jacobian-fwd", "jacobian-rev")
    # Central differences at h = 1e-6: truncation ~h²·|f'''| and roundoff ~ε/h, both ≪ 1e-7 here.
    fd_rtol = 1e-7
    # The simple variant (the forward-mode case), c over GradBench's range (hand1 … hand12:
    # 100 … 100 000; the numpy objective takes < 1 ms even at 100 000). The main grid times full
    # Jacobians at c = 100 (300 rows; three processes a backend within its budget: at c = 300 one
    # process took 25 s on eager jax); c = 1000 is where forward mode should win by 10×.
    sweep_points = (100, 300, 1_000, 100_000)

    def sweep(self):
        return [{"points": c, "variant": hand.SIMPLE} for c in self.sweep_points]

    def main_instance(self):
        return {"points": 100, "variant": hand.SIMPLE}

    def working_elements(self, n, points, vertices, **opts):
        # per direction: the skinned vertices under every bone's transform (V × 12)
        return max(n, 3 * points, 12 * vertices)

    def input_size(self, points, variant, **opts):
        return hand.POSE_SIZE + (2 * points if variant == hand.COMPLICATED else 0)

    def output_size(self, n, points, **opts):
        return 3 * points

    def check_size(self, n, points, vertices, variant, **opts):
        if variant not in (hand.SIMPLE, hand.COMPLICATED):
            raise UserError(f"ht: option variant must be {hand.SIMPLE} (simple: y − V[corr]) or "
                            f"{hand.COMPLICATED} (complicated: points inside triangles), got {variant}")
        if variant == hand.COMPLICATED and vertices < 3:
            raise UserError(f"ht: the complicated variant needs at least 3 vertices for its triangles, "
                            f"got vertices={vertices}")

    def constant_elements(self, n, points, vertices, variant, **opts):
        model = 2 * hand.BONES * 16 + vertices * (hand.BONES + 4)
        return model + points * (3 + (1 if variant == hand.SIMPLE else 3))

    def constants(self, n, rng, points, vertices, variant, **opts):
        model = hand.synthetic_model(rng, vertices)
        theta = hand.target_pose(rng)
        if variant == hand.SIMPLE:
            corr, us = rng.integers(0, vertices, points), None
        else:
            corr, us = rng.integers(0, len(model["triangles"]), points), hand.barycentric(rng, points)
        consts = hand.constants_from(model, corr, np.zeros((points, 3)), variant)
        x_true = theta if us is None else np.concatenate([theta, us.ravel()])
        observed = -self.f(np, x_true, consts).reshape(points, 3)   # the model's points (y = 0)
        consts["points"] = observed + rng.normal(0.0, hand.NOISE, observed.shape)
        return consts

    def default_x(self, n, points, variant, **opts):
        """A pose away from the targets' (fingers straighter, hand turned less), us inside
        their triangles."""
        theta = np.concatenate([[0.3, -0.2, 0.1], [0.01, -0.01, 0.38],
                                np.tile([0.2, 0.05, 0.3, 0.25], hand.FINGERS) + 0.02 * np.sin(np.arange(20))])
        if variant == hand.SIMPLE:
            return theta
        k = np.arange(points)
        us = np.stack([0.3 + 0.1 * np.sin(k), 0.3 + 0.1 * np.cos(k)], axis=1)
        return np.concatenate([theta, us.ravel()])

    def read_data(self, path):
        options, constants, x = hand.read_hand(path)
        return DataFile(options, constants, x)

    def f(self, xp, x, c):
        world = posed_vertices(xp, x[:hand.POSE_SIZE], c)
        if c["variant"] == hand.SIMPLE:
            model = xp.take(world, c["correspondences"], axis=0)
        else:
            us = xp.reshape(x[hand.POSE_SIZE:], (-1, 2))
            u, v = us[:, 0:1], us[:, 1:2]
            corners = c["corners"]
            model = (u * xp.take(world, corners[0], axis=0) + v * xp.take(world, corners[1], axis=0)
                     + (1.0 - u - v) * xp.take(world, corners[2], axis=0))
        residuals = c["points"] - model
        return xp.reshape(residuals, (-1,))


def posed_vertices(xp, theta, c):
    """(V, 3) skin positions at pose θ: the bone chain, linear blend skinning, then the global
    rotation and translation."""
    absolutes = bone_absolutes(xp, theta, c["base_relatives"], c["parents"])
    transforms = xp.stack(absolutes) @ c["inverse_base_absolutes"]              # M_b, (22, 4, 4)
    # Σ_b w_kb M_b p_k: blend the top three rows of the M_b per vertex, then apply to p_k.
    rows = xp.reshape(transforms[:, 0:3, :], (hand.BONES, 12))
    positions = c["base_positions"]
    count = positions.shape[0]
    blended = xp.reshape(c["weights"] @ rows, (count, 3, 4))
    skinned = xp.sum(blended * xp.reshape(positions, (count, 1, 4)), axis=-1)
    return skinned @ rotation_transposed(xp, theta[0:3]) + theta[3:6]


def bone_absolutes(xp, theta, base, parents):
    """A_b for the 22 bones: posed relatives multiplied down the parent chain."""
    angles = xp.reshape(theta[6:hand.POSE_SIZE], (hand.FINGERS, 4))
    cos, sin = xp.cos(angles), xp.sin(angles)
    posed = {}
    # Finger bones 2, 3, 4 (proximal, middle, distal) of every finger at once.
    proximal = flex_abduct(xp, base[2::4], cos[:, 0], sin[:, 0], cos[:, 1], sin[:, 1])
    middle = flex(xp, base[3::4], cos[:, 2], sin[:, 2])
    distal = flex(xp, base[4::4], cos[:, 3], sin[:, 3])
    for f in range(hand.FINGERS):
        posed[2 + 4 * f], posed[3 + 4 * f], posed[4 + 4 * f] = proximal[f], middle[f], distal[f]
    absolutes = []
    for b, parent in enumerate(parents):
        relative = posed[b] if b in posed else base[b]
        absolutes.append(relative if parent < 0 else absolutes[parent] @ relative)
    return absolutes


def _column(xp, value):
    return xp.reshape(value, (-1, 1))


def flex(xp, base, cx, sx):
    """B · [Rx 0; 0 1] for a stack of bones (k, 4, 4): only columns 1 and 2 of B change."""
    cx, sx = _column(xp, cx), _column(xp, sx)
    b1, b2 = base[:, :, 1], base[:, :, 2]
    return xp.stack([base[:, :, 0], cx * b1 + sx * b2, cx * b2 - sx * b1, base[:, :, 3]], axis=-1)


def flex_abduct(xp, base, cx, sx, cz, sz):
    """B · [Rz(tz)·Rx(tx) 0; 0 1] for a stack of bones; Rz·Rx has columns
    (cz, sz, 0), (−sz·cx, cz·cx, sx), (sz·sx, −cz·sx, cx)."""
    cx, sx, cz, sz = (_column(xp, a) for a in (cx, sx, cz, sz))
    b0, b1, b2 = base[:, :, 0], base[:, :, 1], base[:, :, 2]
    return xp.stack([cz * b0 + sz * b1,
                     cx * (cz * b1 - sz * b0) + sx * b2,
                     sx * (sz * b0 - cz * b1) + cx * b2,
                     base[:, :, 3]], axis=-1)


def rotation_transposed(xp, omega):
    """R(ω)ᵀ (3 × 3) of the angle-axis vector ω, for row vectors: V R(ω)ᵀ. Both branches of each
    `where` are finite at every ω (the exact one is evaluated at a safe angle when ω ≈ 0).
    Scalars are kept as shape-(1,) arrays: under torch.func.jvp a 0-d float32 tensor times a
    Python float gets a float64 tangent."""
    wx, wy, wz = omega[0:1], omega[1:2], omega[2:3]
    sq = xp.sum(omega * omega, keepdims=True)
    small = sq < SMALL_ANGLE_SQ
    angle = xp.sqrt(xp.where(small, xp.ones_like(sq), sq))
    s = xp.where(small, 1.0 - sq / 6.0, xp.sin(angle) / angle)                      # sin a / a
    k = xp.where(small, 0.5 - sq / 24.0, 2.0 * (xp.sin(0.5 * angle) / angle) ** 2)  # (1 − cos a)/a²
    cosine = 1.0 - k * sq
    xy, xz, yz = k * wx * wy, k * wx * wz, k * wy * wz
    entries = [cosine + k * wx * wx, xy + s * wz, xz - s * wy,       # row 0 of Rᵀ = column 0 of R
               xy - s * wz, cosine + k * wy * wy, yz + s * wx,
               xz + s * wy, yz - s * wx, cosine + k * wz * wz]
    return xp.reshape(xp.concat(entries), (3, 3))
