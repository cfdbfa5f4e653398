"""What the barron figure and text both read off the DataFrame: fitted rates, budget floors,
and the width a rate needs for a given relative error."""
from __future__ import annotations

import math

import pandas as pd

from approx.metrics import loglog_slope

from .config import RF_TARGET


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """The rows without diverged trained runs (frozen early, they measure no training)."""
    return df[df.status != "diverged"] if "status" in df else df


def main_budget(df: pd.DataFrame) -> pd.DataFrame:
    """The rows at the main step budget (budget 1; results without the column: every row)."""
    return df[df.budget.fillna(1.0) == 1.0] if "budget" in df else df


def unit_activation(df: pd.DataFrame) -> pd.Series:
    """Each row's unit activation (results without the column: sigmoid, Barron's)."""
    return df.activation.fillna("sigmoid") if "activation" in df else pd.Series("sigmoid", df.index)


def rates(df: pd.DataFrame) -> pd.DataFrame:
    """Slope of log test MSE on log width per (method, activation, family, d), every seed or draw a
    point, with the fitted line's intercept; diverged trained runs and further step budgets are
    left out."""
    out = []
    rows = main_budget(completed(df))
    rows = rows.assign(activation=unit_activation(rows))
    for (method, activation, family, d), part in rows.groupby(["method", "activation", "family", "d"], sort=False):
        if part.width.nunique() < 2:
            continue
        rate = loglog_slope(part.width, part.test_mse)
        out.append({"method": method, "activation": activation, "family": family, "d": d, "slope": rate.slope,
                    "lo": rate.lo, "hi": rate.hi, "intercept": rate.intercept, "n_points": rate.n_points})
    return pd.DataFrame(out, columns=["method", "activation", "family", "d", "slope", "lo", "hi", "intercept",
                                      "n_points"])


def budget_effects(df: pd.DataFrame) -> pd.DataFrame:
    """Per (family, d, width, budget > 1) of the step-budget sweep: the median test MSE at budget 1
    and at that budget, and their ratio ``factor`` (> 1: more steps lowered the error)."""
    columns = ["family", "d", "width", "budget", "base", "more", "factor"]
    trained = completed(df[df.method == "trained"])
    if "budget" not in trained or not (trained.budget > 1).any():
        return pd.DataFrame([], columns=columns)
    med = trained.groupby(["family", "d", "width", "budget"]).test_mse.median()
    out = []
    for (family, d, width, budget), more in med.items():
        if budget > 1 and (family, d, width, 1.0) in med:
            base = med[family, d, width, 1.0]
            out.append({"family": family, "d": d, "width": width, "budget": budget, "base": base,
                        "more": more, "factor": base / more})
    return pd.DataFrame(out, columns=columns)


def relative_error_width(rate, target_var: float, level: float = RF_TARGET) -> float:
    """The width n at which the fitted line log MSE = intercept + slope log n reaches MSE / Var f =
    level: exp((log(level Var f) - intercept) / slope); inf when the slope is not negative."""
    if not rate.slope < 0:
        return math.inf
    return math.exp((math.log(level * target_var) - rate.intercept) / rate.slope)
