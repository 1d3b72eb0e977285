"""The estimator and its confidence intervals, on synthetic process estimates with a known truth.

The simulations draw process-level noise the way the dimensioning experiment found it on the
2-core VM (normal on the log scale, a few per cent); each asserts a rate over many seeded
experiments, with a band that a correct 95 % interval stays inside (binomial sd ≈ 0.5 % at
2000 experiments) and a broken one leaves.
"""

import math

import numpy as np
import pytest

from adcompare.measure import stats

EXPERIMENTS = 2000


def simulate(truth_log: float, sd: float, processes: int, seed: int) -> list[stats.Estimate]:
    rng = np.random.default_rng(seed)
    return [stats.combine(truth_log + sd * rng.standard_normal(processes)) for _ in range(EXPERIMENTS)]


def test_t_quantiles_match_the_tables():
    assert stats.t975(1) == pytest.approx(12.706)
    assert stats.t975(4) == pytest.approx(2.776)
    assert stats.t975(30) == pytest.approx(2.042)
    assert stats.t975(60) == pytest.approx(2.000, abs=1e-3)
    assert stats.t975(10_000) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError):
        stats.t975(0)


@pytest.mark.parametrize("processes", [2, 4, 8])
def test_the_interval_covers_the_truth_at_its_stated_rate(processes):
    truth = math.log(2.5)
    covered = [lo <= 2.5 <= hi for lo, hi in (e.ci for e in simulate(truth, 0.05, processes, seed=processes))]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_a_ratio_of_one_is_called_a_tie_and_a_clear_win_is_not():
    ties = [stats.is_tie(e.ci) for e in simulate(0.0, 0.04, 4, seed=11)]
    assert 0.93 <= np.mean(ties) <= 0.97          # a true tie is a tie 95 % of the time
    wins = [stats.is_tie(e.ci) for e in simulate(math.log(1.3), 0.04, 4, seed=12)]
    assert np.mean(wins) < 0.01                    # 30 % apart with 4 % noise: never a tie
    assert stats.is_tie(None) and stats.is_tie((0.98, 1.02)) and not stats.is_tie((1.01, 1.2))


def test_the_figure_is_the_geometric_mean_of_the_processes():
    est = stats.combine([math.log(2.0), math.log(8.0)])
    assert est.value == pytest.approx(4.0)
    assert (est.processes, est.df) == (2, 1)
    lo, hi = est.ci
    assert lo < 2.0 and hi > 8.0      # t with 1 df: ±12.7 standard errors
    assert stats.relative_halfwidth((1.0, 1.21)) == pytest.approx(0.1)


def test_one_process_has_no_interval_unless_given_a_spread():
    assert stats.combine([0.5]).ci is None
    est = stats.combine([0.0], fallback_se=0.01, fallback_df=29)
    assert est.ci == pytest.approx((math.exp(-0.02045), math.exp(0.02045)))   # t(29) = 2.045


def test_counted_figures_are_exact():
    est = stats.exact(4096)
    assert est.value == pytest.approx(4096) and est.ci == pytest.approx((4096, 4096))


def cells(log_ratios, se=0.02, df=3):
    return [stats.Estimate(v, se, df, df + 1) for v in log_ratios]


ASPECTS = [1 / 64, 1 / 4, 1, 4, 64]


def test_the_crossover_point_of_theory_is_n_equal_m_with_a_narrow_interval():
    point = stats.crossover(ASPECTS, cells([math.log(a) for a in ASPECTS]))
    assert point.point == pytest.approx(1.0)
    assert point.low < 1.0 < point.high and point.high / point.low < 1.2
    assert point.beyond == ""


def test_a_shifted_crossover_is_found_between_its_cells_in_any_order():
    # t_fwd/t_rev = 2·n/m crosses 1 at n/m = 1/2, between the 1:4 and 1:1 cells.
    logs = [math.log(2 * a) for a in ASPECTS]
    point = stats.crossover(ASPECTS[::-1], cells(logs[::-1]))
    assert point.point == pytest.approx(0.5)
    assert point.low < 0.5 < point.high


def test_no_crossing_gives_an_open_interval_naming_the_winner():
    reverse_everywhere = stats.crossover(ASPECTS, cells([0.5, 0.6, 1.0, 2.0, 3.0]))
    assert reverse_everywhere.point is None and reverse_everywhere.low is None
    assert reverse_everywhere.beyond == "reverse everywhere"
    forward_everywhere = stats.crossover(ASPECTS, cells([-3.0, -2.0, -1.0, -0.6, -0.5]))
    assert forward_everywhere.point is None and forward_everywhere.high is None
    assert forward_everywhere.beyond == "forward everywhere"


def test_a_noisy_tie_at_the_edge_leaves_that_side_open():
    # The last cell's ratio is 1 within a wide CI: some draws never cross inside the grid.
    point = stats.crossover(ASPECTS, cells([-2.0, -1.5, -1.0, -0.5, 0.02], se=0.1))
    assert point.high is None and point.beyond == "forward everywhere"


def test_the_loglog_slope_recovers_the_exponent_and_covers_it():
    sizes = [10, 100, 1000, 10_000]
    rng = np.random.default_rng(5)
    covered = []
    for _ in range(200):
        times = [stats.Estimate(0.8 * math.log(n) - 9 + 0.03 * rng.standard_normal(), 0.03, 30, 4) for n in sizes]
        slope, (lo, hi) = stats.loglog_slope(sizes, times)
        covered.append(lo <= 0.8 <= hi)
    assert slope == pytest.approx(0.8, abs=0.05)
    assert np.mean(covered) >= 0.9
    with pytest.raises(ValueError):
        stats.loglog_slope([10, 10], times[:2])
