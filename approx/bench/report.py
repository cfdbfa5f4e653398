"""The benchmark's gallery paragraph: peaks, derived ratios and the targets table, read from the df."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import summary

__all__ = ["describe", "markdown_table"]


def markdown_table(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *lines])


def _flops(x: float) -> str:
    return f"{x / 1e9:.3g} GFLOP/s" if x < 1e12 else f"{x / 1e12:.3g} TFLOP/s"


def describe(df: pd.DataFrame) -> str:
    ok = summary.ok_rows(df)
    parts = []
    names = ok.groupby("device")["device_name"].first()
    parts.append("Training-step benchmark on " + "; ".join(f"{d}: {n}" for d, n in names.items()) + ".")
    peaks = ok[ok["mode"] == "peak"]
    if len(peaks):
        parts.append("Measured matmul peaks: " + "; ".join(
            f"{r.device} {r.precision}" + (f" at {r.threads} thread(s)" if r.device == "cpu" else "")
            + f" {_flops(r.flops_per_s)}" for r in peaks.itertuples()) + ".")
    best = ok[(ok["mode"] != "peak") & ok["peak_fraction"].notna()]
    for device, group in best.groupby("device"):
        top = group.loc[group["peak_fraction"].idxmax()]
        parts.append(f"Best {device} utilisation: {top['peak_fraction']:.0%} of the {top['precision']} peak "
                     f"({top['engine']} {top['mode']}, width {int(top['width'])}, batch {int(top['batch'])}, "
                     f"depth {int(top['depth'])}).")
    speed = summary.speedups(df)
    heat = speed[speed["sweep"] == "heatmap"]
    if len(heat):
        cross = summary.crossover(heat)
        text = ", ".join(f"batch {int(r.batch)}: width {'none' if np.isnan(r.crossover_width) else int(r.crossover_width)}"
                         for r in cross.itertuples())
        parts.append(f"GPU/CPU speed-up per cell from {heat['speedup'].min():.2g}x to {heat['speedup'].max():.3g}x; "
                     f"the GPU wins from (smallest width, per batch) {text}.")
    ens = summary.ensemble_speedups(df)
    if len(ens):
        top = ens[ens["ensemble"] == ens["ensemble"].max()]
        parts.append("One batched step for E networks vs a loop over them: " + "; ".join(
            f"{r.device} {r.engine} E={int(r.ensemble)}: {r.speedup:.3g}x" for r in top.itertuples()) + ".")
    ratios = summary.engine_ratios(df)
    if "backprop_per_autograd" in ratios:
        ratios = ratios.dropna(subset=["backprop_per_autograd"])
        ratios = ratios.assign(where=[f"cpu {t} thread(s)" if d == "cpu" else d
                                      for d, t in zip(ratios["device"], ratios["threads"])])
        med = ratios.groupby("where")["backprop_per_autograd"].median()
        parts.append("Hand-written / autograd step time, median over cells: " + "; ".join(
            f"{where} {v:.2f}" for where, v in med.items()) + ".")
    failed = df[df["status"] != "ok"]
    if len(failed):
        parts.append(f"{len(failed)} of {len(df)} rows hold no measurement: " + "; ".join(
            f"{n} x {s[:80]}" for s, n in failed["status"].value_counts().items()) + ".")
    table = summary.targets(df)
    return " ".join(parts) + "\n\nTargets (issue 7) against this run:\n\n" + markdown_table(table) + "\n"
