"""The benchmark's gallery paragraph: peaks, derived ratios, the reverse / forward ratio against size
and the targets table, all read from the df. GPU peaks and utilisations are also quoted against
the card's datasheet (card_specs), since the measured peak is the benchmark's own."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import analysis, card_specs

__all__ = ["describe", "markdown_table"]


def markdown_table(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *lines])


PEAK_LIBRARY = {"matmul": "torch", "jax": "JAX (XLA)"}  # whose n x n product a peak row times


def _flops(x: float) -> str:
    return f"{x / 1e9:.3g} GFLOP/s" if x < 1e12 else f"{x / 1e12:.3g} TFLOP/s"


def describe(df: pd.DataFrame) -> str:
    ok = analysis.ok_rows(df)
    parts = []
    names = ok.groupby("device")["device_name"].first()
    parts.append("Training-step benchmark on " + "; ".join(f"{d}: {n}" for d, n in names.items()) + ".")
    peaks = ok[ok["mode"] == "peak"]
    if len(peaks):
        parts.append("Measured matmul peaks: " + "; ".join(
            f"{PEAK_LIBRARY.get(r.engine, r.engine)}, {r.device} {r.precision}"
            + (f" at {r.threads} thread(s)" if r.device == "cpu" else "")
            + f" {_flops(r.flops_per_s)}" + (f" ({spec})" if (spec := _against_spec(
                r.device, r.device_name, r.precision, r.flops_per_s)) else "")
            for r in peaks.itertuples()) + ".")
    # approx's engines against torch's own product (the peer has its own kernels: the peer paragraph)
    best = ok[(ok["mode"] != "peak") & (ok["engine"] != "jax") & ok["peak_fraction"].notna()]
    for device, group in best.groupby("device"):
        top = group.loc[group["peak_fraction"].idxmax()]
        parts.append(f"Best {device} utilisation: {top['peak_fraction']:.0%} of torch's measured {top['precision']} "
                     f"peak "
                     f"({top['engine']} {top['mode']}, width {int(top['width'])}, batch {int(top['batch'])}, "
                     f"depth {int(top['depth'])}"
                     + (f"; {spec}" if (spec := _against_spec(device, top["device_name"], top["precision"],
                                                               top["flops_per_s"])) else "") + ").")
    speed = analysis.speedups(df)
    heat = speed[speed["sweep"] == "heatmap"]
    if len(heat):
        cross = analysis.crossover(heat)
        text = ", ".join(f"batch {int(r.batch)}: width {'none' if np.isnan(r.crossover_width) else int(r.crossover_width)}"
                         for r in cross.itertuples())
        parts.append(f"GPU/CPU speed-up per cell from {heat['speedup'].min():.2g}x to {heat['speedup'].max():.3g}x; "
                     f"the GPU wins from (smallest width, per batch) {text}.")
    ens = analysis.ensemble_speedups(df)
    if len(ens):
        top = ens[ens["ensemble"] == ens["ensemble"].max()]
        parts.append("One batched step for E networks vs a loop over them: " + "; ".join(
            f"{r.device} {r.engine} E={int(r.ensemble)}: {r.speedup:.3g}x" for r in top.itertuples()) + ".")
    ratios = analysis.engine_ratios(df)
    if "backprop_per_autograd" in ratios:
        ratios = ratios.dropna(subset=["backprop_per_autograd"])
        ratios = ratios.assign(where=[f"cpu {t} thread(s)" if d == "cpu" else d
                                      for d, t in zip(ratios["device"], ratios["threads"])])
        med = ratios.groupby("where")["backprop_per_autograd"].median()
        parts.append("Hand-written / autograd step time, median over cells: " + "; ".join(
            f"{where} {v:.2f}" for where, v in med.items()) + ".")
    parts.extend(_reverse_forward(df))
    failed = df[df["status"] != "ok"]
    if len(failed):
        parts.append(f"{len(failed)} of {len(df)} rows hold no measurement: " + "; ".join(
            f"{n} x {s[:80]}" for s, n in failed["status"].value_counts().items()) + ".")
    text = " ".join(parts)
    for device in ("cpu", "cuda"):
        ratios = analysis.ratio_table(df, device, "float32")
        if len(ratios):
            ratios = ratios.assign(forward_ms=ratios["forward_ms"].map(lambda v: f"{v:.3g}"))
            for engine in [c for c in ratios.columns if c in set(df["engine"])]:
                ratios[engine] = ratios[engine].map(lambda v: f"{v:.2f}")
            where = "1 thread" if device == "cpu" else "CUDA"
            text += (f"\n\nReverse / forward against size, {device} ({where}), float32, smallest forward pass "
                     f"first:\n\n" + markdown_table(ratios))
    text += _peer(df)
    table = analysis.targets(df)
    return text + "\n\nThe benchmark's targets against this run:\n\n" + markdown_table(table) + "\n"


def _peer(df: pd.DataFrame) -> str:
    """The peer table: microseconds per model per step of each engine, JAX's included."""
    table = analysis.peer_table(df)
    if table.empty:
        return ""
    us = lambda v: "n/a" if not np.isfinite(v) else f"{v:.3g}"  # noqa: E731
    ratio = lambda v: "n/a" if not np.isfinite(v) else f"{v:.2f}"  # noqa: E731
    shown = pd.DataFrame({
        "E": table["ensemble"], "width": table["width"],
        "hand-written (us)": table["backprop"].map(us), "autograd (us)": table["autograd"].map(us),
        "hand-written compiled (us)": table["backprop_compiled"].map(us),
        "autograd compiled (us)": table["autograd_compiled"].map(us),
        **{f"{name} compiled, K steps per call (us)": table[column].map(us)
           for name, column in (("hand-written", "backprop_scan"), ("autograd", "autograd_scan"))
           if np.isfinite(table[column]).any()},  # mode compiled-scan, where the run has it
        "JAX (us)": table["jax"].map(us),
        "best approx / JAX": table["best_per_jax"].map(ratio),
        "torch's products at its peak (us)": table["products_us"].map(us),
        "hand-written / autograd": table["backprop_per_autograd"].map(ratio)})
    return ("\n\nThe peer: E tanh networks [1, W, W, 1] on 64 points, float32, one CPU thread, time per model "
            "per step (median); JAX as jit(vmap(step)) in lax.scan (K steps per call), compile apart, approx eager "
            "and compiled, one step per call (approx.compiled_step) and K (approx.compiled_scan):\n\n"
            + markdown_table(shown) + _peer_cores(df))


