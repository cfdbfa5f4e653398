"""The figure of experiments/training_gap, from its DataFrame alone.

Rows of panels: per activation, the median sup error against the width per target, one line per
optimizer setting (at its largest budget) with the ReLU interpolant and ramp staircase of the same
width; then the error against the budget at the budget widths (fitted alpha in the legend) per
setting, and the wall time per step and network against the width; then, per activation, the
median trained / interpolant sup error against the width per (setting, init), and the cost of one
LM iteration per member in the primal and the dual form of its damped solve; last, the trained
approximants (first seed) beside the target and the interpolant at two widths, per activation as
room allows. The panels above the init row draw the first init (solid) and the other inits of
the settings that ran them (dashed). Diverged runs are red crosses, left out of the medians.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from approx.plotting import figure, save

from .._shallow import DIVERGED_STYLE
from .analysis import (
    budget_exponents, completed, final, init_ratios, inits, labels, medians, of_init, reference_errors, trained,
)
from .config import INTERP, SETTINGS, STAIRCASE

__all__ = ["plot"]

COLORS = dict(zip(SETTINGS, ("C0", "C1", "C2", "C3")))
REFERENCE_STYLE = {INTERP: {"color": "k", "linestyle": "--"}, STAIRCASE: {"color": "0.55", "linestyle": ":"}}


INIT_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)))  # the first init solid, then the others
FORM_STYLES = {"primal": {"color": "C3", "linestyle": "--"}, "dual": {"color": "C3", "linestyle": "-"}}


def plot(df: pd.DataFrame, path: Path) -> None:
    every_init, order = df, inits(df)
    df = of_init(df, order[0])
    rows = trained(df)
    names = list(dict.fromkeys(df[df.table == "reference"].target))
    activations = list(dict.fromkeys(rows.activation))
    settings = [s for s in SETTINGS if s in set(rows.setting)]
    label = labels(df)
    n_cols = max(len(names), len(settings) + 1, 2 * min(len(activations), 2) + 1)
    fig, axes = figure(len(activations) + 3, n_cols, width=3.3, height=2.8)
    for i, activation in enumerate(activations):
        for j, name in enumerate(names):
            _width_panel(axes[i][j], df, name, activation, settings, label)
            for k, init in enumerate(order[1:], start=1):
                _width_panel(axes[i][j], of_init(every_init, init), name, activation, settings, label,
                             init=(init, INIT_STYLES[k % len(INIT_STYLES)]))
        for j in range(len(names), n_cols):
            axes[i][j].axis("off")
    init_row = axes[len(activations) + 1]
    for j, activation in enumerate(activations[:n_cols - 1]):
        _init_panel(init_row[j], every_init, activation, order, label)
    _solve_panel(init_row[min(len(activations), n_cols - 1)], every_init)
    for j in range(min(len(activations), n_cols - 1) + 1, n_cols):
        init_row[j].axis("off")
    focus = "tanh" if "tanh" in activations else activations[0]
    budget_row = axes[len(activations)]
    for j, setting in enumerate(settings):
        _budget_panel(budget_row[j], df, focus, setting, label[setting])
    _cost_panel(budget_row[len(settings)], df, focus, settings, label)
    for j in range(len(settings) + 1, n_cols):
        budget_row[j].axis("off")
    bottom = axes[-1]
    curves = df[df.table == "curve"]
    widths = sorted(w for w in curves.width.unique() if w > 0)[:2]
    drawn = [(a, w) for a in activations for w in widths][:n_cols - 1]  # the last panel holds the legend
    for k, (activation, width) in enumerate(drawn):
        _curve_panel(bottom[k], curves, width, activation, settings, label)
    for j in range(len(drawn), n_cols):
        bottom[j].axis("off")
    handles, texts = axes[0][0].get_legend_handles_labels()
    if (rows.status == "diverged").any():
        handles.append(bottom[-1].scatter([], [], **DIVERGED_STYLE))
        texts.append(f"diverged ({int((rows.status == 'diverged').sum())} runs; not in the medians)")
    bottom[-1].legend(handles, texts, loc="center", fontsize=8, frameon=False)
    first = rows.iloc[0]
    bottom[-1].set_title(f"medians of {rows.seed.nunique()} seeds; {first.n_train:.0f} training points",
                         fontsize=8)
    save(fig, path)


def _width_panel(ax, df: pd.DataFrame, name: str, activation: str, settings: list[str], label: dict,
                 init: tuple | None = None) -> None:
    """The medians of ``df``'s rows (one init) with their spread and the references; with ``init``
    (name, linestyle): only that init's median lines, over the first init's panel."""
    rows = final(df)
    rows = rows[(rows.target == name) & (rows.activation == activation)]
    diverged = rows[rows.status == "diverged"]
    if len(diverged):
        ax.scatter(diverged.width, diverged.sup_error, **DIVERGED_STYLE)
    med = medians(df, rows=rows)
    for setting in settings:
        part = med.xs(setting, level="setting") if setting in med.index.get_level_values("setting") else None
        if part is not None and len(part):
            widths = part.index.get_level_values("width")
            if init is not None:
                ax.plot(widths, part.values, "o", color=COLORS[setting], markersize=2, linestyle=init[1],
                        linewidth=1.0, label=f"{label[setting]}, {init[0]} init")
                continue
            ax.plot(widths, part.values, "o-", color=COLORS[setting], markersize=3, label=label[setting])
            spread = completed(rows[rows.setting == setting]).groupby("width").sup_error
            ax.fill_between(spread.min().index, spread.min().values, spread.max().values, color=COLORS[setting],
                            alpha=0.12, linewidth=0)
    if init is not None:
        return
    for method, style in REFERENCE_STYLE.items():
        ref = reference_errors(df, method)
        if name in ref.index.get_level_values("target"):
            ref = ref.xs(name, level="target")
            ax.plot(ref.index, ref.values, linewidth=1.2, label=method, **style)
    kind = df[df.target == name].kind.iloc[0]
    ax.set(xscale="log", yscale="log", xlabel="hidden units n", ylabel="sup error",
           title=f"{name} ({kind}), {activation}")
    _width_ticks(ax, sorted(set(rows.width)))


def _budget_panel(ax, df: pd.DataFrame, activation: str, setting: str, title: str) -> None:
    rows = completed(trained(df))
    rows = rows[(rows.activation == activation) & (rows.setting == setting)]
    alphas = budget_exponents(df)
    name = df[df.table == "curve"].target.dropna().iloc[0] if (df.table == "curve").any() else rows.target.iloc[0]
    for k, width in enumerate(_budget_widths(rows, name)):
        part = rows[(rows.width == width) & (rows.target == name)].groupby("steps").sup_error.median()
        fit = alphas[(alphas.target == name) & (alphas.activation == activation) & (alphas.setting == setting)
                     & (alphas.width == width)]
        alpha = f", alpha {fit.alpha.iloc[0]:.2f}" if len(fit) else ""
        ax.plot(part.index, part.values, "o-", color=f"C{k + 4}", markersize=3, label=f"n = {width}{alpha}")
    ax.set(xscale="log", yscale="log", xlabel="budget (steps or iterations)", ylabel="median sup error",
           title=f"{title}: {name}, {activation}")
    _width_ticks(ax, sorted(set(rows.steps)))  # the budgets
    ax.legend(fontsize=7)


def _budget_widths(rows: pd.DataFrame, name: str) -> list[int]:
    """The widths to draw against the budget: the budget_widths recorded in the rows' column if any,
    else the smallest and largest width trained on ``name``."""
    part = rows[rows.target == name]
    if "budget_width" in part and part.budget_width.any():
        return sorted(part[part.budget_width].width.unique())
    widths = sorted(part.width.unique())
    return widths[:1] + widths[-1:] if len(widths) > 1 else widths


def _cost_panel(ax, df: pd.DataFrame, activation: str, settings: list[str], label: dict) -> None:
    """Wall seconds per step (or iteration) and network, at the largest budget, against the width."""
    rows = final(df)
    rows = rows[rows.activation == activation]
    for setting in settings:
        part = rows[rows.setting == setting].groupby("width").first()
        if len(part):
            ax.plot(part.index, part.wall_s / part.steps / part.n_members, "o-", color=COLORS[setting], markersize=3,
                    label=label[setting])
    ax.set(xscale="log", yscale="log", xlabel="hidden units n", ylabel="seconds per step and network",
           title=f"cost ({activation}; ensembles of {int(rows.n_members.max())})")
    _width_ticks(ax, sorted(set(rows.width)))


def _init_panel(ax, df: pd.DataFrame, activation: str, order: list[str], label: dict) -> None:
    """Median over targets of (median over seeds of trained / interpolant sup error) against the
    width, per setting (colour) and init (line style), at each setting's largest budget."""
    ratios = init_ratios(df)
    ratios = ratios[ratios.activation == activation].drop_duplicates(["setting", "init", "width"])
    for (setting, init), part in ratios.groupby(["setting", "init"], sort=False):
        style = INIT_STYLES[order.index(init) % len(INIT_STYLES)]
        ax.plot(part.width, part.ratio_over_targets, "o", color=COLORS[setting], linestyle=style, markersize=3,
                linewidth=1.0, label=f"{setting}, {init}")
    ax.axhline(1.0, color="k", linestyle="--", linewidth=0.8)
    ax.axhline(2.0, color="0.55", linestyle=":", linewidth=0.8)
    ax.set(xscale="log", yscale="log", xlabel="hidden units n", ylabel="trained / interpolant sup error",
           title=f"{activation}: by init (median over targets)")
    _width_ticks(ax, sorted(set(ratios.width)))
    ax.legend(fontsize=6)


