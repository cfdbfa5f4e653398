"""What the figure and the text of experiments/double_descent both read off the DataFrame: where the
random-features curve peaks, and the runs that completed."""
from __future__ import annotations

import pandas as pd

__all__ = ["peak", "curve_peak", "completed"]


def curve_peak(rf: pd.DataFrame) -> tuple[float, float]:
    """(N, median test error) at the maximum of one random-features curve's median."""
    med = rf.groupby("n_features").test_error.median()
    return float(med.idxmax()), float(med.max())


def completed(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that did not diverge (a diverged run is frozen: it measures no training)."""
    return rows[rows.status != "diverged"] if "status" in rows else rows


def peak(df: pd.DataFrame, ridge: float = 0.0) -> tuple[int, float]:
    """(N, median test error) at the random-features curve's maximum for one ridge."""
    rf = df[(df.part == "random_features") & (df.ridge == ridge)]
    med = rf.groupby("n_features").test_error.median()
    return int(med.idxmax()), float(med.max())
