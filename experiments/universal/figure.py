"""The figure of experiments/universal, from its DataFrame alone.

``plot`` fits the rates (analysis.rates) and hands both to ``draw``, which reads nothing else.
Diverged trained runs are drawn as red crosses at their (frozen) error and left out of the medians.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from approx.plotting import figure, save

from .._shallow import DIVERGED_STYLE, OPTIMIZER_NAMES, optimizer_of
from .analysis import rates
from .config import FIT_MIN_WIDTH, INTERP, RAMP

__all__ = ["plot", "draw"]

STYLE = {RAMP: ("C2", "-"), INTERP: ("C3", "-"),
         "trained sigmoid": ("C0", ":"), "trained tanh": ("C4", ":"), "trained relu": ("C3", ":")}


def _style(method: str, index: int) -> dict:
    if method.startswith("sigmoid s="):
        shades = ["#9ecae1", "#4292c6", "#08306b"]
        return {"color": shades[index % 3], "linestyle": "-", "marker": "."}
    color, line = STYLE.get(method, ("k", "--"))
    return {"color": color, "linestyle": line, "marker": "o" if line == ":" else "."}


def _error_panel(ax, part: pd.DataFrame, methods: list[str], sigmoid_rules: list[str],
                 fit_min_width: int) -> None:
    diverged = part.status == "diverged" if "status" in part else pd.Series(False, part.index)
    if diverged.any():
        ax.scatter(part.width[diverged], part.err_sup[diverged], **DIVERGED_STYLE)
    for method in methods:
        medians = part[(part.method == method) & ~diverged].groupby("width").err_sup.median()
        if len(medians):
            index = sigmoid_rules.index(method) if method in sigmoid_rules else 0
            ax.plot(medians.index, medians.values, label=method, markersize=3, **_style(method, index))
    anchor = part[(part.width == fit_min_width) & ~diverged].err_sup.median()
    if part.kind.iloc[0] != "discontinuous" and anchor > 0:
        w = np.array([fit_min_width, part.width.max()], dtype=float)
        for slope, label in ((-1, "1/n"), (-2, "1/n^2")):
            ax.plot(w, anchor * (w / w[0]) ** slope, color="grey", linewidth=0.8, linestyle="--")
            ax.annotate(label, (w[1], anchor * (w[1] / w[0]) ** slope), fontsize=7, color="grey")
    ax.set(xscale="log", yscale="log", xlabel="hidden units n", ylabel="sup error",
           title=f"{part.target.iloc[0]} ({part.kind.iloc[0]})")
    ax.xaxis.set_major_formatter("{x:g}")


def _slope_panel(ax, table: pd.DataFrame, methods: list[str], sigmoid_rules: list[str],
                 fit_min_width: int) -> None:
    names = list(dict.fromkeys(table.target))
    offsets = np.linspace(-0.35, 0.35, len(methods))
    for k, method in enumerate(methods):
        part = table[table.method == method].set_index("target").reindex(names)
        style = _style(method, sigmoid_rules.index(method) if method in sigmoid_rules else 0)
        ax.errorbar(np.arange(len(names)) + offsets[k], part.slope,
                    yerr=[part.slope - part.lo, part.hi - part.slope], fmt="o", markersize=3,
                    color=style["color"], capsize=1.5, linewidth=0.8)
    for level in (-1, -2):
        ax.axhline(level, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(names)), names, rotation=45, fontsize=7)
    ax.set(ylabel="fitted sup-error slope", ylim=(-2.6, 0.6),
           title=f"rates, n >= {fit_min_width} (95% CI)")


def draw(df: pd.DataFrame, table: pd.DataFrame, path: Path, fit_min_width: int) -> None:
    errs = df[df.table == "error"]
    names = list(dict.fromkeys(errs.target))
    curves = df[df.table == "curve"]
    if "status" in curves:
        curves = curves[curves.status != "diverged"]
    curve_widths = sorted(w for w in curves.width.unique() if w > 0)[:2]
    n_cols = 4
    n_grid = math.ceil(len(names) / n_cols)
    fig, axes = figure(n_grid + 1, n_cols, width=3.6, height=3.0)
    methods = list(dict.fromkeys(errs.method))
    sigmoid_rules = [m for m in methods if m.startswith("sigmoid s=")]
    for i, name in enumerate(names):
        _error_panel(axes[i // n_cols][i % n_cols], errs[errs.target == name], methods, sigmoid_rules,
                     fit_min_width)
    for j in range(len(names), n_grid * n_cols):
        axes[j // n_cols][j % n_cols].axis("off")
    bottom = axes[-1]
    target = curves[curves.method == "target"]
    for k, width in enumerate(curve_widths):
        ax = bottom[k]
        ax.plot(target.x, target.y, color="k", linewidth=3, alpha=0.25)
        for method in methods:
            c = curves[(curves.method == method) & (curves.width == width)]
            if len(c) and method not in sigmoid_rules[:-1]:  # only the steepest sigmoid rule
                style = _style(method, len(sigmoid_rules) - 1)
                ax.plot(c.x, c.y, color=style["color"], linestyle=style["linestyle"], linewidth=1.0)
        ax.set(title=f"{target.target.iloc[0]} and its approximants, n = {width}", xlabel="x",
               ylabel="f(x), g(x)")
    _slope_panel(bottom[2], table, methods, sigmoid_rules, fit_min_width)
    bottom[3].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(bottom[0].plot([], [], color="k", linewidth=3, alpha=0.25)[0] if curve_widths
                   else axes[0][0].plot([], [])[0])
    labels.append("target (bottom panels)")
    if "status" in errs and (errs.status == "diverged").any():
        handles.append(bottom[3].scatter([], [], **DIVERGED_STYLE))
        labels.append(f"diverged ({int((errs.status == 'diverged').sum())} runs; not in the medians)")
    bottom[3].legend(handles, labels, loc="upper center", fontsize=8, frameon=False)
    trained = errs[errs.method.str.startswith("trained")]
    if len(trained) and "batch_size" in trained:
        first = trained.iloc[0]
        optimizer = optimizer_of(first)
        how = (f"Adam, {first.steps:.0f} steps, batches of {first.batch_size:.0f}" if optimizer == "adam"
               else f"{OPTIMIZER_NAMES[optimizer]}, {first.steps:.0f} iterations, full batch")
        bottom[3].text(0.5, 0.02, f"trained: {how}\nfrom {first.n_train:.0f} grid points; median of "
                       f"{trained.seed.nunique()} seeds", transform=bottom[3].transAxes,
                       ha="center", va="bottom", fontsize=7, color="0.3")
    save(fig, path)


def plot(df: pd.DataFrame, path: Path) -> None:
    """Error vs width per target (log-log, reference slopes), approximants, fitted rates."""
    draw(df, rates(df), path, FIT_MIN_WIDTH)
