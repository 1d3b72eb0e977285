"""GradBench's gradient-descent solver (its `gd.hpp`, shared by particle and saddle), written once on
a problem namespace: a while loop whose carry is the iterate, its value and gradient, the step
size and the count of accepted steps (no problem is registered here).

GradBench's loop, from x with η = 10⁻⁵ and i = 0: stop when ‖∇f(x)‖ ≤ 10⁻⁵; when i = 10, double η
and set i = 0; else x′ = x − η∇f(x): stop when ‖x − x′‖ ≤ 10⁻⁵, accept x′ (i + 1) when
f(x′) < f(x), else halve η (i = 0). Here the doubling happens with the tenth acceptance (the
iteration that only doubles becomes part of the one before it: the same iterates and the same
result) and the branches are selections (`xp.where`), so one loop body serves every backend, a
compiled while loop included. The gradient at x′ is computed in every iteration, which costs a
rejected step one gradient more than GradBench's; in GradBench's own particle and saddle runs no
step is rejected.
"""

from __future__ import annotations

TOLERANCE = 1e-5        # on ‖∇f‖ and on the length of a step
FIRST_STEP = 1e-5       # η at the start
ACCEPTED_PER_DOUBLING = 10


def argmin(xp, f, gradient, x, iterations: int):
    """GradBench's `multivariate_argmin` of f (a 0-d array of a vector x) with its gradient
    function, from x; at most `iterations` steps (a bound GradBench's loop does not have: choose
    it above what the problem takes)."""
    def distance(u, v):
        difference = u - v
        return xp.sqrt(xp.sum(difference * difference))

    def going(state):
        x, _, g, eta, _, count = state
        return (xp.sqrt(xp.sum(g * g)) > TOLERANCE) & (distance(x, x - eta * g) > TOLERANCE) & (count < iterations)

    def step(state):
        x, fx, g, eta, accepted, count = state
        candidate = x - eta * g
        f_candidate = f(candidate)
        better = f_candidate < fx
        accepted = accepted + 1
        doubled = accepted == ACCEPTED_PER_DOUBLING
        return (xp.where(better, candidate, x), xp.where(better, f_candidate, fx),
                xp.where(better, gradient(candidate), g),
                xp.where(better, xp.where(doubled, 2 * eta, eta), eta / 2),
                xp.where(better & ~doubled, accepted, 0 * accepted), count + 1)

    fx = f(x)
    zero = xp.zeros_like(fx)
    start = (x, fx, gradient(x), zero + FIRST_STEP, zero, zero)
    return xp.while_loop(going, step, start)[0]


def argmax(xp, f, gradient, x, iterations: int):
    """GradBench's `multivariate_argmax`: the argmin of −f with gradient −∇f."""
    return argmin(xp, lambda z: -f(z), lambda z: -gradient(z), x, iterations)


def maximum(xp, f, gradient, x, iterations: int):
    """GradBench's `multivariate_max`: f at its argmax."""
    return f(argmax(xp, f, gradient, x, iterations))
