"""The gallery text of experiments/training_gap: the gap to the interpolant per optimizer setting,
rates against width and budget, the comparison of inits, the cost (and LM's solve in its two forms),
and the study's targets met or missed per init, every number read from the DataFrame (the figure
is in figure.py). Everything but the init comparison reads the first init's rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._shallow import diverged_text
from .analysis import (
    SMOOTH_KINDS, budget_exponents, final, init_ratios, inits, labels, medians, of_init, reference_errors,
    study_targets, trained, width_slopes,
)
from .config import FIT_MIN_WIDTH, SETTINGS

__all__ = ["describe"]


def describe(df: pd.DataFrame) -> str:
    every_init, order = df, inits(df)
    df = of_init(df, order[0])
    rows = trained(df)
    label = labels(df)
    settings = [s for s in SETTINGS if s in set(rows.setting)]
    first = rows.iloc[0]
    widths = sorted(rows.width.unique())
    text = [
        f"Trained one-hidden-layer networks ({', '.join(dict.fromkeys(rows.activation))}) on "
        f"{', '.join(dict.fromkeys(rows.target))}, n = {', '.join(map(str, widths))}, {rows.seed.nunique()} seeds, "
        f"{first.n_train:.0f} training points on an even grid, every setting from the same starting networks "
        f"(the {order[0]} init; {_inits_run_text(every_init, order)}); "
        "sup error: the largest over the evaluation grid, the breakpoints and bisected intervals (exact for ReLU "
        f"networks on abs and triangle); {_certified_text(rows)}. Settings: "
        + "; ".join(_setting_text(rows[rows.setting == s], label[s]) for s in settings) + "."
    ]
    text += _gap_text(df, settings, label)
    text += _rates_text(df, settings, label)
    text += _init_text(every_init, order)
    text.append(_cost_text(df, settings, label))
    text += _solve_cost_text(every_init)
    for k, init in enumerate(order):
        verdicts = study_targets(of_init(every_init, init))
        text.append((f"The study's targets ({init} init): " if k == 0 else f"With the {init} init: ") + "; ".join(
            f"{v['target']}: {v['verdict'].upper()} ({v['detail']}"
            + (f"; missed at {', '.join(v['failures'][:4])}{' ...' if len(v['failures']) > 4 else ''}"
               if v["verdict"] == "missed" else "") + ")" for v in verdicts) + ".")
    text.append(_status_text(every_init, order, label))
    text.append(diverged_text(trained(every_init), lambda r: f"{r.setting} {r.activation} on {r.target} at n = "
                              f"{r.width} ({r.steps:.0f} steps, seed {int(r.seed)})"))
    return " ".join(text)


def _inits_run_text(df: pd.DataFrame, order: list[str]) -> str:
    """Which settings also ran the other inits."""
    if len(order) < 2:
        return "no other init"
    rows = trained(df)
    others = rows[rows.init.isin(order[1:])]
    ran = ", ".join(f"{s} ({', '.join(dict.fromkeys(part.activation))}, n <= {part.width.max():.0f})"
                    for s, part in others.groupby("setting", sort=False))
    return f"also from the {', '.join(order[1:])} init: {ran or 'no setting'}"


def _init_text(df: pd.DataFrame, order: list[str]) -> list[str]:
    """Per (activation, setting) that ran several inits: the median over targets of trained /
    interpolant sup error per init at each width."""
    if len(order) < 2:
        return []
    ratios = init_ratios(df).drop_duplicates(["activation", "setting", "init", "width"])
    parts = []
    for (activation, setting), part in ratios.groupby(["activation", "setting"], sort=False):
        if part.init.nunique() < 2:
            continue
        table = part.pivot(index="width", columns="init", values="ratio_over_targets")
        table = table[[i for i in order if i in table.columns]]
        parts.append(f"{activation} {setting}: " + "; ".join(
            f"n = {w:.0f} " + ", ".join(f"{i} {v:.3g}" for i, v in row.items() if np.isfinite(v))
            for w, row in table.iterrows()))
    if not parts:
        return []
    return ["By init, median over targets of trained / interpolant sup error (largest budget): "
            + " | ".join(parts) + "."]


def _solve_cost_text(df: pd.DataFrame) -> list[str]:
    """LM's iteration per member in the primal and the dual form, per timed width."""
    every = df[df.table == "solve_cost"]
    if not len(every):
        return []
    first = every.iloc[0]
    cost = every[every.n_train == first.n_train]  # the study's own m (solve_cost.py's first rows)
    table = cost.pivot(index="width", columns="form", values="iteration_s")
    solve = cost.pivot(index="width", columns="form", values="solve_s")
    chosen = cost[cost.chosen.astype(bool)].set_index("width").form
    parts = [f"n = {w:.0f} (P = {3 * w + 1:.0f}): primal {table.primal[w] * 1e3:.3g} ms, dual "
             f"{table.dual[w] * 1e3:.3g} ms ({chosen[w]} taken; its solve {solve[chosen[w]][w] / table[chosen[w]][w]:.0%} "
             "of the iteration)" for w in table.index]
    text = [f"One LM iteration per member (Jacobian, QR of [J r] for the primal form, one damped solve; "
            f"fastest of 3, {first.n_members:.0f} members, m = {first.n_train:.0f} residuals, {first.activation}): "
            + "; ".join(parts) + "."]
    widest = every[every.width == every.width.max()]
    if widest.n_train.nunique() > 1:  # the cost against the batch m, at the widest timed network
        by_m = widest.pivot(index="n_train", columns="form", values="iteration_s")
        taken = widest[widest.chosen.astype(bool)].set_index("n_train").form
        text.append(f"Against the batch, n = {widest.width.iloc[0]:.0f} (P = {widest.n_params.iloc[0]:.0f}): " + "; ".join(
            f"m = {m:.0f}: primal {by_m.primal[m] * 1e3:.3g} ms, dual {by_m.dual[m] * 1e3:.3g} ms ({taken[m]} taken)"
            for m in by_m.index) + "; the primal form's cost grows like m P^2, the dual's like m^2 P.")
    return text


