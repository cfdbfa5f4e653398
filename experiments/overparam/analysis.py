"""What the figure and the text of experiments/overparam both read off the DataFrame: the lazy-training
slopes against the width, Soudry et al.'s residual per decade, the linearized model's agreement with the
measured loss curves, and the widest interpolating networks against their linearized models."""
from __future__ import annotations

import numpy as np
import pandas as pd

from approx.implicit_bias import growth_per_decade
from approx.metrics import loglog_slope

__all__ = ["slopes", "soudry_growth", "linearized_agreement", "widest_against_linearized"]


def slopes(df: pd.DataFrame) -> dict:
    """log-log slopes against m of the kernel error, the weight movement (max and RMS over the units)
    and the flip fraction."""
    s = df[df.part == "ntk"]
    columns = [c for c in ("kernel_error", "movement", "movement_rms", "flips") if c in s]
    return {c: loglog_slope(s.m, s[c]) for c in columns}


def soudry_growth(df: pd.DataFrame) -> dict[int, float]:
    """{10^k: growth of ||theta(t) - w_hat log t|| over the decade to 10^k / (||w_hat|| ln 10)}.

    Soudry et al.'s Theorem 3 (the residual is bounded) makes these shrink toward 0; a w_hat off by a
    fraction f would level at about f."""
    g = df[df.part == "implicit_bias"]
    return growth_per_decade(g.step.to_numpy(), g.residual.to_numpy(), float(g.w_hat_norm.iloc[0]))


def linearized_agreement(df: pd.DataFrame, factor: float = 2.0) -> pd.DataFrame:
    """Per width m, over the members: the first logged step at which measured / linearized loss leaves
    [1/factor, factor] (NaN: never), the measured L / L(0) there, the largest ratio at the last step,
    and the largest additive error max_t |sqrt(L(t)) - sqrt(L_lin(t))| / sqrt(L(0)) (Arora et al.'s
    Theorem 4.1 bounds this additive error, by an epsilon that shrinks as m grows)."""
    c = df[df.part == "ntk_curve"]
    out = []
    for m, g in c.groupby("m"):
        first_steps, fallen, last_ratio, additive = [], [], [], []
        for _, member in g.groupby("member"):
            member = member.sort_values("step")
            ratio = member.loss / member.linearized_loss
            start = member.loss.iloc[0]
            out_of_band = member[(ratio > factor) | (ratio < 1 / factor)]
            first_steps.append(out_of_band.step.iloc[0] if len(out_of_band) else np.nan)
            fallen.append(out_of_band.loss.iloc[0] / start if len(out_of_band) else np.nan)
            last_ratio.append(ratio.iloc[-1])
            additive.append(((np.sqrt(member.loss) - np.sqrt(member.linearized_loss)).abs() / np.sqrt(start)).max())
        out.append({"m": m, "first_step_out": np.nanmin(first_steps) if not np.all(np.isnan(first_steps)) else np.nan,
                    "loss_fallen_to": np.nanmax(fallen) if not np.all(np.isnan(fallen)) else np.nan,
                    "last_ratio_max": max(last_ratio), "last_ratio_min": min(last_ratio),
                    "additive_error": float(np.median(additive)), "n_members": len(first_steps)})
    return pd.DataFrame(out)


def widest_against_linearized(df: pd.DataFrame) -> pd.DataFrame:
    """One-hidden-layer interpolation runs (not diverged): per p/n the median measured final loss and
    the median linearized model's loss at the same step, and their ratio."""
    d = df[(df.part == "interpolation") & (df.depth == 1) & (df.status != "diverged")]
    g = d.groupby("p_over_n")
    out = pd.DataFrame({"final_loss": g.final_loss.median(), "linearized": g.linearized_final_loss.median()})
    out["ratio"] = out.final_loss / out.linearized
    return out