def _peer_cores(df: pd.DataFrame) -> str:
    """How many cores the peer rows used, and whose matrix kernels are faster on this CPU."""
    rows = analysis.ok_rows(df)
    peer = rows[rows["sweep"] == "peer"]
    parts = []
    if "cpu_per_wall" in peer and peer["cpu_per_wall"].notna().any():  # CSVs from before it lack it
        used = {who: rows_["cpu_per_wall"] for who, rows_ in (("approx's", peer[peer["engine"] != "jax"]),
                                                              ("JAX's", peer[peer["engine"] == "jax"]))
                if rows_["cpu_per_wall"].notna().any()}
        parts.append("CPU seconds per wall-clock second in the peer rows' timed calls (at most 1 on one core; "
                     "approx.bench.cores pins each row unless pin_cores is false): " + ", ".join(
                         f"{who} {c.min():.3f} to {c.max():.3f}" for who, c in used.items()) + ".")
    peaks = rows[(rows["mode"] == "peak") & (rows["device"] == "cpu") & (rows["precision"] == "float32")
                 & (rows["threads"] == 1)]
    rate = peaks.set_index("engine")["flops_per_s"]
    spread = peaks.set_index("engine")["cpu_per_wall"] if "cpu_per_wall" in peaks else pd.Series(dtype=float)
    if (spread > 1.05).any():  # unpinned, XLA's pool took more than one core: no one-core peak to compare
        parts.append("The peak products used " + ", ".join(
            f"{PEAK_LIBRARY.get(e, e)} {c:.2f}" for e, c in spread.items()) + " CPU seconds per wall-clock second, "
            "so they are not one core's and are not compared.")
    elif {"matmul", "jax"} <= set(rate.index):
        parts.append(f"One core's {int(peaks['width'].iloc[0])}-square float32 product: torch "
                     f"{_flops(rate['matmul'])}, JAX (XLA) {_flops(rate['jax'])}, "
                     f"{rate['jax'] / rate['matmul']:.2f} times as fast. Where a cell's products at torch's peak "
                     f"take longer than JAX's whole step (the table), no engine that runs them through torch can "
                     f"match JAX there.")
    return "\n\n" + " ".join(parts) if parts else ""


