"""Time integration shared by the problems that step an ODE (no problem is registered here)."""


def rk4(rhs, y, h: float, steps: int):
    """`steps` classical Runge–Kutta steps of size h for y′ = rhs(y), written with array
    arithmetic only, so it runs on every namespace and a recording grows linearly with `steps`."""
    for _ in range(steps):
        k1 = rhs(y)
        k2 = rhs(y + (h / 2) * k1)
        k3 = rhs(y + (h / 2) * k2)
        k4 = rhs(y + h * k3)
        y = y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return y
