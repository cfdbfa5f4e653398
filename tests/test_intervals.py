"""approx.intervals: Wilson's interval against textbook values and scipy, the percentile bootstrap
against the t interval, refusals. Each check has a negative control."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from approx.intervals import bootstrap_interval, wilson_interval

Z95 = stats.norm.ppf(0.975)  # 1.959964


@pytest.mark.parametrize("n", [1, 5, 10, 256])
def test_wilson_at_zero_and_all_successes(n):
    # textbook closed forms: k = 0 gives [0, z^2 / (n + z^2)], k = n gives [n / (n + z^2), 1]
    assert wilson_interval(0, n) == (0.0, pytest.approx(Z95**2 / (n + Z95**2), abs=1e-12))
    assert wilson_interval(n, n) == (pytest.approx(n / (n + Z95**2), abs=1e-12), 1.0)
    # negative control: the Wald interval collapses to the point 0 at k = 0, which the check refuses
    wald_hi = 0 + Z95 * math.sqrt(0 * 1 / n)
    assert wald_hi != pytest.approx(Z95**2 / (n + Z95**2), abs=1e-12)


def test_wilson_textbook_example():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in
    # Medicine 17, Table II, example 81/263: Wilson score interval 0.2553 to 0.3662
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    # negative control: the 90% interval is a different one
    lo90, hi90 = wilson_interval(81, 263, level=0.90)
    assert (round(lo90, 4), round(hi90, 4)) != (0.2553, 0.3662)


@pytest.mark.parametrize("k,n,level", [(7, 20, 0.95), (1, 3, 0.95), (130, 256, 0.99), (255, 256, 0.8), (0, 32, 0.9)])
def test_wilson_matches_scipy(k, n, level):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    np.testing.assert_allclose(wilson_interval(k, n, level), (ref.low, ref.high), rtol=0, atol=1e-12)
    # negative control: one success more moves both ends by far more than the tolerance
    if k < n:
        assert abs(wilson_interval(k + 1, n, level)[0] - ref.low) > 1e-6


def test_wilson_covers_at_about_its_level():
    # seeded: 2000 binomial(64, 0.3) draws; Wilson's 95% interval covers 0.3 in 93% to 97% of
    # them (its coverage oscillates near the nominal level; Brown, Cai & DasGupta 2001, Fig. 4)
    rng = np.random.default_rng(0)
    ks = rng.binomial(64, 0.3, size=2000)
    cover = np.mean([lo <= 0.3 <= hi for lo, hi in (wilson_interval(int(k), 64) for k in ks)])
    assert 0.93 <= cover <= 0.97
    # negative control: the 80% interval covers far less often, and fails the same bounds
    cover80 = np.mean([lo <= 0.3 <= hi for lo, hi in (wilson_interval(int(k), 64, 0.8) for k in ks)])
    assert not 0.93 <= cover80 <= 0.97


@pytest.mark.parametrize("n", [30, 200])
def test_bootstrap_mean_agrees_with_the_t_interval(n):
    x = np.random.default_rng(n).normal(1.0, 2.0, size=n)
    lo, hi = bootstrap_interval(x, np.mean, n_resamples=20_000, seed=1)
    half_t = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
    # each end within 15% of the t interval's half-width: the percentile interval differs from it
    # by O(1/n) (plug-in variance, normal tails) plus Monte Carlo error ~ half / sqrt(B)
    assert abs(lo - (x.mean() - half_t)) < 0.15 * half_t
    assert abs(hi - (x.mean() + half_t)) < 0.15 * half_t
    # negative control: the 80% bootstrap interval misses the same check
    lo80, hi80 = bootstrap_interval(x, np.mean, n_resamples=20_000, level=0.8, seed=1)
    assert abs(lo80 - (x.mean() - half_t)) >= 0.15 * half_t


def test_bootstrap_is_seeded_and_takes_any_statistic():
    x = np.random.default_rng(3).exponential(size=50)
    assert bootstrap_interval(x, np.median, seed=5) == bootstrap_interval(x, np.median, seed=5)
    # another seed, other resamples (the mean: the median's quantiles can land on the same data value)
    assert bootstrap_interval(x, np.mean, seed=5) != bootstrap_interval(x, np.mean, seed=6)
    lo, hi = bootstrap_interval(x, np.median, seed=5)
    assert lo <= np.median(x) <= hi
    # a constant sample: every resample gives the constant
    assert bootstrap_interval([2.5] * 10) == (2.5, 2.5)


@pytest.mark.parametrize("call,message", [
    (lambda: wilson_interval(5, 4), r"k \(successes\) must be an integer in \[0, 4\], got 5"),
    (lambda: wilson_interval(-1, 4), "k"),
    (lambda: wilson_interval(0, 0), r"n \(trials\) must be an integer"),
    (lambda: wilson_interval(1, 4, level=1.0), r"level must be a finite number in \(0, 1\)"),
    (lambda: wilson_interval(1.5, 4), "k"),
    (lambda: bootstrap_interval([1.0]), "at least 2 finite numbers, got 1"),
    (lambda: bootstrap_interval([1.0, np.nan]), "nan or inf"),
    (lambda: bootstrap_interval([1.0, 2.0], n_resamples=1), "n_resamples must be an integer"),
    (lambda: bootstrap_interval([1.0, 2.0], level=0), "level"),
    (lambda: bootstrap_interval([1.0, 2.0], seed=-1), "seed"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    # negative control: the same calls with good values pass
    wilson_interval(4, 4), bootstrap_interval([1.0, 2.0], n_resamples=2)
