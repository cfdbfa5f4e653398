"""The gallery text of experiments/overparam, every number read from its DataFrame (the figure is in
figure.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from approx.metrics import loglog_slope

from .analysis import linearized_agreement, slopes, soudry_growth, widest_against_linearized

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
        f"falls to {_fmt(sep.loss)} in {int(df[df.part == 'logistic_separable'].step.max())} steps on both "
        f"engines. {_soudry_text(df)} Non-separable: the loss gap to the Newton optimum reaches "
        f"{_fmt(non.loss_gap)} and the parameters' relative distance to it {_fmt(non.gap)}.\n\n"
        f"**Hidden layers, overparameterized: GD -> OPT.** {_interp_text(interp, df)}\n\n"
        f"**Lazy training (Du et al. 2019).** For f(x) = m^-1/2 sum_r a_r relu(w_r.x) on "
        f"{_first(summary, 'm', min)}..{_first(summary, 'm', max)} units, the empirical NTK at "
        f"initialisation (hand-written engine; torch.func agrees to {summary.engine_diff.max():.1e}) "
        f"approaches H^inf with slope {rates['kernel_error']} (theory: -1/2, a Monte Carlo average), "
        f"and lambda_min(Theta_m) -> lambda_0 = {summary.lambda_0.iloc[0]:.4f}. The training loss "
        f"stays below Du et al.'s bound (1 - eta lambda_0/2)^t L(0) in {int(summary.bound_holds.sum())} of "
        f"{len(summary)} runs (outside the theorem's conditions, below). The largest weight movement scales with slope "
        f"{rates['movement']} and the fraction of flipped activation patterns with slope "
        f"{rates['flips']} (theory: -1/2 for both): wide networks fit by barely moving. The maximum over m "
        f"units carries the largest of m draws (about sqrt(2 log m) deviations), which tilts its slope; the "
        f"RMS movement over the units has slope {rates['movement_rms']}. {_du_text(df)}\n\n"
        f"**The linearized model** (Arora, Du, Hu, Li & Wang 2019): from the NTK at initialisation, "
        f"L(t) = (1/n) sum_i (1 - eta lambda_i)^(2t) (v_i^T r_0)^2 (column linearized_loss). "
        f"{_linearized_text(df)}"
    )


def _soudry_text(df: pd.DataFrame) -> str:
    g = df[df.part == "implicit_bias"].sort_values("step")
    if not len(g):
        return ""
    growth = soudry_growth(df)
    row = g.iloc[-1]
    a = g[g.step >= 1].reset_index(drop=True)
    rises = np.flatnonzero(np.diff(a.angle.to_numpy()) > 0)  # where the angle first turns back up
    if len(rises):
        dip = a.iloc[rises[0]]
        peak = a.iloc[rises[0] + a.angle.iloc[rises[0]:].to_numpy().argmax()]
        shape = (f"not monotone: {dip.angle:.3g} rad at step {int(dip.step)}, back up to {peak.angle:.3g} at "
                 f"step {int(peak.step)}, then")
    else:
        shape = "monotone, down to"
    decades = ", ".join(f"{v:.2f}" for v in growth.values())
    t_end = int(row.step)
    return (
        f"Soudry et al. (2018, Theorem 3; separable data, a smooth decreasing loss with an exponential tail, "
        f"step below 2/(beta sigma_max^2(X)), here {row.lr:.3g} against {row.lr_max:.3g}) prove theta(t) = "
        f"w_hat log t + rho(t) with rho bounded, w_hat the hard-margin SVM vector (||w_hat|| = "
        f"{row.w_hat_norm:.3g}, margin {row.margin:.3g}, {int(row.n_support)} support vectors, the next point at "
        f"{row.margin_ratio:.3g} times the margin). Run for {t_end:,} steps (NumPy float64, from the same start): "
        f"the growth of ||rho|| per decade of t, as a fraction of w_hat log t's, is {decades} for the decades "
        f"ending at t = 10 .. {t_end:,}, shrinking toward 0 as boundedness requires (a w_hat off by 10% would "
        f"level at about 0.1; the late start is the small margin: theta needs ||theta|| ~ ||w_hat|| log t to "
        f"enter the regime). The angle to the max-margin direction is {shape} {row.angle:.3g} at step "
        f"{t_end:,}; angle x log t is {row.angle * np.log(row.step):.3g} there (the theorem's O(1/log t))."
    )


def _du_text(df: pd.DataFrame) -> str:
    s, inside = df[df.part == "ntk"], df[df.part == "du_inside"]
    if not len(inside) or "m_required" not in s:
        return ""
    i = inside.iloc[0]
    n = _n_ntk(df)
    return (
        f"Du et al.'s Theorem 4.1 asks for both m = Omega(n^6 / (lambda_0^4 delta^3)) and eta = O(lambda_0 / n^2) "
        f"(eta on (1/2)||u - y||^2); with the constants set to 1 and delta = {i.delta:g}, the runs above (n = {n}) "
        f"would need m >= {s.m_required.iloc[0]:.3g} and eta <= {s.eta_allowed.iloc[0]:.3g}: they have m <= "
        f"{int(s.m.max())} ({s.m.max() / s.m_required.iloc[0]:.2g} of it) and eta = {s.eta.iloc[0]:.3g} "
        f"({s.eta.iloc[0] / s.eta_allowed.iloc[0]:.3g} times it), so everything above holds outside the "
        f"theorem's conditions: the bound in {int(s.bound_holds.sum())} of {len(s)} runs, the slopes, the "
        f"kernel's convergence. Inside both: n = {int(i.n)} points in d = {int(i.d)}, lambda_0 = "
        f"{i.lambda_0:.3g}, m = {int(i.m):,} units, eta = lambda_0/n^2 = {i.eta:.3g}: lambda_min(H(0)) = "
        f"{i.h0_lambda_min:.3g} (Lemma 3.1 asks >= 3 lambda_0/4), the loss falls from "
        f"{_du_curve(df).loss.iloc[0]:.3g} to {i.final_loss:.3g} in {int(_du_curve(df).step.max())} steps, "
        f"{'below' if i.bound_holds else 'NOT below'} the bound (1 - eta lambda_0/2)^k L(0) at every logged step "
        f"(bound {_du_curve(df).bound.iloc[-1]:.3g} at the end), and the largest weight moves "
        f"{i.movement:.2g}, within their R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0) = {i.movement_bound:.2g}."
    )


def _linearized_text(df: pd.DataFrame) -> str:
    c = df[df.part == "ntk_curve"]
    if "linearized_loss" not in c:
        return ""
    agree = linearized_agreement(df).set_index("m")
    wide = agree[agree.index >= 1024]
    held = wide[wide.first_step_out.isna()]
    out = agree[np.isfinite(agree.first_step_out)]
    parts = ([f"at step {int(out.first_step_out.iloc[0])} (m = {int(out.index[0])}) .. "
              f"{int(out.first_step_out.iloc[-1])} (m = {int(out.index[-1])}), when the measured loss has fallen "
              f"to {out.loss_fallen_to.iloc[0]:.2g} .. {out.loss_fallen_to.iloc[-1]:.2g} of its start; at step "
              f"{int(c.step.max())} measured/linearized is {out.last_ratio_min.iloc[0]:.2g}..{out.last_ratio_max.iloc[0]:.2g} "
              f"at m = {int(out.index[0])} and {out.last_ratio_min.iloc[-1]:.2g}..{out.last_ratio_max.iloc[-1]:.2g} "
              f"at m = {int(out.index[-1])} (the measured loss is the higher)"] if len(out) else [])
    holds = (f"It stays within 2x of every measured curve for m >= 1024 over all {int(c.step.max())} steps"
             if len(wide) and len(held) == len(wide) else
             f"For m >= 1024 it does not stay within 2x of the measured loss over all {int(c.step.max())} steps")
    holds += (". It leaves the 2x band " + "; ".join(parts) + "." if parts else
              "; at no width does it leave the 2x band.")
    slope = loglog_slope(agree.index.to_numpy(), agree.additive_error.to_numpy())
    return (
        f"{holds} The loss falls by many decades, so a few percent of error in a decay rate becomes a large "
        f"ratio; Arora et al.'s Theorem 4.1 bounds the additive error instead, "
        f"max_t |sqrt(L(t)) - sqrt(L_lin(t))| / sqrt(L(0)): median {agree.additive_error.iloc[0]:.2g} at m = "
        f"{int(agree.index[0])}, {agree.additive_error.iloc[-1]:.2g} at m = {int(agree.index[-1])}, slope "
        f"{slope} against m (the theorem: it shrinks as m grows)."
    )


def _n_ntk(df: pd.DataFrame) -> int:
    s = df[df.part == "ntk"].iloc[0]
    return int(round(np.sqrt(s.lambda_0 / s.eta_allowed)))  # eta_allowed = lambda_0 / n^2


def _du_curve(df: pd.DataFrame) -> pd.DataFrame:
    return df[df.part == "du_curve"].sort_values("step")


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


def _widest_linearized(df: pd.DataFrame, widest: float, best: float) -> str:
    w = widest_against_linearized(df)
    if w.linearized.isna().all():
        return "not computed here."
    a, b = w.loc[widest], w.loc[best]
    predicted, measured = a.linearized / b.linearized, a.final_loss / b.final_loss
    said = (f"The linearized model from Theta_0 predicts median losses of {a.linearized:.2g} at p/n = {widest:.3g} "
            f"and {b.linearized:.2g} at p/n = {best:.3g} at the same steps ({predicted:.2g}x, against "
            f"{measured:.2g}x measured)")
    if predicted >= np.sqrt(measured):  # more than half the gap on a log scale
        return said + ": the kernel at initialisation accounts for most of the gap."
    return (said + f", so the kernel at initialisation does not account for it. The difference is in how far "
            f"each beats its linearized model: {1 / b.ratio:.2g}x at p/n = {best:.3g}, {1 / a.ratio:.2g}x at "
            f"the widest. GD with the kernel held at Theta_0 is the linearized model, so the narrower networks' "
            f"kernels must have moved during training and sped it up (they left the lazy regime); the widest "
            f"stay closer to their linearization. How the kernel moved was not measured: that part is unexplained.")


def _interp_text(d: pd.DataFrame, df_all: pd.DataFrame) -> str:
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
                  f"wider is not faster for GD with a step set by lambda_max. The condition number of Theta_0 "
                  f"({kappa.iloc[-1]:.3g} against {kappa[shallow.idxmin()]:.3g}) differs too little to explain "
                  f"it. {_widest_linearized(df_all, shallow.index[-1], shallow.idxmin())}")
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
