"""Damped pendulums integrated by classical RK4: the final state as a function of the initial one.

k = n/2 independent pendulums of lengths ℓ_j (constants, between 0.5 and 2 m), angle θ_j and
angular velocity ω_j, under gravity g = 9.81 and damping γ = 0.3:

    θ_j' = ω_j,    ω_j' = −(g/ℓ_j)·sin θ_j − γ·ω_j.

x = (θ₁ … θ_k, ω₁ … ω_k) ∈ Rⁿ is the initial state; y = Φ(x) ∈ Rⁿ is the state after `steps`
classical Runge–Kutta steps of size Δt = 0.05:

    k₁ = F(s), k₂ = F(s + Δt/2·k₁), k₃ = F(s + Δt/2·k₂), k₄ = F(s + Δt·k₃),
    s ← s + Δt/6·(k₁ + 2k₂ + 2k₃ + k₄).

J = ∂Φ/∂x is block-diagonal (each pendulum's 2 × 2 sensitivity), and reverse mode keeps every
intermediate stage: its tape grows with `steps` while forward mode's memory does not. Run it with:

    adcompare vjp pendulum --problems examples/pendulum.py --n 4 --opt steps=50 --backend torch
"""

import numpy as np

import adcompare as ad

G = 9.81
DAMPING = 0.3
DT = 0.05


def lengths(n, rng, **options):
    """ℓ_j: one length per pendulum, drawn once per n."""
    return {"length": rng.uniform(0.5, 2.0, n // 2)}


def initial_state(n, **options):
    """θ between 0.1 and 1 rad, ω = 0: every pendulum released from rest."""
    return np.concatenate([np.linspace(0.1, 1.0, n // 2), np.zeros(n // 2)])


@ad.function(sizes=(2, 20, 200), constants=lengths, x0=initial_state)
def pendulum(xp, x, c, *, steps=20):
    """k = n/2 damped pendulums, `steps` RK4 steps of Δt = 0.05 (n even)."""
    k = x.shape[0] // 2
    g_over_l = G / c["length"]

    def rates(theta, omega):
        return omega, -g_over_l * xp.sin(theta) - DAMPING * omega

    theta, omega = x[:k], x[k:]
    for _ in range(steps):
        a_theta, a_omega = rates(theta, omega)
        b_theta, b_omega = rates(theta + DT / 2 * a_theta, omega + DT / 2 * a_omega)
        c_theta, c_omega = rates(theta + DT / 2 * b_theta, omega + DT / 2 * b_omega)
        d_theta, d_omega = rates(theta + DT * c_theta, omega + DT * c_omega)
        theta = theta + DT / 6 * (a_theta + 2 * b_theta + 2 * c_theta + d_theta)
        omega = omega + DT / 6 * (a_omega + 2 * b_omega + 2 * c_omega + d_omega)
    return xp.concat([theta, omega])
