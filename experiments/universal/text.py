"""The gallery text of experiments/universal: theorems, predictions and measured rates, every number
read from the DataFrame (the figure is in figure.py)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from approx import targets as _targets

from .._shallow import OPTIMIZER_NAMES, diverged_text, optimizer_of
from .analysis import completed, rates, sweep_rates
from .config import FIT_MIN_WIDTH, INTERP, RAMP, STEEP_FIT_MIN_WIDTH

__all__ = ["describe", "FAIL_FRACTION"]

FAIL_FRACTION = 0.1  # a trained run "fails" a target if its sup error stays above this times sup|f|


def describe(df: pd.DataFrame) -> str:
    errs = df[df.table == "error"]
    sup = rates(df)
    built = errs[errs.seed < 0]
    # the certified ends of the sup where there are some (results before them: the grid's)
    upper = built.sup_upper.fillna(built.err_sup) if "sup_upper" in built else built.err_sup
    lower = built.sup_lower.fillna(built.err_sup) if "sup_lower" in built else built.err_sup
    allowed = built.bound * (1 + 1e-9) + 1e-12  # rounding only
    gridded = built.sup_method.fillna("grid") == "grid" if "sup_method" in built else built.bound == built.bound
    certain = (upper <= allowed) & ~gridded  # the whole interval below the bound
    exceeded = lower > allowed  # the whole interval above it
    ratio = (lower / built.bound).max()

    def slopes(method: str, kinds: tuple[str, ...]) -> str:
        part = sup[(sup.method == method) & sup.kind.isin(kinds)]
        return ", ".join(f"{r.target} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in part.itertuples())

    sigmoid = [m for m in dict.fromkeys(errs.method) if m.startswith("sigmoid s=")]
    growing = [m for m in sigmoid if "n" in m]
    fixed = [m for m in sigmoid if "n" not in m]
    lip = ("smooth", "lipschitz")
    trained = [m for m in dict.fromkeys(errs.method) if m.startswith("trained")]
    text = [
        f"Sup error of one-hidden-layer approximants against width n (hidden units), slopes fitted "
        f"on n >= {FIT_MIN_WIDTH} with 95% intervals. Theory: a staircase of steep sigmoidal steps "
        f"through f's values is within omega(h/2) + tails of f, so O(1/n) on Lipschitz targets: the "
        f"constructive argument (Jones 1990, Proc. IEEE; drawn by Nielsen 2015, ch. 4), where "
        f"Cybenko's (1989) density proof is non-constructive (Hahn-Banach and Riesz representation); "
        f"the ReLU interpolant is within h^2/8 max|f''|, O(1/n^2), on C^2 targets. ReLU is not "
        f"sigmoidal, but Leshno, Lin, Pinkus & Schocken (1993) answer 'what about ReLU?' in general: "
        f"for a continuous (more generally locally bounded, with a set of discontinuities whose "
        f"closure has measure zero) activation, one hidden layer is dense in C(K) on every compact K "
        f"if and only if the activation is not a polynomial."
    ]
    for method in growing:
        text.append(f"Measured, {method}: {slopes(method, lip)}.")
    steep = [m for m in growing if m.endswith("n^2")]
    late = rates(df, min_width=STEEP_FIT_MIN_WIDTH)
    late = late[late.method.isin(steep) & late.kind.isin(lip) & (late.n_points > 2)]
    if len(growing) > 1:
        text.append("Steepness ~ n keeps s h fixed, so the sigmoids also blend neighbouring steps "
                    "(error below the sharp staircase's omega(h/2)); steepness ~ n^2 approaches the "
                    "sharp staircase, whose constant still grows towards omega(h/2) ~ L h / 2 at "
                    "small n, so its slope on n >= " f"{FIT_MIN_WIDTH} is not -1.")
    if len(late):
        hit = ((late.lo <= -1) & (late.hi >= -1)).sum()
        text.append(f"Fitted on n >= {STEEP_FIT_MIN_WIDTH} only, {late.method.iloc[0]}: " + ", ".join(
            f"{r.target} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in late.itertuples())
            + f" (-1 in {hit} of {len(late)} intervals).")
    text.append(f"ReLU ramp staircase (two ReLUs per step, 'put two together'): {slopes(RAMP, lip)}.")
    text.append(f"ReLU interpolant: smooth {slopes(INTERP, ('smooth',))}; Lipschitz (theory -1) "
                f"{slopes(INTERP, ('lipschitz',))}.")
    if "weierstrass" in set(errs.target):
        w = _targets.get("weierstrass")
        text.append(f"The truncated Weierstrass function is C^2 but rough (max|f''| = {w.max_f2:.2g}, "
                    f"L = {w.lipschitz:.3g}); its slopes stay pre-asymptotic at these widths.")
    if fixed:
        plateau = built[built.method == fixed[0]].groupby("target").err_sup.min()
        text.append(f"With fixed steepness ({fixed[0]}) the error stalls (tail term ~ L/s): best "
                    + ", ".join(f"{k} {v:.2g}" for k, v in plateau.items()) + ".")
    if exceeded.any():
        text.append(f"Some constructions exceeded their proven sup bound ({int(exceeded.sum())} of {len(built)}; "
                    f"largest certified lower end / bound {ratio:.4f})" + _certified_text(built) + ".")
    else:
        at = int((~certain & ~gridded).sum())
        text.append(f"Every construction stayed within its proven sup bound (largest error/bound {ratio:.4f}; "
                    f"1 where a bound is attained): certainly in {int(certain.sum())} of {len(built)} cases (the "
                    f"certified upper end is below the bound)"
                    + (f", and in {at} to within the certificate's gap (lower end <= bound < upper end: "
                       "bounds attained to within it, like h^2/8 max|f''| on square, whose f'' is constant)"
                       if at else "")
                    + (f", and in {int(gridded.sum())} on the evaluation grid only (no certificate: the step, "
                       "neither piecewise linear nor C^2)" if gridded.any() else "") + _certified_text(built) + ".")
    steps = built[built.kind == "discontinuous"] if "kind" in built else built.iloc[0:0]
    if len(steps):
        text.append(f"A discontinuous target has no uniform approximant by continuous units: the "
                    f"constructions' sup error on the step stays >= {steps.err_sup.min():.2f}."
                    + _lp_text(df, steps))
    if trained:
        runs = errs[errs.method.isin(trained)]
        text.append(diverged_text(runs, lambda r: f"{r.method.removeprefix('trained ')} on "
                                  f"{r.target} at n = {r.width} (seed {int(r.seed)})"))
        if (runs.status != "diverged").any():
            text += _trained_text(completed(errs), sup, trained)
            text += _slope_range_text(df, sup, trained)
    return " ".join(text)


def _slope_range_text(df: pd.DataFrame, sup: pd.DataFrame, trained: list[str]) -> list[str]:
    """The trained slopes on smooth targets as min .. max per activation, at the main learning rate
    over every width and per learning rate of the sweep over its widths; and the trained runs that
    fail: median sup error at their widest width above FAIL_FRACTION of the target's sup norm."""
    smooth = sup[sup.method.isin(trained) & (sup.kind == "smooth")]
    if not len(smooth):
        return []

    def span(part: pd.DataFrame) -> str:
        lo, hi = part.loc[part.slope.idxmin()], part.loc[part.slope.idxmax()]
        return f"{lo.slope:.2f} ({lo.target}) .. {hi.slope:.2f} ({hi.target})"

    errs = df[df.table == "error"]
    main_lr = errs[errs.method.isin(trained)].lr.iloc[0]
    widths = sorted(errs[errs.method.isin(trained)].width.unique())
    widths = [w for w in widths if w >= FIT_MIN_WIDTH]
    text = [f"Trained sup-error slopes on the smooth targets, min .. max over targets, at lr "
            f"{main_lr:g} on n = {widths[0]} .. {widths[-1]}: " + "; ".join(
                f"{m.removeprefix('trained ')} {span(smooth[smooth.method == m])}"
                for m in trained if (smooth.method == m).any()) + "."]
    sweep = sweep_rates(df)
    sweep = sweep[sweep.kind == "smooth"]
    lrs = sorted(sweep.lr.unique())
    if len(lrs) > 1:
        ws = sorted(df[df.table == "lr_sweep"].width.unique())
        ws = [w for w in ws if w >= FIT_MIN_WIDTH]
        best = sweep.groupby(["method", "lr"]).median_sup_widest.median()  # over smooth targets
        text.append(f"Learning-rate sweep (Adam, same steps, n = {', '.join(map(str, ws))}): " + "; ".join(
            f"{m.removeprefix('trained ')} " + ", ".join(
                f"lr {lr:g} {span(sweep[(sweep.method == m) & (sweep.lr == lr)])}"
                for lr in lrs if ((sweep.method == m) & (sweep.lr == lr)).any())
            + f" (lowest median sup error at n = {ws[-1]}: lr {best[m].idxmin():g})"
            for m in trained if m in best.index.get_level_values(0)) + ".")
    runs = completed(pd.concat([errs[errs.method.isin(trained)], df[df.table == "lr_sweep"]]))
    runs = runs[runs.kind == "smooth"]
    failed = []
    for (method, lr, target), part in runs.groupby(["method", "lr", "target"], sort=False):
        widest = part[part.width == part.width.max()].err_sup.median()
        if widest > FAIL_FRACTION * _targets.get(target).sup_norm:
            failed.append(f"{method.removeprefix('trained ')} on {target} at lr {lr:g} (sup error "
                          f"{part.err_sup.min():.2f} .. {part.err_sup.max():.2f} over n = "
                          f"{part.width.min()} .. {part.width.max()})")
    text.append(f"Trained runs that fail on a smooth target (median sup error at their widest n above "
                f"{FAIL_FRACTION:g} sup|f|): " + ("; ".join(failed) or "none") + ".")
    return text