def _certified_text(rows: pd.DataFrame) -> str:
    """How close the certified bounds came to the measured sup errors."""
    close = rows.sup_error_bound <= rows.sup_error * (1 + 1e-3) + 1e-15
    text = (f"the certified upper bound (approx.sup_error) is within 0.1% of it for {int(close.sum())} of "
            f"{len(rows)} trained networks")
    if not close.all():
        worst = rows.loc[(rows.sup_error_bound / rows.sup_error)[~close].idxmax()]
        text += (f" (the widest: {worst.sup_error:.2g} with a bound of {worst.sup_error_bound:.2g}, "
                 f"{worst.setting} {worst.activation} on {worst.target} at n = {worst.width:.0f}, "
                 "where the bisection's budget of points ran out)")
    return text


def _setting_text(rows: pd.DataFrame, name: str) -> str:
    budgets = ", ".join(f"{b:.0f}" for b in sorted(rows.steps.unique()))
    unit = "steps" if rows.optimizer.iloc[0] == "adam" else "iterations"
    return f"{name}, {budgets} {unit}, n <= {rows.width.max():.0f}"


def _gap_text(df: pd.DataFrame, settings: list[str], label: dict) -> list[str]:
    """Per activation, at the widest width every setting trained: the median over targets of
    (median trained sup error / interpolant's), per setting, and the best setting per target."""
    rows = final(df)
    med = medians(df).droplevel("steps")
    interp = reference_errors(df)
    out = []
    for activation in dict.fromkeys(rows.activation):
        part = rows[rows.activation == activation]
        common = set.intersection(*(set(part[part.setting == s].width) for s in settings))
        if not common:
            continue
        width = max(common)
        ratios, best = {}, []
        for s in settings:
            r = [med[(t, activation, s, width)] / interp[(t, width)] for t in dict.fromkeys(part.target)
                 if (t, activation, s, width) in med.index and interp[(t, width)] > 0]
            ratios[s] = float(np.median(r)) if r else np.nan
        for t in dict.fromkeys(part.target):
            here = {s: med[(t, activation, s, width)] for s in settings if (t, activation, s, width) in med.index}
            if here:
                s = min(here, key=here.get)
                best.append(f"{t} {here[s]:.2g} by {s} (interpolant {interp[(t, width)]:.2g})")
        out.append(f"{activation} at n = {width}: median over targets of trained / interpolant sup error "
                   + ", ".join(f"{label[s]} {ratios[s]:.3g}" for s in settings)
                   + "; best median per target: " + ", ".join(best) + ".")
    return out


