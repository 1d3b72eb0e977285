import numpy as np

from adcompare import footprint
from adcompare.datafile import Numbers
from adcompare.errors import UserError
from adcompare.problems.registry import DataFile, Problem, guard_memory, register

CAMERA_PARAMETERS = 11          # r (3), C (3), f, u0, v0, k1, k2
# The one camera, point and weight every generated instance replicates (ADBench replicates one
# of each from its data file): a rotation of 0.15 rad, a point 5 units in front of the camera.
CAMERA = np.array([0.12, -0.08, 0.05, 0.3, -0.2, 0.1, 420.0, 3.0, -2.0, -0.05, 0.004])
POINT = np.array([0.8, -0.6, 5.0])
WEIGHT = 0.9
# Below this θ², cos θ, sin θ/θ and (1 − cos θ)/θ² are their Taylor polynomials to θ⁴ (truncation
# θ⁶/720 < 2e-15, so the value is the exact formula's to rounding). Above it the exact formula
# loses at most ε/θ² ≈ 2e-12 to cancellation in 1 − cos θ.
SMALL_ANGLE2 = 1e-4


@register
class BundleAdjustment(Problem):
    """Bundle adjustment residuals (ADBench / GradBench `ba`), R^{11c + 3p + o} → R^{3o}.

    x = (cameras c × [r (3), C (3), f, u0, v0, k1, k2], points p × X (3), weights w (o)).
    Observation i sees point X = X_{i mod p} with camera i mod c and has the feature q_i (2):

      Y = R(r)(X − C),   θ = ‖r‖,
      R(r) Z = Z cos θ + (r × Z) sin θ/θ + r (r·Z)(1 − cos θ)/θ²   (Rodrigues),
      z = (Y₁/Y₃, Y₂/Y₃),   proj = f·(1 + k1‖z‖² + k2‖z‖⁴)·z + (u0, v0),
      reprojection residual e_i = w_i·(proj − q_i) (2),   weight residual 1 − w_i².

    y = (e_1, …, e_o, 1 − w_1², …, 1 − w_o²). Each reprojection row depends on 15 inputs (the
    camera's 11, the point's 3, w_i), each weight row on w_i alone: a block-sparse Jacobian.
    Near r = 0 Rodrigues' coefficients switch to their Taylor polynomials (`SMALL_ANGLE2`), so
    neither branch divides by θ ≈ 0 and the derivative at r = 0 is the exact −[X − C]×.
    """

    name = "ba"
    sparse_jacobian = True
    summary = "bundle adjustment residuals (ADBench): c cameras, p points, o observations"
    test_size = 30                  # c = p = o = 2, the instance `adcompare check` builds
    options = {"c": 2, "p": 3, "o": 6}
    field_derivatives = ("jacobian-fwd", "jacobian-rev")    # ADBench times the (sparse) Jacobian

    def f(self, xp, x, c):
        cameras, points = c["cameras"], c["points"]
        n_cam, n_pt = CAMERA_PARAMETERS * cameras, 3 * points
        cam = xp.take(xp.reshape(x[:n_cam], (cameras, CAMERA_PARAMETERS)), c["camera_of"], axis=0)
        X = xp.take(xp.reshape(x[n_cam:n_cam + n_pt], (points, 3)), c["point_of"], axis=0)
        w = x[n_cam + n_pt:]
        r = [cam[:, k] for k in range(3)]
        Z = [X[:, k] - cam[:, 3 + k] for k in range(3)]
        Y = _rotate(xp, r, Z)
        z1, z2 = Y[0] / Y[2], Y[1] / Y[2]
        rsq = z1 * z1 + z2 * z2
        scale = cam[:, 6] * (1.0 + cam[:, 9] * rsq + cam[:, 10] * rsq * rsq)
        e1 = w * (scale * z1 + cam[:, 7] - c["feature"][:, 0])
        e2 = w * (scale * z2 + cam[:, 8] - c["feature"][:, 1])
        reprojection = xp.reshape(xp.stack([e1, e2], axis=1), (-1,))
        return xp.concat([reprojection, 1.0 - w * w])

    def output_size(self, n, o, **opts):
        return 3 * o

    def input_size(self, c, p, o, **opts):
        return CAMERA_PARAMETERS * c + 3 * p + o

    def main_instance(self):
        # The smallest swept size (n = 156, m = 192): the main grid times its dense Jacobian by
        # both modes on every backend in three processes each, and at n = 984 one process took
        # 13–34 s (the full grid times every size).
        return {"c": 4, "p": 16, "o": 64}

    def sweep(self):
        # Growing to ADBench's smallest instance (ba1: 49 cameras, 7776 points, 31 843
        # observations) with BAL's proportions, about 4 observations per point.
        return [{"c": 4, "p": 16, "o": 64}, {"c": 8, "p": 128, "o": 512},
                {"c": 16, "p": 1024, "o": 4096}, {"c": 49, "p": 7776, "o": 31843}]

    def working_elements(self, n, o, **opts):
        return max(n, CAMERA_PARAMETERS * o)      # each observation's camera, gathered (o × 11)

    def evaluation(self, n, o, **opts):
        # 110 arrays, most of o elements (the gathered cameras: 11·o), 125·o elements in all on
        # our engine's tape; a little more for a framework's copies.
        return footprint.Evaluation(128, 136 * o)

    def constant_elements(self, n, o, **opts):
        return 4 * o                # features (2 per observation) and the two index arrays

    def constants(self, n, rng, c, p, o, **opts):
        # The one feature, replicated: within 20 pixels of where the camera sees the point.
        feature = _project_one(CAMERA, POINT) + rng.uniform(-20.0, 20.0, 2)
        return observations(c, p, o, feature)

    def default_x(self, n, c, p, o, **opts):
        return np.concatenate([np.tile(CAMERA, c), np.tile(POINT, p), np.full(o, WEIGHT)])

    def read_data(self, path):
        """ADBench's format: `c p o`, then one camera (11), point (3), weight and feature (2)."""
        numbers = Numbers(path)
        c, p, o = numbers.ints(3, "the sizes (cameras, points, observations)")
        options = {"c": c, "p": p, "o": o}
        n = self.input_size(**options)
        try:      # the sizes alone say whether the replicated arrays (and one evaluation) would fit
            guard_memory(self.name, n, self.output_size(n, **options), self.constant_elements(n, **options),
                         problem=self, options=options)
        except UserError as err:
            raise UserError(f"{path}: line {numbers.line}: {err}") from None
        camera = numbers.floats(CAMERA_PARAMETERS, "the camera")
        point = numbers.floats(3, "the point")
        weight = numbers.floats(1, "the weight")[0]
        feature = numbers.floats(2, "the feature")
        numbers.end("the feature")
        x = np.concatenate([np.tile(camera, c), np.tile(point, p), np.full(o, weight)])
        return DataFile(options, observations(c, p, o, feature), x)


