"""Confidence intervals for the studies' rates and counts: Wilson's for a proportion, the
percentile bootstrap for any statistic of a sample.

    lo, hi = wilson_interval(k, n)                        # P(success) from k of n runs
    lo, hi = bootstrap_interval(sample, np.median, seed=0)  # any statistic of a sample

Wilson score interval (Wilson 1927, "Probable inference, the law of succession, and statistical
inference", JASA 22): the set of p whose score test does not reject at the given level,

    center = (p_hat + z^2 / (2n)) / (1 + z^2 / n),
    half   = z / (1 + z^2 / n) * sqrt(p_hat (1 - p_hat) / n + z^2 / (4 n^2)),
    [center - half, center + half],   p_hat = k / n,  z = Phi^-1(1/2 + level/2).

Unlike the Wald interval p_hat -+ z sqrt(p_hat (1 - p_hat) / n), it stays inside [0, 1] and
does not collapse to a point at k = 0 or k = n: at k = 0 it is [0, z^2 / (n + z^2)] (Brown, Cai &
DasGupta 2001, "Interval estimation for a binomial proportion", Statistical Science 16, who
recommend it for small n). Same numbers as scipy.stats.binomtest(k, n).proportion_ci(method=
"wilson") (tested).

Percentile bootstrap (Efron 1979; Efron & Tibshirani 1993, "An Introduction to the Bootstrap",
ch. 13): draw B resamples of the n values with replacement (seeded, numpy), compute the statistic
T*_b on each, and return the empirical alpha/2 and 1 - alpha/2 quantiles of T*_1..T*_B,
alpha = 1 - level. It assumes only that the statistic's sampling distribution is roughly
symmetric about the truth after some transformation; for the mean of a normal sample it agrees
with the t interval x_bar -+ t_(n-1) s / sqrt(n) up to O(1/n) (tested) and is a little narrower
for small n (it uses the plug-in variance and normal tails).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import stats

from . import checks

__all__ = ["wilson_interval", "bootstrap_interval", "MAX_RESAMPLES"]

MAX_RESAMPLES = 1_000_000  # bootstrap resamples: 100x the usual 10,000


def _level(level) -> float:
    return checks.number("level", level, low=0, high=1, low_open=True, high_open=True)


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion from k successes in n trials."""
    n = checks.integer("n (trials)", n, low=1)
    k = checks.integer("k (successes)", k, low=0, high=n)
    z = stats.norm.ppf(0.5 + _level(level) / 2)
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exact ends at k = 0 and k = n (the formula gives them up to rounding)
    lo = 0.0 if k == 0 else max(0.0, center - half)
    hi = 1.0 if k == n else min(1.0, center + half)
    return float(lo), float(hi)


def bootstrap_interval(sample, statistic: Callable[[np.ndarray], float] = np.mean, *,
                       n_resamples: int = 10_000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (a function of a 1-D array) over ``sample``.

    Resamples are drawn with numpy.random.default_rng(seed): the same call gives the same interval.
    """
    x = np.asarray(sample, dtype=float).reshape(-1)  # (n,)
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"sample must hold at least 2 finite numbers, got {x.size} values"
                         + ("" if np.all(np.isfinite(x)) else " with nan or inf among them"))
    n_resamples = checks.integer("n_resamples", n_resamples, low=2, high=MAX_RESAMPLES)
    alpha = 1 - _level(level)
    rng = np.random.default_rng(checks.seed(seed))
    values = np.empty(n_resamples)
    chunk = max(1, 2**22 // x.size)  # resamples per block: (chunk, n) indices in memory at once
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))  # (chunk, n)
        values[start:stop] = [statistic(row) for row in x[idx]]
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
