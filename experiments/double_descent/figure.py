"""Figure and gallery paragraph of the double_descent experiment, drawn from its DataFrame alone.

Trained runs that fit recorded as diverged (frozen at their last fine parameters, so their errors
describe no training) are drawn as red crosses, left out of the medians, and counted in the text.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from approx.plotting import figure, save

RIDGE_COLOR = ("C3", "C0", "C2", "C4")
INIT_COLOR = {"standard": "C0", "small": "C1"}


def _peak(rf: pd.DataFrame) -> tuple[float, float]:
    med = rf.groupby("n_features").test_error.median()
    return float(med.idxmax()), float(med.max())


def _completed(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows.status != "diverged"] if "status" in rows else rows


def _mark_diverged(ax, rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Red crosses at the diverged runs' values of ``column``; the other rows, for the medians."""
    diverged = rows[rows.status == "diverged"] if "status" in rows else rows.iloc[0:0]
    if len(diverged):
        ax.scatter(diverged.p_over_n, diverged[column], marker="x", color="red", s=18, zorder=5,
                   label=f"diverged ({len(diverged)} runs; not in the medians)")
    return _completed(rows)


def draw(df: pd.DataFrame, path: Path) -> None:
    fig, axes = figure(1, 3, width=4.2, height=3.4)
    _random_features(axes[0, 0], df[df.part == "random_features"])
    _trained(axes[0, 1], _mark_diverged(axes[0, 1], df[df.part == "trained"], "test_error"))
    _random_labels(axes[0, 2], _mark_diverged(axes[0, 2], df[df.part == "random_labels"], "test_misclassified"),
                   df[df.part == "memorizer"])
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
            n_peak, err = _peak(g)
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
           title="(c) random labels: memorized, not learned", ylim=(-0.03, 0.6))
    ax.legend(fontsize=7)


def paragraph(df: pd.DataFrame) -> str:
    rf = df[df.part == "random_features"]
    n = int(rf.n.iloc[0]) if len(rf) else int(df.n.dropna().iloc[0])
    texts = [_rf_text(rf, n), _trained_text(_completed(df[df.part == "trained"])),
             _random_text(_completed(df[df.part == "random_labels"]), df[df.part == "memorizer"]),
             _diverged_text(df[df.part.isin(["trained", "random_labels"])])]
    return "\n\n".join(t for t in texts if t)


def _diverged_text(runs: pd.DataFrame) -> str:
    if runs.empty or "status" not in runs:
        return ""
    diverged = runs[runs.status == "diverged"]
    rule = "fit's divergence rule: the training loss stopped being finite, or grew far above its start"
    if diverged.empty:
        return f"None of the {len(runs)} trained networks of (b) and (c) diverged ({rule})."
    where = ", ".join(f"{part} at p/n = {p:.3g}" for part, p in
                      diverged[["part", "p_over_n"]].drop_duplicates().head(6).itertuples(index=False))
    return (f"{len(diverged)} of the {len(runs)} trained networks of (b) and (c) diverged ({rule}; {where}): "
            "frozen at their last fine parameters, they are drawn as red crosses and left out of the "
            "medians and comparisons above.")


def _rf_text(rf: pd.DataFrame, n: int) -> str:
    if rf.empty:
        return ""
    plain = rf[rf.ridge == 0]
    pieces = []
    if len(plain):
        n_peak, err = _peak(plain)
        med = plain.groupby("n_features").test_error.median()
        under = med[med.index < n].min()
        over = med[med.index > n]
        pieces.append(
            f"Minimum-norm least squares on N random ReLU features, n = {n} noisy points: the median "
            f"test error peaks at N = {int(n_peak)} ({'exactly N = n' if n_peak == n else f'N/n = {n_peak / n:.2g}'}) "
            f"with {err:.3g}, against {under:.3g} at the best N < n and {over.iloc[-1]:.3g} at N = "
            f"{int(over.index[-1])} (the second descent, {'below' if over.iloc[-1] < under else 'above'} the "
            f"best underparameterized error). From N = n on the features interpolate: median training "
            f"error at most {plain[plain.n_features >= n].groupby('n_features').train_error.median().max():.1e}.")
    for ridge, g in rf[rf.ridge > 0].groupby("ridge"):
        n_top, top = _peak(g)
        at_n = g[g.n_features == n].test_error.median()
        pieces.append(f"With a ridge of {ridge:g} the peak disappears (test error {at_n:.3g} at N = n; the "
                      f"largest median is {top:.3g}, at N = {int(n_top)}).")
    return ("**(a) Double descent (Belkin, Hsu, Ma & Mandal 2019).** " + " ".join(pieces) +
            " The peak is where the square feature matrix is nearly singular and the interpolant's norm explodes.")


