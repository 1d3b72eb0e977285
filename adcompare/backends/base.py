"""The operator protocol every backend implements: prepare once (untimed), then run (measured).

A backend turns (operator, problem instance, device, dtype, x, direction) into a `Prepared`
object whose `run()` does only the measured work and whose `block()` waits until the result
really exists. Conversion of inputs and constants, tracing, JIT compilation and a warm-up call
all happen in `prepare`, and their duration is recorded on the result.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, ClassVar

import numpy as np

from adcompare.errors import UserError, choose_from
from adcompare.operators import Operator
from adcompare.problems import Instance

DTYPES = ("float64", "float32")
# A batched Jacobian holds its directions (n forward, m reverse) through the function and J (m×n)
# at once; past this many elements (256 MiB in float64) it does not fit the machines adcompare is
# run on.
MAX_JACOBIAN_ELEMENTS = 1 << 25


def jacobian_elements(operator: Operator, inst: Instance) -> int:
    """Array elements a Jacobian operator holds at once: J itself, plus for a batched one its
    directions carried through the function's largest intermediate (n tangents forward, m
    cotangents reverse, each the size of `Problem.working_elements`). A sparse one holds one
    direction per colour and J's non-zeros (`sparse.compressed_elements`, which detects and
    colours only when cheaper bounds cannot decide against MAX_JACOBIAN_ELEMENTS)."""
    if operator.strategy == "sparse":
        from adcompare import sparse
        return sparse.compressed_elements(inst, operator.mode, MAX_JACOBIAN_ELEMENTS)
    directions = operator.passes(inst.n, inst.m)
    working = max(inst.n if operator.mode == "fwd" else inst.m,
                  inst.problem.working_elements(inst.n, **inst.options))
    return (directions * working if operator.strategy == "batched" else 0) + inst.n * inst.m


class Unavailable(NotImplementedError):
    """This combination cannot run here (framework missing, no GPU, operator not supported).

    A NotImplementedError, so that an asv `setup` raising it shows the benchmark as n/a.
    """


@dataclasses.dataclass
class Prepared:
    """A ready-to-run operator. Time `block(run())`; nothing else."""

    backend: "Backend"
    operator: Operator
    instance: Instance
    device: str
    dtype: str
    run: Callable[[], Any]                 # the measured work; returns the backend's own array
    block: Callable[[Any], Any]            # waits for the result (sync / block_until_ready)
    to_numpy: Callable[[Any], np.ndarray]  # the result as a float64-convertible numpy array
    #                                        (a scipy.sparse.csr_matrix for the sparse Jacobians)
    prepare_seconds: float = float("nan")  # build + warm-up, measured by Backend.prepare

    def __call__(self) -> np.ndarray:
        """Run, wait, convert: the convenience path for the API and tests (not for timing)."""
        return self.to_numpy(self.block(self.run()))


@dataclasses.dataclass(frozen=True)
class Built:
    """What a backend's `build` returns: the run step and how to wait for and read its result."""

    run: Callable[[], Any]
    block: Callable[[Any], Any]
    to_numpy: Callable[[Any], np.ndarray]


class Backend:
    """One AD framework (or one way of using it). Subclasses implement `build`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    install_hint: ClassVar[str] = ""   # the command that installs the framework
    order: ClassVar[int] = 100         # position in listings
    # A workload's batched Jacobian costs seconds per process before the first timed call (a
    # compile, or eager dispatch of every batched primitive): the main grid leaves those
    # workloads (ba, ht, ode) to the full grid on such a backend (grid.profile_jobs).
    costly_jacobians: ClassVar[bool] = False

    # --- to implement -------------------------------------------------------------------------
    def missing_reason(self) -> str | None:
        """None if the framework imports; else why not (with the install command)."""
        return None

    def device_missing_reason(self, device: str) -> str | None:
        """None if `device` exists on this machine; else why not."""
        return None

    def unsupported_reason(self, operator: Operator) -> str | None:
        """None if this backend implements `operator`; else why not."""
        return None

    def build(self, operator: Operator, inst: Instance, x: np.ndarray, direction: np.ndarray | None,
              device: str, dtype: str) -> Built:
        """Convert, trace, compile: everything except the measured work."""
        raise NotImplementedError

    def tape_bytes(self, inst: Instance, x: np.ndarray, device: str, dtype: str) -> int:
        """Bytes reverse mode keeps for the backward pass of one VJP of `inst` at x."""
        raise Unavailable(f"{self.name}: tape memory is not measurable")

    def peak_device_bytes(self, prepared: Prepared) -> int:
        """Peak device memory of one `run()` beyond what was allocated before it."""
        raise Unavailable(f"{self.name}: peak device memory is not measurable on {prepared.device}")

    # --- provided -----------------------------------------------------------------------------
    def why_not(self, operator: Operator, inst: Instance, device: str, dtype: str) -> str | None:
        """The reason this combination cannot run, or None if it can."""
        if device not in self.devices:
            return f"{self.name} runs on {', '.join(self.devices)}, not {device!r}"
        reason = self.missing_reason() or self.device_missing_reason(device)
        if reason:
            return reason
        if not operator.applies_to(inst):
            return f"{operator.name} needs a scalar-output problem; {inst.label()} has m = {inst.m}"
        if operator.kind == "jacobian" and jacobian_elements(operator, inst) > MAX_JACOBIAN_ELEMENTS:
            return (f"{operator.name} on {inst.label()} needs {jacobian_elements(operator, inst)} array "
                    f"elements (limit {MAX_JACOBIAN_ELEMENTS}); choose a smaller n or m")
        return self.unsupported_reason(operator)

    def prepare(self, operator: Operator, inst: Instance, x=None, direction=None,
                device: str = "cpu", dtype: str = "float64") -> Prepared:
        """Validate, build and warm up; the returned object's `run()` is the measured work."""
        if dtype not in DTYPES:
            raise choose_from("dtype", dtype, DTYPES)
        reason = self.why_not(operator, inst, device, dtype)
        if reason:
            raise Unavailable(reason)
        x = inst.x0 if x is None else inst.check_input(x, "x")
        if operator.direction:
            size = inst.m if operator.direction == "v" else inst.n
            direction = np.ones(size) if direction is None else inst.check_input(direction, operator.direction, size)
        elif direction is not None:
            raise UserError(f"{operator.name} takes no direction vector")
        start = time.perf_counter()
        built = self.build(operator, inst, x, direction, device, dtype)
        if operator.strategy == "sparse":   # the backend computes the c products; J is read from them
            built = decompressing(built, inst, operator.mode)
        built.block(built.run())   # warm-up: first-call costs (JIT, allocator, caches) stay here
        elapsed = time.perf_counter() - start
        return Prepared(self, operator, inst, device, dtype, built.run, built.block, built.to_numpy, elapsed)


def decompressing(built: Built, inst: Instance, mode: str) -> Built:
    """A sparse Jacobian's run: the backend's compressed products (seeded by `numpy_inputs` from
    the instance's plan), waited for, converted and decompressed into a csr_matrix."""
    from adcompare import sparse

    plan = sparse.plan(inst, mode)
    run, block, to_numpy, decompress = built.run, built.block, built.to_numpy, plan.decompress

    def sparse_run():
        return decompress(to_numpy(block(run())))
    return Built(sparse_run, _same, _same)


def _same(result):
    return result


def device_key(backend: str, device: str) -> str:
    """The folded 'backend:device' id used by benchmarks and results ("torch:cuda")."""
    return f"{backend}:{device}"
