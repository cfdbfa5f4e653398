"""The figure of experiments/overparam, drawn from its DataFrame alone (the text is in text.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from approx.plotting import figure, save

from .analysis import slopes

__all__ = ["plot"]

ENGINE_STYLE = {"backprop": "-", "autograd": ":"}
LABEL_COLOR = {"target": "C0", "random": "C3"}


def plot(df: pd.DataFrame, path: Path) -> None:
    rates = slopes(df)
    fig, axes = figure(3, 4, width=3.6, height=3.0)
    _lstsq(axes[0, 0], df[df.part == "lstsq"])
    _logistic(axes[0, 1], df[df.part == "logistic_separable"], df[df.part == "logistic_nonseparable"])
    _soudry(axes[2, 0], df[df.part == "implicit_bias"])
    _linearized(axes[2, 1], df[df.part == "ntk_curve"])
    _du_inside(axes[2, 2], df[df.part == "du_curve"], df[df.part == "du_inside"])
    _widest(axes[2, 3], df[df.part == "interpolation"])
    interp = df[df.part == "interpolation"]
    _interp_loss(axes[0, 2], interp)
    _interp_steps(axes[0, 3], interp)
    summary, curve = df[df.part == "ntk"], df[df.part == "ntk_curve"]
    _kernel(axes[1, 0], summary, rates["kernel_error"])
    _du_bound(axes[1, 1], curve)
    _loglog(axes[1, 2], summary, "movement", rates["movement"], r"max$_r\|w_r(T)-w_r(0)\|$", "C2")
    if "movement_rms" in summary:
        med = summary.groupby("m").movement_rms.median()
        axes[1, 2].loglog(med.index, med, "-s", color="C6", ms=3,
                          label=f"RMS over units; slope {rates['movement_rms']}")
        axes[1, 2].legend(fontsize=7)
    _loglog(axes[1, 3], summary, "flips", rates["flips"], "fraction of flipped ReLU patterns", "C4")
    save(fig, path)


def _lstsq(ax, d: pd.DataFrame) -> None:
    for engine, g in d.groupby("engine", sort=False):
        ax.semilogy(g.step, g.gap, ENGINE_STYLE.get(engine, "-"), color="C0", label=f"GD ({engine})")
    g = d[d.engine == d.engine.iloc[0]]
    ax.semilogy(g.step, g.predicted, "k--", lw=1,
                label=rf"$(1-\eta\lambda_{{min}})^t$, $\kappa$={g.condition_number.iloc[0]:.3g}")
    ax.set(xlabel="GD step t", ylabel=r"$\|\theta_t-\theta^*\|/\|\theta^*\|$",
           title="no hidden layer: least squares")
    ax.legend()


def _logistic(ax, sep: pd.DataFrame, non: pd.DataFrame) -> None:
    s = sep[sep.engine == sep.engine.iloc[0]]
    s = s[s.step > 0]
    ax.loglog(s.step, s.angle, "C1-", label="separable: angle to max-margin")
    ax.loglog(s.step, s.loss, "C1:", label="separable: loss")
    t = s.step.to_numpy(dtype=float)
    ref = s.angle.iloc[-1] * np.log(t[-1]) / np.log(np.maximum(t, 2))
    ax.loglog(t, ref, "k--", lw=1, label=r"$\propto 1/\log t$")
    n = non[(non.engine == non.engine.iloc[0]) & (non.step > 0) & (non.loss_gap > 0)]
    ax.loglog(n.step, n.loss_gap, "C5-", label="non-separable: loss gap")
    ax.set(xlabel="GD step t", ylabel="angle (rad) / loss", title="logistic regression")
    ax.legend()


def _interp_loss(ax, d: pd.DataFrame) -> None:
    diverged = d[d.status == "diverged"]  # frozen early by fit; their loss is the blown-up one
    if len(diverged):
        ax.scatter(diverged.p_over_n, diverged.final_loss, marker="x", color="red", s=18, zorder=5,
                   label=f"diverged ({len(diverged)} runs; not in the medians)")
    for (depth, labels), g in d[d.status != "diverged"].groupby(["depth", "labels"]):
        m = g.groupby("p_over_n").final_loss
        style = "-o" if depth == 1 else "--s"
        ax.loglog(m.median().index, m.median(), style, color=LABEL_COLOR[labels], ms=3,
                  label=f"{int(depth)} hidden, {labels} labels")
        ax.fill_between(m.median().index, m.min(), m.max(), color=LABEL_COLOR[labels], alpha=0.1)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.axhline(d.target_loss.iloc[0], color="gray", lw=0.8, ls=":")
    ax.text(1.05, 0.97, "p = n", fontsize=8, transform=ax.get_xaxis_transform(), va="top")
    ax.set(xlabel="parameters / data points  p/n", ylabel="final training loss (median, range)",
           title="interpolation threshold (GD)")
    ax.legend(fontsize=7)


def _interp_steps(ax, d: pd.DataFrame) -> None:
    for (depth, labels), g in d.groupby(["depth", "labels"]):
        frac = g.groupby("p_over_n").status.apply(lambda s: (s == "converged").mean())
        steps = g.groupby("p_over_n").steps_to_target.median()
        keep = frac > 0
        style = "-o" if depth == 1 else "--s"
        ax.loglog(steps.index[keep], steps[keep], style, color=LABEL_COLOR[labels], ms=3,
                  label=f"{int(depth)} hidden, {labels}")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set(xlabel="p/n", ylabel="steps to the target loss (median)",
           title="steps to (numerically) zero loss")
    ax.legend(fontsize=7)


def _kernel(ax, s: pd.DataFrame, rate) -> None:
    ax.loglog(s.m, s.kernel_error, "o", color="C0", ms=3, alpha=0.5)
    med = s.groupby("m").kernel_error.median()
    ax.loglog(med.index, med, "-", color="C0", label=rf"$\|\Theta_m-H^\infty\|_F/\|H^\infty\|_F$, slope {rate}")
    m = med.index.to_numpy(dtype=float)
    ax.loglog(m, np.exp(rate.intercept) * m ** rate.slope, "k--", lw=1)
    gap = (s.lambda_min_theta - s.lambda_0).abs() / s.lambda_0
    gm = gap.groupby(s.m).median()
    ax.loglog(gm.index, gm, "-s", color="C1", ms=3, label=r"$|\lambda_{min}(\Theta_m)-\lambda_0|/\lambda_0$")
    ax.set(xlabel="width m", ylabel="relative error", title="empirical NTK at init -> $H^\\infty$")
    ax.legend(fontsize=7)


def _du_bound(ax, c: pd.DataFrame) -> None:
    widths = sorted(c.m.unique())
    colors = {m: f"C{i % 10}" for i, m in enumerate(widths)}
    for m in (widths[0], widths[len(widths) // 2], widths[-1]):
        g = c[(c.m == m) & (c.member == 0)]
        ax.semilogy(g.step, g.loss, color=colors[m], label=f"m = {int(m)}")
    g = c[(c.m == widths[-1]) & (c.member == 0)]
    ax.semilogy(g.step, g.bound, "k--", lw=1, label=r"$(1-\eta\lambda_0/2)^t L(0)$ (Du et al.)")
    ax.set(xlabel="GD step t (first layer only)", ylabel="training loss", title="lazy training: loss vs bound")
    ax.legend(fontsize=7)


def _loglog(ax, s: pd.DataFrame, column: str, rate, ylabel: str, color: str) -> None:
    ax.loglog(s.m, s[column], "o", color=color, ms=3, alpha=0.5)
    med = s.groupby("m")[column].median()
    ax.loglog(med.index, med, "-", color=color, label=f"median; fitted slope {rate}")
    m = med.index.to_numpy(dtype=float)
    ax.loglog(m, med.iloc[0] * (m / m[0]) ** -0.5, "k--", lw=1, label=r"$\propto m^{-1/2}$")
    ax.set(xlabel="width m", ylabel=ylabel, title=f"lazy training: {column}")
    ax.legend(fontsize=7)


def _soudry(ax, g: pd.DataFrame) -> None:
    g = g[g.step >= 1]
    ax.loglog(g.step, g.angle, "C1-", label="angle to max-margin (rad)")
    ax.loglog(g.step, g.residual / g.w_hat_norm, "C0-", label=r"$\|\theta(t)-\hat w\log t\|/\|\hat w\|$")
    ax.loglog(g.step, g.theta_norm / g.w_hat_norm, "C2:", label=r"$\|\theta(t)\|/\|\hat w\|$")
    ax.loglog(g.step, np.log(g.step.clip(lower=2)), "k--", lw=1, label=r"$\log t$")
    ax.set(xlabel="GD step t", title="separable logistic, long run (Soudry et al.)")
    ax.legend(fontsize=7)


def _linearized(ax, c: pd.DataFrame) -> None:
    widths = sorted(c.m.unique())
    for i, m in enumerate((widths[0], widths[len(widths) // 2], widths[-1])):
        g = c[(c.m == m) & (c.member == 0)]
        ax.semilogy(g.step, g.loss, color=f"C{i}", label=f"m = {int(m)} measured")
        ax.semilogy(g.step, g.linearized_loss, "--", color=f"C{i}", lw=1, label="linearized")
    ax.set(xlabel="GD step t (first layer only)", ylabel="training loss",
           title="linearized model (Arora et al.)")
    ax.legend(fontsize=6)


def _du_inside(ax, c: pd.DataFrame, s: pd.DataFrame) -> None:
    row = s.iloc[0]
    ax.semilogy(c.step, c.loss, "C0-", label=f"n = {int(row.n)}, m = {int(row.m):,}")
    ax.semilogy(c.step, c.bound, "k--", lw=1, label=r"$(1-\eta\lambda_0/2)^k L(0)$")
    ax.set(xlabel=r"GD step k, $\eta=\lambda_0/n^2$", ylabel="training loss",
           title="inside Du et al.'s conditions")
    ax.legend(fontsize=7)


def _widest(ax, d: pd.DataFrame) -> None:
    d = d[(d.depth == 1) & (d.status != "diverged")]
    for column, style, label in (("final_loss", "-o", "measured"), ("linearized_final_loss", "--s", "linearized")):
        med = d.groupby("p_over_n")[column].median()
        ax.loglog(med.index, med, style, color="C0", ms=3, label=f"{label} (median)")
    ax.set(xlabel="p/n (one hidden layer)", ylabel="final training loss",
           title="interpolation: measured vs linearized")
    ax.legend(fontsize=7)
