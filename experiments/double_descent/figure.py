"""The figure of experiments/double_descent, drawn from its DataFrame alone (the text is in text.py).

Trained runs that fit recorded as diverged (frozen at their last fine parameters, so their errors
describe no training) are drawn as red crosses, left out of the medians, and counted in the text.
A fourth panel, where the DataFrame has a label-corruption sweep, draws it (part (d)).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from approx.plotting import figure, save

from .analysis import completed, complexity_spearman, corruption_summary, curve_peak

__all__ = ["plot"]

RIDGE_COLOR = ("C3", "C0", "C2", "C4")
INIT_COLOR = {"standard": "C0", "small": "C1"}


def _mark_diverged(ax, rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Red crosses at the diverged runs' values of ``column``; the other rows, for the medians."""
    diverged = rows[rows.status == "diverged"] if "status" in rows else rows.iloc[0:0]
    if len(diverged):
        ax.scatter(diverged.p_over_n, diverged[column], marker="x", color="red", s=18, zorder=5,
                   label=f"diverged ({len(diverged)} runs; not in the medians)")
    return completed(rows)


def plot(df: pd.DataFrame, path: Path) -> None:
    corruption = df[df.part == "corruption"] if "corruption" in df else df.iloc[0:0]
    fig, axes = figure(1, 4 if len(corruption) else 3, width=4.2, height=3.4)
    _random_features(axes[0, 0], df[df.part == "random_features"])
    _trained(axes[0, 1], _mark_diverged(axes[0, 1], df[df.part == "trained"], "test_error"))
    _random_labels(axes[0, 2], _mark_diverged(axes[0, 2], df[df.part == "random_labels"], "test_misclassified"),
                   df[df.part == "memorizer"])
    if len(corruption):
        _corruption(axes[0, 3], corruption)
    save(fig, path)


def _band(ax, x: pd.Series, y: pd.Series, color: str, label: str, style: str = "-o") -> pd.Series:
    g = y.groupby(x)
    med = g.median()
    ax.plot(med.index, med, style, color=color, ms=3, label=label)
    ax.fill_between(med.index, g.quantile(0.25), g.quantile(0.75), color=color, alpha=0.15)
    return med


def _random_features(ax, rf: pd.DataFrame) -> None:
    n = int(rf.n.iloc[0])
    for i, (ridge, g) in enumerate(rf.groupby("ridge")):
        label = "min-norm (no ridge)" if ridge == 0 else f"ridge {ridge:g}"
        _band(ax, g.n_over, g.test_error, RIDGE_COLOR[i % 4], f"test, {label}")
        if ridge == 0:
            train = g.groupby("n_over").train_error.median().clip(lower=1e-12)
            ax.plot(train.index, train, ":", color=RIDGE_COLOR[i % 4], lw=1, label="train, min-norm")
            n_peak, err = curve_peak(g)
            ax.plot([n_peak / n], [err], "v", color="k", ms=7)
            ax.annotate(f"peak at N = {int(n_peak)}", (n_peak / n, err), textcoords="offset points",
                        xytext=(8, 4), fontsize=8)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="features / data points  N/n",
           ylabel="test mean squared error (median, IQR)", title=f"(a) random ReLU features, n = {n}")
    ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-4))
    ax.legend(fontsize=7)


def _trained(ax, t: pd.DataFrame) -> None:
    for init, g in t.groupby("init", sort=False):
        med = _band(ax, g.p_over_n, g.test_error, INIT_COLOR[init], f"test, {init} init")
        ax.plot(med.index, g.groupby("p_over_n").train_error.median(), ":", color=INIT_COLOR[init], lw=1,
                label=f"train, {init} init")
        top = med.idxmax()
        ax.plot([top], [med.max()], "v", color=INIT_COLOR[init], ms=7, mec="k")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="parameters / data points  p/n",
           ylabel="mean squared error (median, IQR)", title="(b) one hidden layer, trained by GD")
    ax.legend(fontsize=7)


def _random_labels(ax, r: pd.DataFrame, mem: pd.DataFrame) -> None:
    _band(ax, r.p_over_n, r.train_misclassified, "C3", "train error, random labels")
    _band(ax, r.p_over_n, r.test_misclassified, "C0", "test error, random labels")
    if len(mem):
        ax.plot(mem.p_over_n, mem.train_misclassified, "*", color="C3", ms=11, mec="k",
                label="Zhang et al. construction: train")
        ax.plot(mem.p_over_n, mem.test_misclassified, "*", color="C0", ms=11, mec="k",
                label="Zhang et al. construction: test")
    ax.axhline(0.5, color="gray", ls="--", lw=1, label="chance")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set(xscale="log", xlabel="parameters / data points  p/n", ylabel="misclassified fraction",
           title="(c) random labels: memorized (test at chance: a check)", ylim=(-0.03, 0.6))
    ax.legend(fontsize=7)


def _corruption(ax, rows: pd.DataFrame) -> None:
    """Clean test error against the corrupted fraction (left axis), Arora et al.'s complexity (right
    axis), and the median steps to fit written at each point."""
    table = corruption_summary(rows)
    ax.plot(table.corruption, table.test_error, "-o", color="C0", ms=4, label="test error on clean labels")
    ax.fill_between(table.corruption, table.test_q25, table.test_q75, color="C0", alpha=0.15)
    for r in table.itertuples():
        ax.annotate("n/a" if pd.isna(r.steps_to_fit) else f"{r.steps_to_fit:.0f} steps", (r.corruption, r.test_error),
                    textcoords="offset points", xytext=(-12, 7), fontsize=6, color="C2")
    ax.axhline(0.5, color="gray", ls="--", lw=1, label="chance")
    ax.set(xlabel="fraction of labels made coin flips  p", ylabel="misclassified fraction (median, IQR)",
           ylim=(-0.03, 0.6), title=f"(d) label corruption, n = {int(rows.n.iloc[0])}, m = {int(rows.width.iloc[0])}")
    twin = ax.twinx()
    twin.plot(table.corruption, table.complexity, "s--", color="C3", ms=4,
              label=f"sqrt(2 y'H^-1 y / n) (Spearman with test: {complexity_spearman(table):.2f})")
    twin.set_ylabel("Arora et al. complexity", color="C3")
    lines = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], fontsize=7, loc="upper left")
