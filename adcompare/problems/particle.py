import numpy as np

from adcompare.problems import descent
from adcompare.problems.registry import Choice, Problem, register

# GradBench's variants: the mode of the outer derivative (the argmin's gradient), then the inner
# one (the force, a gradient inside the objective); f forward, r reverse.
MODES = Choice(("ff", "fr", "rf", "rr"))
MODE_NAMES = {"f": "fwd", "r": "rev"}
STEP = 1e-1                     # Euler's time step
START, VELOCITY = (0.0, 8.0), (0.75, 0.0)
FIXED_CHARGE = (10.0, 0.0)
CONTROLLED_X, CONTROLLED_Y = 10.0, 10.0     # the controlled charge sits at (10, 10 − w)
# Far above the descents GradBench's instance needs (83 accepted steps from w = 0).
ITERATIONS = 1000


def variant_modes(choice: str) -> tuple[str, str]:
    """('fwd' | 'rev', 'fwd' | 'rev') of a variant: the outer derivative's mode, the inner one's."""
    return MODE_NAMES[choice[0]], MODE_NAMES[choice[1]]


@register
class Particle(Problem):
    """GradBench's particle (Pearlmutter & Siskind): steer a charged particle into the origin, R → R.

    A unit charge starts at x(0) = (0, 8) with velocity ẋ(0) = (0.75, 0) in the potential of two
    fixed unit charges at (10, 10 − w) and (10, 0),

        p(x; w) = 1/‖x − (10, 10 − w)‖ + 1/‖x − (10, 0)‖,   force −∇ₓp(x; w)   (unit mass).

    Naive Euler steps of Δt = 0.1 (x ← x + Δt ẋ, ẋ ← ẋ − Δt ∇ₓp at the old x) run while the next
    position is above the x-axis (`xp.while_loop`: the count depends on w); the crossing is
    interpolated, t_f = −x₁/ẋ₁, and the objective is the miss x₀(t_f)², with x(t_f) = x + t_f ẋ.
    The output is w minimising it by GradBench's gradient descent (`descent.argmin`) from the
    input w₀: f(w₀) = argmin_w x₀(t_f; w)².

    Nested AD: the objective contains a gradient (the force), and the descent differentiates the
    objective. `modes` picks each derivative's mode, outer then inner (ff, fr, rf, rr: f forward,
    r reverse), through `xp.grad`; all four give the same w. From GradBench's w₀ = 0 the result
    is 0.2071918746486116 (its check); `iterations` bounds each descent (GradBench's has no bound;
    the default is never reached there).
    """

    name = "particle"
    summary = ("GradBench particle: the w that steers an Euler-integrated charge into the origin, by gradient "
               "descent over a gradient (nested AD; `modes` ff/fr/rf/rr)")
    test_size = 1
    options = {"modes": MODES, "iterations": ITERATIONS}
    nested = True

    def f(self, xp, x, c):
        outer, inner = variant_modes(c["modes"])
        start, velocity, fixed, controlled_x = c["start"], c["velocity"], c["fixed"], c["controlled_x"]

        def miss(w):
            charges = xp.stack([xp.concat([controlled_x, CONTROLLED_Y - w]), fixed])

            def potential(position):        # Σ over the charges of 1/‖position − charge‖
                d = position - charges
                return xp.sum(1.0 / xp.sqrt(xp.sum(d * d, axis=1)))

            force = xp.grad(potential, inner)

            def above(state):
                position, speed = state
                return (position + STEP * speed)[1] > 0

            def euler(state):
                position, speed = state
                return position + STEP * speed, speed + STEP * -force(position)

            position, speed = xp.while_loop(above, euler, (start, velocity))
            crossing = position + (-position[1] / speed[1]) * speed
            return crossing[0] * crossing[0]

        return descent.argmin(xp, miss, xp.grad(miss, outer), x, c["iterations"])

    def output_size(self, n, **opts):
        return 1

    def input_size(self, **opts):
        return 1

    def sweep(self):
        # One step of each descent, and GradBench's whole run (the bound not reached): the
        # nested-modes family times each in every mode pair.
        return [{"iterations": 1}, {}]

    def main_instance(self):
        return {"iterations": 1}

    def constants(self, n, rng, modes, iterations, **opts):
        # modes and iterations stay Python values: structure, not data.
        return {"modes": modes, "iterations": iterations, "start": np.array(START),
                "velocity": np.array(VELOCITY), "fixed": np.array(FIXED_CHARGE),
                "controlled_x": np.array([CONTROLLED_X])}

    def default_x(self, n, **opts):
        return np.zeros(1)      # GradBench's w₀
