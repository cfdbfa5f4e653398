"""The gallery text of experiments/universal: theorems, predictions and measured rates, every number
read from the DataFrame (the figure is in figure.py)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from approx import targets as _targets

from .._shallow import OPTIMIZER_NAMES, diverged_text, optimizer_of
from .analysis import completed, rates
from .config import FIT_MIN_WIDTH, INTERP, RAMP

__all__ = ["describe"]


def describe(df: pd.DataFrame) -> str:
    errs = df[df.table == "error"]
    sup = rates(df)
    built = errs[errs.seed < 0]
    ratio = (built.err_sup / built.bound).max()
    within = bool((built.err_sup <= built.bound * (1 + 1e-9) + 1e-12).all())  # rounding only

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
        f"(Cybenko 1989, Nielsen ch. 4) is within omega(h/2) + tails of f, so O(1/n) on Lipschitz "
        f"targets; the ReLU interpolant is within h^2/8 max|f''|, O(1/n^2), on C^2 targets."
    ]
    for method in growing:
        text.append(f"Measured, {method}: {slopes(method, lip)}.")
    if len(growing) > 1:
        text.append("Steepness ~ n keeps s h fixed, so the sigmoids also blend neighbouring steps "
                    "(error below the sharp staircase's omega(h/2)); steepness ~ n^2 approaches the "
                    "sharp staircase, whose constant grows towards omega(h/2) ~ L h / 2: the same "
                    "O(1/n) rate, reached later.")
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
    text.append(f"{'Every construction stayed within its' if within else 'Some constructions exceeded their'} "
                f"proven sup bound (largest error/bound {ratio:.4f}; 1 where a bound is attained).")
    steps = built[built.kind == "discontinuous"] if "kind" in built else built.iloc[0:0]
    if len(steps):
        text.append(f"A discontinuous target has no uniform approximant by continuous units: the "
                    f"constructions' sup error on the step stays >= {steps.err_sup.min():.2f}.")
    if trained:
        runs = errs[errs.method.isin(trained)]
        text.append(diverged_text(runs, lambda r: f"{r.method.removeprefix('trained ')} on "
                                  f"{r.target} at n = {r.width} (seed {int(r.seed)})"))
        if (runs.status != "diverged").any():
            text += _trained_text(completed(errs), sup, trained)
    return " ".join(text)


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
