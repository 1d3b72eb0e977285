"""The estimated peak memory of an instance, and of an operator run on it: what `Problem.instance`,
the data-file readers and `Backend.why_not` check before anything is allocated, so that a size
that cannot fit is one line instead of a swap storm or a MemoryError traceback.

The model counts float64 elements (8 bytes; a float32 run needs less) alive at the worst moment,
from sizes the problem declares without building anything:
  n, m      the input and output sizes;  C  the constants' elements (`Problem.constant_elements`);
  W         the largest array one evaluation builds (`Problem.working_elements`, at least n, m);
  A, E      the arrays one evaluation builds and their elements (`Problem.evaluation`): reverse
            mode records them, so its tape grows with the depth (time steps, sequence length);
  L         = min(E, LIVE·E/A + 2W): what one evaluation holds at once (a deep one frees its steps);
  L'        = min(E, REVERSE_LIVE·L): what a reverse sweep holds (cotangents wait for consumers);
  I         = 3n + 2m + CONSTANT_COPIES·C: x0, its read-only copy and the backend's; f(x) and its
            numpy copy; the constants, their read-only and converted copies.
Per operator, with the recording R = RECORD_COPIES·E (+ BYTES_PER_ARRAY·A of tape nodes) and
AD_TEMPORARIES = t for what AD handles (tangents, cotangents, the rules' temporaries, J's copies):
  primal        I + PRIMAL_TEMPORARIES·L
  jvp           I + t·2L
  vjp           I + R + t·(L' + n)              hvp: I + 3·(R + t·(L' + n))  (HVP_NESTING)
  jacobian fwd  I + t·(n² + 2nm + (1 + k)·L)    k directions: n batched, 1 in a loop
  jacobian rev  I + R + t·(m² + 2nm + L + k·L') k: m batched, 1 in a loop (a loop's products
                are taken as freed once stacked; torch's forward-AD loop keeps tens of KB more
                per product, 650 MB for affine at n = m = 1000, which this does not cover)
  sparse        the same with k = c = 1 colour (the count is known only after detection), its
                seeds, products and non-zeros instead of the basis and J, plus the pattern
                detection (DETECTION_LIVE intermediates: values, row pointers, ≤ min(W·n, the
                detection limit) indices), so nothing is detected to know whether it fits;
plus FRAMEWORK_BYTES for a framework's first calls whatever the size, and on a compiler that
unrolls every operation (torch-compile) COMPILED_BYTES_PER_ARRAY per operation and program. The
constants are calibrated against the process peaks `adcompare.measure.memory` reads on every
backend (tests/test_memory_estimate.py keeps estimate ≥ measured peak for every problem).

Time is bounded too: an eager backend dispatches each of the A operations from Python (and
reverse mode records each), so past `limits.MAX_OPERATIONS` even a depth that fits would run for
hours; `operations_reason` refuses it, naming the deepest depth allowed.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from adcompare import limits

ELEMENT_BYTES = 8
# The arrays one evaluation holds at once (besides its largest): a deep evaluation's steps die
# one by one unless a tape keeps them (RK4 keeps its stages and the right-hand side's terms).
LIVE = 16
# A reverse sweep's cotangents alive at once, in units of the forward pass's live arrays: measured
# up to ~1.8 for torch-func's batched reverse Jacobian of ba (its gathered cameras' gradients).
REVERSE_LIVE = 2
# Copies of an evaluation's live arrays a plain call makes (a framework's converted operands,
# results not yet freed under asynchronous dispatch): measured up to 1.1 (eager jax).
PRIMAL_TEMPORARIES = 2
# What a recording keeps per element its function builds: the operands its rules read (some
# keep inputs and output): measured up to 1.14 on torch (lstm), 0.9 on lorenz96 and ode, and
# torch-func's softmax VJP needs 2 with AD_TEMPORARIES.
RECORD_COPIES = 2
# What AD adds per element it handles (each array's tangent or cotangent, the rules' temporaries,
# J's and the basis's copies in a framework): measured up to 2.9× on torch-func and eager jax
# (softmax's VJP, square's and lse's batched Jacobians).
AD_TEMPORARIES = 3
# Bookkeeping per recorded array: a tape node and its saved-tensor records (measured 0.7–1.4 KB on
# numpy, torch, torch-func and autograd for ode and lorenz96 at 41 000–66 000 operations).
BYTES_PER_ARRAY = 2 << 10
# A compiler's IR, buffers and scratch per operation of the unrolled program it compiles, per
# program (a VJP compiles ~3, `operator_bytes`'s `programs`): measured 40–100 KB an operation of
# lorenz96 (444 operations) on torch-compile (jax-jit keeps loops, `compiles_loops`).
COMPILED_BYTES_PER_ARRAY = 256 << 10
# What a framework allocates for its first calls whatever the sizes (its kernels, thread pools,
# eager jax's compilation of each primitive it meets): measured 4 MB numpy, ~25 MB torch, ~90 MB
# torch-compile, ~150 MB eager jax on poly3, and up to ~300 MB eager jax on ht and gmm.
FRAMEWORK_BYTES = 512 << 20
# Copies of the constants alive at once: the problem's, the instance's read-only ones and a
# framework's converted ones (torch-func's forward mode measured four of affine's A), one spare.
CONSTANT_COPIES = 5
# Pattern detection's intermediates alive at once, each with its values and dependencies (CSR):
# measured up to ~7.5 of lorenz96's at n = 100 000 (293 MB), whose pattern widens with every stage.
DETECTION_LIVE = 12
# An HVP nests two transforms: a recording of a recording (or of a forward pass).
HVP_NESTING = 3


class Evaluation(NamedTuple):
    """What one evaluation of f builds: how many arrays, and their elements in all."""

    arrays: int
    elements: int

    # The default for a function of a few dozen array operations, none larger than W (every
    # problem without a depth option measured at most 11.4 W in all, in ≤ 160 operations).
    DEFAULT_ARRAYS = 64
    DEFAULT_ELEMENTS_PER_WORKING = 16

    @classmethod
    def default(cls, working: int) -> "Evaluation":
        return cls(cls.DEFAULT_ARRAYS, cls.DEFAULT_ELEMENTS_PER_WORKING * working)


class Sizes(NamedTuple):
    """The sizes the model reads, declared by the problem for (n, options), nothing built."""

    n: int
    m: int
    constants: int
    working: int
    arrays: int
    elements: int

    @classmethod
    def of(cls, problem, n: int, options: Mapping[str, int]) -> "Sizes":
        m = problem.output_size(n, **options)
        arrays, elements = problem.evaluation(n, **options)
        working = max(n, m, problem.working_elements(n, **options))
        return cls(n, m, problem.constant_elements(n, **options), working, arrays, elements)

    @property
    def live(self) -> int:
        """Elements one evaluation holds at once: LIVE arrays of the average size, and two of the
        largest (an operation's operand and result)."""
        return min(self.elements, LIVE * (self.elements // max(1, self.arrays)) + 2 * self.working)

    def carried(self, reverse: bool) -> int:
        """Elements one direction carries through the evaluation: a tangent per live array, or
        in a reverse sweep REVERSE_LIVE times that (cotangents wait for all their consumers, and
        a gathered array's gradient is accumulated at its full size)."""
        return min(self.elements, REVERSE_LIVE * self.live) if reverse else self.live

    @property
    def inputs(self) -> int:
        return 3 * self.n + 2 * self.m + CONSTANT_COPIES * self.constants


def instance_bytes(problem, n: int, options: Mapping[str, int]) -> int:
    """Peak bytes of building the instance and evaluating f once (the cheapest use of it)."""
    s = Sizes.of(problem, n, options)
    return ELEMENT_BYTES * (s.inputs + PRIMAL_TEMPORARIES * s.live)


def operator_bytes(operator, problem, n: int, options: Mapping[str, int], unrolled: bool = False) -> int:
    """Peak bytes of building the instance, preparing `operator` on it and running it,
    FRAMEWORK_BYTES included (`unrolled`: on a backend that compiles every operation of the
    evaluation into its program). Never detects a sparsity pattern: a sparse Jacobian's colours
    are bounded from the sizes."""
    s = Sizes.of(problem, n, options)
    per_array = COMPILED_BYTES_PER_ARRAY if unrolled else BYTES_PER_ARRAY
    if operator.kind == "primal":
        return FRAMEWORK_BYTES + instance_bytes(problem, n, options) + (per_array * s.arrays if unrolled else 0)
    records = operator.kind in ("vjp", "hvp") or operator.mode == "rev"
    if operator.kind == "jvp":
        handled, programs = 2 * s.live, 2
    elif operator.kind == "vjp":
        handled, programs = s.carried(True) + s.n, 3
    elif operator.kind == "hvp":
        handled, programs = HVP_NESTING * (s.carried(True) + s.n), 3 * HVP_NESTING
    else:
        handled, programs = _jacobian_handled(operator, s), 3
    nesting = HVP_NESTING if operator.kind == "hvp" else 1
    recording = nesting * RECORD_COPIES * s.elements if records else 0
    if operator.strategy == "sparse":     # detected (and coloured) before anything else is built
        recording += detection_elements(s)
    bookkeeping = per_array * (programs * s.arrays if unrolled else (nesting * s.arrays if records else 0))
    return FRAMEWORK_BYTES + int(ELEMENT_BYTES * (s.inputs + recording + AD_TEMPORARIES * handled)) + bookkeeping


def _jacobian_handled(operator, s: Sizes) -> int:
    """Elements a Jacobian operator's AD handles, before AD_TEMPORARIES: J (and its numpy copy),
    the basis it seeds from and the directions carried through the live arrays (a loop: one at a
    time); a sparse one's c seeds, its compressed products and J's non-zeros (data, indices and
    where they are read from) instead (its pattern detection comes on top, `detection_elements`)."""
    fwd = operator.mode == "fwd"
    directions, carried = (s.n if fwd else s.m), s.carried(not fwd)
    if operator.strategy == "loop":
        return directions * directions + 2 * s.n * s.m + s.live + carried
    if operator.strategy == "batched":
        return directions * directions + 2 * s.n * s.m + s.live + directions * carried
    # Before its pattern is detected a sparse Jacobian's colour count is unknown, so the estimate
    # takes the fewest (one): it refuses what cannot fit with any colouring, and once the colours
    # are counted, the element limit (`backends.base.elements_reason`) bounds their products. (An
    # upper bound here, min(n, limit / W), refused brusselator's 2¹⁹-point grid at 16 GiB, which
    # its ~10 colours run in well under one.)
    colours = 1
    nonzeros = min(s.n * s.m, colours * (s.m if fwd else s.n), limits.MAX_JACOBIAN_ELEMENTS)
    return colours * (directions + (s.m if fwd else s.n)) + 4 * nonzeros + s.live + colours * carried


def detection_reason(inst) -> str | None:
    """Why the engine's sparsity detection of `inst` would not fit in memory, or None."""
    s = Sizes.of(inst.problem, inst.n, inst.options)
    return limits.memory_reason(f"detecting the Jacobian pattern of {inst.label()}",
                                ELEMENT_BYTES * (s.inputs + detection_elements(s)),
                                "x, the constants and the dependencies of the intermediates alive at once")


def detection_elements(s: Sizes) -> int:
    """8-byte words the engine's pattern detection holds at once: DETECTION_LIVE intermediates of
    W elements, each with its values, row pointers and indices (at most W·n, and at most the
    detection's non-zero limit: past it detection stops, `engine.sparsity.PatternTooLarge`)."""
    return DETECTION_LIVE * (2 * s.working + min(s.working * s.n, limits.MAX_JACOBIAN_ELEMENTS))


def operator_reason(operator, inst, backend=None) -> str | None:
    """Why `operator` on `inst` cannot run on `backend` here, from the estimate alone (nothing
    built, no pattern detected): its peak past `limits.MEMORY_SHARE` of this machine's memory, or,
    on a backend that dispatches each operation from Python, one evaluation past
    `limits.MAX_OPERATIONS` (`operations_reason`); None if it may run."""
    return _reason(operator, inst.problem, inst.n, inst.options, inst.label(), backend)


def unbuilt_reason(operator, problem, n: int | None, options: Mapping[str, Any], backend=None) -> str | None:
    """`operator_reason` for the instance `problem.instance(n, **options)` would build, asked
    before it is built: a size that cannot run is refused without allocating its x0 and
    constants (a mistaken size or option is the UserError `Problem.resolve` raises)."""
    n, merged = problem.resolve(n, **options)
    label = f"{problem.name}(n={n}{''.join(f', {k}={v}' for k, v in merged.items())})"
    return _reason(operator, problem, n, merged, label, backend)


def _reason(operator, problem, n: int, options: Mapping[str, Any], label: str, backend) -> str | None:
    compiles = bool(backend is not None and backend.compiles)
    unrolled = compiles and not backend.compiles_loops
    what = "x, f(x), the constants, the function's arrays"
    if operator.kind in ("vjp", "hvp") or operator.mode == "rev":
        what += " and reverse mode's record of them"
    directions = "tangents" if operator.mode == "fwd" else "cotangents"
    if operator.strategy == "sparse":
        what += f", detecting its pattern, one colour's {directions} each carried through them and J's non-zeros"
    elif operator.kind == "jacobian":
        what += f", the {'n' if operator.mode == 'fwd' else 'm'} {directions} carried through them and J"
    if unrolled:
        what += ", and compiling every operation"
    return (limits.memory_reason(f"{operator.name} on {label}",
                                 operator_bytes(operator, problem, n, options, unrolled), what)
            or (None if compiles else operations_reason(problem, n, options, label)))


def operations_reason(problem, n: int, options: Mapping[str, Any], label: str) -> str | None:
    """Why one evaluation would dispatch too many array operations from Python to finish in
    reasonable time (`limits.MAX_OPERATIONS`), naming the deepest depth allowed; None if it
    would not."""
    limit = limits.MAX_OPERATIONS
    arrays = problem.evaluation(n, **options).arrays
    if arrays <= limit:
        return None
    deepest = ""
    option = problem.depth_option
    if option:
        one, two = (problem.evaluation(n, **{**options, option: d}).arrays for d in (1, 2))
        if two > one:
            deepest = f"; {option} ≤ {1 + max(0, limit - one) // (two - one)} stays within it"
    return (f"{label} runs about {arrays:.2g} array operations per evaluation, each dispatched from "
            f"Python (and recorded one by one by reverse mode): past {limit:,} a call takes hours whatever "
            f"the memory{deepest}")
