"""Independent oracles for derivatives: finite differences, the adjoint identity, closed forms.

None of them uses AD, so agreement with them is evidence, not tautology. Errors are normwise:
err(a, ref) = ‖a − ref‖∞ / ‖ref‖∞, so a Jacobian with many zeros is not held to an absolute
tolerance it cannot meet.
"""

from __future__ import annotations

import numpy as np

from adcompare.problems import Instance

# Tolerances, one place. AD in float64 is exact up to rounding (a few ulp per primitive, ~1e-14
# after the ~400 primitives of the deepest default problem), so 1e-11 leaves room and still
# catches any wrong rule. float32 results are compared against the float64 reference: unit
# roundoff 6e-8 grown by the same depth and by the conditioning of softmax/Lorenz-96 stays
# well under 1e-4.
AD_RTOL = {"float64": 1e-11, "float32": 1e-4}
ADJOINT_RTOL = {"float64": 1e-12, "float32": 1e-5}


def relative_error(a, ref) -> float:
    """‖a − ref‖∞ / ‖ref‖∞ (absolute when ref is all zeros)."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs reference {ref.shape}")
    scale = np.max(np.abs(ref), initial=0.0)
    diff = np.max(np.abs(a - ref), initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)


def primal_numpy(inst: Instance, x: np.ndarray) -> np.ndarray:
    """f(x) evaluated with plain numpy in float64 (the numpy primal's namespace: Python loops, and
    our engine where f differentiates inside itself): the reference primal."""
    from adcompare.backends.namespace import numpy_namespace

    xp = numpy_namespace(inst.problem)
    return np.asarray(inst.f(xp, np.asarray(x, dtype=np.float64)), dtype=np.float64)


def fd_jacobian(inst: Instance, x: np.ndarray, step: float | None = None) -> np.ndarray:
    """Central differences, column by column: J[:, j] ≈ (f(x + h e_j) − f(x − h e_j)) / 2h.

    h_j = step · max(1, |x_j|) balances truncation error O(h²) against cancellation O(ε/h).
    """
    x = np.asarray(x, dtype=np.float64)
    step = inst.problem.fd_step if step is None else step
    columns = []
    for j in range(inst.n):
        h = step * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        columns.append((primal_numpy(inst, up) - primal_numpy(inst, down)) / (2 * h))
    return np.stack(columns, axis=1)


def reference_jacobian(inst: Instance, x: np.ndarray) -> tuple[np.ndarray, str, float]:
    """The best independent Jacobian available: (J, source, rtol it is trusted to)."""
    closed = inst.closed_form_jacobian(x)
    if closed is not None:
        return closed, "closed form", AD_RTOL["float64"]
    return fd_jacobian(inst, x), "finite differences", inst.problem.fd_rtol


def adjoint_gap(v, jt, vjp_result, t) -> float:
    """Relative failure of ⟨v, J t⟩ = ⟨Jᵀv, t⟩, scaled by the sizes of both sides' factors."""
    v, jt, vj, t = (np.asarray(a, dtype=np.float64) for a in (v, jt, vjp_result, t))
    lhs, rhs = float(v @ jt), float(vj @ t)
    scale = max(np.linalg.norm(v) * np.linalg.norm(jt), np.linalg.norm(vj) * np.linalg.norm(t), 1e-300)
    return abs(lhs - rhs) / scale


def fd_directional(g, x: np.ndarray, t: np.ndarray, step: float) -> np.ndarray:
    """g'(x) t ≈ (g(x + h t) − g(x − h t)) / 2h: two evaluations whatever n is, with h scaled so
    that no coordinate moves by more than step · max(1, ‖x‖∞)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    h = step * max(1.0, float(np.max(np.abs(x), initial=0.0))) / max(float(np.max(np.abs(t), initial=0.0)), 1e-300)
    return (np.asarray(g(x + h * t), dtype=np.float64) - np.asarray(g(x - h * t), dtype=np.float64)) / (2 * h)


def fd_jvp(inst: Instance, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """J t by one central difference of the numpy primal along t (the problem's `fd_step`)."""
    return fd_directional(lambda z: primal_numpy(inst, z), x, t, inst.problem.fd_step)


def fd_hvp(inst: Instance, x: np.ndarray, t: np.ndarray, grad, step: float = 1e-5) -> np.ndarray:
    """H t ≈ (∇f(x + h t) − ∇f(x − h t)) / 2h, with ∇f from the given exact gradient function."""
    return fd_directional(grad, x, t, step)


def random_direction(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size)
