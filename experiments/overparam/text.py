"""The gallery text of experiments/overparam, every number read from its DataFrame (the figure is in
figure.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import slopes

__all__ = ["describe"]


def describe(df: pd.DataFrame) -> str:
    """The gallery paragraph, every number read from df."""
    rates = slopes(df)
    l = df[df.part == "lstsq"]
    last = l.groupby("engine").last()
    sep = df[df.part == "logistic_separable"].groupby("engine").last()
    non = df[df.part == "logistic_nonseparable"].groupby("engine").last()
    interp = df[df.part == "interpolation"]
    summary = df[df.part == "ntk"]
    worst_over = (l.gap / l.predicted)[l.step > 0].max()
    return (
        "**No hidden layer: GD -> OPT.** Least squares is a convex quadratic; with eta = 1/lambda_max "
        f"of its Hessian, GD's distance to the closed-form solution shrinks at least by the factor "
        f"1 - eta lambda_min = {l.rate.iloc[0]:.4f} per step (condition number {l.condition_number.iloc[0]:.3g}). "
        f"Measured on both engines: relative gap {_fmt(last.gap)} after {int(l.step.max())} steps, never above "
        f"the predicted curve (largest ratio measured/predicted {worst_over:.3g}), the engines' "
        f"trajectories identical to {_engine_agreement(l):.1e}. Separable logistic regression: the loss "
        f"falls to {_fmt(sep.loss)} and the direction turns toward the hard-margin SVM direction, slowly: "
        f"{_angles(df[df.part == 'logistic_separable'])} (Soudry et al. 2018 prove the angle decays like "
        f"1/log t). Non-separable: the loss gap to the Newton optimum reaches {_fmt(non.loss_gap)} and the "
        f"parameters' relative distance to it {_fmt(non.gap)}.\n\n"
        f"**Hidden layers, overparameterized: GD -> OPT.** {_interp_text(interp)}\n\n"
        f"**Lazy training (Du et al. 2019).** For f(x) = m^-1/2 sum_r a_r relu(w_r.x) on "
        f"{_first(summary, 'm', min)}..{_first(summary, 'm', max)} units, the empirical NTK at "
        f"initialisation (hand-written engine; torch.func agrees to {summary.engine_diff.max():.1e}) "
        f"approaches H^inf with slope {rates['kernel_error']} (theory: -1/2, a Monte Carlo average), "
        f"and lambda_min(Theta_m) -> lambda_0 = {summary.lambda_0.iloc[0]:.4f}. The training loss "
        f"stays below Du et al.'s bound (1 - eta lambda_0/2)^t L(0) in {int(summary.bound_holds.sum())} of "
        f"{len(summary)} runs (the theorem asks for m = Omega(n^6/lambda_0^4); these widths are far "
        f"smaller, and the bound still holds). The largest weight movement scales with slope "
        f"{rates['movement']} and the fraction of flipped activation patterns with slope "
        f"{rates['flips']} (theory: -1/2 for both): wide networks fit by barely moving."
    )


def _angles(sep: pd.DataFrame) -> str:
    g = sep[sep.engine == sep.engine.iloc[0]]
    t_end = g.step.max()
    mid = g.iloc[(g.step - t_end / 100).abs().argmin()]
    end = g[g.step == t_end].iloc[0]
    return f"angle {mid.angle:.3g} rad at step {int(mid.step)}, {end.angle:.3g} at step {int(t_end)}"


def _fmt(values: pd.Series) -> str:
    return " / ".join(f"{v:.2g}" for v in values)


def _first(df: pd.DataFrame, column: str, fn) -> int:
    return int(fn(df[column]))


def _engine_agreement(l: pd.DataFrame) -> float:
    engines = list(l.engine.unique())
    if len(engines) < 2:
        return 0.0
    a = l[l.engine == engines[0]].gap.to_numpy()
    b = l[l.engine == engines[1]].gap.to_numpy()
    return float(np.max(np.abs(a - b)))


def _interp_text(d: pd.DataFrame) -> str:
    target = float(d.target_loss.iloc[0])
    parts = []
    for (depth, labels), g in d.groupby(["depth", "labels"]):
        conv = g.groupby("p_over_n").status.apply(lambda s: (s == "converged").mean())
        reached = conv[conv > 0]
        if len(reached):
            first = reached.index.min()
            parts.append(f"{int(depth)} hidden layer(s), {labels} labels: first at p/n = {first:.3g} "
                         f"({conv[first]:.0%} of runs, median {_median_steps(g, first)} steps); "
                         f"{int((g.status == 'converged').sum())} of {len(g)} runs in all")
        else:
            best = g.groupby("p_over_n").final_loss.median()
            parts.append(f"{int(depth)} hidden layer(s), {labels} labels: none (best median final loss "
                         f"{best.min():.2g} at p/n = {best.idxmin():.3g})")
    diverged = d[d.status == "diverged"]
    d = d[d.status != "diverged"]  # the medians and extremes below are over the other runs
    under = d[d.p_over_n < 1]
    shallow = d[d.depth == 1].groupby("p_over_n").final_loss.median()
    widest = ""
    if len(shallow) > 2 and shallow.iloc[-1] > 10 * shallow.min():
        kappa = (d.ntk_lambda_max / d.ntk_lambda_min)[d.depth == 1].groupby(d.p_over_n).median()
        widest = (f" The widest one-hidden-layer networks (p/n = {shallow.index[-1]:.3g}) end at a median loss "
                  f"of {shallow.iloc[-1]:.2g}, above the {shallow.min():.2g} at p/n = {shallow.idxmin():.3g}: "
                  f"wider is not faster for GD with a step set by lambda_max (the condition number of their "
                  f"Theta_0 is {kappa.iloc[-1]:.3g}, against {kappa[shallow.idxmin()]:.3g} there), a departure "
                  "from the picture in which width only helps.")
    under_text = (f"Below p = n no run interpolates (smallest final loss {under.final_loss.min():.2g}; "
                  f"Theta_0 has rank at most {int(under.ntk_rank.max())} < n = {_n(d)}). ") if len(under) else ""
    return (
        f"n = {_n(d)} points on the unit sphere, ReLU networks with He initialisation, full-batch GD with "
        f"eta = 1/lambda_max of the linearised Hessian per run, at most {int(d.steps_budget.max())} steps; "
        f"target loss {target:g} (numerically zero for O(1) labels). " + under_text +
        "Runs reaching the target: " + "; ".join(parts) + "." + widest +
        (f" {len(diverged)} runs diverged (fit's rule: the training loss stopped being finite or grew "
         f"far above its start, at p/n = {', '.join(f'{v:.3g}' for v in sorted(set(diverged.p_over_n)))}); "
         "they are drawn as red crosses and left out of the medians." if len(diverged) else
         " No run diverged (fit's rule: the training loss stopped being finite or grew far above its start).") +
        " The theorems (Du et al. 2019; Allen-Zhu, Li & Song 2019) ask for widths polynomial in n; "
        f"here the smallest network that GD drove to the target had p/n = {_smallest_converged(d)}."
    )


def _smallest_converged(d: pd.DataFrame) -> str:
    conv = d[d.status == "converged"]
    return f"{conv.p_over_n.min():.3g}" if len(conv) else "none (no run reached it)"


def _median_steps(g: pd.DataFrame, p_over_n: float) -> str:
    s = g[g.p_over_n == p_over_n].steps_to_target.median()
    return f"{s:.0f}" if np.isfinite(s) else "?"


def _n(d: pd.DataFrame) -> int:
    row = d.iloc[0]
    return int(round(row.n_params / row.p_over_n))
