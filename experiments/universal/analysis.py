"""What the figure and the text of experiments/universal both read off the DataFrame: the fitted
rates against the theorems' predictions, without the diverged trained runs, and the trained rates
per learning rate (the lr sweep)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from approx import targets as _targets
from approx.metrics import loglog_slope

from .config import FIT_MIN_WIDTH, INTERP, LR_SWEEP, RAMP

__all__ = ["predicted_sup_slope", "completed", "rates", "sweep_rates"]


def predicted_sup_slope(method: str, kind: str) -> float | None:
    """The theorem's sup-error slope for a method on a target kind (None: no prediction)."""
    if kind == "discontinuous":
        return 0.0 if not method.startswith("trained") else None  # no uniform convergence
    if method == INTERP:
        return -2.0 if kind in ("smooth", "rough") else -1.0
    if method == RAMP or (method.startswith("sigmoid") and "n" in method):
        return -1.0
    return None  # fixed steepness saturates; trained networks are measured


def completed(errs: pd.DataFrame) -> pd.DataFrame:
    """The error rows without diverged trained runs (frozen early, they measure no training)."""
    return errs[errs.status != "diverged"] if "status" in errs else errs


def rates(df: pd.DataFrame, column: str = "err_sup", min_width: int = FIT_MIN_WIDTH) -> pd.DataFrame:
    """Fitted slope of log(column) on log(width) per (target, method), widths >= min_width;
    diverged trained runs are left out."""
    errs = completed(df[(df.table == "error") & (df.width >= min_width)])
    out = []
    for (target, method), part in errs.groupby(["target", "method"], sort=False):
        # exact fits (error 0: a piecewise-linear target whose kinks are knots) carry no rate
        if part.width[(part[column] > 0) & np.isfinite(part[column])].nunique() < 2:
            continue
        rate = loglog_slope(part.width, part[column])
        kind = _targets.get(target).kind
        out.append({"target": target, "kind": kind, "method": method, "slope": rate.slope,
                    "lo": rate.lo, "hi": rate.hi, "n_points": rate.n_points,
                    "predicted": predicted_sup_slope(method, kind) if column == "err_sup" else None})
    return pd.DataFrame(out, columns=["target", "kind", "method", "slope", "lo", "hi", "n_points", "predicted"])


def sweep_rates(df: pd.DataFrame, column: str = "err_sup") -> pd.DataFrame:
    """The trained sup-error slopes per (method, lr, target) over the lr sweep's widths >=
    FIT_MIN_WIDTH: the sweep's rows (table "lr_sweep") and the main learning rate's rows at the
    same widths, so that every learning rate is fitted on the same widths. Empty without a sweep."""
    columns = ["method", "lr", "target", "kind", "slope", "lo", "hi", "n_points", "median_sup_widest"]
    sweep = df[df.table == LR_SWEEP] if "table" in df else df.iloc[0:0]
    if not len(sweep):
        return pd.DataFrame([], columns=columns)
    main = df[(df.table == "error") & df.method.isin(set(sweep.method)) & df.width.isin(set(sweep.width))]
    runs = completed(pd.concat([main, sweep]))
    runs = runs[runs.width >= FIT_MIN_WIDTH]
    out = []
    for (method, lr, target), part in runs.groupby(["method", "lr", "target"], sort=False):
        if part.width[(part[column] > 0) & np.isfinite(part[column])].nunique() < 2:
            continue
        rate = loglog_slope(part.width, part[column])
        widest = part[part.width == part.width.max()][column].median()
        out.append({"method": method, "lr": lr, "target": target, "kind": _targets.get(target).kind,
                    "slope": rate.slope, "lo": rate.lo, "hi": rate.hi, "n_points": rate.n_points,
                    "median_sup_widest": widest})
    return pd.DataFrame(out, columns=columns)
