"""The gallery text of experiments/double_descent, every number read from its DataFrame (the figure is
in figure.py). Diverged trained runs are counted and left out of the medians and comparisons.
Results that hold by construction (test error at chance on fresh random labels) are labelled checks."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import completed, complexity_spearman, corruption_summary, curve_peak

__all__ = ["describe"]


def describe(df: pd.DataFrame) -> str:
    rf = df[df.part == "random_features"]
    n = int(rf.n.iloc[0]) if len(rf) else int(df.n.dropna().iloc[0])
    texts = [_rf_text(rf, n), _trained_text(completed(df[df.part == "trained"])),
             _random_text(completed(df[df.part == "random_labels"]), df[df.part == "memorizer"]),
             _corruption_text(df[df.part == "corruption"]) if "corruption" in df else "",
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
        n_peak, err = curve_peak(plain)
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
        n_top, top = curve_peak(g)
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
    text += (f"; their misclassified fraction on fresh random labels is {test.min():.3f}..{test.max():.3f}, "
             f"chance being 0.5 +- {se:.3f}. That is a check, not a finding: labels drawn independently "
             "of x leave every classifier at chance; (d) measures generalization against clean labels. ")
    if len(mem):
        m = mem.iloc[0]
        text += (f"Their Theorem 1 network with 2n + d = {int(m.n_params)} weights fits the same labels exactly "
                 f"(largest |error| {m.train_max_error:.1e}); on fresh random labels it misclassifies "
                 f"{m.test_misclassified:.3f} (at chance, by the same check). Memorizing is easy.")
    return text


def _n_test(r: pd.DataFrame) -> int:
    return int(r.n_test.iloc[0])


def _listed(values, fmt: str) -> str:
    return ", ".join("n/a" if pd.isna(v) else format(v, fmt) for v in values)


def _corruption_text(rows: pd.DataFrame) -> str:
    """(d): test error on clean labels, steps to fit and Arora et al.'s complexity per fraction."""
    if rows.empty:
        return ""
    table = corruption_summary(rows)
    done = completed(rows)
    first = rows.iloc[0]
    rho = complexity_spearman(table)
    fitted, runs = int(table.n_fitted.sum()), int(table.n_runs.sum())
    text = (
        "**(d) Label corruption (Zhang, Bengio, Hardt, Recht & Vinyals 2017, Fig. 1).** "
        f"n = {int(first.n)} points uniform on the unit sphere, labelled sign(x_1); a fraction p = "
        f"{_listed(table.corruption, 'g')} of the labels replaced by coin flips (nested sets; "
        f"{_listed(table.n_wrong_labels, '.0f')} labels then wrong). Du et al.'s two-layer ReLU network, "
        f"m = {int(first.width)}, first layer trained by GD until it classifies every training point "
        f"correctly (checked every 10 steps; the slowest p took {int(rows.steps.max())} steps): {fitted} of "
        f"{runs} runs reached zero training error (median training mse then "
        f"{done.train_error.median():.2g})" + (f"; {len(rows) - len(done)} diverged and are left out"
                                              if len(done) < len(rows) else "") + ". Per p, the median test error on clean labels is "
        f"{_listed(table.test_error, '.3f')}; the median steps to fit {_listed(table.steps_to_fit, '.0f')}; "
        "Arora, Du, Hu, Li & Wang's (2019) complexity sqrt(2 y^T (H^inf)^-1 y / n) "
        f"{_listed(table.complexity, '.2f')}.")
    if np.isnan(rho):
        return text + " Spearman's rank correlation of complexity and test error is undefined here."
    text += (f" Spearman's rank correlation of the complexity with the median test error: {rho:.2f} over "
             f"{len(table)} fractions.")
    step_down = [(a, b) for a, b in zip(table.itertuples(), table.iloc[1:].itertuples())
                 if b.complexity <= a.complexity and b.test_error > a.test_error]
    if step_down:
        text += " It misorders " + "; ".join(
            f"p = {a.corruption:g} and {b.corruption:g} (complexity {a.complexity:.3f} to {b.complexity:.3f}, "
            f"test error {a.test_error:.3f} to {b.test_error:.3f})" for a, b in step_down) + "."
    if (table.complexity > 1).all():
        text += (" The complexity exceeds 1 at every p, so as a bound on a test error it is vacuous here; "
                 "what it gives is a ranking.")
    return text
