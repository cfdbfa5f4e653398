"""What the figure and the text of experiments/training_gap both read off the DataFrame: medians over
seeds, slopes against the width, exponents against the budget, and the study's targets.

Medians and fits leave out diverged runs (frozen early, they measure no training). Slopes and
exponents are fitted on the medians over seeds (approx.metrics.loglog_slope, 95% intervals), so
one seed stuck in a poor minimum does not set a rate.

Inits: the functions below read the rows of one first-layer init; ``of_init`` selects them (with
the references), ``inits`` lists the inits in the rows, and ``init_ratios`` compares them."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from approx.metrics import loglog_slope

from .config import FIT_MIN_WIDTH, INTERP

__all__ = ["trained", "completed", "final", "labels", "medians", "reference_errors", "width_slopes",
           "budget_exponents", "study_targets", "inits", "of_init", "init_ratios", "EXACT", "SMOOTH_KINDS",
           "INIT_BEFORE"]

EXACT = 1e-10  # a sup error at or below this is an exact fit (the study's threshold)
SMOOTH_KINDS = ("smooth", "rough")  # C^2 targets
INIT_BEFORE = "steep"  # the init of rows written before the init column existed


def inits(df: pd.DataFrame) -> list[str]:
    """The inits of the trained rows, in their order (the first is the one every setting ran)."""
    rows = trained(df)
    return list(dict.fromkeys(rows.init.fillna(INIT_BEFORE))) if "init" in rows else [INIT_BEFORE]


def of_init(df: pd.DataFrame, init: str) -> pd.DataFrame:
    """The rows of one init: its trained rows and curves, and every row without an init (the
    references, the solve cost); all rows when the results predate the init column."""
    if "init" not in df:
        return df
    return df[df.init.isna() | (df.init == init)]


def init_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of trained / interpolant sup error per (activation, setting, init, target,
    width) at each setting's largest budget, without diverged runs; columns ratio and, per
    (activation, setting, init, width), the median of that over targets: ratio_over_targets."""
    rows = completed(final(df))
    rows = rows.assign(init=rows.init.fillna(INIT_BEFORE) if "init" in rows else INIT_BEFORE,
                       ratio=rows.sup_error / rows.interpolant_sup_error)
    keys = ["activation", "setting", "init", "width"]
    med = rows.groupby(keys + ["target"], sort=False).ratio.median().reset_index()
    med["ratio_over_targets"] = med.groupby(keys, sort=False).ratio.transform("median")
    return med


def trained(df: pd.DataFrame) -> pd.DataFrame:
    return df[df.table == "trained"]


