"""The grids: every figure a valid combination, measured by exactly one job, with both sides of
every ratio in the same job; what the report needs is in the main grid; the registries drive it."""

import numpy as np
import pytest

from adcompare import backends
from adcompare.backends import DTYPES, Backend, Built
from adcompare.families import all_benchmarks, cost_ratios, crossover, first_call, noise_floor, prepare, sparse, tape
from adcompare.families import time_per_call
from adcompare.families.cases import backend_of, depth, instance_of
from adcompare.families.profile import MAIN_SCALING, profile, profile_cases
from adcompare.ids import Case, case_text
from adcompare.operators import OPERATORS, SPARSE_JACOBIANS
from adcompare.problems import Problem, registry
from adcompare.run import plan as grid

SECONDS, COST_RATIO, CROSSOVER = time_per_call.SECONDS.name, cost_ratios.COST_RATIO.name, crossover.CROSSOVER.name
NOISE_FLOOR, TAPE = noise_floor.NOISE_FLOOR.name, tape.TAPE.name
PREPARE, FIRST_CALL = prepare.PREPARE_SECONDS.name, first_call.FIRST_CALL_SECONDS.name


def parse_case(text):
    case = Case.parse(text)
    return case.problem, case.n, case.opts


def format_case(problem, n, **opts):
    return case_text(problem, n, opts)


def compiles(target):
    return backend_of(target).compiles


def costly_jacobians(target):
    return backend_of(target).costly_jacobians


class _Cube(Problem):
    """f(x) = x³ elementwise — a problem that exists only inside one test."""

    name = "cube-test"
    summary = "x³"
    sweep_sizes = (5, 50)
    test_size = 5

    def f(self, xp, x, c):
        return x ** 3

    def output_size(self, n, **opts):
        return n


class _Fake(Backend):
    name = "fake-test"
    summary = "a backend that exists only inside one test"
    devices = ("cpu", "tpu")

    def device_missing_reason(self, device):
        return "no TPU here" if device == "tpu" else None

    def build(self, operator, inst, x, direction, device, dtype):
        return Built(lambda: np.zeros(inst.m), lambda r: r, np.asarray)


@pytest.fixture(scope="module")
def plans():
    return {g: grid.plan(g) for g in grid.GRIDS}


def figures_of(plan, benchmark):
    return [f for f in plan.figures if f.benchmark == benchmark]


@pytest.mark.parametrize("grid_name", grid.GRIDS)
def test_every_figure_is_a_valid_combination_measured_once(plans, grid_name):
    plan = plans[grid_name]
    keys = [f.key for f in plan.figures]
    assert len(keys) == len(set(keys))                      # each figure has one value
    targets = grid.targets()
    for job in plan.jobs:
        names = [a.name for a in job.arms]
        assert len(names) == len(set(names)), job
        for f in job.figures:
            kw = f.param_dict()
            assert kw["target"] == job.target in targets
            assert kw.get("dtype", job.dtype) in DTYPES
            problem, n, opts = parse_case(kw["case"])
            assert format_case(problem, n, **opts) == kw["case"]   # canonical spelling
            assert dict(instance_of(kw["case"]).options) == opts
            assert set(f.arms) <= set(names)                 # both sides of a ratio in one job
            assert {arm for _, arm in f.parts} <= set(names)
            for arm in job.arms:
                if arm.operator:
                    assert arm.operator in OPERATORS
                if arm.probe:
                    assert arm.family and (arm.probe in sparse.SETUP_STEPS or arm.family != "sparse"
                                           or arm.probe in ("colors", "lower-bound"))


def test_jobs_hold_no_arm_that_no_figure_reads(plans):
    for job in plans["main"].jobs:
        used = {n for f in job.figures for n in (*f.arms, *(a for _, a in f.parts))}
        assert {a.name for a in job.arms} == used, job


