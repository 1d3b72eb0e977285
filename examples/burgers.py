"""1-D viscous Burgers' equation: the residual of one implicit (backward Euler) time step.

On a periodic grid of n points x_i = i·h, h = 1/n, with the previous step's velocity u⁰ (a
constant: a sine wave plus a smaller harmonic), viscosity ν = 0.01 and time step Δt = 0.01,
the unknown velocity u of the next step makes every residual vanish:

    R_i(u) = (u_i − u⁰_i)/Δt + u_i·(u_{i+1} − u_{i−1})/(2h) − ν·(u_{i+1} − 2u_i + u_{i−1})/h²

(indices mod n). Newton's method on R needs J = ∂R/∂u, which is tridiagonal plus the two
periodic corners:

    J = I/Δt + diag(D u) + diag(u)·D − ν·L,

D the periodic central difference (u_{i+1} − u_{i−1})/(2h) and L the periodic Laplacian
(u_{i+1} − 2u_i + u_{i−1})/h². Rⁿ → Rⁿ; the closed form is given, so `adcompare check` holds
every backend to it. Run it with:

    adcompare jacobian burgers --problems examples/burgers.py --n 8 --mode fwd --backend jax
"""

import numpy as np

import adcompare as ad

NU = 0.01
DT = 0.01


def previous_step(n, rng):
    """u⁰: the velocity of the previous step (the constants of the problem)."""
    grid = np.arange(n) / n
    return {"u0": np.sin(2 * np.pi * grid) + 0.25 * np.sin(6 * np.pi * grid)}


def periodic_operators(n):
    """D (central difference) and L (Laplacian) on the periodic grid, as dense numpy matrices."""
    h = 1.0 / n
    up = np.roll(np.eye(n), 1, axis=1)           # (up @ u)_i = u_{i+1}
    down = up.T                                   # (down @ u)_i = u_{i−1}
    return (up - down) / (2 * h), (up - 2 * np.eye(n) + down) / h**2


def burgers_jacobian(u, c):
    D, L = periodic_operators(u.shape[0])
    return np.eye(u.shape[0]) / DT + np.diag(D @ u) + u[:, None] * D - NU * L


@ad.function(sizes=(64, 1_024, 16_384), constants=previous_step, jacobian=burgers_jacobian,
             x0=lambda n: previous_step(n, None)["u0"])
def burgers(xp, u, c):
    """Residual of one backward-Euler step of 1-D viscous Burgers (periodic, n points)."""
    n = u.shape[0]
    h = 1.0 / n
    right, left = xp.roll(u, -1), xp.roll(u, 1)          # u_{i+1}, u_{i−1}
    return (u - c["u0"]) / DT + u * (right - left) / (2 * h) - NU * (right - 2 * u + left) / h**2