def _certified_text(built: pd.DataFrame) -> str:
    """How the sup errors in the bound check were found (column sup_method), counted."""
    if "sup_method" not in built:
        return ", on the evaluation grid"
    count = built.sup_method.value_counts()
    how = {"exact": "exact (a piecewise-linear network on a piecewise-linear target: the error is "
                    "affine between breakpoints and kinks)",
           "certified": "certified (approx.sup_error: breakpoints and grid points plus a proven bound "
                        "on what lies between, refined to a relative gap "
                        f"{(built.sup_upper / built.sup_lower - 1).max():.1g} at most)",
           }
    return "; sup errors " + ", ".join(f"{how[k]} in {count[k]} cases" for k in how if k in count)


def _lp_text(df: pd.DataFrame, steps: pd.DataFrame) -> str:
    """Hornik (1991) on the step target: no uniform convergence, yet L2 convergence (the L2 slopes
    of the constructions that converge in L^p, read from the rows)."""
    l2 = rates(df, "err_l2")
    l2 = l2[l2.target.isin(set(steps.target)) & l2.method.isin(set(steps.method))
            & ~l2.method.str.fullmatch(r"sigmoid s=[\d.e+-]+")]  # a fixed steepness stalls
    if not len(l2):
        return ""
    return (f" Yet it is approximated in L^2 (Hornik 1991: for bounded non-constant activations one "
            f"hidden layer is dense in L^p(mu), 1 <= p < inf, for finite mu): L2-error slopes "
            f"{l2.slope.min():.2f} .. {l2.slope.max():.2f}, near the -1/2 of an O(1) error on an "
            f"interval of width ~1/n.")


