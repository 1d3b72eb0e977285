"""From process records to figures, on synthetic records with known numbers: the min-based
estimator, the divisor, the CI across processes, every noise flag, n/a and failures, the file."""

import math

import pytest

from adcompare.families.cost_ratios import COST_RATIO
from adcompare.families.sparse import DETECT, SETUP_RATIO
from adcompare.families.tape import TAPE as TAPE_BYTES
from adcompare.families.time_per_call import SECONDS as TIME
from adcompare.measure import estimates as F
from adcompare.measure.jobs import ArmSpec, Job
from adcompare.store import figures_file as FF

RATIO = COST_RATIO.figure(("numpy:cpu", "float64", "square:1000", "vjp"), "ratio",
                          ("vjp", "primal"), parts=(("vjp", "vjp"), ("primal", "primal")))
SECONDS = TIME.figure(("numpy:cpu", "float64", "square:1000", "vjp"), "seconds", ("vjp",),
                      parts=(("vjp", "vjp"), ("reference", "reference")))
JACOBIAN = COST_RATIO.figure(("numpy:cpu", "float64", "affine:4:m=8", "jacobian-fwd"), "ratio",
                             ("jacobian-fwd", "primal"), divisor=4)
TAPE = TAPE_BYTES.figure(("numpy:cpu", "float64", "lorenz96:8:steps=10"), "bytes", ("tape",))
JOB = Job("timing", "numpy:cpu", "float64",
          (ArmSpec("vjp", "square:1000", "vjp"), ArmSpec("primal", "square:1000", "primal"),
           ArmSpec("reference")), (RATIO, SECONDS))


def arm(seconds, warmup=(1.0, 1.0)):
    return {"seconds": list(seconds), "calls": 10, "warmup": list(warmup), "prepare": 0.01}


def record(vjp, primal, reference=(1e-4,) * 12, rounds=12):
    return {"job": JOB.id, "kind": "timing", "rounds": rounds,
            "arms": {"vjp": arm(vjp), "primal": arm(primal), "reference": arm(reference)}}


def steady(fastest, rounds=12, noise=0.2):
    """Per-round seconds whose minimum is exactly `fastest` and the rest slower (noise is positive)."""
    return [fastest] + [fastest * (1 + noise * ((i * 7919) % 13) / 13) for i in range(1, rounds)]


def test_the_estimate_is_the_ratio_of_the_fastest_blocks():
    [ratio, seconds] = F.aggregate(JOB, [record(steady(3e-5), steady(1e-5))])
    assert ratio.estimate.value == pytest.approx(3.0)
    assert seconds.estimate.value == pytest.approx(3e-5)
    assert ratio.parts["vjp"].value == pytest.approx(3e-5) and ratio.parts["primal"].value == pytest.approx(1e-5)
    assert seconds.parts["reference"].value == pytest.approx(1e-4)
    assert "one-process" in ratio.flags and ratio.estimate.processes == 1
    assert ratio.estimate.ci is not None          # from the rounds, and flagged as such


def test_a_jacobian_ratio_is_held_against_min_n_m_primals():
    job = Job("timing", "numpy:cpu", "float64", (ArmSpec("jacobian-fwd", "affine:4:m=8", "jacobian-fwd"),
                                                      ArmSpec("primal", "affine:4:m=8", "primal")), (JACOBIAN,))
    rec = {"job": job.id, "kind": "timing", "rounds": 12,
           "arms": {"jacobian-fwd": arm(steady(8e-5)), "primal": arm(steady(1e-5))}}
    [fig] = F.aggregate(job, [rec])
    assert fig.estimate.value == pytest.approx(8.0 / 4)


def test_processes_combine_to_a_geometric_mean_with_a_t_interval():
    recs = [record(steady(3e-5 * f), steady(1e-5)) for f in (0.98, 1.0, 1.02)]
    [ratio, _] = F.aggregate(JOB, recs)
    assert ratio.estimate.value == pytest.approx(3.0 * (0.98 * 1.0 * 1.02) ** (1 / 3))
    assert ratio.estimate.processes == 3 and ratio.estimate.df == 2
    lo, hi = ratio.estimate.ci
    assert lo < 3.0 < hi and hi / lo < 1.2
    assert ratio.samples == pytest.approx([2.94, 3.0, 3.06])
    assert ratio.flags == []                       # tight, settled, estimators agree, no drift
    assert ratio.rounds == 36


def test_a_wide_interval_is_flagged():
    recs = [record(steady(3e-5 * f), steady(1e-5)) for f in (0.7, 1.0, 1.4)]
    [ratio, _] = F.aggregate(JOB, recs)
    assert "wide-ci" in ratio.flags


def test_drift_during_warm_up_is_flagged():
    slow_start = [2e-5] * 4 + [1e-5] * 8          # the first third slower than the last: not warm
    recs = [record(steady(3e-5), slow_start) for _ in range(3)]
    [ratio, _] = F.aggregate(JOB, recs)
    assert "warmup-drift" in ratio.flags
    unsettled = record(steady(3e-5), steady(1e-5))
    unsettled["arms"]["vjp"]["warmup"] = [1.0, 2.0]     # calibration ended still moving
    [ratio, _] = F.aggregate(JOB, [unsettled] * 2)
    assert "warmup-drift" in ratio.flags


