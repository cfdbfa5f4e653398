"""What the figure and the text of experiments/universal both read off the DataFrame: the fitted
rates against the theorems' predictions, without the diverged trained runs."""
from __future__ import annotations

import numpy as np
import pandas as pd

from approx import targets as _targets
from approx.metrics import loglog_slope

from .config import FIT_MIN_WIDTH, INTERP, RAMP

__all__ = ["predicted_sup_slope", "completed", "rates"]


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


def rates(df: pd.DataFrame, column: str = "err_sup") -> pd.DataFrame:
    """Fitted slope of log(column) on log(width) per (target, method), widths >= FIT_MIN_WIDTH;
    diverged trained runs are left out."""
    errs = completed(df[(df.table == "error") & (df.width >= FIT_MIN_WIDTH)])
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