def completed(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows without diverged runs."""
    return rows[rows.status != "diverged"]


def final(df: pd.DataFrame) -> pd.DataFrame:
    """The trained rows at each setting's largest budget."""
    rows = trained(df)
    largest = rows.groupby("setting").steps.transform("max")
    return rows[rows.steps == largest]


def labels(df: pd.DataFrame) -> dict[str, str]:
    """setting -> a label that tells the two Adams apart: "adam (float32, batch 32)", "lm (float64)"."""
    out = {}
    for setting, rows in trained(df).groupby("setting", sort=False):
        first = rows.iloc[0]
        batch = "full batch" if first.batch_size >= first.n_train else f"batch {first.batch_size:.0f}"
        out[setting] = (f"{first.optimizer} ({first.precision}, {batch})" if first.optimizer == "adam"
                        else f"{first.optimizer} ({first.precision})")
    return out


def medians(df: pd.DataFrame, column: str = "sup_error", rows: pd.DataFrame | None = None) -> pd.Series:
    """Median of ``column`` over seeds per (target, activation, setting, width, steps), without
    diverged runs; ``rows`` defaults to the final rows (each setting's largest budget)."""
    rows = final(df) if rows is None else rows
    return completed(rows).groupby(["target", "activation", "setting", "width", "steps"])[column].median()


def reference_errors(df: pd.DataFrame, method: str = INTERP) -> pd.Series:
    """(target, width) -> the construction's sup error."""
    refs = df[(df.table == "reference") & (df.method == method)]
    return refs.set_index(["target", "width"]).sup_error


def _slope_row(x, y) -> dict | None:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = (y > 0) & np.isfinite(y)
    if keep.sum() < 2:
        return None
    rate = loglog_slope(x[keep], y[keep])
    return {"slope": rate.slope, "lo": rate.lo, "hi": rate.hi, "n_points": rate.n_points}


def width_slopes(df: pd.DataFrame, low: int = FIT_MIN_WIDTH, high: int | None = None) -> pd.DataFrame:
    """Slope of log(median sup error) on log(width), widths in [low, high], per (target,
    activation, setting) at the largest budget, and per target for the interpolant (activation
    and setting "interpolant")."""
    med = medians(df).reset_index()
    med = med[(med.width >= low) & ((med.width <= high) if high else True)]
    out = []
    for (target, activation, setting), part in med.groupby(["target", "activation", "setting"], sort=False):
        row = _slope_row(part.width, part.sup_error)
        if row:
            out.append({"target": target, "activation": activation, "setting": setting, **row})
    interp = reference_errors(df).reset_index()
    interp = interp[(interp.width >= low) & ((interp.width <= high) if high else True)]
    for target, part in interp.groupby("target", sort=False):
        row = _slope_row(part.width, part.sup_error)
        if row:
            out.append({"target": target, "activation": "interpolant", "setting": "interpolant", **row})
    return pd.DataFrame(out, columns=["target", "activation", "setting", "slope", "lo", "hi", "n_points"])


def budget_exponents(df: pd.DataFrame) -> pd.DataFrame:
    """alpha of median sup error ~ budget^(-alpha) per (target, activation, setting, width), over
    the setting's budgets (steps or iterations), with its 95% interval [alpha_lo, alpha_hi]."""
    med = medians(df, rows=trained(df)).reset_index()
    out = []
    for key, part in med.groupby(["target", "activation", "setting", "width"], sort=False):
        row = _slope_row(part.steps, part.sup_error) if part.steps.nunique() >= 2 else None
        if row:
            out.append(dict(zip(["target", "activation", "setting", "width"], key), alpha=-row["slope"],
                            alpha_lo=-row["hi"], alpha_hi=-row["lo"], n_budgets=row["n_points"]))
    return pd.DataFrame(out, columns=["target", "activation", "setting", "width", "alpha", "alpha_lo", "alpha_hi",
                                      "n_budgets"])


# ---------------------------------------------------------------------------- the study's targets
def _widths_text(widths) -> str:
    return ", ".join(str(int(w)) for w in widths)


def _verdict(name: str, wanted: list[int], measured: list[int], failures: list[str], detail: str) -> dict:
    """met / missed / met where measured / not measured, with the widths that were not trained."""
    missing = [w for w in wanted if w not in measured]
    if not measured:
        verdict = "not measured"
    elif failures:
        verdict = "missed"
    else:
        verdict = "met where measured" if missing else "met"
    if missing and measured:
        detail += f"; n = {_widths_text(missing)} not trained here"
    return {"target": name, "verdict": verdict, "detail": detail, "failures": failures}


def _stalled(rows: pd.DataFrame, target: str, activation: str, width: int | None = None) -> str:
    """"k of n seeds stalled" for LM's runs of (target, activation[, width]) in the final rows:
    stalled is LM's own verdict that no step lowers the loss (a local minimum or a flat region)."""
    part = rows[(rows.target == target) & (rows.activation == activation) & (rows.setting == "lm")]
    if width is not None:
        part = part[part.width == width]
    return f"{int((part.status == 'stalled').sum())} of {len(part)} stalled"


def study_targets(df: pd.DataFrame) -> list[dict]:
    """The targets this study measures, each a dict with the target (a short
    statement), the verdict (met, missed, met where measured, not measured), a detail with the
    numbers, and the failures (what missed it)."""
    med = medians(df)
    interp = reference_errors(df)
    rows = final(df)
    out = []
    powers = lambda lo, hi: [2**k for k in range(int(math.log2(lo)), int(math.log2(hi)) + 1)]  # noqa: E731

    # tanh, LM: median sup error <= the interpolant's at n = 16 .. 128, on sin1, sin3, square
    targets = [t for t in ("sin1", "sin3", "square") if t in set(rows.target)]
    measured, failures, worst = set(), [], []
    for t in targets:
        for w in powers(16, 128):
            if (t, "tanh", "lm", w) in med.droplevel("steps").index:
                m = med.droplevel("steps")[(t, "tanh", "lm", w)]
                measured.add(w)
                worst.append((m / interp[(t, w)], t, w))
                if not m <= interp[(t, w)]:
                    failures.append(f"{t} n = {w}: {m:.2g} > {interp[(t, w)]:.2g} ({_stalled(rows, t, 'tanh', w)})")
    ratio = max(worst)[0] if worst else math.nan
    out.append(_verdict("tanh + LM at or below the ReLU interpolant (median sup error, sin1, sin3, square, "
                        "n = 16..128)", powers(16, 128), sorted(measured), failures,
                        f"largest median / interpolant {ratio:.2g}" if worst else "no tanh LM runs"))

    # tanh, LM: fitted slope <= -2 on n = 8 .. 64
    slopes = width_slopes(df, 8, 64)
    part = slopes[(slopes.activation == "tanh") & (slopes.setting == "lm") & slopes.target.isin(targets)]
    med_widths = sorted({w for (t, a, s, w, _) in med.index if a == "tanh" and s == "lm" and 8 <= w <= 64})
    failures = [f"{r.target} {r.slope:.2f}" for r in part.itertuples() if not r.slope <= -2]
    out.append(_verdict("tanh + LM sup-error slope <= -2 on n = 8..64 (the interpolant's)", powers(8, 64),
                        med_widths if len(part) else [], failures,
                        ", ".join(f"{r.target} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in part.itertuples())
                        or "no slope"))

    # the best tanh network on sin1 with 64 units: RMSE <= 1e-7
    best = trained(df)
    best = best[(best.activation == "tanh") & (best.target == "sin1") & (best.width == 64)]
    best = completed(best)
    measured = [64] if len(best) else []
    value = best.l2_error.min() if len(best) else math.nan
    where = best.loc[best.l2_error.idxmin()] if len(best) else None
    out.append(_verdict("best tanh network on sin1 with 64 units: RMSE <= 1e-7", [64], measured,
                        [] if value <= 1e-7 or not measured else [f"RMSE {value:.2g}"],
                        f"RMSE {value:.2g} ({where.setting}, {where.steps:.0f} steps)" if where is not None
                        else "not trained"))

    # ReLU, LM: exact fits (sup <= 1e-10) of abs and triangle from >= half the seeds at some n >= 4
    relu = rows[(rows.activation == "relu") & (rows.setting == "lm") & (rows.width >= 4)]
    for t in ("abs", "triangle"):
        part = relu[relu.target == t]
        share = (part.sup_error <= EXACT).groupby(part.width).mean()
        hit = share[share >= 0.5]
        detail = ("exact fits (of the seeds) at n = " + ", ".join(f"{w}: {s:.0%}" for w, s in share.items())
                  if len(share) else "not trained")
        out.append(_verdict(f"ReLU + LM: exact fits of {t} from at least half the seeds at some n >= 4",
                            [], sorted(share.index),
                            [] if len(hit) else [f"{t}: best share {share.max():.0%} ({_stalled(rows, t, 'relu')})"],
                            detail))

    # ReLU, LM: within 2 x the interpolant's sup error on smooth targets at n = 32 .. 256
    smooth = [t for t in dict.fromkeys(rows.target) if rows[rows.target == t].kind.iloc[0] in SMOOTH_KINDS]
    measured, failures, worst = set(), [], []
    for t in smooth:
        for w in powers(32, 256):
            key = (t, "relu", "lm", w)
            if key in med.droplevel("steps").index:
                m = med.droplevel("steps")[key]
                measured.add(w)
                worst.append(m / interp[(t, w)])
                if not m <= 2 * interp[(t, w)]:
                    failures.append(f"{t} n = {w}: {m / interp[(t, w)]:.2g}x ({_stalled(rows, t, 'relu', w)})")
    out.append(_verdict("ReLU + LM within 2x the interpolant on smooth targets (n = 32..256)", powers(32, 256),
                        sorted(measured), failures,
                        f"median / interpolant from {min(worst):.2g} to {max(worst):.2g}" if worst else "not trained"))
    return out
