import numpy as np

from adcompare.problems import descent
from adcompare.problems.particle import MODES, variant_modes
from adcompare.problems.registry import Problem, register

# A bound far above what GradBench's instance needs (every descent there ends within 154 iterations
# of `descent`'s loop: the result is the same from a bound of 154 on, measured on jax-jit); the
# default, one step of each descent, is the test instance.
GRADBENCH_ITERATIONS = 1000
GRADBENCH_RUN = {"iterations": GRADBENCH_ITERATIONS}


@register
class Saddle(Problem):
    """GradBench's saddle (Pearlmutter & Siskind): a saddle point by nested gradient descent, R² → R⁴.

        F(p₁, p₂) = (p₁₀² + p₁₁²) − (p₂₀² + p₂₁²),   p₁, p₂ ∈ R²

    (GradBench's README writes the same function with p₁ = (x₁, y₁) and p₂ = (x₂, y₂)); its
    saddle point is the origin. From the input s, with GradBench's gradient descent (`descent`)
    and every descent starting at s:

        r₁ = argmin_{p₁} max_{p₂} F(p₁, p₂),   r₂ = argmax_{p₂} F(r₁, p₂),   f(s) = (r₁, r₂).

    The inner max is itself a descent (its gradient ∇_{p₂}F the inner derivative), and the outer
    descent differentiates it with respect to p₁: nested AD. `modes` picks the outer mode (also
    r₂'s gradient, as GradBench asks) and the inner one: ff, fr, rf, rr (f forward, r reverse);
    all four give the same points. `iterations` bounds each descent: GradBench's run is
    `iterations=1000` (its descents stop by themselves well before), and from its s = (1, 1)
    every coordinate ends at 8.246324826140356e-06 (GradBench's check), at the origin within the
    descents' tolerance 10⁻⁵. The default, one step of each descent, is the test instance.
    """

    name = "saddle"
    summary = ("GradBench saddle: min over p1 of max over p2 of |p1|^2 - |p2|^2 by nested gradient descent "
               "(nested AD; `modes` ff/fr/rf/rr)")
    test_size = 2
    options = {"modes": MODES, "iterations": 1}
    nested = True

    def f(self, xp, x, c):
        outer, inner = variant_modes(c["modes"])
        iterations = c["iterations"]

        def objective(p1, p2):
            return xp.sum(p1 * p1) - xp.sum(p2 * p2)

        def inner_max(p1):
            def against(p2):
                return objective(p1, p2)
            return descent.maximum(xp, against, xp.grad(against, inner), x, iterations)

        r1 = descent.argmin(xp, inner_max, xp.grad(inner_max, outer), x, iterations)

        def at_r1(p2):
            return objective(r1, p2)

        r2 = descent.argmax(xp, at_r1, xp.grad(at_r1, outer), x, iterations)
        return xp.concat([r1, r2])

    def output_size(self, n, **opts):
        return 4

    def input_size(self, **opts):
        return 2

    def sweep(self):
        # The test instance and GradBench's whole run: the nested-modes family times each in
        # every mode pair.
        return [{}, dict(GRADBENCH_RUN)]

    def main_instance(self):
        return {}

    def constants(self, n, rng, modes, iterations, **opts):
        return {"modes": modes, "iterations": iterations}    # structure, not data

    def default_x(self, n, **opts):
        return np.ones(2)       # GradBench's s