def _against_spec(device: str, device_name: str, precision: str, flops_per_s: float) -> str:
    """'Y% of the CARD datasheet's X' for a GPU (card_specs): the measured peak is no specification.
    Empty for the CPU, whose peak has no datasheet figure here."""
    if device != "cuda":
        return ""
    spec = card_specs.spec_flops_per_s(device_name, precision)
    if spec is None:
        return f"no datasheet {precision} figure on file for {device_name}"
    return f"{flops_per_s / spec:.0%} of the {device_name} datasheet's {_flops(spec)}"


def _reverse_forward(df: pd.DataFrame) -> list[str]:
    """What reverse / forward measures, and where and why it exceeds 3, in numbers from the table."""
    rf = analysis.reverse_forward(df)
    if rf.empty:
        return []
    parts = ["Reverse / forward = (gradient - forward) / forward, where forward is f(x) and the loss with "
             "nothing recorded (the same for every engine) and gradient is the engine's loss and all gradients; "
             "the update is in neither. So it is the cheap-gradient constant less one: the gradient costs a "
             "small constant times the function (Baur & Strassen 1983; Griewank & Walther 2008, ch. 4, bound it "
             "by 3 to 5 depending on what is counted; the target <= 3 asks for 4), and the FLOP model says 2 "
             "(two products per layer backward to one forward)."]
    for device, group in rf.groupby("device"):
        where = f"{device} at 1 thread" if device == "cpu" else device
        engines = []
        for engine, rows in group.groupby("engine"):
            rows = rows.sort_values("forward_ms")
            engines.append(f"{engine} {rows['ratio'].iloc[0]:.2f} at the shortest forward pass, "
                           f"{rows['ratio'].iloc[-1]:.2f} at the longest (median {rows['ratio'].median():.2f}), "
                           f"reverse never under {rows['reverse_ms'].min():.3g} ms")
        text = f"On {where} ({len(group)} rows): " + "; ".join(engines) + "."
        over = group[group["ratio"] > 3]
        short = over[over["forward_ms"] < analysis.ARITHMETIC_MS]
        if len(over):
            text += f" The ratio exceeds 3 in {len(over)} of {len(group)} rows"
            if len(short):
                text += (f"; {len(short)} of them have forward passes under {analysis.ARITHMETIC_MS:g} ms "
                         f"({short['forward_ms'].min():.3g}-{short['forward_ms'].max():.3g} ms), where fixed costs "
                         "per call and per graph node set the time, not arithmetic (torch.autograd's backward runs "
                         "every recorded node through its engine, microseconds apiece however small its work)")
            if len(over) > len(short):
                longest = over[over["forward_ms"] >= analysis.ARITHMETIC_MS]
                cells = ", ".join(f"{r.engine} {r.ratio:.2f} at width {r.width}, batch {r.batch}, {r.precision}"
                                  for r in longest.itertuples())
                text += f"; {len(longest)} {'has a longer one' if len(longest) == 1 else 'have longer ones'} ({cells})"
            text += "."
        large = group[group["forward_ms"] >= analysis.ARITHMETIC_MS]
        if len(large):
            text += (f" Where the forward pass takes >= {analysis.ARITHMETIC_MS:g} ms ({len(large)} rows) the "
                     f"ratio is {large['ratio'].min():.2f}-{large['ratio'].max():.2f} "
                     f"(median {large['ratio'].median():.2f}).")
        parts.append(text)
    return parts
