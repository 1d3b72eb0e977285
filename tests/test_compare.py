"""The reproducibility comparison on two synthetic runs with known differences."""

import json
import math

import pytest

from adcompare.store import compare


def rec(benchmark, value, ci=None, **params):
    return {"benchmark": benchmark, "params": params, "value": value, "ci": ci, "log_se": 0.01, "df": 2,
            "processes": 3, "parts": {}}


def runs():
    seconds = "time_operators.Operators.track_seconds"
    cross = "time_operators.Crossover.track_factor"
    a, b = {}, {}

    def put(run, r):
        run[("box", r["benchmark"], json.dumps(r["params"], sort_keys=True))] = r

    for n, (ta, tb) in {10: (1e-5, 1.1e-5), 1000: (1e-3, 1.0e-3)}.items():    # slopes 1.0 and ~0.979
        put(a, rec(seconds, ta, [ta * 0.95, ta * 1.05], target="t:cpu", dtype="float64", case=f"square:{n}",
                   operator="vjp"))
        put(b, rec(seconds, tb, [tb * 0.95, tb * 1.05], target="t:cpu", dtype="float64", case=f"square:{n}",
                   operator="vjp"))
    put(a, rec(cross, 0.5, [0.45, 0.55], target="t:cpu", dtype="float64", case="affine:16:m=1024", strategy="batched"))
    put(b, rec(cross, 2.0, [1.8, 2.2], target="t:cpu", dtype="float64", case="affine:16:m=1024", strategy="batched"))
    put(a, rec(cross, 0.98, [0.9, 1.1], target="t:cpu", dtype="float64", case="affine:128:m=128", strategy="batched"))
    put(b, rec(cross, 1.05, [1.01, 1.1], target="t:cpu", dtype="float64", case="affine:128:m=128", strategy="batched"))
    put(a, rec("memory.TapeMemory.track_tape_bytes", 4096, [4096, 4096], target="t:cpu", dtype="float64",
               case="square:10"))
    put(b, rec("memory.TapeMemory.track_tape_bytes", 4096, [4096, 4096], target="t:cpu", dtype="float64",
               case="square:10"))
    return a, b


def test_differences_coverage_slopes_and_flips():
    result = compare.compare(*runs())
    rows = {r.family: r for r in result.rows}
    time_row = rows["time per call"]
    assert time_row.count == 2 and time_row.median == pytest.approx(0.05)     # 10 % and 0 %
    assert time_row.coverage == pytest.approx(0.5)        # 1.1e-5 is outside A's CI and 1e-5 outside B's
    slope = rows[compare.SLOPES]
    assert slope.count == 1 and slope.median == pytest.approx(abs(math.log(1e-3 / 1.1e-5) / math.log(100) - 1))
    assert rows["tape bytes"].median == 0 and rows["tape bytes"].meets_goal
    assert len(result.flips) == 1 and "affine:16:m=1024" in result.flips[0]      # 0.5 → 2.0, neither a tie
    assert result.ties_either == 1 and result.cells == 2                         # 0.98 [0.9, 1.1] is a tie
    text = compare.format_table(result)
    assert "crossover winners: 1 flips over 2 cells" in text and "time per call" in text
    assert time_row.expected == pytest.approx(compare.replicate_coverage(2)) and "90.7%" in text


@pytest.mark.parametrize("processes", [3, 6])
def test_replicate_coverage_is_what_two_stable_runs_give(processes):
    """Two runs of P processes each from one distribution: A's 95 % CI (Student's t) holds B's
    mean at the stated rate, below 95 %, and the CI still covers the truth at 95 %."""
    import numpy as np

    from adcompare.measure import stats

    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 0.05, (20000, processes))
    b = rng.normal(0.0, 0.05, (20000, processes))
    half = stats.t975(processes - 1) * a.std(axis=1, ddof=1) / math.sqrt(processes)
    gap = np.abs(b.mean(axis=1) - a.mean(axis=1))
    expected = compare.replicate_coverage(processes - 1)
    assert np.mean(gap <= half) == pytest.approx(expected, abs=0.01)
    assert np.mean(np.abs(a.mean(axis=1)) <= half) == pytest.approx(0.95, abs=0.01)
    assert expected < 0.95
