"""The statistics behind every verdict: means with 95% t-intervals over seeds, paired differences
between models with their t-tests' p-values, Holm's adjustment of a study's p-values together, and
power-law exponents fitted on log-log axes.

Seeds are the replicates: an interval says how far the mean of these seeds could be from the mean
over all seeds, assuming the seeds' results are roughly normal. ``MIN_SEEDS`` seeds are needed
before any number may decide a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

MIN_SEEDS = 3
FAMILY_ERROR = 0.05
"""The chance, over all of a study's comparisons together, that any of them is decided by luck."""

T_975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
         2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
         2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
         2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
"""Student's t 97.5% quantiles for 1 to 30 degrees of freedom (two-sided 95%)."""
Z_975 = 1.959964


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom.

    Tabulated up to 30; beyond, the quantile is nearly linear in 1/df between the table's last
    entry and the normal quantile (off by less than 0.001 for every df > 30).
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    return Z_975 + (T_975[-1] - Z_975) * len(T_975) / df


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values and its 95% interval [lo, hi]; NaN bounds for a single value."""

    n: int
    mean: float
    lo: float
    hi: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def side_of_zero(self) -> int:
        """+1 when the whole interval is above 0, -1 when below, 0 when it holds 0 (or is NaN)."""
        if self.lo > 0:
            return 1
        if self.hi < 0:
            return -1
        return 0

    def p_value(self) -> float:
        """The two-sided p-value of the t-test that the true mean is 0 (NaN for one value), from
        the interval's half-width: t(n-1) standard errors."""
        if math.isnan(self.lo):
            return math.nan
        standard_error = self.half_width / t_quantile(self.n - 1)
        if standard_error == 0:
            return 0.0 if self.mean != 0 else 1.0
        return float(2 * student_t.sf(abs(self.mean) / standard_error, self.n - 1))

    def text(self) -> str:
        """``-0.012 [-0.02, -0.004] (n=3)``: the mean, the interval, the count."""
        bounds = "" if math.isnan(self.lo) else f" [{self.lo:.3g}, {self.hi:.3g}]"
        return f"{self.mean:+.3g}{bounds} (n={self.n})"


def mean_interval(values: Sequence[float] | np.ndarray) -> Interval:
    """Mean and t-interval: mean ± t(n-1) · s / sqrt(n), s the sample standard deviation."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(1, mean, math.nan, math.nan)
    half = t_quantile(x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return Interval(int(x.size), mean, mean - half, mean + half)


def paired_difference(first: pd.Series, second: pd.Series) -> Interval | None:
    """The interval of ``first - second`` over the keys both have (their index: seed and the
    conditions they are matched on); None when they share no key."""
    shared = first.index.intersection(second.index)
    if shared.empty:
        return None
    return mean_interval((first.loc[shared] - second.loc[shared]).to_numpy())


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of m p-values: the k-th smallest (k from 0) times m - k, never
    below the one before it, at most 1. Deciding every comparison whose adjusted p-value is at most
    ``FAMILY_ERROR`` decides one by luck with at most that chance over all m, where 95% intervals
    judged one by one would expect 5% of m such errors."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (p.size - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


@dataclass(frozen=True)
class PowerFit:
    """``y ≈ coefficient · x ** exponent``, the exponent's 95% interval [lo, hi], from ``n`` points."""

    exponent: float
    lo: float
    hi: float
    coefficient: float
    n: int

    def text(self) -> str:
        bounds = "" if math.isnan(self.lo) else f" [{self.lo:.2f}, {self.hi:.2f}]"
        return f"{self.exponent:.2f}{bounds}"


def power_law_fit(x: Sequence[float], y: Sequence[float]) -> PowerFit:
    """Least squares of log y on log x; the interval is slope ± t(n-2) · its standard error, so
    points that bend away from a straight line on log-log axes widen it. Two points: no interval.
    """
    log_x, log_y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if log_x.size < 2 or np.ptp(log_x) == 0:
        raise ValueError(f"a power-law fit needs two or more distinct x values, got {list(x)}")
    if log_x.size == 2:
        slope, intercept = np.polyfit(log_x, log_y, 1)
        return PowerFit(float(slope), math.nan, math.nan, float(math.exp(intercept)), 2)
    (slope, intercept), cov = np.polyfit(log_x, log_y, 1, cov=True)
    half = t_quantile(log_x.size - 2) * math.sqrt(max(cov[0, 0], 0.0))
    return PowerFit(float(slope), float(slope - half), float(slope + half),
                    float(math.exp(intercept)), int(log_x.size))