def _trained_text(t: pd.DataFrame) -> str:
    if t.empty:
        return ""
    parts = []
    for init, g in t.groupby("init", sort=False):
        med = g.groupby("p_over_n").test_error.median()
        widest = med.index[-1]
        best = "the smallest of the sweep" if med.iloc[-1] == med.min() else f"against {med.min():.3g} at p/n = {med.idxmin():.3g}"
        diverged = int((g.status == "diverged").sum())
        parts.append(f"{init} init: the largest median test error is {med.max():.3g} at p/n = {med.idxmax():.3g} "
                     f"({med.max() / med.min():.2g}x the smallest); at the widest (p/n = {widest:.3g}) it is "
                     f"{med.iloc[-1]:.3g}, {best}; median training loss there "
                     f"{g[g.p_over_n == widest].train_error.median():.2g}"
                     + (f"; {diverged} runs diverged" if diverged else ""))
    return ("**(b) Trained networks.** One hidden layer, full-batch GD for "
            f"{_steps(t)} steps (eta = 1/lambda_max of the linearised Hessian at the standard scale, the "
            "small init being the standard one scaled down): " + "; ".join(parts) + ". Unlike random features, "
            "GD in a finite budget does not interpolate the noise exactly, and its bump near p = n is mild. "
            + _over_vs_under(t))


def _over_vs_under(t: pd.DataFrame) -> str:
    med = t.groupby(["init", "p_over_n"]).test_error.median().reset_index()
    under, over = med[med.p_over_n < 1], med[med.p_over_n > 1]
    if under.empty or over.empty:
        return ""
    verdict = "better than" if over.test_error.min() < under.test_error.min() else "no better than"
    return (f"The best overparameterized network (p > n: {over.test_error.min():.3g}) generalizes {verdict} "
            f"the best underparameterized one (p < n: {under.test_error.min():.3g}).")


def _steps(t: pd.DataFrame) -> str:
    return str(int(t.steps.iloc[0]))


def _random_text(r: pd.DataFrame, mem: pd.DataFrame) -> str:
    if r.empty:
        return ""
    train = r.groupby("p_over_n").train_misclassified.median()
    zero = train[train == 0]
    test = r.test_misclassified
    se = np.sqrt(0.25 / max(1, _n_test(r)))
    text = ("**(c) Random labels (Zhang et al. 2017).** On +-1 labels drawn at random, GD reaches zero "
            f"training error from p/n = {zero.index.min():.3g} on" if len(zero) else
            "**(c) Random labels (Zhang et al. 2017).** No width reached zero training error in this budget")
    text += (f"; the test error stays at chance ({test.min():.3f}..{test.max():.3f}, chance 0.5 +- {se:.3f}). ")
    if len(mem):
        m = mem.iloc[0]
        text += (f"Their Theorem 1 network with 2n + d = {int(m.n_params)} weights fits the same labels exactly "
                 f"(largest |error| {m.train_max_error:.1e}) and classifies fresh points no better: "
                 f"{m.test_misclassified:.3f} misclassified. Memorizing is easy; fitting says nothing about generalizing.")
    return text


def _n_test(r: pd.DataFrame) -> int:
    return int(r.n_test.iloc[0])