def observations(c: int, p: int, o: int, feature: np.ndarray) -> dict:
    """ADBench's layout: observation i of camera i mod c and point i mod p, one feature for all."""
    i = np.arange(o)
    return {"cameras": c, "points": p, "camera_of": i % c, "point_of": i % p,
            "feature": np.tile(np.asarray(feature, dtype=np.float64), (o, 1))}


def _rotate(xp, r, Z):
    """R(r) Z by Rodrigues' formula, on the components of r and Z (each of shape (o,))."""
    theta2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2]
    small = theta2 < SMALL_ANGLE2
    safe2 = xp.where(small, xp.ones_like(theta2), theta2)     # the exact branch never sees θ ≈ 0
    theta = xp.sqrt(safe2)
    cos = xp.cos(theta)
    cosine = xp.where(small, 1.0 - theta2 / 2 + theta2 * theta2 / 24, cos)
    sinc = xp.where(small, 1.0 - theta2 / 6 + theta2 * theta2 / 120, xp.sin(theta) / theta)
    versine = xp.where(small, 0.5 - theta2 / 24 + theta2 * theta2 / 720, (1.0 - cos) / safe2)
    cross = [r[1] * Z[2] - r[2] * Z[1], r[2] * Z[0] - r[0] * Z[2], r[0] * Z[1] - r[1] * Z[0]]
    dot = r[0] * Z[0] + r[1] * Z[1] + r[2] * Z[2]
    return [cosine * Z[k] + sinc * cross[k] + versine * dot * r[k] for k in range(3)]


def _project_one(camera: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Where one camera sees one point, in pixels (numpy), for placing the generated feature."""
    Y = _rotate(np, [camera[k:k + 1] for k in range(3)], [point[k:k + 1] - camera[3 + k] for k in range(3)])
    z = np.array([Y[0][0] / Y[2][0], Y[1][0] / Y[2][0]])
    rsq = z @ z
    return camera[6] * (1.0 + camera[9] * rsq + camera[10] * rsq * rsq) * z + camera[7:9]