def _rates_text(df: pd.DataFrame, settings: list[str], label: dict) -> list[str]:
    """Slopes against the width on the C^2 targets (where the interpolant's is -2), and the
    exponents against the budget at the budget widths."""
    slopes = width_slopes(df)
    smooth = [t for t in dict.fromkeys(df[df.table == "reference"].target)
              if df[df.target == t].kind.iloc[0] in SMOOTH_KINDS]
    slopes = slopes[slopes.target.isin(smooth)]
    out = []
    interp = slopes[slopes.setting == "interpolant"]
    if len(interp):
        parts = []
        for s in settings:
            for activation, part in slopes[slopes.setting == s].groupby("activation", sort=False):
                parts.append(f"{label[s]}, {activation}: " + ", ".join(f"{r.target} {r.slope:.2f}"
                                                                       for r in part.itertuples()))
        out.append(f"Sup-error slopes against n on the C^2 targets (n >= {FIT_MIN_WIDTH}, fitted on the medians "
                   "over seeds): interpolant " + ", ".join(f"{r.target} {r.slope:.2f}" for r in interp.itertuples())
                   + "; " + "; ".join(parts) + ".")
    alphas = budget_exponents(df)
    rows = trained(df)
    alphas = alphas[alphas.width.isin(set(rows[rows.budget_width.astype(bool)].width))]
    if len(alphas):
        out.append(f"Exponent alpha of median sup error ~ budget^(-alpha) at n = "
                   f"{', '.join(str(int(w)) for w in sorted(alphas.width.unique()))} (median over targets, "
                   "activations and these widths, and its range): " + ", ".join(
                       f"{label[s]} {alphas[alphas.setting == s].alpha.median():.2f} "
                       f"({alphas[alphas.setting == s].alpha.min():.2f} .. {alphas[alphas.setting == s].alpha.max():.2f})"
                       for s in settings if (alphas.setting == s).any())
                   + "; a setting with one budget has none.")
    return out


def _cost_text(df: pd.DataFrame, settings: list[str], label: dict) -> str:
    rows = final(df)
    parts = []
    for s in settings:
        part = rows[rows.setting == s]
        widest = part[part.width == part.width.max()].iloc[0]
        per = widest.wall_s / widest.steps / widest.n_members
        parts.append(f"{label[s]} {per * 1e3:.2g} ms at n = {widest.width:.0f} ({widest.wall_s:.1f} s for "
                     f"{widest.steps:.0f} on {widest.n_members:.0f} networks, {widest.activation})")
    total = rows.drop_duplicates(["activation", "setting", "width", "steps"]).wall_s.sum()
    return (f"Wall time per step (or iteration) and network, ensembles trained as one batch: " + "; ".join(parts)
            + f". Training at the largest budgets took {total:.0f} s in all.")


def _status_text(df: pd.DataFrame, order: list[str], label: dict) -> str:
    rows = final(df)
    parts = []
    for init in order:
        part = of_init(rows, init)
        for s in [s for s in SETTINGS if s in set(part.setting)]:
            counts = part[part.setting == s].status.value_counts()
            parts.append(f"{label[s]}{f' ({init} init)' if len(order) > 1 else ''} "
                         + ", ".join(f"{n} {status}" for status, n in counts.items()))
    return ("How the runs ended at the largest budget (stalled: L-BFGS found no decrease, or LM's damping "
            "exceeded its maximum; converged: the loss reached its target): " + "; ".join(parts) + ".")
