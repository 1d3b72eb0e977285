"""A fixed reference kernel, timed beside every absolute time: the machine's drift made visible.

The kernel never changes between commits, so its seconds per call measure the machine, not
the code. Timed in the same interleaved rounds as an operator, it gives each round a yardstick:
t_operator / t_reference cancels what the machine did during that round (a slower neighbour, a
frequency change), and the reference's own spread across processes and runs shows how far the
machine drifted. The work mixes what AD backends spend time on: Python-level dispatch over
small numpy operations, elementwise transcendental functions, and a BLAS matrix product.
"""

from __future__ import annotations

import functools

import numpy as np

NAME = "reference"
SIZE = 256          # elementwise vector length
MATRIX = 48         # BLAS matrix order
STEPS = 16          # Python-level loop iterations


@functools.lru_cache(maxsize=1)
def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261201)
    return rng.standard_normal(SIZE), rng.standard_normal((MATRIX, MATRIX)) / MATRIX


def kernel() -> float:
    """One call of the fixed work (about 0.1 ms on a 2-core VM); returns a number so nothing is
    optimised away."""
    v, a = _inputs()
    total = 0.0
    for _ in range(STEPS):
        v = np.tanh(v * 0.9 + 0.1)
        total += float(v.sum())
    b = a @ a
    return total + float(b[0, 0])
