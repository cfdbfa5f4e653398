"""The figure of experiments/sawtooth_basin, drawn from its DataFrame alone (the text is in text.py).

Top row, one panel per (optimizer, width): the fraction of runs that recover against sigma, one
line per k (sigma = 0 is drawn at the left edge). Bottom row: l2_after against l2_before per
optimizer (below the dashed recovery line: recovered; left of the dotted one: the noise alone was
already within it), sigma*(k) with bootstrap intervals and the fitted lines against 2^-k, and the
median pieces of the trained functions over the 2^k of t^k."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import cm

from approx.plotting import figure, save

from .analysis import fitted_slopes, recovery, sigma_stars

__all__ = ["plot"]

FLOOR = 1e-17  # errors of 0 (the exact start) drawn here on log axes
MARKERS = {2: "o", 8: "s"}


def plot(df: pd.DataFrame, path: Path) -> None:
    cells = sorted({(o, int(w)) for o, w in zip(df.optimizer, df.width)})
    ncols = max(len(cells), 4)
    fig, axes = figure(2, ncols, width=3.6, height=3.2)
    ks = sorted(df.k.unique())
    colors = {k: cm.viridis(i / max(1, len(ks) - 1)) for i, k in enumerate(ks)}
    rec = recovery(df)
    left = _left_edge(df)
    for ax, (optimizer, width) in zip(axes[0], cells):
        _fractions(ax, rec[(rec.optimizer == optimizer) & (rec.width == width)], colors, left)
        ax.set_title(f"{optimizer}, width {width}: runs recovered")
    for ax in axes[0, len(cells):]:
        ax.set_visible(False)
    for ax, optimizer in zip(axes[1, :2], ("adam", "lm")):
        _before_after(ax, df[df.optimizer == optimizer], colors, optimizer)
    stars = sigma_stars(df)
    _stars(axes[1, 2], stars, fitted_slopes(stars), left)
    _pieces(axes[1, 3], rec, colors, left)
    for ax in axes[1, 4:]:
        ax.set_visible(False)
    save(fig, path)


def _left_edge(df: pd.DataFrame) -> float:
    """Where sigma = 0 is drawn: a third of the smallest positive sigma."""
    positive = df.sigma[df.sigma > 0]
    return float(positive.min()) / 3 if len(positive) else 1e-5


def _fractions(ax, rows: pd.DataFrame, colors: dict, left: float) -> None:
    for k, g in rows.groupby("k"):
        g = g.sort_values("sigma")
        ax.plot(np.where(g.sigma > 0, g.sigma, left), g.fraction, "o-", ms=3, color=colors[k], label=f"k = {k}")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set(xscale="log", xlabel="noise sigma (leftmost: sigma = 0)", ylabel="fraction recovered (L2 < threshold)",
           ylim=(-0.03, 1.03))
    ax.legend(fontsize=6, loc="lower left")


def _before_after(ax, rows: pd.DataFrame, colors: dict, optimizer: str) -> None:
    if rows.empty:
        ax.set_visible(False)
        return
    for (k, width), g in rows.groupby(["k", "width"]):
        ax.scatter(np.maximum(g.l2_before, FLOOR), np.maximum(g.l2_after, FLOOR), s=6, alpha=0.6, color=colors[k],
                   marker=MARKERS.get(int(width), "^"), label=f"k = {k}" if width == rows.width.min() else None)
    threshold = float(rows.recovery_l2.iloc[0])
    ax.axhline(threshold, color="k", ls="--", lw=0.8)
    ax.axvline(threshold, color="k", ls=":", lw=0.8)
    ax.plot([FLOOR, 1e2], [FLOOR, 1e2], color="gray", lw=0.6)
    ax.set(xscale="log", yscale="log", xlabel="L2 error at the noisy start", ylabel="L2 error after training",
           title=f"{optimizer}: before and after (o width 2, s wider)")
    ax.legend(fontsize=6, loc="upper left")


def _stars(ax, stars: pd.DataFrame, fits: pd.DataFrame, left: float) -> None:
    for i, ((optimizer, width), g) in enumerate(stars.groupby(["optimizer", "width"])):
        g = g.sort_values("k")
        color = f"C{i}"
        y = np.where(g.sigma_star > 0, g.sigma_star, left)
        ax.errorbar(g.k + 0.08 * (i - 1.5), y, yerr=[y - np.where(g.lo > 0, g.lo, left), np.where(g.hi > 0, g.hi, left) - y],
                    fmt=MARKERS.get(int(width), "^"), ms=4, color=color, capsize=2)
        fit = fits[(fits.optimizer == optimizer) & (fits.width == width)].iloc[0]
        label = f"{optimizer}, width {width}"
        if np.isfinite(fit.slope):
            ks = np.array([int(s) for s in fit.ks.split(",")])
            ax.plot(ks, 2.0 ** (fit.intercept_log2 + fit.slope * ks), "-", color=color, lw=1)
            label += f": slope {fit.slope:.2f} [{fit.lo:.2f}, {fit.hi:.2f}]"
        ax.plot([], [], MARKERS.get(int(width), "^") + "-", color=color, label=label)
    ks = np.array(sorted(stars.k.unique()), dtype=float)
    ax.plot(ks, 2.0 ** -ks, "k--", lw=0.8, label="2^-k (prediction: slope -1)")
    ax.set(yscale="log", xlabel="k (layers)", ylabel="sigma* (largest sigma, half recover)",
           title="sigma*(k), 95% bootstrap intervals")
    ax.legend(fontsize=6, loc="lower left")


def _pieces(ax, rec: pd.DataFrame, colors: dict, left: float) -> None:
    for k, g in rec.groupby("k"):
        g = g.groupby("sigma").median_pieces_after.median().sort_index()
        ax.plot(np.where(g.index > 0, g.index, left), g.to_numpy() / 2**k, "o-", ms=3, color=colors[k], label=f"k = {k}")
    ax.axhline(1.0, color="gray", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="noise sigma (leftmost: sigma = 0)",
           ylabel="median pieces after / 2^k", title="pieces of the trained functions")
    ax.legend(fontsize=6, loc="upper left")
