"""What the figure and the text of experiments/overparam both read off the DataFrame: the lazy-training
slopes against the width."""
from __future__ import annotations

import pandas as pd

from approx.metrics import loglog_slope

__all__ = ["slopes"]


def slopes(df: pd.DataFrame) -> dict:
    """log-log slopes against m of the kernel error, the weight movement and the flip fraction."""
    s = df[df.part == "ntk"]
    return {c: loglog_slope(s.m, s[c]) for c in ("kernel_error", "movement", "flips")}
