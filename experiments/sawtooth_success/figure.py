"""The figure of experiments/sawtooth_success, drawn from its DataFrame alone (the text is in text.py):
P(success) against k with Wilson bars, one panel per optimizer and a line per architecture; the
realised pieces against the neurons, at initialisation and after training, with t^k's 2^k; and
the fraction of networks that are affine on [0, 1] (one piece) against the depth."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from approx.plotting import figure, save

from .analysis import SUCCESS_L2, success_table
from .config import OPTIMIZERS

__all__ = ["plot"]

FACTOR_STYLE = {1: "-", 2: "--"}  # depth k: solid; depth 2k: dashed


def plot(df: pd.DataFrame, path: Path) -> None:
    optimizers = [o for o in OPTIMIZERS if o in set(df.optimizer)]
    fig, axes = figure(1, len(optimizers) + 2, width=4.2, height=3.6)
    table = success_table(df)
    widths = sorted(df.width.unique())
    for ax, optimizer in zip(axes[0], optimizers):
        _success(ax, table[table.optimizer == optimizer], widths, optimizer)
    _pieces(axes[0, len(optimizers)], df, widths)
    _affine(axes[0, len(optimizers) + 1], df, widths)
    save(fig, path)


def _success(ax, table: pd.DataFrame, widths: list[int], optimizer: str) -> None:
    for (width, factor), g in table.groupby(["width", "depth_factor"]):
        g = g.sort_values("k")
        shift = 0.04 * (widths.index(width) - (len(widths) - 1) / 2) + 0.02 * (factor - 1)  # bars apart
        ax.errorbar(g.k + shift, g.p_success, yerr=[g.p_success - g.p_lo, g.p_hi - g.p_success],
                    ls=FACTOR_STYLE.get(int(factor), ":"), marker="o", ms=3, capsize=2,
                    color=f"C{widths.index(width) % 10}", label=f"width {width}, depth {_depth(factor)}")
    n = int(table.n_runs.min()) if len(table) else 0
    ax.set(xlabel="k (t^k has 2^k pieces)", ylabel=f"P(L2 error < {SUCCESS_L2:g}), 95% Wilson",
           ylim=(-0.02, 1.02), xticks=np.unique(table.k.to_numpy()), title=f"{optimizer}: P(success), {n} seeds per cell")
    ax.legend(fontsize=7, loc="upper right")


def _depth(factor) -> str:
    return "k" if int(factor) == 1 else f"{int(factor)}k"


def _pieces(ax, df: pd.DataFrame, widths: list[int]) -> None:
    cells = df.groupby(["width", "depth", "k"]).agg(neurons=("neurons", "first"), init=("pieces_init", "median"),
                                                    after=("pieces_after", "median"),
                                                    target=("pieces_target", "first")).reset_index()
    for width in widths:
        g = cells[cells.width == width]
        color = f"C{widths.index(width) % 10}"
        ax.scatter(g.neurons, g.init, marker="o", facecolors="none", edgecolors=color, s=14,
                   label=f"width {width}: at init")
        ax.scatter(g.neurons, g.after, marker="o", color=color, s=10, label=f"width {width}: trained")
    ax.scatter(cells.neurons, cells.target, marker="x", color="gray", s=14, label="t^k's 2^k pieces")
    top = float(max(cells.neurons.max(), cells.target.max()))
    ax.plot([1, top], [1, top], color="k", lw=0.8, label="pieces = neurons")
    ax.set(xscale="log", yscale="log", xlabel="neurons (width x depth)", ylabel="pieces on [0, 1] (median per cell)",
           title="pieces realised (Hanin & Rolnick: ~ neurons)")
    ax.legend(fontsize=6, loc="upper left")


def _affine(ax, df: pd.DataFrame, widths: list[int]) -> None:
    for width in widths:
        g = df[df.width == width]
        color = f"C{widths.index(width) % 10}"
        init = (g.pieces_init == 1).groupby(g.depth).mean()
        after = (g.pieces_after == 1).groupby(g.depth).mean()
        ax.plot(init.index, init.values, "o--", mfc="none", color=color, ms=4, label=f"width {width}: at init")
        ax.plot(after.index, after.values, "o-", color=color, ms=3, label=f"width {width}: trained")
    ax.set(xlabel="hidden layers L", ylabel="fraction affine on [0, 1]", ylim=(-0.02, 1.02),
           xticks=np.unique(df.depth.to_numpy()), title="one piece: dead or collapsed networks")
    ax.legend(fontsize=7, loc="upper left")