def test_main_grid_fills_every_section_for_every_cpu_target(plans):
    plan = plans["main"]
    cpu = [t for t in grid.targets() if t.endswith(":cpu") and grid.target_reason(t) is None]
    assert cpu
    for benchmark in (SECONDS, CROSSOVER, COST_RATIO, NOISE_FLOOR, TAPE,
                      PREPARE, FIRST_CALL):
        covered = {f.params[0] for f in figures_of(plan, benchmark)}
        assert set(cpu) <= covered, (benchmark, set(cpu) - covered)
    cross = figures_of(plan, CROSSOVER)
    aspects = sorted({instance_of(f.params[2]).n / instance_of(f.params[2]).m for f in cross
                      if f.params[2].startswith("affine:")})
    assert aspects[0] == pytest.approx(1 / 64) and aspects[-1] == pytest.approx(64) and 1.0 in aspects
    # autograd has no batched Jacobians; its loops put it in the crossover
    assert any(f.params[0] == "autograd:cpu" and f.params[3] == "loop" for f in cross) or \
        grid.target_reason("autograd:cpu") is not None
    depths = {depth(f.params[2]) for f in figures_of(plan, TAPE) if f.params[2].startswith("lorenz96:128")}
    assert depths == set(tape.DEPTHS["main"])
    ratios = {parse_case(f.params[2])[0] for f in figures_of(plan, COST_RATIO)}
    workloads = {p.name for p in registry.all_problems() if p.field_derivatives}
    assert ratios == {*MAIN_SCALING, *workloads}    # main: two scaling lines and the workloads
    full = {parse_case(f.params[2])[0] for f in figures_of(plans["full"], COST_RATIO)}
    assert full == {p.name for p in registry.all_problems()}                  # full: every problem


def test_scaling_lines_of_the_main_grid_have_two_sizes(plans):
    seconds = figures_of(plans["main"], SECONDS)
    for name in MAIN_SCALING:
        sizes = {instance_of(f.params[2]).n for f in seconds if f.params[0] == "numpy:cpu"
                 and f.params[3] == "vjp" and f.params[2].startswith(name + ":")}
        assert len(sizes) == 2, name


def test_grids_grow(plans):
    keys = {g: {f.key for f in plans[g].figures} for g in grid.GRIDS}
    assert len(keys["main"]) < len(keys["full"]) < len(keys["wide"])
    # every figure of main is in full: the same figure, more of its neighbours
    assert len(keys["main"] - keys["full"]) <= len(keys["main"]) // 10


def test_what_cannot_run_here_is_skipped_with_a_reason(plans):
    for s in plans["main"].skipped:
        assert s.reason and isinstance(s.reason, str)
    if grid.target_reason("torch:cuda"):
        assert all(not f.params[0].endswith((":cuda", ":gpu")) for f in plans["main"].figures)
        assert any(s.figure.params[0] == "torch:cuda" for s in plans["main"].skipped)


def test_targets_that_unroll_loops_stay_shallow_and_jax_jit_goes_deep(plans):
    """torch-compile unrolls a problem's loops, so the grids cap its depth; jax-jit keeps them
    loops (`compiles_loops`) and times the eager backends' depths."""
    assert compiles("jax-jit:cpu") and compiles("torch-compile:cpu") and not compiles("jax:cpu")
    for g in ("main", "full"):
        deep = [f for f in plans[g].figures if f.params[0] == "torch-compile:cpu" and "case" in f.param_dict()
                and (depth(f.param_dict()["case"]) or 0) > grid.MAX_COMPILED_DEPTH[g]]
        assert not deep
    for target in ("jax:cpu", "jax-jit:cpu"):
        assert any(f.key == (TAPE, (target, "float64", "lorenz96:128:steps=160")) for f in plans["main"].figures)


def test_a_new_problem_adds_figures(monkeypatch):
    before = {f.key for f in grid.plan("full", ["numpy:cpu"]).figures}
    monkeypatch.setitem(registry._REGISTRY, _Cube.name, _Cube())
    after = {f.key for f in grid.plan("full", ["numpy:cpu"]).figures}
    added = after - before
    assert (SECONDS, ("numpy:cpu", "float64", "cube-test:50", "vjp")) in added
    assert (COST_RATIO, ("numpy:cpu", "float64", "cube-test:5", "jvp")) in added
    assert (TAPE, ("numpy:cpu", "float64", "cube-test:5")) in added
    assert not any(f[1][3].startswith("hvp") for f in added if len(f[1]) == 4)   # m = n: no HVPs


def test_a_new_backend_adds_targets(monkeypatch):
    monkeypatch.setitem(backends._BACKENDS, _Fake.name, _Fake())
    assert {"fake-test:cpu", "fake-test:tpu"} <= set(grid.targets())
    plan = grid.plan("main", ["fake-test:cpu", "fake-test:tpu"])
    assert (SECONDS, ("fake-test:cpu", "float64", "square:100000", "vjp")) in {f.key for f in plan.figures}
    assert all(f.params[0] == "fake-test:cpu" for f in plan.figures)          # no tpu here
    assert {s.figure.params[0] for s in plan.skipped} >= {"fake-test:tpu"}
    params = grid.asv_params(SECONDS, "main")
    assert "fake-test:tpu" in params[0]      # asv's parameter lists name every target


