"""The barron figure: test MSE against width per family and method, slopes, and the fixed basis
against adaptive units."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from approx.plotting import figure, save

from .._shallow import DIVERGED_STYLE, OPTIMIZER_NAMES, optimizer_of
from .analysis import completed, main_budget, rates, unit_activation, unit_optimizer
from .config import RF_TARGET, RIDGE1



def _panels(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(method, optimizer, family) triples in the order drawn: per family the trained networks,
    one panel per optimizer in the order they ran, then the sampled ones."""
    triples = df.assign(optimizer=unit_optimizer(df))[["family", "method", "optimizer"]].drop_duplicates()
    order = {m: i for i, m in enumerate(("trained", "sampled"))}
    families = list(dict.fromkeys(df.family))
    optimizers = list(dict.fromkeys(triples.optimizer))
    return sorted(((m, o, f) for f, m, o in triples.itertuples(index=False)),
                  key=lambda p: (families.index(p[2]) if p[2] != "ball_nd" else 99, order[p[0]],
                                 optimizers.index(p[1])))


def _error_panel(ax, part: pd.DataFrame, colors: dict, method: str, family: str,
                 legend: bool) -> None:
    widths = sorted(part.width.unique())
    finite = np.isfinite(part.barron_constant.iloc[0])
    diverged = part.status == "diverged" if "status" in part else pd.Series(False, part.index)
    if diverged.any():  # frozen early: drawn apart, left out of the medians
        ax.scatter(part.width[diverged], part.test_mse[diverged], **DIVERGED_STYLE)
    part = part[~diverged]
    for d, by_d in part.groupby("d"):
        median = by_d.groupby("width").test_mse.median()
        ax.plot(median.index, median.values, "o-", color=colors[d], label=f"d = {d}", markersize=3)
        ax.scatter(by_d.width, by_d.test_mse, color=colors[d], s=5, alpha=0.4)
        if method == "sampled":
            bound = by_d.groupby("width").sampled_bound.first()
            ax.plot(bound.index, bound.values, "--", color=colors[d], linewidth=0.8)
    if len(part):
        w = np.array([part.width.min(), part.width.max()], dtype=float)
        anchor = part[part.width == w[0]].test_mse.median()
        ax.plot(w, anchor * w[0] / w, color="grey", linewidth=1.2, linestyle=":", label="slope -1")
    trained_by = OPTIMIZER_NAMES[optimizer_of(part.iloc[0])] if len(part) else "Adam"
    what = {"trained": f"trained ({trained_by})", "sampled": "sampled as in Barron's proof"}[method]
    note = ("\n(dashed: E err^2 <= ~V^2/n, V <= 2C)" if method == "sampled"
            else "" if finite else "\n(Barron constant infinite)")
    ax.set(xscale="log", yscale="log", xlabel="hidden units n", ylabel="test MSE (squared L2 error)",
           title=f"{family}, {what}{note}")
    ax.set_xticks(widths, [f"{w:g}" for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    if legend and ax.get_legend_handles_labels()[0]:  # the colours mean the same d in every
        # panel: say so once, where there is room (nothing to say if every run here diverged)
        ax.legend(fontsize=7, loc="upper right", ncol=2, framealpha=0.8)


def _fixed_basis_panel(ax, fixed: pd.DataFrame, colors: dict) -> None:
    """Median test MSE / Var f against width on the single ridge: trained sigmoid networks (solid)
    and random features (dashed, dotted per activation), one colour per d."""
    styles = {}
    for (method, activation), part in fixed.groupby(["method", "activation"], sort=False):
        line = "-" if method == "trained" else ("--", ":", "-.")[len(styles) % 3]
        styles[(method, activation)] = line
        for d, by_d in part.groupby("d"):
            rel = (by_d.test_mse / by_d.target_var).groupby(by_d.width).median()
            ax.plot(rel.index, rel.values, line, color=colors[d], marker=".", markersize=3)
    for (method, activation), line in styles.items():
        ax.plot([], [], line, color="grey", label=f"{method.replace('_', ' ')} ({activation})")
    ax.axhline(RF_TARGET, color="grey", linewidth=0.6)
    widths = sorted(fixed.width.unique())
    ax.set(xscale="log", yscale="log", xlabel="units N", ylabel="test MSE / Var f",
           title="one ridge cos(2 pi w.x): fixed basis\nvs trained (colour: d as left)")
    ax.set_xticks(widths, [f"{w:g}" for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)


def plot(df: pd.DataFrame, path: Path) -> None:
    fixed = df[df.family == RIDGE1]
    fixed = main_budget(completed(fixed)).assign(activation=unit_activation(fixed))
    main = main_budget(df[df.family != RIDGE1])
    panels = _panels(main)
    colors = {d: f"C{i}" for i, d in enumerate(sorted(df.d.unique()))}
    fig, axes = figure(1, len(panels) + 1 + bool(len(fixed)), width=3.7, height=3.4)
    for k, (ax, (method, optimizer, family)) in enumerate(zip(axes[0], panels)):
        part = main[(main.method == method) & (unit_optimizer(main) == optimizer) & (main.family == family)]
        _error_panel(ax, part, colors, method, family, legend=k == 0)
    if len(fixed):
        _fixed_basis_panel(axes[0][len(panels)], fixed, colors)
    ax = axes[0][-1]
    table = rates(df)
    markers = {"ridge_nd": "o", "gaussian_nd": "s", "ball_nd": "^", RIDGE1: "D"}
    groups = table.groupby(["method", "optimizer", "activation", "family"], sort=False)
    for k, ((method, optimizer, activation, family), part) in enumerate(groups):
        shift = (k - (groups.ngroups - 1) / 2) * 0.03
        what = (f"{method}, {activation}" if method == "random_features"
                else f"{method} ({OPTIMIZER_NAMES[optimizer]})" if optimizer else method)
        line = "--" if method != "trained" else "-" if optimizer == "adam" else "-."
        ax.errorbar(part.d * (1 + shift), part.slope, yerr=[part.slope - part.lo, part.hi - part.slope],
                    fmt=markers.get(family, "o") + line, capsize=2, label=f"{family}, {what}", markersize=4)
    dims = np.array(sorted(df.d.unique()), dtype=float)
    ax.axhline(-1, color="grey", linestyle=":", label="Barron: -1 for every d")
    grid_d = np.geomspace(dims.min(), dims.max(), 50)
    ax.plot(grid_d, -2 / grid_d, color="grey", linestyle="--", linewidth=0.8,
            label="fixed basis: -2/d (Thm 6)")
    ax.set(xscale="log", xlabel="input dimension d", ylabel="fitted slope of test MSE vs n",
           title="rates with 95% CI (clipped at -4)")
    ax.set_ylim(max(ax.get_ylim()[0], -4.0), max(ax.get_ylim()[1], 0.2))  # 1-D random features: ~-10
    ax.xaxis.set_major_formatter("{x:g}")
    n_diverged = int((df.status == "diverged").sum()) if "status" in df else 0
    if n_diverged:
        ax.scatter([], [], label=f"diverged ({n_diverged} runs; not in medians or slopes)",
                   **DIVERGED_STYLE)
    ax.legend(fontsize=7)
    save(fig, path)
