"""What the barron figure and text both read off the DataFrame: fitted rates, budget floors,
and the width a rate needs for a given relative error."""
from __future__ import annotations

import math

import pandas as pd

from approx.metrics import loglog_slope

from .config import FLOOR_FACTOR, RF_TARGET


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """The rows without diverged trained runs (frozen early, they measure no training)."""
    return df[df.status != "diverged"] if "status" in df else df


def main_budget(df: pd.DataFrame) -> pd.DataFrame:
    """The rows at the main step budget (budget 1; results without the column: every row)."""
    return df[df.budget.fillna(1.0) == 1.0] if "budget" in df else df


def unit_activation(df: pd.DataFrame) -> pd.Series:
    """Each row's unit activation (results without the column: sigmoid, Barron's)."""
    return df.activation.fillna("sigmoid") if "activation" in df else pd.Series("sigmoid", df.index)


def unit_optimizer(df: pd.DataFrame) -> pd.Series:
    """Each row's optimizer: a trained row's ``optimizer`` (results without the column: adam, as
    they were trained), "" for the rows of sampled networks and random features."""
    trained = df.optimizer.fillna("adam") if "optimizer" in df else pd.Series("adam", df.index)
    return trained.where(df.method == "trained", "")


def rates(df: pd.DataFrame) -> pd.DataFrame:
    """Slope of log test MSE on log width per (method, optimizer, activation, family, d), every seed
    or draw a point, with the fitted line's intercept; diverged trained runs and further step
    budgets are left out. ``optimizer`` is "" for sampled networks and random features."""
    out = []
    rows = main_budget(completed(df))
    rows = rows.assign(activation=unit_activation(rows), optimizer=unit_optimizer(rows))
    keys = ["method", "optimizer", "activation", "family", "d"]
    for (method, optimizer, activation, family, d), part in rows.groupby(keys, sort=False):
        if part.width.nunique() < 2:
            continue
        rate = loglog_slope(part.width, part.test_mse)
        out.append({"method": method, "optimizer": optimizer, "activation": activation, "family": family, "d": d,
                    "slope": rate.slope, "lo": rate.lo, "hi": rate.hi, "intercept": rate.intercept,
                    "n_points": rate.n_points})
    return pd.DataFrame(out, columns=[*keys, "slope", "lo", "hi", "intercept", "n_points"])


def budget_effects(df: pd.DataFrame) -> pd.DataFrame:
    """Per (optimizer, family, d, width, budget > 1) of the step-budget sweep: the median test MSE
    at budget 1 and at that budget, and their ratio ``factor`` (> 1: more steps lowered the error)."""
    columns = ["optimizer", "family", "d", "width", "budget", "base", "more", "factor"]
    trained = completed(df[df.method == "trained"])
    if "budget" not in trained or not (trained.budget > 1).any():
        return pd.DataFrame([], columns=columns)
    trained = trained.assign(optimizer=unit_optimizer(trained))
    med = trained.groupby(["optimizer", "family", "d", "width", "budget"], sort=False).test_mse.median()
    out = []
    for (optimizer, family, d, width, budget), more in med.items():
        if budget > 1 and (optimizer, family, d, width, 1.0) in med:
            base = med[optimizer, family, d, width, 1.0]
            out.append({"optimizer": optimizer, "family": family, "d": d, "width": width, "budget": budget,
                        "base": base, "more": more, "factor": base / more})
    return pd.DataFrame(out, columns=columns)


def second_order_limits(df: pd.DataFrame) -> pd.DataFrame:
    """What the second-order runs (optimizer lbfgs or lm) measured at the widest width of each
    (optimizer, family, d), at the main budget: the medians of the final training loss
    ``train``, of the training loss after half the iterations ``half``, of the test MSE
    ``test``, the number of runs ``n`` and of stalled ones ``n_stalled``, and ``limit``, the
    first that applies of
        "sample"  test > FLOOR_FACTOR x train: the error is generalisation, not training;
        "budget"  half > FLOOR_FACTOR x train: the second half of the iterations still lowered
                  the training loss that much, so more iterations would lower it further;
        "stalled" most runs stalled (no step lowered the loss: a minimum of the optimizer);
        "plateau" none of these: the loss had levelled off before the budget ran out.
    Diverged runs are left out; results without ``train_mse_half`` give none."""
    columns = ["optimizer", "family", "d", "width", "train", "half", "test", "n", "n_stalled", "limit"]
    if "train_mse_half" not in df:
        return pd.DataFrame([], columns=columns)
    rows = main_budget(completed(df[df.method == "trained"]))
    rows = rows[~unit_optimizer(rows).isin(["adam"])]
    out = []
    for (optimizer, family, d), part in rows.groupby(["optimizer", "family", "d"], sort=False):
        widest = part[part.width == part.width.max()]
        train, half, test = widest.train_mse.median(), widest.train_mse_half.median(), widest.test_mse.median()
        n_stalled = int((widest.status == "stalled").sum())
        limit = ("sample" if test > FLOOR_FACTOR * train else "budget" if half > FLOOR_FACTOR * train
                 else "stalled" if 2 * n_stalled > len(widest) else "plateau")
        out.append({"optimizer": optimizer, "family": family, "d": d, "width": part.width.max(), "train": train,
                    "half": half, "test": test, "n": len(widest), "n_stalled": n_stalled, "limit": limit})
    return pd.DataFrame(out, columns=columns)


def relative_error_width(rate, target_var: float, level: float = RF_TARGET) -> float:
    """The width n at which the fitted line log MSE = intercept + slope log n reaches MSE / Var f =
    level: exp((log(level Var f) - intercept) / slope); inf when the slope is not negative."""
    if not rate.slope < 0:
        return math.inf
    return math.exp((math.log(level * target_var) - rate.intercept) / rate.slope)
