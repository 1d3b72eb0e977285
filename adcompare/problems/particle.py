import numpy as np

from adcompare.problems import descent
from adcompare.problems.registry import Choice, Problem, register

# GradBench's variants: the mode of the outer derivative (the argmin's gradient), then the inner
# one (the force, a gradient inside the objective); f forward, r reverse.
MODES = Choice(("ff", "fr", "rf", "rr"))
MODE_NAMES = {"f": "fwd", "r": "rev"}
# The option `rate` is Euler steps per SPAN units of time (Δt = SPAN/rate): GradBench's Δt = 0.1 is
# rate 40. The default, rate 1 (Δt = 4), crosses the axis in 6 steps instead of ~352, and for every
# w in [−1, 1] within 7 (at Δt = 1 or 2 some w there orbit forever), so the test instance is cheap
# on every backend and its loops end.
SPAN = 4.0
GRADBENCH_RATE = 40
START, VELOCITY = (0.0, 8.0), (0.75, 0.0)
FIXED_CHARGE = (10.0, 0.0)
CONTROLLED_X, CONTROLLED_Y = 10.0, 10.0     # the controlled charge sits at (10, 10 − w)
# A bound far above the descent GradBench's instance needs (83 iterations of `descent`'s loop from
# w = 0: the result is the same from a bound of 83 on, measured on jax-jit); the default, one step,
# is the test instance.
GRADBENCH_ITERATIONS = 1000
# GradBench's whole run (its check value is for this instance from w₀ = 0).
GRADBENCH_RUN = {"iterations": GRADBENCH_ITERATIONS, "rate": GRADBENCH_RATE}


def variant_modes(choice: str) -> tuple[str, str]:
    """('fwd' | 'rev', 'fwd' | 'rev') of a variant: the outer derivative's mode, the inner one's."""
    return MODE_NAMES[choice[0]], MODE_NAMES[choice[1]]


@register
class Particle(Problem):
    """GradBench's particle (Pearlmutter & Siskind): steer a charged particle into the origin, R → R.

    A particle of unit mass and charge starts at x(0) = (0, 8) with velocity ẋ(0) = (0.75, 0) in
    the field of two fixed unit charges at (10, 10 − w) and (10, 0); its potential is

        p(x; w) = 1/‖x − (10, 10 − w)‖ + 1/‖x − (10, 0)‖,   and the force on it is −∇ₓp(x; w).

    Naive Euler with Δt = 4/`rate` (GradBench: 0.1, rate 40) updates position and velocity from the
    old state, x ← x + Δt ẋ, ẋ ← ẋ − Δt ∇ₓp(x; w), as long as the next position would still be
    above the x-axis (`xp.while_loop`: the step count depends on w). From the last position above
    the axis, the line along ẋ meets it at x + t_f ẋ with t_f = −x₁/ẋ₁ (the same point as from the
    first position below: both lie on that line), and the miss is its first coordinate squared,
    M(w) = x₀(t_f; w)². The output is GradBench's gradient descent on M (`descent.argmin`) from
    the input w₀: f(w₀) = argmin_w M(w), at most `iterations` descent steps.

    Nested AD: M contains a gradient (the force, the inner derivative), and the descent takes M's
    gradient (the outer one). `modes` picks their modes, outer then inner (ff, fr, rf, rr: f
    forward, r reverse) through `xp.grad`; all four compute the same w. GradBench's run is
    `iterations=1000, rate=40` (its descent stops by itself after 83 iterations, so the bound is
    never met), and from w₀ = 0 it ends at w = 0.2071918746486116 (GradBench's check). The
    default, one step at Δt = 4 (6 Euler steps per M instead of ~352), is the test instance.
    """

    name = "particle"
    summary = ("GradBench particle: the w that steers an Euler-integrated charge into the origin, by gradient "
               "descent over a gradient (nested AD; `modes` ff/fr/rf/rr)")
    test_size = 1
    options = {"modes": MODES, "iterations": 1, "rate": 1}
    nested = True

    def f(self, xp, x, c):
        outer, inner = variant_modes(c["modes"])
        start, velocity, fixed, controlled_x = c["start"], c["velocity"], c["fixed"], c["controlled_x"]
        step = SPAN / c["rate"]

        def miss(w):
            charges = xp.stack([xp.concat([controlled_x, CONTROLLED_Y - w]), fixed])

            def potential(position):        # Σ over the charges of 1/‖position − charge‖
                d = position - charges
                return xp.sum(1.0 / xp.sqrt(xp.sum(d * d, axis=1)))

            force = xp.grad(potential, inner)

            def above(state):
                position, speed = state
                return (position + step * speed)[1] > 0

            def euler(state):
                position, speed = state
                return position + step * speed, speed - step * force(position)

            position, speed = xp.while_loop(above, euler, (start, velocity))
            crossing = position + (-position[1] / speed[1]) * speed
            return crossing[0] * crossing[0]

        return descent.argmin(xp, miss, xp.grad(miss, outer), x, c["iterations"])

    def output_size(self, n, **opts):
        return 1

    def input_size(self, **opts):
        return 1

    def sweep(self):
        # The test instance and GradBench's whole run: the nested-modes family times each in
        # every mode pair.
        return [{}, dict(GRADBENCH_RUN)]

    def main_instance(self):
        return {}

    def constants(self, n, rng, modes, iterations, rate, **opts):
        # modes, iterations and rate stay Python values: structure, not data.
        return {"modes": modes, "iterations": iterations, "rate": rate, "start": np.array(START),
                "velocity": np.array(VELOCITY), "fixed": np.array(FIXED_CHARGE),
                "controlled_x": np.array([CONTROLLED_X])}

    def default_x(self, n, **opts):
        return np.zeros(1)      # GradBench's w₀
