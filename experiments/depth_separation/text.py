"""The gallery text of experiments/depth_separation: theorem, prediction, measurement, every
number read from the DataFrame (the figure is in figure.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._shallow import OPTIMIZER_NAMES, optimizer_of
from .analysis import CONSTANT_FIT, best, diverged_runs

__all__ = ["advantage_steps", "advantage_trend", "describe", "radial_advantage"]


def describe(df: pd.DataFrame) -> str:
    """The gallery paragraph: theorem, prediction, measurement, every number read from df."""
    parts = [_describe_constructed(df[df["part"] == "constructed"])]
    if (df["part"] == "sawtooth").any():
        parts.append(_describe_trained(df))
    if (df["part"] == "alternating").any():
        parts.append(_describe_classification(df))
    if (df["part"] == "radial").any():
        parts.append(_describe_radial(df))
    parts.append(_describe_divergence(df))
    return "\n\n".join(p for p in parts if p)


def _describe_divergence(df: pd.DataFrame) -> str:
    n_diverged, n_runs, n_shown = diverged_runs(df)
    if not n_runs:
        return ""
    rule = "fit's rule: the training loss stopped being finite or grew far above its start"
    if not n_diverged:
        return f"None of the {n_runs} trained runs diverged ({rule})."
    return (f"{n_diverged} of the {n_runs} trained runs diverged ({rule}). The best-rate choice "
            f"passes over a diverged run whenever another rate of its configuration and seed "
            f"completed; {n_shown} diverged runs are among those shown, where every rate diverged.")


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
        f"**Constructed.** Telgarsky: t^k (the tooth composed k times) has 2^k linear pieces. "
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
    """Per k: the best deep configuration, the best one-hidden-layer net of at most its size
    (+10%), the one with 2^k units and the widest one; medians [min, max] over seeds at the best
    rate, and the median pieces each realises."""
    both = err.merge(pieces[["k", "arch", "n_hidden", "width", "median"]],
                     on=["k", "arch", "n_hidden", "width"], suffixes=("", "_pieces"))
    rows = []
    for k in sorted(int(v) for v in both["k"].unique()):
        e = both[both["k"] == k]
        deep = e[e["arch"] == "deep"].sort_values("median").iloc[0]
        shallow = e[e["arch"] == "shallow"].sort_values("width")
        matched = shallow[shallow["n_params"] <= 1.1 * deep["n_params"]]["median"]
        exact = shallow[shallow["width"] == 2 ** k]
        rows.append({"k": k, "deep": deep, "matched_err": matched.min() if len(matched) else np.nan,
                     "exact": exact.iloc[0] if len(exact) else None, "widest": shallow.iloc[-1]})
    return pd.DataFrame(rows)


def _spread(r) -> str:
    """median [min, max] of one configuration's L2 errors over seeds."""
    return f"{r['median']:.3g} [{r['min']:.2g}, {r['max']:.2g}]"


def _trained_table(summary: pd.DataFrame) -> str:
    header = ("| k | pieces of t^k | best deep: L x m (parameters) | L2 error | pieces | 1 hidden "
              "layer, <= as many parameters | 1 hidden layer, 2^k units: L2 error | pieces | widest "
              "1 hidden layer: units (parameters) | L2 error | pieces |")
    lines = [header, "|---" * 11 + "|"]
    for r in summary.itertuples():
        d, w, x = r.deep, r.widest, r.exact
        exact = (f"{_spread(x)} | {x['median_pieces']:.0f}" if x is not None else "- | -")
        lines.append(
            f"| {r.k} | {2 ** r.k} | {int(d['n_hidden'])} x {int(d['width'])} ({int(d['n_params'])}) "
            f"| {_spread(d)} | {d['median_pieces']:.0f} | {r.matched_err:.3g} | {exact} "
            f"| {int(w['width'])} ({int(w['n_params'])}) | {_spread(w)} | {w['median_pieces']:.0f} |")
    return "\n".join(lines)


