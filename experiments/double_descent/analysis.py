"""What the figure and the text of experiments/double_descent both read off the DataFrame: where the
random-features curve peaks, the runs that completed, and the label-corruption sweep per fraction
with the rank correlation of Arora et al.'s complexity and the test error."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["peak", "curve_peak", "completed", "corruption_summary", "complexity_spearman"]


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


def corruption_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per corruption fraction: Arora et al.'s complexity, the median (and quartiles) of the clean
    test error over the completed runs, the median steps to fit among the runs that fit, and counts."""
    runs = completed(rows)
    g = runs.groupby("corruption")
    return pd.DataFrame({
        "complexity": g.complexity.first(), "n_wrong_labels": g.n_wrong_labels.first(),
        "test_error": g.test_misclassified.median(), "test_q25": g.test_misclassified.quantile(0.25),
        "test_q75": g.test_misclassified.quantile(0.75), "steps_to_fit": g.steps_to_fit.median(),
        "n_fitted": g.steps_to_fit.count(), "n_runs": g.size(),
    }).reset_index()


def complexity_spearman(summary: pd.DataFrame) -> float:
    """Spearman's rank correlation of the complexity with the median test error over the fractions
    (scipy.stats.spearmanr); nan with fewer than 3 fractions or a constant column."""
    if len(summary) < 3 or summary.complexity.nunique() < 2 or summary.test_error.nunique() < 2:
        return float("nan")
    return float(stats.spearmanr(summary.complexity, summary.test_error).statistic)
