"""approx.metrics: grids, sup and L2 errors of a known residual, and log-log rates whose Student-t
intervals cover the true slope as often as their level says.

Thresholds. An exact power law err = C n^p is a straight line on log-log axes, so the fitted slope
is p and the intercept log C to float64 rounding (1e-12). For noisy rates, log err = log C + p log n
+ eps with eps ~ N(0, sigma^2), the interval with the t quantile of n_points - 2 degrees of freedom
covers p with probability exactly ``level``; over 1,000 seeded fits the coverage of a 95% interval
lies within 3 binomial standard deviations (0.021) of 0.95. Negative control: the same intervals
built with the normal quantile instead (1.96 for 2.78 at 6 points) cover about 88% and fail it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from approx import metrics


def test_grid_is_a_column_of_equally_spaced_points():
    x = metrics.grid(5, -1.0, 1.0)
    assert x.shape == (5, 1) and x.dtype == torch.float64
    assert x.ravel().tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert metrics.grid(3, dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 1}, "a grid needs n >= 2 points, got 1"),
    ({"n": 5, "lo": 1.0, "hi": 1.0}, r"need lo < hi, got \[1.0, 1.0\]"),
    ({"n": 5, "lo": 2.0, "hi": 1.0}, r"need lo < hi, got \[2.0, 1.0\]"),
])
def test_grid_refuses_too_few_points_and_an_empty_interval(kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.grid(**kwargs)


def test_errors_of_a_known_residual():
    # residual g - f = x on the points 0, 1/4, ..., 1: sup 1, L2 sqrt(mean x^2) = sqrt(0.375)
    x = metrics.grid(5)
    f = lambda t: torch.sin(3 * t)  # noqa: E731
    g = lambda t: torch.sin(3 * t) + t  # noqa: E731
    err = metrics.errors(g, f, x)
    assert err["err_sup"] == pytest.approx(1.0, rel=1e-15)
    assert err["err_l2"] == pytest.approx(math.sqrt(0.375), rel=1e-15)
    assert metrics.sup_error(g, f, x) == err["err_sup"] and metrics.l2_error(g, f, x) == err["err_l2"]
    # the sign of the residual does not matter, and an exact approximant has no error
    assert metrics.errors(f, g, x) == err
    assert metrics.errors(f, f, x) == {"err_sup": 0.0, "err_l2": 0.0}


def test_errors_accept_columns_and_flat_outputs_alike_and_refuse_other_sizes():
    x = metrics.grid(7)
    column = lambda t: 2 * t  # noqa: E731 - (n, 1)
    flat = lambda t: t.ravel()  # noqa: E731 - (n,)
    assert metrics.errors(column, flat, x) == metrics.errors(flat, column, x)
    with pytest.raises(ValueError, match=r"approximant gives \(7, 2\) but the target gives \(7, 1\)"):
        metrics.errors(lambda t: t.repeat(1, 2), column, x)


def test_exact_power_law_gives_its_slope_and_constant():
    n = np.array([4, 8, 16, 32, 64, 128])
    rate = metrics.loglog_slope(n, 3.0 * n ** -2.0)
    assert abs(rate.slope + 2.0) < 1e-12 and abs(rate.intercept - math.log(3.0)) < 1e-12
    assert rate.hi - rate.lo < 1e-10 and rate.n_points == 6 and rate.level == 0.95
    # control: another exponent is another slope
    assert abs(metrics.loglog_slope(n, 3.0 * n ** -1.5).slope + 1.5) < 1e-12


def test_intervals_cover_the_true_slope_at_their_level_and_normal_quantiles_would_not():
    rng = np.random.default_rng(0)
    n = np.array([4, 8, 16, 32, 64, 128])
    trials, t_covers, z_covers = 1000, 0, 0
    ratio = stats.norm.ppf(0.975) / stats.t.ppf(0.975, n.size - 2)  # 1.96 / 2.78
    for _ in range(trials):
        err = 0.5 * n ** -1.0 * np.exp(rng.normal(0.0, 0.3, n.size))
        rate = metrics.loglog_slope(n, err)
        t_covers += rate.contains(-1.0)
        z_covers += abs(rate.slope + 1.0) <= ratio * (rate.hi - rate.slope)
    assert abs(t_covers / trials - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / trials)
    assert z_covers / trials < 0.95 - 3 * math.sqrt(0.95 * 0.05 / trials)  # the negative control


def test_exact_fits_are_dropped_and_too_few_points_refused():
    rate = metrics.loglog_slope([1, 2, 4, 8], [1.0, 0.0, 0.25, math.inf])
    assert rate.n_points == 2 and abs(rate.slope + 1.0) < 1e-12
    assert (rate.lo, rate.hi) == (-math.inf, math.inf)  # two points: exact line, no interval
    assert str(rate) == "-1.00 [-inf, inf]"
    with pytest.raises(ValueError, match="a rate needs >= 2 points with positive error, got 1"):
        metrics.loglog_slope([1, 2, 4], [1.0, 0.0, -1.0])


def test_a_noisy_rate_against_an_independent_least_squares_fit_and_the_t_quantile():
    # Hand-made data: err = 2 n^-1.5 times a fixed wobble, so the line does not fit exactly. The
    # slope, its standard error and the Student-t interval are recomputed here from the textbook
    # formulas (not np.polyfit): b = S_xy / S_xx, se = sqrt(RSS / (k - 2) / S_xx), interval
    # b -+ t_{(1 + level) / 2, k - 2} se; and checked against scipy.stats.linregress. All in float64
    # on 7 points: agreement to 1e-12 (relative) is rounding, far above it would be a bug.
    n = np.array([2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
    wobble = np.array([1.3, 0.8, 1.1, 0.7, 1.4, 0.9, 1.05])
    err = 2.0 * n ** -1.5 * wobble
    x, y = np.log(n), np.log(err)
    sxx = np.sum((x - x.mean()) ** 2)
    b = np.sum((x - x.mean()) * (y - y.mean())) / sxx
    a = y.mean() - b * x.mean()
    rss = np.sum((y - a - b * x) ** 2)
    se = math.sqrt(rss / (n.size - 2) / sxx)
    reference = stats.linregress(x, y)
    assert b == pytest.approx(reference.slope, rel=1e-12) and se == pytest.approx(reference.stderr, rel=1e-12)
    assert se > 0.01  # the wobble is real: the interval has a width to check
    for level in (0.5, 0.9, 0.95, 0.99):
        rate = metrics.loglog_slope(n, err, level=level)
        half = stats.t.ppf((1 + level) / 2, n.size - 2) * se
        assert rate.slope == pytest.approx(b, rel=1e-12) and rate.intercept == pytest.approx(a, rel=1e-12)
        assert rate.lo == pytest.approx(b - half, rel=1e-12) and rate.hi == pytest.approx(b + half, rel=1e-12)
        assert rate.n_points == 7 and rate.level == level
        # negative control: the normal quantile, or the wrong degrees of freedom, miss the interval
        for wrong in (stats.norm.ppf((1 + level) / 2) * se, stats.t.ppf((1 + level) / 2, n.size - 1) * se):
            assert rate.hi != pytest.approx(b + wrong, rel=1e-6)
    # the interval grows with the level, and contains -1.5 (the exponent the data were made with)
    widths = [metrics.loglog_slope(n, err, level=lv).hi - metrics.loglog_slope(n, err, level=lv).lo
              for lv in (0.5, 0.9, 0.99)]
    assert widths[0] < widths[1] < widths[2] and metrics.loglog_slope(n, err).contains(-1.5)


def test_an_exact_power_law_through_three_points_has_a_zero_width_interval():
    # k = 3 is the smallest k with an interval (one degree of freedom, t_{0.975, 1} = 12.7): an
    # exact line leaves RSS = 0 to rounding, so the interval closes on the exponent
    rate = metrics.loglog_slope([10, 100, 1000], [5e-2, 5e-4, 5e-6])
    assert rate.slope == pytest.approx(-2.0, abs=1e-12) and rate.hi - rate.lo < 1e-10
    assert rate.intercept == pytest.approx(math.log(5.0), abs=1e-12)


@pytest.mark.parametrize("n, err, kwargs, message", [
    ([], [], {}, "a rate needs >= 2 points with positive error, got 0"),
    ([4], [0.1], {}, "a rate needs >= 2 points with positive error, got 1"),
    ([4, 8, 16], [0.0, -1.0, 0.1], {}, "a rate needs >= 2 points with positive error, got 1"),
    ([4, 8, 16], [math.nan, math.inf, 0.1], {}, "a rate needs >= 2 points with positive error, got 1"),
    ([4, 0, 16], [0.1, 0.2, 0.3], {}, r"every n must be a finite number > 0, got \[0.0\]"),
    ([4, -8, 16], [0.1, 0.2, 0.3], {}, r"every n must be a finite number > 0, got \[-8.0\]"),
    ([4, math.inf], [0.1, 0.2], {}, r"every n must be a finite number > 0, got \[inf\]"),
    ([8, 8, 8], [0.1, 0.2, 0.3], {}, "a rate needs >= 2 distinct n among the points with positive error, got only n = 8"),
    ([8, 8, 16], [0.1, 0.2, 0.0], {}, "a rate needs >= 2 distinct n among the points with positive error, got only n = 8"),
    ([4, 8], [0.1, 0.2, 0.3], {}, r"n and err must be two sequences of one length, got shapes \(2,\) and \(3,\)"),
    ([4, 8, 16], [0.1, 0.2, 0.3], {"level": 1.0}, "level must lie in \\(0, 1\\), got 1.0"),
    ([4, 8, 16], [0.1, 0.2, 0.3], {"level": 0}, "level must lie in \\(0, 1\\), got 0"),
])
def test_degenerate_inputs_raise_a_clear_error(n, err, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.loglog_slope(n, err, **kwargs)
    # negative control: the same call with two good points of distinct n gives a rate
    assert metrics.loglog_slope([4, 8], [0.1, 0.05]).slope == pytest.approx(-1.0, abs=1e-12)


def test_grid_default_and_smallest_sizes():
    assert metrics.grid().shape == (10_001, 1)  # the documented default
    assert metrics.grid(2, -1.0, 3.0).flatten().tolist() == [-1.0, 3.0]  # the smallest grid allowed
    with pytest.raises(ValueError, match="^a grid needs n >= 2 points, got 1$"):  # negative control: one point
        metrics.grid(1)


def test_a_rate_interval_contains_its_ends():
    """[lo, hi] is a closed interval: a value equal to either end is inside, one just past is not."""
    rate = metrics.Rate(slope=-1.0, lo=-1.5, hi=-0.5, intercept=0.0, n_points=5, level=0.95)
    assert rate.contains(-1.5) and rate.contains(-0.5) and rate.contains(-1.0)
    assert not rate.contains(np.nextafter(-1.5, -2.0)) and not rate.contains(np.nextafter(-0.5, 0.0))
