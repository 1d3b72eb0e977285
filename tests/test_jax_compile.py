"""JAX: `run` + `block` returns a computed result, and `run` compiles nothing — prepare took it all.

Compilations are counted with `jax.monitoring`: XLA reports every backend compilation as the
duration event '/jax/core/compile/backend_compile_duration'.
"""

from __future__ import annotations

import matrix
import pytest

from adcompare.backends import Unavailable, all_backends, get_backend
from adcompare.commands.check import check_direction, small_instance
from adcompare.operators import OPERATORS
from adcompare.problems import get_problem, problem_names

jax = pytest.importorskip("jax")

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
COMPILES: list[str] = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: COMPILES.append(event) if event == COMPILE_EVENT else None)

JAX_BACKENDS = [b.name for b in all_backends() if b.module == "jax"]


def prepared_or_skip(backend, operator, inst):
    try:
        return get_backend(backend).prepare(OPERATORS[operator], inst, direction=check_direction(OPERATORS[operator], inst))
    except Unavailable as err:
        pytest.skip(str(err))


def jax_and_meaningful(values) -> bool:
    return (values["backend"] in JAX_BACKENDS and matrix.applies(values["problem"], values["operator"])
            and matrix.implements(values["backend"], values["operator"]))


# Whether run compiles is a property of a backend's operator, and of a problem's trace on a backend:
# the default tier covers those two interactions (every operator on both backends, every problem on
# both), --exhaustive the full product.
@pytest.mark.product("problem", "backend", "operator", valid=jax_and_meaningful,
                     cover=[("backend", "operator"), ("problem", "backend")])
def test_run_compiles_nothing_and_block_waits(problem, backend, operator):
    inst = small_instance(get_problem(problem))
    before = len(COMPILES)
    prepared = prepared_or_skip(backend, operator, inst)
    if backend == "jax-jit":
        assert len(COMPILES) > before, "prepare compiled nothing: the listener is not seeing compilations"
    before = len(COMPILES)
    for _ in range(3):
        result = prepared.block(prepared.run())
        # (a sparse Jacobian's result is a scipy matrix, decompressed from arrays already read back)
        assert all(leaf.is_ready() for leaf in jax.tree_util.tree_leaves(result) if hasattr(leaf, "is_ready"))
    assert len(COMPILES) == before, f"run compiled {len(COMPILES) - before} time(s)"