def _describe_trained(df: pd.DataFrame) -> str:
    b = df[df["part"] == "sawtooth"]
    optimizer = optimizer_of(b.iloc[0])  # adam, lbfgs or lm
    keys = ["k", "arch", "n_hidden", "width"]
    summary = _per_k(best(df, "sawtooth", keys, "err_l2"), best(df, "sawtooth", keys, "n_pieces"))
    chosen = b[b["best_lr"].astype(bool)]
    deep_best = chosen[chosen["arch"] == "deep"]
    found = deep_best[deep_best["err_l2"] < 0.01]
    found_k = ", ".join(str(int(v)) for v in sorted(found["k"].unique())) or "none"
    deep_err = summary["deep"].map(lambda r: r["median"])
    deep_wins = int((deep_err < summary["matched_err"]).sum())
    failed = summary[deep_err >= 0.01]
    failure = " Every k was fit by some deep network (median L2 error < 0.01)."
    if len(failed):
        ratio = failed["deep"].map(lambda r: r["median_pieces"]) / 2.0 ** failed["k"]
        enough, short = failed["k"][ratio >= 1], failed["k"][ratio < 1]
        failure = (
            f" For k = {', '.join(map(str, failed['k']))} no deep architecture's median run reached "
            f"L2 error 0.01, although k layers of width 2 represent t^k exactly; the best of them "
            f"realise {ratio.min():.2g} to {ratio.max():.2g} times the 2^k pieces of t^k"
            + (f": at k = {', '.join(map(str, enough))} enough pieces, misplaced" if len(enough) else "")
            + (f"{';' if len(enough) else ':'} at k = {', '.join(map(str, short))} fewer than t^k has"
               if len(short) else "")
            + f". {'Gradient descent' if optimizer == 'adam' else OPTIMIZER_NAMES[optimizer]} does not find the "
            "composition.")
    # "learned nothing": every configuration's median within 1% of the constant fit
    medians = best(df, "sawtooth", keys, "err_l2").groupby("k")["median"].min()
    flat = medians.index[medians >= 0.99 * CONSTANT_FIT]
    widest = summary.iloc[-1]["widest"]
    flat_text = "" if flat.empty else (
        f" At k = {', '.join(str(int(k)) for k in flat)} every trained network, deep or one hidden "
        f"layer of up to {int(b[b['arch'] == 'shallow']['width'].max())} units, ends within 1% of the "
        f"constant fit: at this training budget none finds t^k, although the widest realises "
        f"{widest['median_pieces']:.0f} pieces at k = {int(widest['k'])} (t^k has "
        f"{2 ** int(widest['k'])}).")
    over = int((b["n_pieces"] > b["pieces_bound"]).sum())
    rates = (f"best of {b['lr'].nunique()} learning rates ({', '.join(f'{v:g}' for v in sorted(b['lr'].unique()))}) "
             "by final training loss" if optimizer == "adam" else "one run per seed")
    return (
        f"**Sawtooth: trained on t^k** ({OPTIMIZER_NAMES[optimizer]}, {int(b['step'].max())} full-batch "
        f"{'steps' if optimizer == 'adam' else 'iterations'} on the kinks and "
        f"midpoints j / 2^(k+1) ({int(b['n_points'].max())} points at k = {int(b['k'].max())}), {rates}; "
        f"median [min, max] over {chosen['seed'].nunique()} seeds; L2 errors "
        f"exact, {CONSTANT_FIT:.3f} = 1/sqrt(12) is the constant fit 1/2). Prediction: k hidden layers "
        f"of width 2 (6k + 1 parameters) represent t^k exactly, one hidden layer needs 2^k units. "
        f"Measured:\n\n" + _trained_table(summary) + "\n\n"
        f"Deep networks reached L2 error < 0.01 in {len(found)} of {len(deep_best)} best-rate runs "
        f"(k = {found_k}) and beat the one-hidden-layer networks of at most their size in "
        f"{deep_wins} of {len(summary)} k." + failure + flat_text
        + f" This part trains k <= {int(b['k'].max())} at one budget; how often training finds t^k, over "
        "many seeds, widths and optimizers, is measured at scale by sawtooth_success."
        + f" Check (it holds by theorem, so it tests the piece counter, not the theory): trained "
        f"networks with more pieces than their (2m)^L bound: {over} of {len(b)}." + _serra_text(b)
    )


def _serra_text(b: pd.DataFrame) -> str:
    """Trained piece counts against Serra, Tjandraatmadja & Ramalingam's (2018) 1-D bound prod (m_l + 1)."""
    if "serra_bound" not in b:
        return ""
    over = int((b["n_pieces"] > b["serra_bound"]).sum())
    ratio = b["n_pieces"] / b["serra_bound"]
    parts = []
    for arch, r in ratio.groupby(b["arch"], sort=False):
        parts.append(f"{arch} {r.median():.2g} (largest {r.max():.2g})")
    medians = ratio.groupby(b["arch"]).median()
    contrast = (f": the median one-hidden-layer network realises {medians['shallow'] / medians['deep']:.2g}x the "
                "fraction of its bound that the median deep one does" if {"deep", "shallow"} <= set(medians.index)
                and medians["deep"] > 0 else "")
    return (f" The tighter bound for one input, prod over layers of (m_l + 1) (Serra, Tjandraatmadja & "
            f"Ramalingam 2018), is also a check: {over} of {len(b)} above it. Trained counts as a fraction "
            "of it, median over runs: " + "; ".join(parts) + contrast + ".")


