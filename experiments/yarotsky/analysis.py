"""What the figure and the text of experiments/yarotsky both read off the DataFrame: the fitted
growth of the parameter count with 1/eps at each depth, and the deep construction's linear fit.

Slopes are least-squares slopes of log(params) on log(1/eps) (approx.metrics.loglog_slope, 95%
t-interval) over eps <= 2^-FIT_MIN_EXPONENT, where the constant terms of the counts matter less.
The counts are deterministic, so an interval measures how far they are from a power law over the
fitted range (ceilings, the discrete choice of bases), not noise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from approx.metrics import Rate, loglog_slope

__all__ = ["TARGETS", "FIT_MIN_EXPONENT", "fitted", "shallow_rate", "depth_rates", "deep_fit"]

TARGETS = ("square", "xy")
FIT_MIN_EXPONENT = 10  # fit over eps = 2^-p with p >= 10


def fitted(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows inside the fitted range (all of them when fewer than 3 are)."""
    inside = rows[rows.eps_exponent >= FIT_MIN_EXPONENT]
    return inside if len(inside) >= 3 else rows


def _rate(rows: pd.DataFrame) -> Rate:
    rows = fitted(rows)
    return loglog_slope(1 / rows.eps_target.to_numpy(), rows.params.to_numpy())


def shallow_rate(df: pd.DataFrame, target: str = "square") -> Rate:
    """params ~ C (1/eps)^slope for one hidden layer (the interpolant); theory: 1/2."""
    return _rate(df[(df.target == target) & (df.construction == "interpolant")])


def depth_rates(df: pd.DataFrame, target: str = "square") -> pd.DataFrame:
    """One row per fixed depth L: the fitted slope and its interval, with the exponents to compare:
    the lower bound's 1/(L + 1) and Yarotsky's order 1/(2L)."""
    rows = []
    fixed = df[(df.target == target) & (df.construction != "yarotsky")]
    for depth, g in fixed.groupby("depth"):
        if g.eps_exponent.nunique() < 2:
            continue
        rate = _rate(g)
        rows.append({"depth": int(depth), "slope": rate.slope, "lo": rate.lo, "hi": rate.hi,
                     "n_points": rate.n_points, "bound_exponent": 1 / (depth + 1), "yarotsky_order": 1 / (2 * depth)})
    return pd.DataFrame(rows)


def deep_fit(df: pd.DataFrame, target: str = "square") -> dict:
    """Yarotsky's construction: params = a + b log2(1/eps) by least squares, its largest residual,
    and the log-log slope (which logarithmic growth drives towards 0)."""
    rows = df[(df.target == target) & (df.construction == "yarotsky")].sort_values("eps_exponent")
    p, params = rows.eps_exponent.to_numpy(float), rows.params.to_numpy(float)
    per_bit, intercept = np.polyfit(p, params, 1) if len(rows) >= 2 else (np.nan, np.nan)
    residual = float(np.max(np.abs(params - (per_bit * p + intercept)))) if len(rows) >= 2 else np.nan
    rate = _rate(rows) if len(rows) >= 2 else None
    return {"per_bit": float(per_bit), "intercept": float(intercept), "max_residual": residual,
            "per_layer": float(np.polyfit(rows.depth, params, 1)[0]) if rows.depth.nunique() >= 2 else np.nan,
            "loglog_slope": rate, "p_min": int(p.min()), "p_max": int(p.max())}
