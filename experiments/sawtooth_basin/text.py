"""The gallery text of experiments/sawtooth_basin, every number read from its DataFrame (the figure is
in figure.py). That the exact construction recovers is labelled a check (its loss is 0, so no
optimizer moves it); sigma*(k) and its fit are measurements of these budgets."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import PREDICTED_SLOPE, fitted_slopes, sigma_stars

__all__ = ["describe"]


def describe(df: pd.DataFrame) -> str:
    stars = sigma_stars(df)
    texts = [_check(df), _setup(df), _stars(stars), _fits(fitted_slopes(stars), df.sigma), _repaired(df)]
    return "\n\n".join(t for t in texts if t)


def _g(x: float) -> str:
    return f"{x:.2g}"


def _check(df: pd.DataFrame) -> str:
    exact = df[df.sigma == 0]
    if exact.empty:
        return ""
    return (f"**Check (holds by construction).** From sigma = 0 {int(exact.recovered.sum())} of {len(exact)} runs "
            f"recover (largest L2 error after training {exact.l2_after.max():.1e}, before "
            f"{exact.l2_before.max():.1e}): the exact t^k has zero loss on the grid, so neither optimizer moves it.")


def _setup(df: pd.DataFrame) -> str:
    positive = df.sigma[df.sigma > 0]
    budgets = []
    for optimizer, g in df.groupby("optimizer"):
        if optimizer == "adam":
            budgets.append(f"Adam {int(g.steps.iloc[0])} full-batch steps (peak rate {_g(g.lr.iloc[0])}, cosine)")
        else:
            budgets.append(f"Levenberg-Marquardt {int(g.steps.iloc[0])} iterations (widths "
                           f"{', '.join(map(str, sorted(g.width.unique())))})")
    n_seeds = df.groupby(["optimizer", "width", "k", "sigma"]).seed.nunique()
    return (f"**Setup.** t^k for k = {df.k.min()}..{df.k.max()}, at widths {', '.join(map(str, sorted(df.width.unique())))} "
            f"(2: the construction; wider: the same with inert units), every parameter plus Gaussian noise sigma in "
            f"{_g(positive.min())}..{_g(positive.max())} ({positive.nunique()} values on a log grid) and sigma = 0, "
            f"{n_seeds.min()} seeds per cell ({len(df)} runs); float64, {' and '.join(budgets)}, on "
            f"{df.n_train.min()}..{df.n_train.max()} grid points. A run has recovered when its exact L2 error to t^k "
            f"on [0, 1] (integrated piece by piece) is below {_g(df.recovery_l2.iloc[0])}.")


def _stars(stars: pd.DataFrame) -> str:
    parts = []
    for (optimizer, width), g in stars.groupby(["optimizer", "width"]):
        cells = ", ".join(f"k = {r.k}: {_g(r.sigma_star)} [{_g(r.lo)}, {_g(r.hi)}]" for r in g.sort_values("k").itertuples())
        parts.append(f"{optimizer} at width {width}: {cells}")
    return ("**sigma*(k), measured** (the largest sigma from which at least half the runs recover; 95% bootstrap "
            "intervals over seeds; 0: only the exact start): " + "; ".join(parts) + ".")


def _fits(fits: pd.DataFrame, sigmas) -> str:
    parts = []
    for r in fits.itertuples():
        if r.n_points < 3:
            parts.append(f"{r.optimizer} at width {r.width}: {r.n_points} k with sigma* inside the grid, too few to fit")
            continue
        verdict = "holds" if r.contains_prediction else "excludes"
        parts.append(f"{r.optimizer} at width {r.width}: slope {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}] over k = {r.ks} "
                     f"({verdict} {PREDICTED_SLOPE:.0f})")
    return ("**The prediction sigma* ~ 2^-k** (slope -1 of log2 sigma* on k; least squares over the k whose sigma* is "
            "inside the grid, 95% t-interval): " + "; ".join(parts) + f". {_spacing(sigmas)}")


def _spacing(sigmas) -> str:
    """The grid's largest step: sigma* is known only to within it, which the t-interval does not count."""
    positive = np.sort(np.unique(np.asarray(sigmas, dtype=float)))
    positive = positive[positive > 0]
    if positive.size < 2:
        return ""
    ratio = float(np.max(positive[1:] / positive[:-1]))
    return (f"sigma* is read on a grid whose neighbours differ by up to a factor {ratio:.2f} ({np.log2(ratio):.1f} in "
            f"log2), a rounding the t-interval does not include.")


def _repaired(df: pd.DataFrame) -> str:
    noisy = df[df.sigma > 0]
    if noisy.empty:
        return ""
    parts = []
    for optimizer, g in noisy.groupby("optimizer"):
        near = g.l2_before < g.recovery_l2
        repaired = int((g.recovered & ~near).sum())
        harmless = int((g.recovered & near).sum())
        broken = int((~g.recovered & near).sum())
        exact = int((g.recovered & (g.pieces_after == g.pieces_target)).sum())
        won = g[g.recovered]
        ratio = (won.l2_after / won.l2_before).median()  # l2_before > 0 for sigma > 0; nan if none recovered
        parts.append(f"{optimizer} (L2 after / before, median over the recovered: {ratio:.1e}): {repaired} of "
                     f"{len(g)} noisy runs "
                     f"recovered from a start above the threshold "
                     f"(training repaired them), {harmless} started below it and stayed (the noise was harmless), "
                     f"{broken} started below it and ended above it; {exact} of the "
                     f"{int(g.recovered.sum())} recovered have exactly 2^k pieces")
    return "**Repaired or harmless.** " + "; ".join(parts) + "."
