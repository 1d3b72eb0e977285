"""PyTorch under `torch.compile` (dynamo + AOTAutograd + Inductor): the compiled counterpart of
`torch-func`, as jax-jit is of jax. Inductor generates C++ on the CPU (built by the machine's
C++ compiler) and Triton kernels on CUDA.

Formulation, per operator (each captured whole, `fullgraph=True, dynamic=False`):
- primal, vjp, jvp, jacobian-fwd / jacobian-rev (jacfwd / jacrev: vmap over n tangents / m
  cotangents) and the three HVPs: the torch.func transforms of `torch-func`
  (`_common.TRANSFORM_OPERATORS`) inside one compiled function. Dynamo traces through the
  transforms, so Inductor sees one forward-only graph with the derivative already in it.
- jacobian-fwd-loop: a Python loop of n calls to one compiled single product (x, e) ↦ J e.
- jacobian-rev-loop: one recording and m sweeps, as in eager torch: a compiled forward whose
  backward AOTAutograd compiles from the joint graph, swept m times by
  `autograd.grad(..., retain_graph=True)`.
Why: the transforms compile to one graph with no autograd engine between forward and backward.
For vjp that is faster than the alternative, a compiled forward whose AOTAutograd backward runs
under `y.backward(v)` (1 thread: 0.31 vs 0.62 ms on lorenz96:128 at 2 steps, 0.04 vs 1.3 ms on
rosenbrock:128), and it compiles as fast; forward AD and double backward do not go through
AOTAutograd at all. The loops compile one product whatever n or m; unrolled, they would compile
n copies.

Compile in prepare, never in run: `build` compiles and calls once, `Backend.prepare` warms up.
Each prepared operator gets a code object of its own, so dynamo keeps exactly one cache entry
(and one set of guards) per operator and never reaches its recompile limit, which would run
eagerly; that limit is made an error, too. An operator dynamo can only capture with graph breaks
is Unavailable with torch's reason in one line: it never runs eagerly under this name. Nor does
a wrong number: after the timed preparation, prepare compares the result with eager torch.func
and refuses an operator Inductor miscompiles (torch 2.13 on the CPU: jacrev through `take`,
i.e. ba and ht, and gmm's hvp-fwd-rev).

Caches: cold unless `use_shared_cache` (through the `use_compile_cache` hook) points Inductor
at a shared directory. Cold means a fresh, private cache directory per process with the FX graph
and AOTAutograd caches off, so nothing compiled by another process (or an earlier run) is
reused; `compile_cache_state(prepared)` says which one a prepare got. Compilation is single-threaded
(no compile worker pool inside a benchmark process) and the generated code uses torch's thread
count, which the measurement policy sets to one.

One-time cost: a process's first compile also probes the CPU's vector ISAs with the C++ compiler
(~15 s of CPU on the 2-core reference VM, against 2–10 s for an operator's own compile).
`initialize_toolchain` pays it, with no compile and no thread, in the fork server
(the `preload` hook), so forked measurement processes pay their own compiles only.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import shutil
import sys
import tempfile
import types
from typing import Callable

from adcompare.backends import register_backend
from adcompare.backends._common import (
    TRANSFORM_OPERATORS,
    Transforms,
    convert_constants,
    eager_map_rows,
    loop_jacobian,
    numpy_inputs,
    transform_operator,
)
from adcompare.backends.base import COLD_CACHE_ENV, Built, Prepared, Unavailable
from adcompare.backends.torch_eager import TORCH_DEVICES, TorchBackend, _to_numpy, _torch, saved_bytes
from adcompare.backends.torch_func import transform_namespace
from adcompare.operators import get_operator

COMPILE_THREADS = 1
COMPILER_INSTALL = "apt-get install g++"
TRITON_INSTALL = "pip install triton"
# Compiled vs eager results differ by reassociation (AD_RTOL: ≤ 1e-11 / 1e-4 seen); a
# miscompilation by O(1). Past these, prepare refuses the operator.
MISCOMPILE_RTOL = {"float64": 1e-8, "float32": 1e-3}


@dataclasses.dataclass
class CompiledPrepared(Prepared):
    """A prepared torch-compile operator, with what its compilation read from the on-disk caches:
    "warm" (every graph loaded from the cache) or "cold" (Inductor compiled at least one afresh)."""

    cache_state: str = "cold"


# --- process setup: caches and threads ------------------------------------------------------------
@dataclasses.dataclass
class _CachePolicy:
    shared: str | None = None         # the shared cache directory, or None: cold
    applied_in: int | None = None     # pid that applied the policy (forked children re-apply)
    private: dict = dataclasses.field(default_factory=dict)   # pid -> its cold directory


_POLICY = _CachePolicy()


def use_shared_cache(directory: str | None) -> None:
    """Read and write compilations in `directory` (Inductor's FX graph and AOTAutograd caches)
    from now on in this process, so processes that compile the same operator share the work;
    None: back to cold compiles in this process's private directory."""
    _POLICY.shared = directory
    _POLICY.applied_in = None
    if "torch._inductor.config" in sys.modules:
        _apply_process_setup()


def _private_cache_dir() -> str:
    """A fresh cache directory for this process alone: inside the run's scratch folder
    ($ADCOMPARE_COLD_CACHES, removed with it; forked measurement processes end without atexit),
    else a temporary one removed at exit."""
    pid = os.getpid()
    if pid not in _POLICY.private:
        parent = os.environ.get(COLD_CACHE_ENV)
        if parent:
            os.makedirs(parent, exist_ok=True)
        directory = tempfile.mkdtemp(prefix=f"torchinductor-{pid}-", dir=parent)
        atexit.register(_remove_if_owner, pid, directory)
        _POLICY.private[pid] = directory
    return _POLICY.private[pid]


def _remove_if_owner(pid: int, directory: str) -> None:
    """A forked child inherits the atexit list; only the process that made `directory` removes it."""
    if os.getpid() == pid:
        shutil.rmtree(directory, ignore_errors=True)


def _apply_process_setup() -> None:
    """Caches and compile threads for this process; again after a fork (the pid changes)."""
    if _POLICY.applied_in == os.getpid():
        return
    import torch._dynamo.config as dynamo_config
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config
    from torch._inductor.utils import clear_caches

    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = str(COMPILE_THREADS)
    inductor_config.compile_threads = COMPILE_THREADS
    dynamo_config.fail_on_recompile_limit_hit = True    # never fall back to eager silently
    # m sweeps of one recording retain the graph (jacobian-rev-loop): a compiled backward may
    # then not consume ("donate") its saved buffers. Read at compile and at backward time.
    functorch_config.donated_buffer = False
    directory = _POLICY.shared or _private_cache_dir()
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR") != directory:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = directory
        clear_caches()   # in-memory code caches are keyed by files in the previous directory
    warm = _POLICY.shared is not None
    inductor_config.fx_graph_cache = warm
    functorch_config.enable_autograd_cache = warm
    _POLICY.applied_in = os.getpid()


def _cache_counts() -> tuple[int, int]:
    """(graphs loaded from the caches, graphs Inductor compiled afresh) so far in this process.
    AOTAutograd bypasses its own cache for some graphs (forward AD) and then asks Inductor's FX
    graph cache, so an Inductor hit is warm whatever AOTAutograd did."""
    from torch._dynamo.utils import counters

    inductor, aot = counters["inductor"], counters["aot_autograd"]
    loaded = inductor["fxgraph_cache_hit"] + aot["autograd_cache_hit"]
    compiled = inductor["fxgraph_cache_miss"] + inductor["fxgraph_cache_bypass"]
    return loaded, compiled


def initialize_toolchain() -> dict[str, float]:
    """Pay Inductor's one-time per-process costs here, without compiling, running or threading:
    the probe of the CPU's vector ISAs (a g++ build and a dlopen per candidate ISA, cached in
    memory), the hash of torch's sources that keys every cache, and the pattern matchers Inductor
    builds on first use. For the fork server: every forked process then pays its own compiles
    only. Returns the seconds of each step."""
    import time

    import torch._inductor.codecache as codecache
    import torch._inductor.compile_fx  # noqa: F401  (the import alone is ~1 s)
    import torch._inductor.config as inductor_config
    import torch._inductor.cpu_vec_isa as cpu_vec_isa
    from torch._inductor.fx_passes import joint_graph, post_grad

    inductor_config.compile_threads = COMPILE_THREADS
    steps = {"vector ISA probe": cpu_vec_isa.valid_vec_isa_list, "torch source hash": codecache.torch_key,
             "joint-graph patterns": joint_graph.lazy_init, "post-grad patterns": post_grad.lazy_init}
    seconds = {}
    for label, step in steps.items():
        start = time.perf_counter()
        step()
        seconds[label] = time.perf_counter() - start
    return seconds


# --- graph breaks ---------------------------------------------------------------------------------
def _condensed(err: BaseException, limit: int = 240) -> str:
    """torch's multi-line compile error in one line: its first line and its explanation (which
    ends with the underlying error, so a long one keeps its start and its end)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    head = lines[0] if lines else type(err).__name__
    explanation = []
    for line in lines[1:]:
        if explanation and line.startswith(("Hint:", "Developer debug context:", "For more details")):
            break
        if explanation or line.startswith("Explanation:"):
            explanation.append(line.removeprefix("Explanation:").strip())
    text = " ".join(explanation)
    if len(text) > limit:
        text = text[: limit // 2] + " … " + text[-limit // 2:]
    return f"{head} ({text})" if text else head


def _own_code(fn: Callable) -> Callable:
    """`fn` with a code object of its own: dynamo keys its compile cache on the code object, and
    every build defines the same closure, whose guards differ per problem and operator."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)


@register_backend
class TorchCompileBackend(TorchBackend):
    name = "torch-compile"
    summary = ("torch.compile (Inductor, fullgraph) of the torch.func transforms; loops call one compiled "
               "product; rev-loop sweeps an AOTAutograd-compiled backward")
    order = 12
    compiles = True
    # Inductor takes 20–50 s per process to compile a workload's batched Jacobian (ba, ht) on the
    # 2-core reference VM; the tests sample its oracle matrix (tests/conftest.py).
    slow_compile = True
    costly_jacobians = True
    recomputes_forward = True   # its tape is what the partitioner keeps, not a recording (tape_bytes)
    operators = tuple(TRANSFORM_OPERATORS)

    def missing_reason(self) -> str | None:
        return super().missing_reason() or compiler_missing()

    def preload(self) -> None:
        """torch's imports, then Inductor's one-time setup (builds and probes, no thread)."""
        super().preload()
        initialize_toolchain()

    def use_compile_cache(self, directory: str | None) -> None:
        use_shared_cache(None if directory is None else os.path.join(directory, "torchinductor"))

    def compile_cache_state(self, prepared: Prepared) -> str | None:
        return getattr(prepared, "cache_state", None)

    def framework_device_missing(self, device):
        reason = super().framework_device_missing(device)
        if reason is None and device == "cuda" and _find_spec("triton") is None:
            return f"Inductor generates Triton kernels on CUDA and triton is not installed; install it with: {TRITON_INSTALL}"
        return reason

    def prepare(self, operator, inst, x=None, direction=None, device="cpu", dtype="float64") -> CompiledPrepared:
        """Backend.prepare (compile + warm-up), recording whether the compilation was cached."""
        if self.missing_reason():
            return super().prepare(operator, inst, x, direction, device, dtype)   # raises Unavailable
        _apply_process_setup()
        hits, compiled = _cache_counts()
        prepared = super().prepare(operator, inst, x, direction, device, dtype)
        now_hits, now_compiled = _cache_counts()
        state = "warm" if now_hits > hits and now_compiled == compiled else "cold"
        self._check_against_eager(prepared, x, direction)
        fields = {f.name: getattr(prepared, f.name) for f in dataclasses.fields(Prepared)}
        return CompiledPrepared(**fields, cache_state=state)

    def _check_against_eager(self, prepared: Prepared, x, direction) -> None:
        """Unavailable if the compiled result is not eager torch.func's on the same inputs.

        Inductor miscompiles some graphs silently (torch 2.13, CPU: jacrev through `take` /
        `index_select`, whose batched backward scatters into a stride-0 buffer, pytorch#183986;
        gmm's hvp-fwd-rev), and a wrong number must never be reported under this backend's name.
        Checked after the timed preparation, so prepare seconds stay compile + warm-up."""
        from adcompare.backends import get_backend
        from adcompare.oracles import relative_error

        eager = get_backend("torch-func").prepare(prepared.operator, prepared.instance, x, direction,
                                                  prepared.device, prepared.dtype)
        err = relative_error(prepared(), eager())
        if err > MISCOMPILE_RTOL[prepared.dtype]:
            raise Unavailable(f"{self.name}: Inductor miscompiles {prepared.operator.name} on "
                              f"{prepared.instance.label()} (relative error {err:.1e} against eager torch.func)")

    def _inputs(self, operator, inst, x, direction, device, dtype):
        """(x, direction, constant tensors, structure): constants are arguments of the compiled
        function, not closed over, as for jax-jit; Python structure (lorenz96's steps) is baked in."""
        torch = _torch()
        dev = torch.device(TORCH_DEVICES[device])
        inputs = numpy_inputs(operator, inst, x, direction, dtype)

        def tensor(a):
            return torch.tensor(a, device=dev)

        constants = convert_constants(inputs.constants, tensor)
        arrays = {k: v for k, v in constants.items() if torch.is_tensor(v)}
        structure = {k: v for k, v in constants.items() if k not in arrays}
        d = None if inputs.direction is None else tensor(inputs.direction)
        return tensor(inputs.x), d, arrays, structure

    def namespace(self):
        """torch-func's: torch's array API, Python loops and torch.func's nested gradient. Dynamo
        unrolls a fixed-count loop (so the grids cap the depth, `compiles_loops` is False) and
        cannot capture a while loop, whose condition is data-dependent (a graph break: Unavailable).
        Why not torch's own loop operators: in torch 2.13 `scan` and `while_loop` compile under
        autograd's backward but fail inside the torch.func transforms every operator here is built
        from ("Expected FakeTensor")."""
        return transform_namespace()

    def _function(self, inst, structure) -> Callable:
        """(z, arrays) ↦ f(z) on the backend's problem namespace."""
        xp = self.namespace()
        f = inst.problem.f

        def fun(z, arrays):
            return f(xp, z, {**structure, **arrays})
        return fun

    def _compile(self, fn: Callable, operator, inst) -> tuple[Callable, Callable]:
        """(the compiled fn, its first call): the first call compiles, and raises Unavailable
        where torch.compile cannot capture or lower fn."""
        torch = _torch()
        # The generated C++ runs this many OpenMP threads; set explicitly, it is in the cache key.
        torch._inductor.config.cpp.threads = torch.get_num_threads()
        compiled = torch.compile(_own_code(fn), fullgraph=True, dynamic=False)

        def first_call(*args):
            try:
                return compiled(*args)
            except Exception as err:   # dynamo's and Inductor's errors share no base class
                raise _capture_error(self.name, operator, inst, err) from err
        return compiled, first_call

    def build(self, operator, inst, x, direction, device, dtype):
        torch = _torch()
        func = torch.func
        _apply_process_setup()
        x, d, arrays, structure = self._inputs(operator, inst, x, direction, device, dtype)
        fun = self._function(inst, structure)
        transforms = Transforms(func.vjp, func.jvp, func.jacfwd, func.jacrev, func.grad,
                                eager_map_rows(torch.stack))
        name = operator.name

        if name == "jacobian-fwd-loop":
            def product(x, e, arrays):
                return func.jvp(lambda z: fun(z, arrays), (x,), (e,))[1]
            compiled, first = self._compile(product, operator, inst)
            first(x, d[0], arrays)
            tangent = functools.partial(compiled, x)
            run = functools.partial(loop_jacobian, lambda e: tangent(e, arrays), d, eager_map_rows(torch.stack), "fwd")

        elif name == "jacobian-rev-loop":
            compiled, first = self._compile(fun, operator, inst)
            grad = torch.autograd.grad
            map_rows = eager_map_rows(torch.stack)
            leaf = x.detach().requires_grad_()
            first(leaf, arrays).backward(d[0])   # compiles the forward and AOTAutograd's backward

            def run(x=x, basis=d):
                leaf = x.detach().requires_grad_()
                y = compiled(leaf, arrays)        # one recording, m sweeps over it
                return loop_jacobian(lambda e: grad(y, leaf, e, retain_graph=True)[0], basis, map_rows, "rev")

        else:
            def operator_fn(x, d, arrays):
                return transform_operator(operator, transforms, lambda z: fun(z, arrays))(x, d)
            compiled, first = self._compile(operator_fn, operator, inst)
            first(x, d, arrays)
            run = functools.partial(compiled, x, d, arrays)
        return Built(run, self._block(device), _to_numpy)

    def tape_bytes(self, inst, x, device, dtype):
        """Bytes of the distinct storages the compiled forward saves for AOTAutograd's compiled
        backward (the saved activations of the partitioned joint graph), counted by
        `saved_tensors_hooks` on one forward of a leaf x; x and the constants left out, as for
        eager torch. Inductor's partitioner recomputes cheap pointwise chains in the backward
        instead of saving them, so this can be far below eager torch's tape."""
        _apply_process_setup()
        operator = get_operator("vjp")
        x, _, arrays, structure = self._inputs(operator, inst, x, None, device, dtype)
        compiled, first = self._compile(self._function(inst, structure), operator, inst)
        leaf = x.detach().requires_grad_()
        first(leaf, arrays)   # compile outside the counted forward
        return saved_bytes(lambda: compiled(leaf, arrays), (leaf, *arrays.values()))


def _capture_error(backend: str, operator, inst, err: Exception) -> Exception:
    """Unavailable for what torch.compile cannot capture whole (a graph break under fullgraph),
    cannot trace (dynamo failing on code that runs eagerly, as torch-func shows) or cannot lower
    (Inductor); anything else is a bug and stays itself."""
    exc = sys.modules.get("torch._dynamo.exc")
    if exc is None or not isinstance(err, exc.TorchDynamoException):
        return err
    where = f"{backend} cannot compile {operator.name} on {inst.label()}"
    if isinstance(err, exc.Unsupported):
        return Unavailable(f"{where} without graph breaks: {_condensed(err)}")
    if isinstance(err, exc.BackendCompilerFailed):
        return Unavailable(f"{where}: Inductor failed: {_condensed(err)}")
    return Unavailable(f"{where}: dynamo failed: {_condensed(err)}")


def _find_spec(module: str):
    import importlib.util

    return importlib.util.find_spec(module)


def compiler_missing() -> str | None:
    """Why Inductor has no C++ compiler here, or None. Inductor runs $CXX, else g++ (clang++ on
    macOS); asked without importing torch, like the framework check."""
    cxx = os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")
    if shutil.which(cxx) is None:
        return (f"torch-compile needs a C++ compiler for Inductor's generated code and {cxx!r} is not on PATH; "
                f"install one with: {COMPILER_INSTALL} (or set $CXX)")
    return None