def _trained_text(errs: pd.DataFrame, sup: pd.DataFrame, trained: list[str]) -> list[str]:
    """The gallery sentences on the trained networks, numbers read from the rows."""
    rows = errs[errs.method.isin(trained)]
    first = rows.iloc[0]
    output = ("a mean-field output layer (1/n) sum a_i h_i" if first.mean_field
              else "a standard output layer")
    optimizer = optimizer_of(first)
    how = (f"Adam ({first.steps:.0f} steps, cosine schedule from lr {first.lr:g}) on mini-batches of "
           f"{first.batch_size:.0f} from" if optimizer == "adam"
           else f"{OPTIMIZER_NAMES[optimizer]} ({first.steps:.0f} iterations) on all")
    text = [f"Trained networks ({rows.seed.nunique()} seeds per width and activation, medians): {how} "
            f"{first.n_train:.0f} grid points, {first.train_dtype}, "
            f"{output}. Fitted slopes: " + "; ".join(
                f"{m}: " + ", ".join(f"{r.target} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]"
                                     for r in sup[sup.method == m].itertuples())
                for m in trained) + "."]
    widths = sorted(rows.width.unique())
    middle = min(widths, key=lambda w: abs(math.log(w) - math.log(widths[0] * widths[-1]) / 2))
    best = (rows.groupby(["target", "width", "method"]).err_sup.median()
            .groupby(["target", "width"]).min())  # (target, width) -> best activation's median
    interp = errs[errs.method == INTERP].groupby(["target", "width"]).err_sup.first()
    names = [t for t in dict.fromkeys(rows.target) if _targets.get(t).kind != "discontinuous"]
    both = [t for t in names if (t, middle) in best and (t, widths[-1]) in best]  # not all diverged
    if middle < widths[-1] and both:
        fall = [best[t, middle] / best[t, widths[-1]] for t in both]
        fall_interp = [interp[t, middle] / interp[t, widths[-1]] for t in both
                       if (t, middle) in interp and (t, widths[-1]) in interp]
        text.append(
            f"Best trained sup error (best activation) at n = {middle} and n = {widths[-1]}, with the "
            f"interpolant's in brackets: " + ", ".join(
                f"{t} {best[t, middle]:.2g} -> {best[t, widths[-1]]:.2g} "
                f"({interp.get((t, middle), math.nan):.2g} -> {interp.get((t, widths[-1]), math.nan):.2g})"
                for t in both)
            + f". Over these {widths[-1] // middle}x more units the trained error fell by a median "
            f"factor of {np.median(fall):.2g}, the interpolant's by {np.median(fall_interp):.3g}: the "
            "trained curves level off while constructions of the same widths keep their rates, so "
            "what limits them there is the optimisation (its step budget), not the width.")
    wins = {t: [w for w in widths if w >= FIT_MIN_WIDTH
                and best.get((t, w), math.inf) < interp.get((t, w), -math.inf)] for t in names}
    wins = {t: w for t, w in wins.items() if w}

    def span(ws: list[int]) -> str:
        contiguous = ws == [w for w in widths if ws[0] <= w <= ws[-1]]
        return f"n = {ws[0]}" if len(ws) == 1 else (
            f"n = {ws[0]} .. {ws[-1]}" if contiguous else "n = " + ", ".join(map(str, ws)))

    text.append(f"At n >= {FIT_MIN_WIDTH} training beat the interpolant of the same width on "
                + (", ".join(f"{t} ({span(ws)})" for t, ws in wins.items()) or "no target")
                + (" (trained units can go where the target bends, onto the kinks of abs and "
                   "triangle; the interpolant's knots are evenly spaced)."
                   if set(wins) & {"abs", "triangle"} else "."))
    return text
