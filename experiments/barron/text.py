"""The barron study's gallery paragraph, every number read from the DataFrame."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._shallow import OPTIMIZER_NAMES, diverged_text, optimizer_of
from .analysis import (budget_effects, completed, main_budget, rates, relative_error_width, second_order_limits,
                       unit_activation, unit_optimizer)
from .config import FLOOR_FACTOR, RF_TARGET, RIDGE1



def describe(df: pd.DataFrame) -> str:
    table = rates(df)
    trained = main_budget(df[(df.method == "trained") & (df.family != RIDGE1)])
    trained = trained.assign(optimizer=unit_optimizer(trained))
    floors = budget_effects(df)
    floored = {(r.optimizer, r.family, r.d) for r in floors.itertuples() if r.factor >= FLOOR_FACTOR}
    parts = [
        "Barron (1993): with a finite Barron constant C the best n-unit sigmoid network on "
        "[0, 1]^d has squared L2 error <= (2C)^2/n, slope -1 whatever d, where n fixed basis "
        "functions cannot beat n^(-2/d) (Thm 6)."
    ]
    main = table[table.family != RIDGE1]
    for (method, optimizer, family), part in main.groupby(["method", "optimizer", "family"], sort=False):
        if method == "trained":
            dropped = [r.d for r in part.itertuples() if (optimizer, family, r.d) in floored]
            part = part[~part.d.isin(dropped)]
        slopes = ", ".join(f"d={r.d} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in part.itertuples())
        if method == "trained" and dropped:
            slopes += (f" (d = {', '.join(map(str, dropped))} dropped: a budget floor, below)" if slopes
                       else f"none (d = {', '.join(map(str, dropped))}: budget floors, below)")
        by = f" ({OPTIMIZER_NAMES[optimizer]}, n = {_widths(trained, optimizer, family)})" if optimizer else ""
        parts.append(f"Fitted slopes, {family} {method}{by}: {slopes}.")
    optimizers = list(dict.fromkeys(trained.optimizer))
    second = [o for o in optimizers if o != "adam"]
    if second:
        parts.append(_second_order_text(df, table, second_order_limits(df), floored))
    sampled = df[df.method == "sampled"]
    if len(sampled):
        parts.append(_sampled_text(sampled, table, trained[trained.optimizer == optimizers[0]] if optimizers
                                   else trained))
    if len(trained):
        parts.append(diverged_text(df[df.method == "trained"],
                                   lambda r: f"{r.family} d = {r.d} n = {r.width} (seed {r.seed})"))
    trained = completed(trained)
    finite = trained[np.isfinite(trained.barron_constant)]
    if len(finite):
        parts.append(_vacuous_text(finite))
    for optimizer in dict.fromkeys(trained.optimizer):  # those with runs that did not diverge
        parts.append(_trained_text(trained[trained.optimizer == optimizer]))
    if len(floors):
        parts.append(_budget_text(floors))
    fixed = df[df.family == RIDGE1]
    if (fixed.method == "random_features").any():
        parts.append(_fixed_basis_text(fixed, table))
    return " ".join(parts)


def _times(ratio: float) -> str:
    """Adam's error over another optimizer's in words: "13x lower" (the other's), "2x higher"."""
    return f"{ratio:.2g}x lower" if ratio >= 1 else f"{1 / ratio:.2g}x higher"


def _widths(trained: pd.DataFrame, optimizer: str, family: str) -> str:
    """The range of widths an optimizer trained on a family: "4 .. 512"."""
    widths = trained[(trained.optimizer == optimizer) & (trained.family == family)].width
    return f"{widths.min()} .. {widths.max()}"


LIMITS = {  # what limits a second-order slope above -1 (analysis.second_order_limits), in words
    "sample": "the test error is {gap:.2g}x the training loss: the sample, not the optimizer, limits it",
    "budget": "the second half of the iterations still lowered the training loss {ratio:.2g}x: the iteration "
              "budget limits it",
    "stalled": "{n_stalled} of {n} runs stalled (no step lowered the loss): a minimum of the optimizer limits it",
    "plateau": "the training loss fell less than {FLOOR:g}x over the second half of the iterations and the test "
               "error is close to it: the optimizer had levelled off at a training loss it does not leave within "
               "the budget (a local minimum or a slow region), not the sample",
}


def _second_order_text(df: pd.DataFrame, table: pd.DataFrame, limits: pd.DataFrame, floored: set) -> str:
    """The second-order slopes against Barron's -1: where the point estimate is at or below -1,
    and where it is not, what the widest width measured (analysis.second_order_limits); beside
    them Adam's slopes fitted on the same widths, so that the two are compared like for like."""
    trained = completed(main_budget(df[(df.method == "trained") & (df.family != RIDGE1)]))
    trained = trained.assign(optimizer=unit_optimizer(trained))
    second = table[(table.method == "trained") & ~table.optimizer.isin(["adam", ""]) & (table.family != RIDGE1)]
    texts = []
    for (optimizer, family), part in second.groupby(["optimizer", "family"], sort=False):
        name = OPTIMIZER_NAMES[optimizer]
        rows = trained[(trained.optimizer == optimizer) & (trained.family == family)]
        first = rows.iloc[0]
        reached = [r.d for r in part.itertuples() if r.slope <= -1]
        short = [r for r in part.itertuples() if r.slope > -1]
        text = (f"{name} ({first.steps:.0f} iterations on the full batch of {first.n_train:.0f} training points, "
                f"{first.train_dtype}; {family}, n = {rows.width.min()} .. {rows.width.max()}): fitted slope <= -1, "
                f"Barron's rate, at d = {', '.join(map(str, reached)) if reached else 'none'}")
        for r in short:
            lim = limits[(limits.optimizer == optimizer) & (limits.family == family) & (limits.d == r.d)].iloc[0]
            why = LIMITS[lim.limit].format(FLOOR=FLOOR_FACTOR, ratio=lim.half / lim.train, gap=lim.test / lim.train,
                                           n_stalled=lim.n_stalled, n=lim.n)
            floor = ""
            if (optimizer, family, r.d) in floored:  # measured directly: more iterations lowered the error
                floor = " (a budget floor, below)"
                why = (f"more iterations lowered the test MSE {FLOOR_FACTOR:g}x or more (step budget, below): "
                       "the iteration budget limits it")
            text += (f"; at d = {r.d} it is {r.slope:.2f}{floor}: at n = {lim.width} the median training MSE "
                     f"{lim.train:.2g}, after half the iterations {lim.half:.2g}, test MSE {lim.test:.2g}, so {why}")
        adam = trained[(trained.optimizer == "adam") & (trained.family == family) & trained.width.isin(rows.width)
                       & trained.d.isin(part.d)]
        same = rates(adam)
        if len(same):
            text += (f". Adam's slopes on the same widths: "
                     + ", ".join(f"d={r.d} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in same.itertuples()))
            w = adam.width.max()  # the widest width both trained
            mine = rows[rows.width == w].groupby("d").test_mse.median()
            theirs = adam[adam.width == w].groupby("d").test_mse.median()
            text += (f"; median test MSE at n = {w}, {name} against Adam: "
                     + ", ".join(f"d={d} {mine[d]:.2g} vs {theirs[d]:.2g} ({_times(theirs[d] / mine[d])})"
                                 for d in theirs.index if d in mine.index))
        texts.append(text + ".")
    return " ".join(texts)


def _sampled_text(sampled: pd.DataFrame, table: pd.DataFrame, trained: pd.DataFrame) -> str:
    """The sampled networks against their expected-error bound (normalised by V^2), and against
    the trained networks of the same widths."""
    normalised = "variation" in sampled
    scale = sampled.variation ** 2 if normalised else 1.0
    scaled = (sampled.test_mse * sampled.width / scale).groupby(sampled.d).median()
    below = (sampled.groupby(["d", "width"]).test_mse.mean()
             <= sampled.groupby(["d", "width"]).sampled_bound.first()).all()
    sampled_rates = table[table.method == "sampled"]
    law = ("-1 lies in every interval" if ((sampled_rates.lo <= -1) & (sampled_rates.hi >= -1)).all()
           else "-1 is NOT in every interval")
    what = "n x MSE / V^2" if normalised else "n x MSE"
    text = (f"The sampled networks (Barron's proof, {sampled.seed.nunique()} draws per width, up to "
            f"n = {sampled.width.max()}) track their expected-error bound ~V^2/n (V = the sampling "
            f"measure's mass, <= 2C): {what} = " + ", ".join(f"{v:.3g} (d = {d})" for d, v in scaled.items())
            + f"; their mean error is {'below' if below else 'NOT below'} the bound at every width, and "
            f"{law} of their slopes. That is a check of the sampling (the variance of a mean of n "
            "independent draws is V^2/n by construction), not a finding about networks.")
    common = sorted(set(sampled.width) & set(trained[trained.family == "ridge_nd"].width))
    if common:
        w = common[-1]
        ridge = completed(trained[(trained.family == "ridge_nd") & (trained.width == w)])
        t = ridge.groupby("d").test_mse.median()
        m = sampled[sampled.width == w].groupby("d").test_mse.median()
        dims = [d for d in m.index if d in t.index]
        text += (f" Trained networks beat them: median test MSE at n = {w}, trained against sampled, "
                 + ", ".join(f"d = {d} {t[d]:.2g} vs {m[d]:.2g} ({m[d] / t[d]:.2g}x)" for d in dims) + ".")
    return text


def _vacuous_text(finite: pd.DataFrame) -> str:
    """(2C)^2/n against the trained errors, only in the cells where the bound is below Var f (else
    predicting the mean would pass it too)."""
    cells = finite.groupby(["family", "d", "width"]).agg(bound=("barron_bound", "first"),
                                                         var=("target_var", "median"))
    useful = cells[cells.bound < cells["var"]]
    text = (f"(2C)^2/n is below Var f (non-vacuous: predicting the mean would not meet it) in "
            f"{len(useful)} of {len(cells)} (d, n) cells of the finite-C family")
    if not len(useful):
        return text + "; no trained error is compared with it."
    keys = finite.set_index(["family", "d", "width"]).index.isin(useful.index)
    runs = finite[keys]
    above = int((runs.test_mse > runs.barron_bound).sum())
    where = ", ".join(f"d={d} n={w}" for _, d, w in useful.index)
    return (text + f" ({where}); there {len(runs) - above} of {len(runs)} trained networks are below it"
            + ("." if above == 0 else f" and {above} above."))


def _budget_text(floors: pd.DataFrame) -> str:
    """The step-budget sweep: how much more steps lowered the median test MSE."""
    return ("Step budget: " + "; ".join(
        f"{r.family} d={r.d} n={r.width}{_by(r.optimizer)}: {r.budget:g}x the steps took the median test MSE from "
        f"{r.base:.2g} to {r.more:.2g} ({r.factor:.2g}x lower)" for r in floors.itertuples())
        + f". Where it fell {FLOOR_FACTOR:g}x or more the error was a budget floor, and that (family, d)'s "
        "trained slope is dropped above; where no budget was swept, the slopes may still be floors.")


def _by(optimizer: str) -> str:
    """" (L-BFGS)" after a second-order optimizer's cell; nothing after Adam's, the main runs'."""
    return "" if optimizer == "adam" else f" ({OPTIMIZER_NAMES[optimizer]})"


def _fixed_basis_text(fixed: pd.DataFrame, table: pd.DataFrame) -> str:
    """Random features against trained networks on the single ridge: slopes, and the N needed for
    MSE / Var f = RF_TARGET from each fitted line, per d."""
    rows = table[table.family == RIDGE1]
    var = fixed.groupby("d").target_var.median()
    widest = fixed.width.max()
    runs = main_budget(completed(fixed))
    runs = runs.assign(activation=unit_activation(runs), rel=runs.test_mse / runs.target_var)
    rel = runs.groupby(["method", "activation", "d", "width"]).rel.median()
    parts = []
    for (method, activation), part in rows.groupby(["method", "activation"], sort=False):
        name = "trained sigmoid networks" if method == "trained" else f"random {activation} features"

        def needed(r) -> str:
            curve = rel[method, activation, r.d]  # width -> median MSE / Var f
            reached = curve[curve <= RF_TARGET]
            if len(reached):  # measured: the smallest N that got there
                return f"{reached.index.min()}"
            n = relative_error_width(r, var[r.d])
            if math.isinf(n):
                return "never (slope >= 0)"
            return f"> {100 * widest}" if n > 100 * widest else f"{n:.3g}*"

        parts.append(f"{name}: " + ", ".join(
            f"d={r.d} slope {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}], MSE/Var {rel[method, activation, r.d].iloc[0]:.2g} "
            f"-> {rel[method, activation, r.d].iloc[-1]:.2g}, N {needed(r)}" for r in part.itertuples()))
    first = fixed[fixed.method == "random_features"].iloc[0]
    return (f"Fixed basis against adaptive units (Barron 1993, Thm 6) on one ridge cos(2 pi w . (x - c)) "
            f"with a random unit direction w: random features are the networks' own random first layer "
            f"(drawn without w), frozen, with the output layer fitted by least squares on the same "
            f"{first.n_train:.0f} points; slopes of test MSE "
            f"against N, median MSE / Var f at the smallest -> largest N, and the smallest N measured with "
            f"MSE / Var f <= {RF_TARGET:g} (* where none did: extrapolated from the fitted line beyond the "
            f"largest N, {widest}): " + "; ".join(parts) + ".")


def _trained_text(trained: pd.DataFrame) -> str:
    """The gallery sentence on the trained networks, numbers read from the rows."""
    first = trained.iloc[0]
    widths = sorted(trained.width.unique())
    middle = min(widths, key=lambda w: abs(np.log(w) - np.log(widths[0] * widths[-1]) / 2))
    shown = sorted({widths[0], middle, widths[-1]})
    rel = (trained.test_mse / trained.target_var).groupby(
        [trained.family, trained.d, trained.width]).median()  # (family, d, width) -> median
    output = "mean-field output layer" if first.mean_field else "standard output layer"
    name = OPTIMIZER_NAMES[optimizer_of(first)]
    how = (f"Adam, {first.steps:.0f} steps, cosine schedule from lr {first.lr:g}, mini-batches of "
           f"{first.batch_size:.0f} from" if name == "Adam" else f"{name}, {first.steps:.0f} iterations on all")
    return (
        f"Trained networks ({trained.seed.nunique()} seeds; {how} "
        f"{first.n_train:.0f} uniform points, {output}, {first.train_dtype}): median test MSE / "
        f"Var f at n = {' -> '.join(map(str, shown))}: "
        + ", ".join(f"{fam} d={d} " + " -> ".join(f"{rel.get((fam, d, w), np.nan):.2g}" for w in shown)
                    for fam in dict.fromkeys(trained.family) for d in sorted(trained.d.unique()))
        + f". Where these stop falling, {name}'s step budget, not the width, can set the error, so the "
        "trained slopes mix approximation with optimisation; the theorem bounds the best network of "
        "each width, which no measurement here finds.")
