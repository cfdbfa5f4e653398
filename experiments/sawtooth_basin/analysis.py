"""What the figure and the text of experiments/sawtooth_basin both read off the DataFrame: the
recovery fraction per cell, sigma*(k) with its bootstrap interval, and the fit of log2 sigma* on k.

    sigma*  = the largest sigma of the grid at which at least half the runs recovered
              (0 when only the exact start did; nan when not even it did);
    its interval: the percentile bootstrap (approx.intervals.bootstrap_interval) of sigma* over
              seeds resampled with replacement, each resampled seed bringing its runs at every
              sigma (a seed's starts share one noise direction z_s);
    the fit:  least squares of log2 sigma* on k with a 95% Student-t interval for the slope
              (approx.metrics.loglog_slope of sigma* on 2^k), over the k whose sigma* lies strictly
              inside the grid: sigma* = 0 says only that it is below the smallest positive sigma and
              sigma* = max(sigma) only that it is at least that (censored), so neither is a value.
The prediction sigma* ~ 2^-k is slope -1.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from approx.intervals import bootstrap_interval, wilson_interval
from approx.metrics import Rate, loglog_slope

__all__ = ["CELL", "BOOTSTRAP_RESAMPLES", "PREDICTED_SLOPE", "recovery", "sigma_star", "sigma_stars",
           "fitted_slopes"]

CELL = ["optimizer", "width", "k"]  # one ensemble: every sigma x seed
BOOTSTRAP_RESAMPLES = 2000
PREDICTED_SLOPE = -1.0  # sigma* ~ 2^-k


def recovery(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (optimizer, width, k, sigma): runs, recovered, fraction and its Wilson interval."""
    rows = []
    for (optimizer, width, k, sigma), g in df.groupby(CELL + ["sigma"]):
        n, hit = len(g), int(g.recovered.sum())
        lo, hi = wilson_interval(hit, n)
        rows.append({"optimizer": optimizer, "width": int(width), "k": int(k), "sigma": float(sigma), "n_runs": n,
                     "n_recovered": hit, "fraction": hit / n, "lo": lo, "hi": hi,
                     "median_l2_before": float(g.l2_before.median()), "median_l2_after": float(g.l2_after.median()),
                     "median_pieces_after": float(g.pieces_after.median())})
    return pd.DataFrame(rows)


def sigma_star(sigmas, recovered) -> float:
    """The largest sigma whose runs recovered at least half the time.

    sigmas: (S,) the noise scales; recovered: (S, n) booleans, row i the runs at sigmas[i].
    0.0 if only sigma = 0 qualifies, nan if none does."""
    sigmas = np.asarray(sigmas, dtype=float)
    recovered = np.asarray(recovered, dtype=bool)
    if recovered.ndim != 2 or recovered.shape[0] != sigmas.size or recovered.shape[1] < 1:
        raise ValueError(f"recovered must be (len(sigmas), n >= 1) = ({sigmas.size}, n), got {recovered.shape}")
    qualify = sigmas[2 * recovered.sum(axis=1) >= recovered.shape[1]]
    return float(qualify.max()) if qualify.size else float("nan")


def _table(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(sigmas (S,), recovered (S, n_seeds)) of one cell, seeds in one order for every sigma."""
    table = g.pivot_table(index="sigma", columns="seed", values="recovered", aggfunc="first").sort_index()
    if table.isna().any().any():
        raise ValueError("every seed needs one run at every sigma of its cell")
    return table.index.to_numpy(float), table.to_numpy(bool)


def sigma_stars(df: pd.DataFrame, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per (optimizer, width, k): sigma_star, its bootstrap interval [lo, hi] (95%),
    n_seeds, and where it sits on the grid (inside: neither 0 nor the largest sigma)."""
    rows = []
    for (optimizer, width, k), g in df.groupby(CELL):
        sigmas, recovered = _table(g)
        star = sigma_star(sigmas, recovered)
        lo, hi = bootstrap_interval(np.arange(recovered.shape[1]),
                                    lambda idx: sigma_star(sigmas, recovered[:, idx.astype(int)]),
                                    n_resamples=n_resamples, seed=seed)
        positive = sigmas[sigmas > 0]
        rows.append({"optimizer": optimizer, "width": int(width), "k": int(k), "sigma_star": star, "lo": lo, "hi": hi,
                     "n_seeds": recovered.shape[1],
                     "inside": bool(positive.size and 0 < star < positive.max())})
    return pd.DataFrame(rows)


def fitted_slopes(stars: pd.DataFrame) -> pd.DataFrame:
    """One row per (optimizer, width): the slope of log2 sigma* on k over the cells inside the grid, its 95%
    interval, the points fitted, and whether the interval holds the predicted -1 (nan slope: < 3 points)."""
    rows = []
    for (optimizer, width), g in stars.groupby(["optimizer", "width"]):
        inside = g[g.inside].sort_values("k")
        rate = _fit(inside)
        rows.append({"optimizer": optimizer, "width": int(width), "slope": rate.slope if rate else np.nan,
                     "lo": rate.lo if rate else np.nan, "hi": rate.hi if rate else np.nan,
                     "intercept_log2": rate.intercept / np.log(2) if rate else np.nan,
                     "n_points": len(inside), "ks": ",".join(map(str, inside.k)),
                     "contains_prediction": bool(rate and rate.contains(PREDICTED_SLOPE))})
    return pd.DataFrame(rows)


def _fit(inside: pd.DataFrame) -> Rate | None:
    """log sigma* = intercept + slope log 2^k, i.e. log2 sigma* = intercept / ln 2 + slope k (3+ points)."""
    if inside.k.nunique() < 3:
        return None
    return loglog_slope(2.0 ** inside.k.to_numpy(float), inside.sigma_star.to_numpy(float))
