"""The figure of experiments/yarotsky, drawn from its DataFrame alone (the text is in text.py):
parameters against 1/eps per depth for x^2 and for xy, with the lower bound at each depth, and
every network's sup error as a fraction of its eps."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from approx.plotting import figure, save

from .analysis import depth_rates, shallow_rate

__all__ = ["plot"]

DEEP_COLOR = "k"


def plot(df: pd.DataFrame, path: Path) -> None:
    fig, axes = figure(1, 3, width=4.4, height=3.6)
    for ax, target, title in ((axes[0, 0], "square", "x^2 on [0, 1]"), (axes[0, 1], "xy", "xy on [0, 1]^2")):
        _params(ax, df[df.target == target], target, title)
    _errors(axes[0, 2], df)
    save(fig, path)


def _params(ax, rows: pd.DataFrame, target: str, title: str) -> None:
    if rows.empty:
        ax.set_visible(False)
        return
    rates = depth_rates(rows, target).set_index("depth") if rows.eps_exponent.nunique() >= 2 else pd.DataFrame()
    fixed = rows[rows.construction != "yarotsky"]
    for i, (depth, g) in enumerate(fixed.groupby("depth")):
        g = g.sort_values("eps_target", ascending=False)
        color = f"C{i % 10}"
        label = f"L = {depth}" + (f": slope {rates.slope[depth]:.2f}" if depth in rates.index else "")
        ax.plot(1 / g.eps_target, g.params, "o-", color=color, ms=3, label=label)
        ax.plot(1 / g.eps_target, g.params_lower_bound, "--", color=color, lw=0.9)
    deep = rows[rows.construction == "yarotsky"].sort_values("eps_target", ascending=False)
    ax.plot(1 / deep.eps_target, deep.params, "s-", color=DEEP_COLOR, ms=3, label="Yarotsky, L = log2 N")
    if target == "square" and rows.eps_exponent.nunique() >= 2:
        rate = shallow_rate(rows, target)
        ax.text(0.03, 0.97, f"one hidden layer: slope {rate.slope:.3f} [{rate.lo:.3f}, {rate.hi:.3f}] (theory 1/2)", transform=ax.transAxes, va="top",
                fontsize=7)
    ax.plot([], [], "--", color="gray", lw=0.9, label="lower bound at that depth")
    ax.set(xscale="log", yscale="log", xlabel="1 / eps", ylabel="parameters (weights + biases)",
           title=f"{title}: parameters for sup error eps")
    ax.legend(fontsize=7, loc="lower right")


def _errors(ax, df: pd.DataFrame) -> None:
    for target, marker, kind in (("square", "o", "exact"), ("xy", "^", "on a grid")):
        rows = df[df.target == target]
        if rows.empty:
            continue
        ax.scatter(1 / rows.eps_target, rows.sup_error / rows.eps_target, marker=marker, s=12,
                   facecolors="none" if target == "xy" else "C0", edgecolors="C0" if target == "square" else "C3",
                   label=f"{'x^2' if target == 'square' else 'xy'}: sup error / eps ({kind})")
        bound = rows.groupby("eps_target").error_bound.max()
        ax.plot(1 / bound.index, bound / bound.index, "-" if target == "square" else ":", color="gray", lw=0.8,
                label=f"{'x^2' if target == 'square' else 'xy'}: largest proven bound / eps")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(xscale="log", xlabel="1 / eps", ylabel="error / eps", ylim=(0, 1.1),
           title="every network meets its eps (a check)")
    ax.legend(fontsize=7, loc="lower left")
