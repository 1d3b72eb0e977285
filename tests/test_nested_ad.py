"""Nested AD through every backend: a problem whose f takes a gradient inside itself (`xp.grad`, in
either mode), differentiated from outside by each backend's VJP and JVP.

The classic perturbation-confusion case (Siskind & Pearlmutter): f(x) = x · d/dy (x + y) at y = 1,
so f(x) = x and f'(1) = 1; an implementation that lets the outer perturbation of x leak into the
inner derivative gets 2. A second case whose inner derivative depends on x:
g(x) = d/dy Σ sin(x·y) at y = x = x·cos(x²) elementwise, g'(x) = cos(x²) − 2x²·sin(x²)."""

import numpy as np
import pytest

import adcompare as ad
from adcompare.backends import Unavailable, backend_names, get_backend
from adcompare.problems import registry
from adcompare.problems.registry import Problem

INNER_MODES = ("fwd", "rev")
# forward_ad has one dual level in torch 2.13: a forward-mode gradient inside a forward-mode
# derivative is Unavailable on eager torch, with that reason.
NO_FORWARD_IN_FORWARD = {("torch", "jvp", "fwd")}
# Dynamo cannot trace jvp over jacfwd of the sine (a GradTrackingTensor in a fake-tensor
# multiply): torch-compile says so and is n/a there.
DYNAMO_FAILS = {("torch-compile", "jvp", "fwd")}


class Confusion(Problem):
    """x · d/dy (x + y) at y = 1, elementwise over x (n → n)."""

    name = "test-confusion"
    summary = "perturbation confusion"
    test_size = 1
    options = {}
    nested = True

    def f(self, xp, x, c):
        inner = c["mode"]
        ones = xp.ones_like(x)
        return xp.stack([x[i] * xp.grad(lambda y: xp.sum(x[i] + y), inner)(ones[i]) for i in range(x.shape[0])])

    def output_size(self, n, **opts):
        return n

    def constants(self, n, rng, **opts):
        return {"mode": self.mode}


class InnerDependsOnX(Confusion):
    """d/dy Σ sin(x·y) at y = x (n → n)."""

    name = "test-nested-sine"

    def f(self, xp, x, c):
        return xp.grad(lambda y: xp.sum(xp.sin(x * y)), c["mode"])(x)


@pytest.fixture(params=INNER_MODES)
def problems(request, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    made = {}
    for cls in (Confusion, InnerDependsOnX):
        sub = type(cls.__name__, (cls,), {"mode": request.param, "name": f"{cls.name}-{request.param}"})
        registry._REGISTRY[sub.name] = sub()
        made[cls] = sub.name
    return request.param, made


def outer(operator, name, backend, x, direction):
    """The outer derivative's product, or None where the backend says it cannot nest this way."""
    call = ad.vjp if operator == "vjp" else ad.jvp
    try:
        return call(name, x, direction, backend=backend)
    except Unavailable:
        return None


def backends_here():
    return [pytest.param(b, marks=pytest.mark.product) if get_backend(b).slow_compile else b
            for b in backend_names() if get_backend(b).missing_reason() is None]


@pytest.mark.parametrize("operator", ["vjp", "jvp"])
@pytest.mark.parametrize("backend", backends_here())
def test_no_perturbation_confusion(problems, backend, operator):
    inner, names = problems
    x = np.array([1.0, -0.5, 2.0])
    got = outer(operator, names[Confusion], backend, x, np.ones(3))
    if (backend, operator, inner) in NO_FORWARD_IN_FORWARD:
        assert got is None
        return
    assert got is not None, f"{backend} cannot take {operator} over an inner {inner} gradient"
    np.testing.assert_allclose(got, np.ones(3), rtol=0, atol=1e-15)     # a confused one gives 2


@pytest.mark.parametrize("operator", ["vjp", "jvp"])
@pytest.mark.parametrize("backend", backends_here())
def test_an_inner_derivative_that_depends_on_x(problems, backend, operator):
    inner, names = problems
    x, direction = np.array([0.3, -1.2, 0.8]), np.array([2.0, -1.0, 0.5])
    got = outer(operator, names[InnerDependsOnX], backend, x, direction)
    if (backend, operator, inner) in NO_FORWARD_IN_FORWARD | DYNAMO_FAILS:
        assert got is None
        return
    np.testing.assert_allclose(ad.primal(names[InnerDependsOnX], x), x * np.cos(x * x), rtol=1e-15)
    derivative = np.cos(x * x) - 2 * x * x * np.sin(x * x)        # the Jacobian is diagonal
    np.testing.assert_allclose(got, derivative * direction, rtol=1e-13)
