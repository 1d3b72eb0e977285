"""Randomized interleaved rounds: every arm once per round, in a varying order, in calibrated
blocks; the stopping rules. Arms are counters and busy-waits of known length, not benchmarks."""

import random
import time

import pytest

from adcompare.measure import rounds
from adcompare.measure.rounds import Arm, interleaved_rounds


def busy(seconds):
    def call():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    return call


def test_every_round_runs_every_arm_once_in_a_random_order():
    log = []
    arms = [Arm(name, lambda name=name: log.append(name)) for name in "abc"]
    result = interleaved_rounds(arms, block_seconds=1e-4, min_rounds=20, max_rounds=20, rng=random.Random(3))
    assert result.count == 20 and all(len(result.seconds[n]) == 20 for n in "abc")
    # strip calibration: the timed part is 20 rounds of 3 blocks of `calls` appends each
    timed = log[len(log) - sum(result.calls[n] for n in "abc") * 20:]
    orders = []
    i = 0
    for _ in range(20):
        round_, seen = [], []
        for _ in range(3):
            name = timed[i]
            seen.append(name)
            i += result.calls[name]
        orders.append(tuple(seen))
        assert sorted(seen) == ["a", "b", "c"]
    assert len(set(orders)) > 1                      # the order changes between rounds


def test_blocks_are_calibrated_to_the_block_length_and_time_per_call():
    result = interleaved_rounds([Arm("fast", busy(2e-5)), Arm("slow", busy(2e-3))], block_seconds=4e-3,
                                min_rounds=5, max_rounds=5)
    assert result.calls["fast"] >= 20 and result.calls["slow"] in (1, 2, 3)
    # A busy-wait is never faster than its length; on a loaded core it can only be slower.
    assert min(result.seconds["fast"]) >= 2e-5 and min(result.seconds["slow"]) >= 2e-3
    for name in ("fast", "slow"):
        assert all(s * result.calls[name] >= 4e-3 * 0.5 for s in result.seconds[name])   # blocks of ~4 ms
    logs = result.log_ratios("slow", "fast")
    assert len(logs) == 5 and max(logs) > 1.5             # 100x apart (ln ≈ 4.6), whatever the load


def test_stopping_rules():
    quick = interleaved_rounds([Arm("a", busy(1e-4))], block_seconds=1e-3, min_rounds=3, max_rounds=50,
                               budget_seconds=0.0)
    assert quick.count == 3                              # budget spent: stop at min_rounds
    enough = interleaved_rounds([Arm("a", busy(1e-4))], block_seconds=1e-3, min_rounds=2, max_rounds=50,
                                enough=lambda r: r.count >= 7)
    assert enough.count == 7
    slow = interleaved_rounds([Arm("a", busy(0.02))], block_seconds=1e-3, min_rounds=40, max_rounds=50,
                              budget_seconds=0.01)
    assert slow.count == rounds.FLOOR_ROUNDS             # min_rounds would take 80 budgets
    with pytest.raises(ValueError, match="distinct"):
        interleaved_rounds([Arm("a", busy(1e-5)), Arm("a", busy(1e-5))])


def test_calibration_reports_its_history():
    calls, history = rounds.calibrate(busy(1e-4), 2e-3)
    assert calls >= 2 and len(history) >= 2
    assert all(h >= 1e-4 for h in history) and calls * max(history[-2:]) >= 2e-3 * 0.5
