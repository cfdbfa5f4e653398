"""What the figure and the text of experiments/depth_separation both read off the DataFrame:
the best-rate summaries, the diverged runs, and the constant fit's error."""
from __future__ import annotations

import math

import pandas as pd

__all__ = ["CONSTANT_FIT", "best", "diverged_runs"]

CONSTANT_FIT = 1 / math.sqrt(12)  # L2 distance from t^k to its mean 1/2: "learned nothing"


def best(df: pd.DataFrame, part: str, keys: list[str], value: str) -> pd.DataFrame:
    """Median, min and max over seeds of ``value`` at the best learning rate, per configuration."""
    rows = df[(df["part"] == part) & df["best_lr"].astype(bool)]
    if part == "radial":
        rows = rows[rows["final"].astype(bool)]
    return (rows.groupby(keys)[value].agg(["median", "min", "max"])
            .join(rows.groupby(keys)["n_params"].first()).reset_index())


def diverged_runs(df: pd.DataFrame) -> tuple[int, int, int]:
    """(diverged, trained, shown): the trained runs (parts sawtooth, alternating, radial) that fit
    recorded as diverged, all of them, and the diverged ones among the best-rate runs the figure
    and text use.

    A diverged run is never the best rate of its configuration and seed while another rate
    completed: the rates share the initial network and data, hence fit's divergence threshold,
    which a completed run's final loss stays below and a diverged run's last loss exceeds (or is
    NaN, which idxmin skips). So it is shown only where every rate diverged.
    """
    runs = df[df["part"].isin(["sawtooth", "alternating", "radial"])]
    if "final" in runs:  # radial logs every row of a run; its last one says how the run ended
        runs = runs[(runs["part"] != "radial") | runs["final"].astype("boolean").fillna(False)]
    if "status" not in runs or runs.empty:
        return 0, len(runs), 0
    diverged = runs["status"] == "diverged"
    return int(diverged.sum()), len(runs), int((diverged & runs["best_lr"].astype(bool)).sum())
