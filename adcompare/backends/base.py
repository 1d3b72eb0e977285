"""The operator protocol every backend implements: prepare once (untimed), then run (measured).

A backend turns (operator, problem instance, device, dtype, x, direction) into a `Prepared`
object whose `run()` does only the measured work and whose `block()` waits until the result
really exists. Conversion of inputs and constants, tracing, JIT compilation and a warm-up call
all happen in `prepare`, and their duration is recorded on the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any, Callable, ClassVar

import numpy as np

from adcompare.errors import UserError, choose_from
from adcompare import footprint, limits
from adcompare.operators import Operator
from adcompare.problems import Instance, user_code

DTYPES = ("float64", "float32")
# The deepest case (a problem's `depth_option`) a compiler that unrolls loops is asked to compile:
# its compile time grows faster than the depth (jax-jit unrolled, lorenz96:128 VJP: 0.5 s at 1
# step, 4.7 s at 4, ~50 s at 10; ADBench's lstm at c = 1024 still compiling after 8 minutes).
MAX_UNROLLED_DEPTH = 16
# Environment variables a measurement process reads: the directory of the compile caches the
# steady-state families share, and where a cold (compile-time) measurement makes its private one.
COMPILE_CACHE_ENV = "ADCOMPARE_COMPILE_CACHE"
COLD_CACHE_ENV = "ADCOMPARE_COLD_CACHES"


def jacobian_elements(operator: Operator, inst: Instance) -> int:
    """Array elements a Jacobian operator holds at once (`limits.dense_jacobian_elements`); a
    sparse one holds one direction per colour and J's non-zeros (`sparse.compressed_elements`,
    which detects and colours only when cheaper bounds cannot decide against the limit)."""
    if operator.strategy == "sparse":
        from adcompare import sparse
        return sparse.compressed_elements(inst, operator.mode, limits.MAX_JACOBIAN_ELEMENTS)
    return limits.dense_jacobian_elements(operator, inst)


def elements_reason(operator: Operator, inst: Instance) -> str | None:
    """Why a Jacobian operator's arrays do not fit (past limits.MAX_JACOBIAN_ELEMENTS), or None.
    A sparse one's pattern detection is checked against memory first (`footprint.detection_reason`),
    so counting its colours never starts a detection that cannot fit."""
    if operator.kind != "jacobian":
        return None
    if operator.strategy == "sparse":
        reason = footprint.detection_reason(inst)
        if reason:
            return reason
    elements, limit = jacobian_elements(operator, inst), limits.MAX_JACOBIAN_ELEMENTS
    if elements > limit:
        return f"{operator.name} on {inst.label()} needs {elements} array elements (limit {limit}); choose a smaller n or m"
    return None


def size_reason(operator: Operator, inst: Instance) -> str | None:
    """Why `operator` on `inst` is too large for a benchmark here, or None: its arrays
    (`elements_reason`), or a loop Jacobian past limits.MAX_LOOP_PASSES products per call (a user may
    still ask for one; a benchmark would outlast its time)."""
    passes, limit = operator.passes(inst.n, inst.m), limits.MAX_LOOP_PASSES
    if operator.kind == "jacobian" and operator.strategy == "loop" and passes > limit:
        return f"{operator.name} on {inst.label()} runs {passes} products per call (limit {limit})"
    return elements_reason(operator, inst)


class Unavailable(NotImplementedError):
    """This combination cannot run here (framework missing, no GPU, operator not supported).

    A NotImplementedError, so that an asv `setup` raising it shows the benchmark as n/a.
    """


# How a user's f fails under a framework that traces or differentiates it, and what to change:
# (words in the error or what caused it, lower case; the advice), first match wins. "{backend}"
# and "{where}" (the line of f, where known) are filled in.
USER_CODE_ADVICE = (
    (("tracerboolconversionerror", "data-dependent branching", "data-dependent control flow",
      "dynamic control flow"),
     "{backend} cannot trace a Python `if` (or `while`, `and`, `or`, bool()) on a traced value{where}: "
     "write it with xp.where"),
    (("tracerintegerconversionerror", "concretizationtypeerror", ".item()", "int() argument", "float() argument"),
     "{backend} cannot turn a traced value into a Python number (int(), float(), .item(), a size or an index)"
     "{where}: keep it an array"),
    (("tracerarrayconversionerror", "does not support ufuncs", "call numpy()", "doesn't have storage"),
     "f calls numpy on {backend}'s traced value{where}: use the namespace f receives (xp.sin, not np.sin)"),
    (("item assignment", "in-place", "inplace", "immutable"),
     "f assigns into an array in place{where}, which {backend} cannot differentiate: build the array with "
     "xp.stack, xp.concat or xp.where"),
)


def user_code_reason(backend: str, operator: Operator, inst: Instance, err: Exception) -> str | None:
    """Why a user's f cannot run under `backend`, in words that say what to change, for an error
    raised while tracing, compiling or first running it; None where adcompare's own words (an
    Unavailable it raised) say it best."""
    text = " ".join(f"{type(e).__name__}: {e}" for e in user_code.causes(err)).lower()
    where = user_code.site_text(err)
    for words, advice in USER_CODE_ADVICE:
        if any(word in text for word in words):
            return advice.format(backend=backend, where=where)
    if isinstance(err, Unavailable):
        return None
    return f"{backend} cannot run {operator.name} on {inst.label()}: f raised {user_code.first_line(err)}{where}"


@contextlib.contextmanager
def user_code_failures(backend: str, operator: Operator, inst: Instance):
    """A user's problem that fails inside the framework is Unavailable there, with what to change
    (`user_code_reason`); adcompare's own problems raise as they are (a failure there is a bug)."""
    try:
        yield
    except Exception as err:
        reason = None if inst.problem.source is None else user_code_reason(backend, operator, inst, err)
        if reason is None:
            raise
        raise Unavailable(reason) from err


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
    """One AD framework (or one way of using it). Subclasses implement `build`; traits and hooks
    below say what the rest of the suite needs to know about it, so no other code names a backend."""

    name: ClassVar[str]
    summary: ClassVar[str]
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    install_hint: ClassVar[str] = ""   # the command that installs the framework
    order: ClassVar[int] = 100         # position in listings
    module: ClassVar[str | None] = None   # the framework's import name (one backend per framework preloads it)

    # --- traits ---------------------------------------------------------------------------------
    # Compiles each operator in prepare (jax-jit, torch-compile): its preparation is a compile,
    # and the grids cap the depth of what it compiles (`run.plan.affordable`).
    compiles: ClassVar[bool] = False
    # Its compiler keeps a problem's `xp.fori_loop` a loop (jax-jit: a scan), so compile time does
    # not grow with the depth: no depth cap. A compiler without it unrolls the loop, and prepare
    # refuses a depth past MAX_UNROLLED_DEPTH (`depth_reason`).
    compiles_loops: ClassVar[bool] = False
    # Compiles for seconds per operator and case: the test suite samples its oracle matrix.
    slow_compile: ClassVar[bool] = False
    # A workload's batched Jacobian costs seconds per process before the first timed call (a
    # compile, or eager dispatch of every batched primitive): the main grid leaves those
    # workloads (ba, ht, ode) to the full grid on such a backend.
    costly_jacobians: ClassVar[bool] = False
    # Its compiled backward recomputes forward values instead of keeping them: its tape does not
    # grow in proportion to the depth.
    recomputes_forward: ClassVar[bool] = False

    # --- hooks for the measurement processes ----------------------------------------------------
    def preload(self) -> None:
        """Import the framework and what it loads lazily on its first AD call, in a fork server:
        no device touched, no thread started (forked measurement processes inherit the imports)."""

    def limit_threads(self, threads: int) -> None:
        """Hold the framework's own thread pools to `threads` (if it is loaded in this process)."""

    def thread_report(self) -> dict[str, Any]:
        """The thread counts the framework reports in this process (for the environment record)."""
        return {}

    def use_compile_cache(self, directory: str | None) -> None:
        """Read and write compilations in `directory` from now on in this process (None: compile
        cold, in a private directory). Only compiling frameworks have one."""

    def compile_cache_state(self, prepared: "Prepared") -> str | None:
        """"cold" or "warm": whether this prepare read its compilation from the cache; None for
        a backend that keeps no compile cache."""
        return None

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
        """The reason this combination cannot run, or None if it can: the device, the framework,
        the operator's shape, its estimated peak memory and operations (`footprint.operator_reason`,
        checked first: it builds nothing and detects no pattern), its arrays (`elements_reason`)."""
        if device not in self.devices:
            return f"{self.name} runs on {', '.join(self.devices)}, not {device!r}"
        reason = self.missing_reason() or self.device_missing_reason(device)
        if reason:
            return reason
        if not operator.applies_to(inst):
            return f"{operator.name} needs a scalar-output problem; {inst.label()} has m = {inst.m}"
        return (footprint.operator_reason(operator, inst, self) or elements_reason(operator, inst)
                or self.unsupported_reason(operator))

    def depth_reason(self, inst: Instance) -> str | None:
        """Why this backend will not compile `inst` (a user mistake, one line): a compiler that
        unrolls loops, past MAX_UNROLLED_DEPTH of the problem's depth option; else None."""
        option = inst.problem.depth_option
        if not self.compiles or self.compiles_loops or option is None:
            return None
        depth = inst.options[option]
        if depth <= MAX_UNROLLED_DEPTH:
            return None
        return (f"{self.name} unrolls the loop of {inst.name} over {option}: {option} = {depth} is past its limit of "
                f"{MAX_UNROLLED_DEPTH} (compile time grows faster than the depth: minutes beyond it); choose "
                f"{option} <= {MAX_UNROLLED_DEPTH}, or a backend that compiles loops or runs eagerly")

    def prepare(self, operator: Operator, inst: Instance, x=None, direction=None,
                device: str = "cpu", dtype: str = "float64") -> Prepared:
        """Validate, build and warm up; the returned object's `run()` is the measured work."""
        if dtype not in DTYPES:
            raise choose_from("dtype", dtype, DTYPES)
        reason = self.why_not(operator, inst, device, dtype)
        if reason:
            raise Unavailable(reason)
        reason = self.depth_reason(inst)
        if reason:
            raise UserError(reason)
        x = inst.x0 if x is None else inst.check_input(x, "x")
        if operator.direction:
            size = inst.m if operator.direction == "v" else inst.n
            direction = np.ones(size) if direction is None else inst.check_input(direction, operator.direction, size)
        elif direction is not None:
            raise UserError(f"{operator.name} takes no direction vector")
        start = time.perf_counter()
        with user_code_failures(self.name, operator, inst):
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