def test_estimators_that_disagree_are_flagged():
    # Every round but one has vjp 5x the primal; the fastest blocks (one lucky vjp) say 3x.
    vjp = [3e-5] + [5e-5] * 11
    recs = [record(vjp, [1e-5] * 12) for _ in range(3)]
    [ratio, _] = F.aggregate(JOB, recs)
    assert ratio.estimate.value == pytest.approx(3.0)
    assert "estimators-disagree" in ratio.flags


def test_a_machine_that_changes_speed_between_processes_is_flagged():
    recs = [record(steady(3e-5), steady(1e-5), reference=[r] * 12) for r in (1e-4, 1.3e-4, 0.8e-4)]
    [_, seconds] = F.aggregate(JOB, recs)
    assert "machine-drift" in seconds.flags


def test_quick_numbers_are_marked():
    [ratio, _] = F.aggregate(JOB, [record(steady(3e-5), steady(1e-5))], quick=True)
    assert "quick" in ratio.flags


def test_unavailable_and_failed_arms_propagate_with_their_reason():
    rec = record(steady(3e-5), steady(1e-5))
    rec["arms"]["vjp"] = {"unavailable": "autograd cannot differentiate take"}
    ratio, seconds = F.aggregate(JOB, [rec])
    assert (ratio.status, ratio.reason) == ("unavailable", "autograd cannot differentiate take")
    assert seconds.status == "unavailable" and seconds.estimate is None
    rec["arms"]["vjp"] = {"error": "ValueError: boom"}
    ratio, _ = F.aggregate(JOB, [rec])
    assert (ratio.status, ratio.reason) == ("failed", "ValueError: boom")


def test_counted_figures_are_exact():
    job = Job("count", "numpy:cpu", "float64", (ArmSpec("tape", "lorenz96:8:steps=10", "vjp"),), (TAPE,))
    [fig] = F.aggregate(job, [{"job": job.id, "kind": "count", "arms": {"tape": {"count": 12288}}}])
    assert fig.estimate.value == pytest.approx(12288) and fig.estimate.ci == pytest.approx((12288, 12288))
    assert fig.flags == []
    [zero] = F.aggregate(job, [{"job": job.id, "kind": "count", "arms": {"tape": {"count": 0}}}])
    assert zero.estimate.value == 0 and zero.estimate.ci == (0, 0)


def test_the_figures_file_replaces_what_a_run_measured_and_keeps_the_rest():
    recs = [record(steady(3e-5 * f), steady(1e-5)) for f in (0.98, 1.0, 1.02)]
    ratio, seconds = F.aggregate(JOB, recs)
    first = FF.merge_file(None, "box", "c" * 40, [FF.figure_record(ratio, "run-1", False),
                                                 FF.figure_record(seconds, "run-1", False)], [])
    rec = first["figures"][0]
    assert rec["benchmark"] == COST_RATIO.name and rec["params"]["operator"] == "vjp"
    assert rec["value"] == pytest.approx(ratio.estimate.value)
    assert rec["ci"] == pytest.approx(list(ratio.estimate.ci)) and rec["processes"] == 3
    assert set(rec["parts"]) == {"vjp", "primal"} and rec["run"] == "run-1" and rec["quick"] is False
    again, _ = F.aggregate(JOB, [record(steady(4e-5), steady(1e-5))], quick=True)
    second = FF.merge_file(first, "box", "c" * 40, [FF.figure_record(again, "run-2", True)], [])
    by_run = {r["benchmark"]: r["run"] for r in second["figures"]}
    assert by_run == {COST_RATIO.name: "run-2", TIME.name: "run-1"}
    assert [r["value"] for r in second["figures"] if r["run"] == "run-2"] == pytest.approx([4.0])
    assert math.isfinite(second["figures"][0]["value"])


def test_setup_against_a_dense_jacobian_sums_the_fastest_blocks_of_two_steps():
    case = "brusselator:2048:N=32"
    spec = SETUP_RATIO.figure(("numpy:cpu", "float64", case, "fwd"), "sum-ratio",
                              (DETECT, "coloring-fwd", "jacobian-fwd"))
    job = Job("timing", "numpy:cpu", "float64", (ArmSpec(DETECT, case, DETECT),
                                                      ArmSpec("coloring-fwd", case, "coloring-fwd"),
                                                      ArmSpec("jacobian-fwd", case, "jacobian-fwd")), (spec,))
    rec = {"job": job.id, "kind": "timing", "rounds": 12,
           "arms": {DETECT: arm(steady(2e-3)), "coloring-fwd": arm(steady(1e-3)),
                    "jacobian-fwd": arm(steady(6e-3))}}
    [fig] = F.aggregate(job, [rec, rec])
    assert fig.estimate.value == pytest.approx(0.5)          # (2 + 1) / 6
    assert "estimators-disagree" not in fig.flags
