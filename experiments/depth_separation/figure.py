"""The figure of experiments/depth_separation, from its DataFrame alone (the text is in
text.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from approx.plotting import figure, save

from .analysis import CONSTANT_FIT, best, diverged_runs

__all__ = ["plot"]


def _errorbar(ax, rows: pd.DataFrame, **style) -> None:
    """Medians at n_params with min-max bars (rows from ``_best``)."""
    spread = [rows["median"] - rows["min"], rows["max"] - rows["median"]]
    ax.errorbar(rows["n_params"], rows["median"], yerr=spread, capsize=2, **style)


def plot(df: pd.DataFrame, path: Path) -> None:
    """Six panels, titled by part: constructed (parameters), sawtooth (errors; pieces), alternating
    (classification), radial (error against size; against steps)."""
    fig, axes = figure(2, 3, width=4.2, height=3.3)
    _plot_constructed(axes[0, 0], df[df["part"] == "constructed"])
    if (df["part"] == "sawtooth").any():
        _plot_trained(axes[0, 1], axes[0, 2], df)
    if (df["part"] == "alternating").any():
        _plot_classification(axes[1, 0], df)
    if (df["part"] == "radial").any():
        _plot_radial(axes[1, 1], axes[1, 2], df)
    n_diverged, n_runs, n_shown = diverged_runs(df)
    if n_diverged:  # under the panels (constrained layout makes room); the text gives the rule
        fig.supxlabel(f"{n_diverged} of {n_runs} trained runs diverged; {n_shown} of them shown "
                      "(where every rate of a configuration diverged)", fontsize=8, color="red")
    save(fig, path)


def _plot_constructed(ax, a: pd.DataFrame) -> None:
    # (color, line, marker, label); the two one-hidden-layer constructions have the same size
    # 3 * 2^k + 1, so the sawtooth's is drawn with open squares over the square's dots
    styles = {("sawtooth", "deep"): ("C0", "-", "o", "t^k deep (k layers x 2)"),
              ("sawtooth", "shallow"): ("C0", "--", "s", "t^k one hidden layer (2^k units)"),
              ("square", "deep"): ("C3", "-", "o", "x^2 to 2^(-2m-2), deep (Yarotsky)"),
              ("square", "shallow"): ("C3", "--", "o", "x^2 to 2^(-2m-2), one hidden layer"),
              ("square", "shallow_lower_bound"): ("C3", ":", "v", "x^2: any one hidden layer needs")}
    for (target, arch), (color, ls, marker, label) in styles.items():
        rows = a[(a["target"] == target) & (a["arch"] == arch)].sort_values("k")
        open_marker = {"markerfacecolor": "none", "markersize": 8} if marker == "s" else {}
        ax.plot(rows["k"], rows["n_params"], ls, color=color, marker=marker, label=label, **open_marker)
    ax.set(yscale="log", xlabel="k (teeth) or m (square)", ylabel="parameters",
           title="constructed: parameters, same accuracy")
    ax.legend(loc="upper left")


def _k_color(k) -> str:
    """One color per k, shared by the sawtooth and alternating panels; gray (C7) is left for
    reference lines."""
    return f"C{[0, 1, 2, 3, 4, 5, 6, 8, 9][(int(k) - 1) % 9]}"


DEPTH_MARKERS = "^vDs"  # deep networks with L = 1k, 2k, 3k, 4k hidden layers


def _plot_trained(ax_err, ax_pieces, df: pd.DataFrame) -> None:
    err = best(df, "sawtooth", ["k", "arch", "n_hidden", "width"], "err_l2")
    err["factor"] = err["n_hidden"] // err["k"]  # deep: L = factor * k hidden layers
    factors = sorted(err[err["arch"] == "deep"]["factor"].unique())
    for k in sorted(err["k"].unique()):
        rows = err[(err["k"] == k) & (err["arch"] == "shallow")].sort_values("n_params")
        _errorbar(ax_err, rows, color=_k_color(k), marker="o", ls="--", label=f"k={int(k)}")
        for i, factor in enumerate(factors):
            rows = err[(err["k"] == k) & (err["arch"] == "deep") & (err["factor"] == factor)]
            _errorbar(ax_err, rows, color=_k_color(k), marker=DEPTH_MARKERS[i % 4], ls="none",
                      markersize=6)
    ax_err.axhline(CONSTANT_FIT, color="gray", ls=":", label="constant fit")
    deep = ", ".join(f"{DEPTH_MARKERS[i % 4]} L={int(f) if f > 1 else ''}k" for i, f in enumerate(factors))
    right = 10 * err["n_params"].max()  # room on the right for the legend
    ax_err.set(xscale="log", xlim=(None, right), xlabel="parameters",
               ylabel="L2 error to t^k (median, min-max)",
               title=f"sawtooth, trained on t^k: o 1 hidden, {deep}")
    ax_err.xaxis.set_minor_formatter(NullFormatter())  # under a decade of n_params, labels collide
    ax_err.legend(ncol=2, loc="lower right", fontsize=7)

    pieces = best(df, "sawtooth", ["k", "arch", "n_hidden", "width"], "n_pieces")
    ks = np.array(sorted(pieces["k"].unique()))
    ax_pieces.plot(ks, 2.0 ** ks, "k-", marker="*", markersize=7, label="t^k, constructed: 2^k")
    deep = pieces[pieces["arch"] == "deep"]
    deep = deep.assign(factor=deep["n_hidden"] // deep["k"])
    bounds = df[(df["part"] == "sawtooth") & (df["arch"] == "deep")]
    top = 1.0
    for j, ((factor, width), rows) in enumerate(deep.groupby(["factor", "width"])):
        rows = rows.sort_values("k")
        name = f"{int(factor)}k x {int(width)}"
        ax_pieces.plot(rows["k"], rows["median"], "-^", color=f"C{j}", label=f"trained deep, {name}")
        bound = bounds[(bounds["width"] == width) & (bounds["n_hidden"] == factor * bounds["k"])]
        bound = bound.groupby("k")["pieces_bound"].first()
        ax_pieces.plot(bound.index, bound.values, ":", color=f"C{j}", label=f"(2m)^L bound, {name}")
        top = max(top, rows["max"].max())
    shallow = pieces[pieces["arch"] == "shallow"]
    widest = shallow.loc[shallow.groupby("k")["width"].idxmax()].sort_values("k")
    ax_pieces.plot(widest["k"], widest["median"], "--o", color="C7",
                   label="trained, widest 1 hidden layer")
    top = max(top, widest["max"].max(), 2.0 ** ks.max())
    # the bounds grow like 16^k and 16^(2k): above 100x the data they leave the panel
    ax_pieces.set(yscale="log", ylim=(1, 100 * top), xlabel="k",
                  ylabel="linear pieces on [0, 1] (median)",
                  title="sawtooth: pieces realised (approx.pieces)")
    ax_pieces.legend(fontsize=7, loc="upper left")


def _plot_classification(ax, df: pd.DataFrame) -> None:
    c = df[df["part"] == "alternating"]
    err = best(c, "alternating", ["k", "arch", "n_hidden", "width"], "class_err")
    for k in sorted(err["k"].unique()):
        for arch, marker, ls in (("shallow", "o", "--"), ("deep", "^", "none"),
                                 ("constructed", "*", "none")):
            rows = err[(err["k"] == k) & (err["arch"] == arch)].sort_values("n_params")
            _errorbar(ax, rows, color=_k_color(k), marker=marker, ls=ls,
                      markersize=8 if arch == "constructed" else 5,
                      label=f"k={int(k)} (n={2 ** int(k)})" if arch == "shallow" else None)
        width = c[c["k"] == k]["telgarsky_width"].iloc[0]
        if width >= 1:
            ax.axvline(3 * width + 1, color=_k_color(k), ls=":", lw=1)
    ax.axhline(1 / 6, color="gray", ls="--", label="1/6: floor for m <= 2^((k-3)/l-1) (dotted)")
    ax.set(xscale="log", xlabel="parameters", ylabel="classification error", ylim=(-0.02, 0.55),
           title="alternating points: o shallow, ^ deep, * sawtooth")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc="center right", ncol=2, fontsize=7)


def _plot_radial(ax_size, ax_steps, df: pd.DataFrame) -> None:
    """Test error on fresh points against size (medians, min-max bars over seeds), and the online
    training error (each step on fresh points: the population error) against steps."""
    err = best(df, "radial", ["d", "arch", "budget_width"], "test_rel_mse")
    dims = sorted(err["d"].unique())
    for i, d in enumerate(dims):
        for arch, ls, marker in (("2-layer", "--", "o"), ("3-layer", "-", "s")):
            rows = err[(err["d"] == d) & (err["arch"] == arch)].sort_values("n_params")
            _errorbar(ax_size, rows, ls=ls, marker=marker, color=f"C{i}", label=f"d={int(d)}, {arch}")
    n_test = df[df["part"] == "radial"]["n_test"].dropna()
    fresh = f"{int(n_test.iloc[0]):,} fresh points" if len(n_test) else "fresh points"
    ax_size.set(xscale="log", yscale="log", xlabel="parameters (equal for each pair)",
                ylabel="test MSE / Var(y) (median, min-max)", title=f"radial target: test on {fresh}")
    ax_size.legend(ncol=2, fontsize=7)
    d_rows = df[(df["part"] == "radial") & df["best_lr"].astype(bool)]
    for i, d in enumerate(dims):
        rows = d_rows[d_rows["d"] == d]
        rows = rows[rows["budget_width"] == rows["budget_width"].max()]
        for arch, ls in (("2-layer", "--"), ("3-layer", "-")):
            curve = rows[rows["arch"] == arch].groupby("step")["train_rel_mse"].median()
            ax_steps.plot(curve.index, curve.values, ls, color=f"C{i}", label=f"d={int(d)}, {arch}")
    ax_steps.set(yscale="log", xlabel="Adam steps, each on a fresh batch",
                 ylabel="online training MSE / Var(y) (median)",
                 title="radial, largest size: online error vs steps")
    ax_steps.legend(ncol=2, fontsize=7)