def _describe_classification(df: pd.DataFrame) -> str:
    c = df[df["part"] == "alternating"]
    err = best(df, "alternating", ["k", "arch", "n_hidden", "width"], "class_err")
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
        "**Alternating points** (Telgarsky 2015, Thm 1.1: the 2^k points i/2^k with labels "
        "i mod 2 are fit with zero error by the sawtooth, while l layers of m <= 2^((k-3)/l-1) "
        "units err on >= 1/6). "
        "Median classification error at the best rate: " + "; ".join(lines) + ". "
        f"Checks (they hold by theorem, so they test the code, not the theory): the networks the theorem "
        f"covers erred on >= 1/6 in {(covered['class_err'] >= 1 / 6).sum()} of "
        f"{len(covered)} runs, and every trained network's error is at least the floor (n - t - 1)/(2n) "
        f"its own piece count t implies ({below_floor} violations in {len(trained)} runs). Training "
        f"fitted the labels exactly in {len(fitted)} of {len(trained)} runs: the deep solution exists "
        f"(the sawtooth) but gradient descent on the squared loss does not find it."
    )


def radial_advantage(test: pd.DataFrame) -> pd.DataFrame:
    """Per d, at the largest parameter budget: the 3-layer advantage, 2-layer over 3-layer test
    MSE / Var(y), as the ratio of the medians over seeds, with the range that the seeds allow,
    [min(2-layer) / max(3-layer), max(2-layer) / min(3-layer)], and the best seed's against the
    best seed's, min(2-layer) / min(3-layer): the ratio of the tightest upper bounds on the two
    approximation errors. ``test``: best(..., "test_rel_mse") rows keyed by d, arch, budget_width."""
    rows = []
    for d, e in test.groupby("d"):
        top = e[e["budget_width"] == e["budget_width"].max()].set_index("arch")
        two, three = top.loc["2-layer"], top.loc["3-layer"]
        rows.append({"d": int(d), "n_params": int(three["n_params"]), "ratio": two["median"] / three["median"],
                     "low": two["min"] / three["max"], "high": two["max"] / three["min"],
                     "best": two["min"] / three["min"]})
    return pd.DataFrame(rows).sort_values("d").reset_index(drop=True)


def advantage_steps(advantage: pd.DataFrame) -> list[str]:
    """For each pair of consecutive d: "higher" where the larger d's range over seeds lies wholly
    above the smaller d's, "lower" where wholly below, "overlap" otherwise."""
    low, high = advantage["low"].to_numpy(), advantage["high"].to_numpy()
    return ["higher" if low[i + 1] > high[i] else "lower" if high[i + 1] < low[i] else "overlap"
            for i in range(len(advantage) - 1)]


def advantage_trend(advantage: pd.DataFrame, n_seeds: int) -> str:
    """"grows" where each d's range lies wholly above the smaller d's, "shrinks" where wholly
    below, else "unresolved" (some ranges over seeds overlap or the steps disagree, there is one
    d, or one seed: a range of one value is no interval)."""
    steps = advantage_steps(advantage)
    if not steps or n_seeds < 2:
        return "unresolved"
    return "grows" if set(steps) == {"higher"} else "shrinks" if set(steps) == {"lower"} else "unresolved"


