"""What the computation, the figure and the text of experiments/sawtooth_success share: the success
rule, P(success) per cell with Wilson intervals, and the piece counts per neuron.

Success: a trained network succeeded when its exact L2 distance to t^k on [0, 1] is below
SUCCESS_L2 = 1e-3, the rule experiments/sawtooth_basin calls "recovered".

The constant: t^k(x) is uniformly distributed on [0, 1] for x uniform (the triangle map preserves
Lebesgue measure), so a constant c is at L2 distance sqrt(1/12 + (c - 1/2)^2) from every t^k. The
constant that fits the training grid best is the grid mean of t^k (2/5 on k = 1's five points,
-> 1/2 as the grid grows); a run whose L2 distance is within CONSTANT_REL of that constant's
(``l2_constant``, constant_l2) ended at it ("at_constant"): it kept only t^k's mean.

P(success) from s successes in n runs: s / n with Wilson's 95% score interval
(approx.intervals.wilson_interval; at s = 0 it is [0, z^2 / (n + z^2)], 0.057 at n = 64).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from approx.intervals import wilson_interval

__all__ = ["SUCCESS_L2", "CONSTANT_REL", "CELL", "succeeded", "constant_l2", "at_constant", "success_table",
           "pieces_table"]

SUCCESS_L2 = 1e-3  # a run succeeded when its exact L2 distance to t^k is below this (sawtooth_basin's rule)
CONSTANT_REL = 0.01  # within 1% of CONSTANT_L2: the network ended at (nearly) the best constant
CELL = ["optimizer", "width", "depth_factor", "k"]  # one ensemble: the runs P(success) is estimated from


def succeeded(l2) -> np.ndarray:
    """The success rule: exact L2 distance to t^k below SUCCESS_L2 (NaN counts as failure)."""
    return np.asarray(l2, dtype=float) < SUCCESS_L2


def constant_l2(c: float) -> float:
    """The exact L2 distance on [0, 1] from the constant c to t^k, any k: sqrt(1/12 + (c - 1/2)^2)."""
    return math.sqrt(1 / 12 + (c - 0.5) ** 2)


def at_constant(l2, l2_constant) -> np.ndarray:
    """Whether each L2 distance is within CONSTANT_REL of the best constant's on the grid, l2_constant."""
    return np.abs(np.asarray(l2, dtype=float) / np.asarray(l2_constant, dtype=float) - 1) <= CONSTANT_REL


def success_table(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per cell (optimizer, width, depth_factor, k): depth, neurons, n_runs, n_success,
    p_success = n_success / n_runs and its Wilson interval [p_lo, p_hi]. Success is re-read from
    l2_after with the rule above, so a table whose success column disagrees cannot pass as one."""
    rows = []
    for key, g in df.groupby(CELL, sort=True):
        n, s = len(g), int(succeeded(g.l2_after).sum())
        lo, hi = wilson_interval(s, n, level)
        rows.append({**dict(zip(CELL, key)), "depth": int(g.depth.iloc[0]), "neurons": int(g.neurons.iloc[0]),
                     "n_runs": n, "n_success": s, "p_success": s / n, "p_lo": lo, "p_hi": hi})
    return pd.DataFrame(rows)


def pieces_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (optimizer, depth_factor): median pieces per neuron at initialisation and after
    training, the largest after training, and the median fraction of (2m)^L that was realised."""
    rows = []
    for (optimizer, factor), g in df.groupby(["optimizer", "depth_factor"], sort=True):
        rows.append({"optimizer": optimizer, "depth_factor": int(factor), "n_runs": len(g),
                     "init_per_neuron": float((g.pieces_init / g.neurons).median()),
                     "after_per_neuron": float((g.pieces_after / g.neurons).median()),
                     "max_after_per_neuron": float((g.pieces_after / g.neurons).max()),
                     "of_bound": float((g.pieces_after / g.pieces_bound).median())})
    return pd.DataFrame(rows)
