"""The figure and the gallery text of experiments/depth_separation.py, from its DataFrame alone."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from approx.plotting import figure, save

__all__ = ["CONSTANT_FIT", "describe", "plot"]

CONSTANT_FIT = 1 / math.sqrt(12)  # L2 distance from t^k to its mean 1/2: "learned nothing"


def _best(df: pd.DataFrame, part: str, keys: list[str], value: str) -> pd.DataFrame:
    """Median, min and max over seeds of ``value`` at the best learning rate, per configuration."""
    rows = df[(df["part"] == part) & df["best_lr"].astype(bool)]
    if part == "d":
        rows = rows[rows["final"].astype(bool)]
    return (rows.groupby(keys)[value].agg(["median", "min", "max"])
            .join(rows.groupby(keys)["n_params"].first()).reset_index())


def _errorbar(ax, rows: pd.DataFrame, **style) -> None:
    """Medians at n_params with min-max bars (rows from ``_best``)."""
    spread = [rows["median"] - rows["min"], rows["max"] - rows["median"]]
    ax.errorbar(rows["n_params"], rows["median"], yerr=spread, capsize=2, **style)


def plot(df: pd.DataFrame, path: Path) -> None:
    fig, axes = figure(2, 3, width=4.2, height=3.3)
    _plot_constructed(axes[0, 0], df[df["part"] == "a"])
    if (df["part"] == "b").any():
        _plot_trained(axes[0, 1], axes[0, 2], df)
    if (df["part"] == "c").any():
        _plot_classification(axes[1, 0], df)
    if (df["part"] == "d").any():
        _plot_radial(axes[1, 1], axes[1, 2], df)
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
           title="(a) constructed: parameters for the same accuracy")
    ax.legend(loc="upper left")


def _plot_trained(ax_err, ax_pieces, df: pd.DataFrame) -> None:
    err = _best(df, "b", ["k", "arch", "n_hidden", "width"], "err_l2")
    for i, k in enumerate(sorted(err["k"].unique())):
        for arch, marker, ls in (("shallow", "o", "--"), ("deep", "^", "-")):
            rows = err[(err["k"] == k) & (err["arch"] == arch)].sort_values("n_params")
            _errorbar(ax_err, rows, color=f"C{i}", marker=marker, ls=ls if arch == "shallow" else "none",
                      label=f"k={int(k)}" if arch == "shallow" else None)
    ax_err.axhline(CONSTANT_FIT, color="gray", ls=":", label="constant fit 1/sqrt(12)")
    ax_err.set(xscale="log", xlabel="parameters", ylabel="L2 error to t^k (median, min-max)",
               title="(b) trained on t^k (o: 1 hidden layer, ^: deep)")
    ax_err.legend(ncol=2)

    pieces = _best(df, "b", ["k", "arch", "n_hidden", "width"], "n_pieces")
    ks = np.array(sorted(pieces["k"].unique()))
    ax_pieces.plot(ks, 2.0 ** ks, "k-", marker="*", label="t^k and its constructions: 2^k")
    deep = pieces[pieces["arch"] == "deep"]
    deep = deep.assign(factor=deep["n_hidden"] // deep["k"])  # L = factor * k hidden layers
    bounds = df[(df["part"] == "b") & (df["arch"] == "deep")]
    for j, ((factor, width), rows) in enumerate(deep.groupby(["factor", "width"])):
        rows = rows.sort_values("k")
        name = f"{int(factor)}k x {int(width)}"
        ax_pieces.plot(rows["k"], rows["median"], "-^", color=f"C{j}", label=f"trained deep, {name}")
        bound = bounds[(bounds["width"] == width) & (bounds["n_hidden"] == factor * bounds["k"])]
        bound = bound.groupby("k")["pieces_bound"].first()
        ax_pieces.plot(bound.index, bound.values, ":", color=f"C{j}", label=f"(2m)^L bound, {name}")
    shallow = pieces[pieces["arch"] == "shallow"]
    widest = shallow.loc[shallow.groupby("k")["width"].idxmax()].sort_values("k")
    ax_pieces.plot(widest["k"], widest["median"], "--o", color="C7",
                   label="trained, widest one hidden layer")
    ax_pieces.set(yscale="log", xlabel="k", ylabel="linear pieces on [0, 1] (median over seeds)",
                  title="(b) pieces realised (approx.pieces)")
    ax_pieces.legend(fontsize=7)


def _plot_classification(ax, df: pd.DataFrame) -> None:
    c = df[df["part"] == "c"]
    err = _best(c.assign(part="c"), "c", ["k", "arch", "n_hidden", "width"], "class_err")
    for i, k in enumerate(sorted(err["k"].unique())):
        for arch, marker, ls in (("shallow", "o", "--"), ("deep", "^", "none"),
                                 ("constructed", "*", "none")):
            rows = err[(err["k"] == k) & (err["arch"] == arch)].sort_values("n_params")
            _errorbar(ax, rows, color=f"C{i}", marker=marker, ls=ls,
                      markersize=8 if arch == "constructed" else 4,
                      label=f"k={int(k)} (n={2 ** int(k)})" if arch == "shallow" else None)
        width = c[c["k"] == k]["telgarsky_width"].iloc[0]
        if width >= 1:
            ax.axvline(3 * width + 1, color=f"C{i}", ls=":", lw=1)
    ax.axhline(1 / 6, color="gray", ls="--", label="1/6: floor for m <= 2^((k-3)/l-1) (dotted)")
    ax.set(xscale="log", xlabel="parameters", ylabel="classification error",
           title="(c) alternating points: o shallow, ^ deep, * sawtooth")
    ax.legend()


def _plot_radial(ax_size, ax_steps, df: pd.DataFrame) -> None:
    err = _best(df, "d", ["d", "arch", "budget_width"], "test_rel_mse")
    dims = sorted(err["d"].unique())
    for i, d in enumerate(dims):
        for arch, ls, marker in (("2-layer", "--", "o"), ("3-layer", "-", "s")):
            rows = err[(err["d"] == d) & (err["arch"] == arch)].sort_values("n_params")
            ax_size.plot(rows["n_params"], rows["median"], ls, marker=marker, color=f"C{i}",
                         label=f"d={int(d)}, {arch}")
    ax_size.set(xscale="log", yscale="log", xlabel="parameters (equal for each pair)",
                ylabel="test MSE / Var(y) (median over seeds)", title="(d) radial target: 2 vs 3 layers")
    ax_size.legend(ncol=2, fontsize=7)
    d_rows = df[(df["part"] == "d") & df["best_lr"].astype(bool)]
    for i, d in enumerate(dims):
        rows = d_rows[d_rows["d"] == d]
        rows = rows[rows["budget_width"] == rows["budget_width"].max()]
        for arch, ls in (("2-layer", "--"), ("3-layer", "-")):
            curve = rows[rows["arch"] == arch].groupby("step")["test_rel_mse"].median()
            ax_steps.plot(curve.index, curve.values, ls, color=f"C{i}", label=f"d={int(d)}, {arch}")
    ax_steps.set(yscale="log", xlabel="Adam steps", ylabel="test MSE / Var(y) (median)",
                 title="(d) largest size: error vs training steps")
    ax_steps.legend(ncol=2, fontsize=7)


def describe(df: pd.DataFrame) -> str:
    """The gallery paragraph: theorem, prediction, measurement, every number read from df."""
    parts = [_describe_constructed(df[df["part"] == "a"])]
    if (df["part"] == "b").any():
        parts.append(_describe_trained(df))
    if (df["part"] == "c").any():
        parts.append(_describe_classification(df))
    if (df["part"] == "d").any():
        parts.append(_describe_radial(df))
    return "\n\n".join(p for p in parts if p)


def _describe_constructed(a: pd.DataFrame) -> str:
    if a.empty:
        return ""
    k = int(a["k"].max())

    def params(target, arch):
        return int(a[(a["target"] == target) & (a["arch"] == arch) & (a["k"] == k)]["n_params"].iloc[0])

    saw = a[a["target"] == "sawtooth"]
    exact = (saw["err_sup"] <= 1e-9).all() and (saw["n_pieces"] == 2 ** saw["k"]).all()
    sq = a[(a["target"] == "square") & (a["arch"] != "shallow_lower_bound")]
    worst = (sq["err_sup"] / sq["err_target"] - 1).abs().max()
    return (
        f"**(a) Constructed.** Telgarsky: t^k (the tooth composed k times) has 2^k linear pieces. "
        f"As k hidden layers of width 2 it costs 6k + 1 parameters; one hidden layer needs 2^k units "
        f"(each unit adds one kink, and the first slope 2^k is not a sum of the kinks' slope changes "
        f"+-2^(k+1)). At k = {k}: {params('sawtooth', 'deep')} parameters deep versus "
        f"{params('sawtooth', 'shallow')} shallow; both networks {'equal' if exact else 'DO NOT equal'} "
        f"t^k exactly with exactly 2^k pieces (counted by approx.pieces) for every k measured. "
        f"Yarotsky: x^2 to sup error 2^(-2m-2) costs 12m - 2 parameters deep "
        f"({params('square', 'deep')} at m = {k}) versus {params('square', 'shallow')} for the "
        f"one-hidden-layer interpolant, and any one-hidden-layer network needs at least "
        f"{params('square', 'shallow_lower_bound')} (a piece of length h costs h^2/8); measured sup "
        f"errors match 2^(-2m-2) to a relative {worst:.1e}. Linear versus exponential in k."
    )


def _per_k(err: pd.DataFrame, pieces: pd.DataFrame) -> pd.DataFrame:
    """Per k: the best deep configuration, its pieces, the best one-hidden-layer net of at most
    its size (+10%), and the widest one-hidden-layer net; medians over seeds at the best rate."""
    rows = []
    for k in sorted(int(v) for v in err["k"].unique()):
        e, p = err[err["k"] == k], pieces[pieces["k"] == k]
        deep = e[e["arch"] == "deep"].sort_values("median").iloc[0]
        same = ((p["arch"] == "deep") & (p["width"] == deep["width"])
                & (p["n_hidden"] == deep["n_hidden"]))
        shallow = e[e["arch"] == "shallow"]
        matched = shallow[shallow["n_params"] <= 1.1 * deep["n_params"]]["median"]
        widest = shallow.sort_values("width").iloc[-1]
        rows.append({"k": k, "deep_layers": int(deep["n_hidden"]), "deep_width": int(deep["width"]),
                     "deep_params": int(deep["n_params"]), "deep_err": deep["median"],
                     "deep_pieces": p[same]["median"].iloc[0],
                     "matched_err": matched.min() if len(matched) else np.nan,
                     "widest_width": int(widest["width"]), "widest_params": int(widest["n_params"]),
                     "widest_err": widest["median"]})
    return pd.DataFrame(rows)


def _describe_trained(df: pd.DataFrame) -> str:
    b = df[df["part"] == "b"]
    keys = ["k", "arch", "n_hidden", "width"]
    summary = _per_k(_best(df, "b", keys, "err_l2"), _best(df, "b", keys, "n_pieces"))
    best = b[b["best_lr"].astype(bool)]
    lines = [
        f"k = {r.k}: deep {r.deep_layers}x{r.deep_width} ({r.deep_params} parameters) L2 error "
        f"{r.deep_err:.3f} with {r.deep_pieces:.0f} pieces (t^k has {2 ** r.k}); one hidden layer "
        f"with at most as many parameters {r.matched_err:.3f}; widest one hidden layer "
        f"({r.widest_width} units, {r.widest_params} parameters) {r.widest_err:.3f}"
        for r in summary.itertuples()]
    deep_best = best[best["arch"] == "deep"]
    found = deep_best[deep_best["err_l2"] < 0.01]
    found_k = ", ".join(str(int(v)) for v in sorted(found["k"].unique())) or "none"
    deep_wins = int((summary["deep_err"] < summary["matched_err"]).sum())
    failed = summary[summary["deep_err"] >= 0.01]
    if len(failed):
        ratio = failed["deep_pieces"] / 2.0 ** failed["k"]
        why = ("so the failure is not a shortage of pieces but where they sit" if ratio.min() >= 1
               else "fewer than t^k has in some cases, and misplaced in all")
        failure = (
            f" For k = {', '.join(map(str, failed['k']))} the median deep run missed t^k (L2 error "
            f">= 0.01 for every deep architecture), although a width-2 network represents it: the best "
            f"of them realise {', '.join(f'{v:.0f}' for v in failed['deep_pieces'])} pieces against "
            f"2^k = {', '.join(str(2 ** k) for k in failed['k'])} ({ratio.min():.1f} to "
            f"{ratio.max():.1f} times), {why}: gradient descent does not find the composition.")
    else:
        failure = " Every k was fit by some deep network (median L2 error < 0.01)."
    over = int((b["n_pieces"] > b["pieces_bound"]).sum())
    return (
        f"**(b) Trained on t^k** (Adam, best of {b['lr'].nunique()} learning rates by training "
        f"loss, median over {best['seed'].nunique()} seeds; L2 errors exact, 1/sqrt(12) = "
        f"{CONSTANT_FIT:.3f} means the constant fit). Prediction: a deep network of O(k) parameters "
        f"can represent t^k exactly, a shallow one needs 2^k units. Measured: " + "; ".join(lines)
        + f". Deep networks reached L2 error < 0.01 in {len(found)} of {len(deep_best)} best-rate "
        f"runs (k = {found_k}), and beat the one-hidden-layer networks of at most their size in "
        f"{deep_wins} of {len(summary)} k." + failure
        + f" Trained networks with more pieces than their (2m)^L bound: {over} of {len(b)} (the "
        f"theorem says none)."
    )


def _describe_classification(df: pd.DataFrame) -> str:
    c = df[df["part"] == "c"]
    err = _best(df, "c", ["k", "arch", "n_hidden", "width"], "class_err")
    lines = []
    for k in sorted(int(v) for v in err["k"].unique()):
        e = err[err["k"] == k]
        bound_width = int(c[c["k"] == k]["telgarsky_width"].iloc[0])
        constructed = e[e["arch"] == "constructed"]["median"].iloc[0]
        deep = e[e["arch"] == "deep"].iloc[0]
        shallow = e[e["arch"] == "shallow"].sort_values("width")
        sh = ", ".join(f"{int(r.width)} units {r.median:.3f}" for r in shallow.itertuples())
        guaranteed = (f"widths <= {bound_width} are guaranteed >= 1/6" if bound_width >= 1
                      else "no width is covered by the theorem at this k")
        lines.append(f"k = {k} (n = {2 ** k}): sawtooth {constructed:.3f}; trained deep "
                     f"{int(deep['n_hidden'])}x{int(deep['width'])} {deep['median']:.3f}; one hidden "
                     f"layer {sh} ({guaranteed})")
    trained = c[c["arch"] != "constructed"]
    below_floor = (trained["class_err"] < trained["err_floor_pieces"] - 1e-12).sum()
    covered = trained[(trained["arch"] == "shallow") & (trained["width"] <= trained["telgarsky_width"])]
    fitted = trained[trained["class_err"] == 0]
    return (
        "**(c) Alternating points** (Telgarsky 2015, Thm 1.1: the 2^k points i/2^k with labels "
        "i mod 2 are fit with zero error by the sawtooth, while l layers of m <= 2^((k-3)/l-1) "
        "units err on >= 1/6). "
        "Median classification error at the best rate: " + "; ".join(lines) + ". "
        f"The networks the theorem covers erred on >= 1/6 in {(covered['class_err'] >= 1 / 6).sum()} of "
        f"{len(covered)} runs, and every trained network's error is at least the floor (n - t - 1)/(2n) "
        f"its own piece count t implies ({below_floor} violations in {len(trained)} runs). Training "
        f"fitted the labels exactly in {len(fitted)} of {len(trained)} runs: the deep solution exists "
        f"(the sawtooth) but gradient descent on the squared loss does not find it."
    )


def _describe_radial(df: pd.DataFrame) -> str:
    err = _best(df, "d", ["d", "arch", "budget_width"], "test_rel_mse")
    lines, wins, total = [], 0, 0
    for d in sorted(int(v) for v in err["d"].unique()):
        e = err[err["d"] == d]
        top = e[e["budget_width"] == e["budget_width"].max()]
        two = top[top["arch"] == "2-layer"].iloc[0]
        three = top[top["arch"] == "3-layer"].iloc[0]
        lines.append(f"d = {d}: 2-layer {two['median']:.3f} vs 3-layer {three['median']:.3f} "
                     f"({int(three['n_params'])} parameters)")
        for w in e["budget_width"].unique():
            pair = e[e["budget_width"] == w].set_index("arch")["median"]
            wins += int(pair["3-layer"] < pair["2-layer"])
            total += 1
    return (
        "**(d) Radial target.** Eldan & Shamir (2016): a radial function on R^d that 3-layer networks "
        "of width poly(d) approximate, but 2-layer networks only with width exponential in d; Safran & "
        "Shamir (2017) prove such gaps for the indicator of a ball and see them when training. Two "
        "hidden layers can form |x|^2 as a sum of d one-dimensional functions and then threshold it. "
        "Prediction: at equal parameter counts three layers beat two, increasingly with d. Measured "
        "test MSE / Var(y), largest size: " + "; ".join(lines) + f". Three layers were better in "
        f"{wins} of {total} (d, size) pairs."
    )