def _describe_radial(df: pd.DataFrame) -> str:
    r = df[df["part"] == "radial"]
    keys = ["d", "arch", "budget_width"]
    test, train = best(df, "radial", keys, "test_rel_mse"), best(df, "radial", keys, "train_rel_mse")
    chosen = r[r["final"].astype(bool) & r["best_lr"].astype(bool)]
    if "batch" not in r or chosen["test_rel_mse"].isna().all():  # a CSV from before online training
        return ""
    steps, batch, n_test = int(r["step"].max()), int(r["batch"].iloc[0]), int(r["n_test"].iloc[0])
    lines = []
    for d in sorted(int(v) for v in test["d"].unique()):
        e, t = test[test["d"] == d], train[train["d"] == d]
        for arch in ("2-layer", "3-layer"):
            row = e[(e["arch"] == arch) & (e["budget_width"] == e["budget_width"].max())].iloc[0]
            tr = t[(t["arch"] == arch) & (t["budget_width"] == t["budget_width"].max())].iloc[0]
            width = int(chosen[(chosen["d"] == d) & (chosen["arch"] == arch)
                               & (chosen["budget_width"] == row["budget_width"])]["width"].iloc[0])
            lines.append(f"| {d} | {arch} (width {width}) | {int(row['n_params'])} | {tr['median']:.3g} "
                         f"| {_spread(row)} |")
    advantage = radial_advantage(test)
    adv = "; ".join(f"d = {a.d}: {a.ratio:.2g}x [{a.low:.2g}, {a.high:.2g}]" for a in advantage.itertuples())
    n_seeds = chosen["seed"].nunique()
    pairs_text = ", ".join(f"from d = {a} to {b} {step}" for a, b, step in
                           zip(advantage["d"], advantage["d"][1:], advantage_steps(advantage)))
    trend_text = {"grows": "grows with d: each d's range lies above the smaller d's",
                  "shrinks": "shrinks with d: each d's range lies below the smaller d's",
                  "unresolved": f"is not ordered in d by the ranges over seeds ({pairs_text})"
                  if n_seeds > 1 else "cannot be ordered in d from one seed (no range)"}
    trend_text = trend_text[advantage_trend(advantage, n_seeds)]
    every = max(1, steps // 20)  # radial's log interval: the last window runs from the last log before steps
    window = steps - (steps - 1) // every * every
    pairs = test.pivot_table(index=["d", "budget_width"], columns="arch", values="median")
    wins = int((pairs["3-layer"] < pairs["2-layer"]).sum())
    gap = (chosen["train_rel_mse"] / chosen["test_rel_mse"] - 1).abs()
    se = (chosen["test_rel_mse_se"] / chosen["test_rel_mse"]).max()
    return (
        "**Radial target: approximation error, measured online.** Eldan & Shamir (2016, Theorem 1): "
        "for an activation meeting their Assumptions 1 and 2 (ReLU does), there are universal constants "
        "c, C > 0 such that for every d > C some probability measure mu on R^d and some g: R^d -> [-2, 2] "
        "(a sum of thin radial shells, supported in |x| <= C sqrt(d)), expressible by a 3-layer network "
        "of width C c_sigma d^(19/4), satisfy E_mu (f - g)^2 >= c for every 2-layer network f of width "
        "at most c e^(cd). Safran & Shamir (2017) prove the same kind of gap for the indicator of the "
        "unit ball, under one constructed distribution (the same activation assumptions, d > c1): a "
        "2-layer network of width at most c2 e^(c3 d) errs by at least c4 / d^4 there, while 3-layer ReLU networks "
        "of width poly(d / delta) reach delta. "
        "Both bound the approximation error min over networks N of a size of E_mu (N - f)^2, for d "
        "above unspecified constants and for their own target and distribution. No run here meets "
        "those conditions: the target is a smoothed ball indicator (y falls from 1 to 0 over a band of "
        "|x| around 1) with |x| uniform on [0, 2], and d = "
        f"{', '.join(str(int(v)) for v in sorted(r['d'].unique()))} is not known to exceed C. This part "
        "illustrates the theorems; it does not test them. Measured: online Adam, every one of "
        f"{steps} steps on {batch} fresh points ({steps * batch:,} in all, none seen twice), so the "
        "training error is an unbiased estimate of the population error of the network at that step (the "
        "mean over the last "
        f"{window} steps is shown); the test error is on {n_test:,} fresh points (standard error "
        f"at most {se:.1%} of it). Both are the error of the network training found: an upper bound on "
        "the best network's approximation error at that size, not that error; the smallest over seeds "
        "is the tightest such bound. Training and test error differ by at most "
        f"{gap.max():.0%} of the test error in the best-rate runs (median {gap.median():.0%}; the training "
        "error averages the last steps' networks, each on its own batch). MSE / Var(y) at the largest "
        f"size, median [min, max] over {n_seeds} seeds at the best of {r['lr'].nunique()} rates (chosen "
        "by training error):\n\n"
        "| d | network | parameters | training error | test error |\n|---|---|---|---|---|\n"
        + "\n".join(lines) + "\n\n"
        f"The 3-layer advantage (2-layer over 3-layer test error, ratio of medians [range over seeds]) "
        f"is {adv}; it {trend_text}. Best seed against best seed: "
        + "; ".join(f"d = {a.d}: {a.best:.2g}x" for a in advantage.itertuples()) + ". Three "
        f"layers had the lower median test error in {wins} of {len(pairs)} (d, size) pairs."
    )