def _solve_panel(ax, df: pd.DataFrame) -> None:
    """Seconds per LM iteration and member (Jacobian + factorisation + one damped solve) against
    the width, in the primal and the dual form; the solve alone thin; the form LM takes marked."""
    cost = df[df.table == "solve_cost"] if "table" in df else df.iloc[:0]
    if not len(cost):
        ax.axis("off")
        return
    cost = cost[cost.n_train == cost.n_train.iloc[0]]  # the study's own m (the other batches: the text)
    for form, part in cost.groupby("form", sort=False):
        part = part.sort_values("width")
        ax.plot(part.width, part.iteration_s, "o", markersize=3, label=f"{form}: iteration", **FORM_STYLES[form])
        ax.plot(part.width, part.solve_s, linewidth=0.8, alpha=0.6, label=f"{form}: solve",
                **{**FORM_STYLES[form], "color": "C5"})
        chosen = part[part.chosen.astype(bool)]
        ax.scatter(chosen.width, chosen.iteration_s, s=40, facecolors="none", edgecolors="k", zorder=5)
    first = cost.iloc[0]
    ax.set(xscale="log", yscale="log", xlabel="hidden units n", ylabel="seconds per iteration and member",
           title=f"LM iteration, m = {first.n_train:.0f} (circled: taken)")
    _width_ticks(ax, sorted(set(cost.width)))
    ax.legend(fontsize=6)


def _width_ticks(ax, values: list[int]) -> None:
    """Ticks at these widths (or budgets), labelled as integers (no minor labels on the log axis)."""
    if values:
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.xaxis.set_minor_formatter(NullFormatter())


def _curve_panel(ax, curves: pd.DataFrame, width: int, activation: str, settings: list[str], label: dict) -> None:
    target = curves[curves.method == "target"]
    ax.plot(target.x, target.y, color="k", linewidth=3, alpha=0.25)
    ref = curves[(curves.method == INTERP) & (curves.width == width)]
    ax.plot(ref.x, ref.y, **REFERENCE_STYLE[INTERP], linewidth=1.0)
    mine = curves[(curves.method == "trained") & (curves.width == width) & (curves.activation == activation)]
    for setting in settings:
        c = mine[mine.setting == setting]
        if len(c) and (c.status != "diverged").all():
            ax.plot(c.x, c.y, color=COLORS[setting], linewidth=1.0, label=label[setting])
    ax.set(xlabel="x", ylabel="f(x), g(x)", title=f"{target.target.iloc[0]} (grey), trained {activation}, n = {width}")
    ax.set_ylim(np.nanmin(target.y) - 0.3, np.nanmax(target.y) + 0.3)