def test_figure_job_is_the_smallest_job_for_one_figure():
    job = grid.figure_job(COST_RATIO, ("numpy:cpu", "float64", "square:100000", "vjp"), "main")
    assert sorted(a.name for a in job.arms) == ["primal", "vjp"]
    assert [f.key for f in job.figures] == [(COST_RATIO, ("numpy:cpu", "float64", "square:100000", "vjp"))]
    assert grid.figure_job(COST_RATIO, ("numpy:cpu", "float64", "square:7", "vjp"), "main") is None


def test_asv_params_cover_every_figure():
    for name in all_benchmarks():
        params = grid.asv_params(name, "main")
        assert len(params) == len(all_benchmarks()[name].param_names)
        for f in grid.all_figures("main"):
            if f.benchmark == name:
                assert all(v in p for v, p in zip(f.params, params))


def test_sparse_family_times_both_modes_against_dense_and_counts_colours_on_our_engine(plans):
    main, full = plans["main"], plans["full"]
    factor = {f.params[0] for f in figures_of(main, sparse.SPARSE_FACTOR.name)}
    batched = {t for t in grid.targets() if t.endswith(":cpu") and grid.target_reason(t) is None
               and grid.why_not(t, "float64", "ba:156:c=4,o=64,p=16", "jacobian-fwd-sparse") is None}
    assert factor == batched & set(sparse.MAIN_TARGETS) and "numpy:cpu" in factor
    assert {f.params[0] for f in figures_of(full, sparse.SPARSE_FACTOR.name)} == batched
    for benchmark in (sparse.DETECTION.name, sparse.COLORING.name, sparse.SETUP_RATIO.name, sparse.COLORS.name, sparse.LOWER_BOUND.name):
        assert {f.params[0] for f in figures_of(main, benchmark)} == {sparse.SETUP_TARGET}, benchmark
    structured = {p.name for p in registry.all_problems() if p.sparse_jacobian}
    assert {"ba", "brusselator", "lorenz96", "square"} <= structured
    assert {parse_case(f.params[2])[0] for f in figures_of(full, sparse.COLORS.name)} == structured
    # where a dense Jacobian does not fit, the sparse one is still timed (and nothing is held against dense)
    big = "brusselator:524288:N=512"
    assert any(f.params[2] == big and f.params[3] == "jacobian-fwd-sparse" for f in figures_of(full, SECONDS))
    assert not any(f.params[2] == big for f in figures_of(full, sparse.SPARSE_SPEEDUP.name))
    # sparse Jacobians stay out of the generic profile, even in the wide grid
    assert not any(f.params[3] in SPARSE_JACOBIANS for f in figures_of(plans["wide"], COST_RATIO))


def test_main_grid_leaves_costly_jacobian_workloads_to_the_full_grid():
    """A backend that declares its batched Jacobians costly (a compile, or eager dispatch) times
    ba, ht and ode in the full grid only; every other backend times them at their main size."""
    assert costly_jacobians("jax:cpu") and costly_jacobians("torch-compile:cpu")
    assert not costly_jacobians("jax-jit:cpu") and not costly_jacobians("numpy:cpu")
    jacobian_workloads = [p for p in registry.all_problems()
                          if any(OPERATORS[op].kind == "jacobian" for op in p.field_derivatives)]
    assert {p.name for p in jacobian_workloads} >= {"ba", "ht", "ode"}
    for target in grid.targets():
        for grid_name, expected in (("main", not costly_jacobians(target)), ("full", True)):
            timed = {parse_case(p.case)[0] for p in profile(grid_name, target)}
            for problem in jacobian_workloads:
                assert (problem.name in timed) == expected, (grid_name, target, problem.name)


def test_main_tape_cases_are_what_main_times_and_one_depth_sweep():
    main, full = tape.tape_cases("main"), tape.tape_cases("full")
    timed = {c for p in registry.all_problems() for c in profile_cases("main", p)}
    assert set(main) < set(full) and timed <= set(main)
    depths = {depth(c) for c in main if c.startswith("lorenz96:128:")}
    assert depths == set(tape.DEPTHS["main"])
    assert not [c for c in main if c.startswith("lstm:") and c not in timed]    # one depth sweep only
