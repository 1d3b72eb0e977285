"""Time integration shared by the problems that step an ODE (no problem is registered here)."""


def rk4(xp, rhs, y, h: float, steps: int):
    """`steps` classical Runge–Kutta steps of size h for y′ = rhs(y), written with array
    arithmetic only, in the namespace's fixed-count loop (`xp.fori_loop`): eager backends run it
    step by step, so a recording grows linearly with `steps`; a compiler may keep it a loop."""
    def step(_, y):
        k1 = rhs(y)
        k2 = rhs(y + (h / 2) * k1)
        k3 = rhs(y + (h / 2) * k2)
        k4 = rhs(y + h * k3)
        return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)

    return xp.fori_loop(0, steps, step, y)
