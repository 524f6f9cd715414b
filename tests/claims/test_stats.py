"""The statistics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tsssm.claims.stats import (Interval, holm_adjusted, mean_interval, paired_difference,
                                power_law_fit, t_quantile)

T2 = 4.302653  # Student's t, 97.5%, 2 degrees of freedom
T1 = 12.706205


def test_t_interval_of_three_values() -> None:
    # mean 2, sample std 1: half-width t(2) * 1 / sqrt(3)
    interval = mean_interval([1.0, 2.0, 3.0])
    half = T2 / math.sqrt(3)
    assert (interval.n, interval.mean) == (3, 2.0)
    assert interval.lo == pytest.approx(2.0 - half, abs=1e-12)
    assert interval.hi == pytest.approx(2.0 + half, abs=1e-12)


def test_one_value_has_no_interval() -> None:
    interval = mean_interval([0.5])
    assert interval.mean == 0.5 and math.isnan(interval.lo) and math.isnan(interval.hi)
    assert interval.side_of_zero() == 0


def test_t_quantile_table_and_beyond() -> None:
    assert t_quantile(2) == T2 and t_quantile(30) == 2.042272
    assert t_quantile(60) == pytest.approx(2.000298, abs=1e-3)  # scipy.stats.t.ppf(0.975, 60)
    assert t_quantile(10 ** 6) == pytest.approx(1.959964, abs=1e-4)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0)


def test_paired_difference_uses_only_the_seeds_both_have() -> None:
    first = pd.Series({1: 1.0, 2: 2.0, 3: 4.0})
    second = pd.Series({1: 0.5, 2: 1.0, 3: 3.0, 4: 9.0})
    # differences 0.5, 1.0, 1.0: mean 5/6, sample std sqrt(1/12)
    interval = paired_difference(first, second)
    half = T2 * math.sqrt(1 / 12) / math.sqrt(3)
    assert interval.n == 3
    assert interval.mean == pytest.approx(5 / 6, abs=1e-12)
    assert (interval.lo, interval.hi) == pytest.approx((5 / 6 - half, 5 / 6 + half), abs=1e-12)
    assert paired_difference(first, pd.Series({7: 1.0})) is None


def test_paired_difference_matches_on_every_key_level() -> None:
    index = pd.MultiIndex.from_tuples([("ETTh1", 1), ("ETTh1", 2), ("ETTm1", 1)])
    first = pd.Series([1.0, 2.0, 3.0], index=index)
    second = pd.Series([0.0, 0.0], index=pd.MultiIndex.from_tuples([("ETTm1", 1), ("ETTh1", 2)]))
    interval = paired_difference(first, second)
    assert (interval.n, interval.mean) == (2, 2.5)  # 3 - 0 and 2 - 0


def test_side_of_zero() -> None:
    assert Interval(3, -1.0, -2.0, -0.5).side_of_zero() == -1
    assert Interval(3, 1.0, 0.5, 2.0).side_of_zero() == 1
    assert Interval(3, 0.1, -0.5, 0.7).side_of_zero() == 0


def test_p_value_of_the_paired_t_test() -> None:
    # two degrees of freedom: P(|T| > t) = 1 - t / sqrt(t^2 + 2); values 1, 2, 3: t = 2 / (1/sqrt 3)
    t = 2 * math.sqrt(3)
    assert mean_interval([1.0, 2.0, 3.0]).p_value() == pytest.approx(1 - t / math.sqrt(t * t + 2))
    assert mean_interval([-1.0, 0.0, 1.0]).p_value() == pytest.approx(1.0)
    assert mean_interval([0.3, 0.3, 0.3]).p_value() == 0.0
    assert math.isnan(mean_interval([0.5]).p_value())


def test_holm_multiplies_the_kth_smallest_by_m_minus_k_and_keeps_the_order() -> None:
    assert holm_adjusted([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm_adjusted([0.3, 0.2]) == pytest.approx([0.4, 0.4])
    assert holm_adjusted([0.9, 0.8, 0.7]) == pytest.approx([1.0, 1.0, 1.0])
    assert holm_adjusted([]) == []


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_exact_power_laws_give_their_exponent(power: float) -> None:
    lengths = np.array([1024, 2048, 4096, 8192, 16384], dtype=float)
    fit = power_law_fit(lengths, 3e-6 * lengths ** power)
    assert fit.exponent == pytest.approx(power, abs=1e-9)
    assert (fit.lo, fit.hi) == pytest.approx((power, power), abs=1e-6)
    assert fit.coefficient == pytest.approx(3e-6, rel=1e-6)
    assert fit.n == 5


def test_exponent_interval_from_the_residuals() -> None:
    # log x = 0, 1, 2 and log y = 0, 1.5, 2: slope 1, intercept 1/6, residuals -1/6, 1/3, -1/6,
    # residual variance (1/6) / (3 - 2), slope standard error sqrt((1/6) / 2).
    fit = power_law_fit(np.exp([0.0, 1.0, 2.0]), np.exp([0.0, 1.5, 2.0]))
    half = T1 * math.sqrt(1 / 12)
    assert fit.exponent == pytest.approx(1.0, abs=1e-12)
    assert (fit.lo, fit.hi) == pytest.approx((1.0 - half, 1.0 + half), abs=1e-9)
    assert fit.coefficient == pytest.approx(math.exp(1 / 6), rel=1e-12)


def test_two_points_fit_without_interval_and_one_point_is_refused() -> None:
    fit = power_law_fit([2.0, 4.0], [1.0, 4.0])
    assert fit.exponent == pytest.approx(2.0) and math.isnan(fit.lo)
    with pytest.raises(ValueError, match="two or more distinct"):
        power_law_fit([2.0, 2.0], [1.0, 4.0])
