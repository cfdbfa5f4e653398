"""The benchmark's figure, drawn from its table alone: eight panels (a run of the peer cells
alone: (g) and (h)).

    (a) step time vs width, one line per engine (and mode) and device, float32 (the CPU at 1 and
        at all threads; beside a GPU, at all threads only)
    (b) GPU/CPU speed-up over width x batch (or, without a GPU, a panel that says so)
    (c) utilisation: achieved FLOP/s / measured matmul peak vs FLOPs per step
    (d) ensembles: time per model vs E, one batched step vs a loop
    (e) reverse / forward vs FLOPs per step, float32, one line per engine, sweep and device, with
        the target (3) and the FLOP model's ratio (2)
    (f) where a step's time goes, in units of its forward pass: forward, reverse, update, per
        engine at the shortest and the longest forward pass (float32; the GPU if there is one)
    (g) the peer cells: time per model per step vs E, per engine and mode (eager, compiled,
        JAX), one line style per width
    (h) the peer's eager ensemble steps (E > 1) split into forward, reverse and update, per
        model per step: where the hand-written and the autograd engine spend their time
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from approx.plotting import figure, save

from . import analysis

__all__ = ["plot"]

COLOURS = {"backprop": "C1", "autograd": "C0", "module": "C2"}
MARKERS = {"backprop": "o", "autograd": "s", "module": "^"}
MODE_STYLE = {"cuda-graph": ("*", "C3"), "compile": ("D", "C4"), "compile-reduce-overhead": ("P", "C5")}
NO_CUDA = "no CUDA device in this run"
SWEEP_STYLE = {"width": "-", "batch": "--"}


def plot(df: pd.DataFrame, path: str | Path) -> None:
    if set(df["sweep"]) <= {"peak", "peer"}:  # a run of the peer cells alone (preset peer): (g), (h)
        fig, axes = figure(1, 2, width=5.2, height=3.9)
        _peer(axes[0, 0], df)
        _peer_phases(axes[0, 1], df)
        save(fig, path)
        return
    fig, axes = figure(4, 2, width=5.2, height=3.9)
    ok = analysis.ok_rows(df)
    _step_time(axes[0, 0], ok)
    _heatmap(fig, axes[0, 1], df)
    _utilisation(axes[1, 0], ok)
    _ensembles(axes[1, 1], ok)
    _ratio(axes[2, 0], df)
    _split(axes[2, 1], df)
    _peer(axes[3, 0], df)
    _peer_phases(axes[3, 1], df)
    save(fig, path)


def _step_time(ax, ok: pd.DataFrame) -> None:
    width_rows = ok[ok["sweep"] == "width"]
    if width_rows.empty:
        ax.text(0.5, 0.5, "no width sweep in this run", ha="center", transform=ax.transAxes)
        return
    depth, batch = int(width_rows["depth"].iloc[0]), int(width_rows["batch"].iloc[0])
    rows = ok[ok["sweep"].isin(["width", "graph", "compile"]) & (ok["precision"] == "float32")
              & (ok["depth"] == depth) & (ok["batch"] == batch)]
    cpu_threads = sorted(rows.loc[rows["device"] == "cpu", "threads"].unique())
    if (rows["device"] == "cuda").any() and cpu_threads:  # beside a GPU, the CPU at its best only
        rows = rows[(rows["device"] == "cuda") | (rows["threads"] == cpu_threads[-1])]
        cpu_threads = cpu_threads[-1:]
    for (device, threads, engine, mode), group in rows.groupby(["device", "threads", "engine", "mode"]):
        group = group.sort_values("width")
        marker, colour = MODE_STYLE.get(mode, (MARKERS.get(engine, "x"), COLOURS.get(engine, "k")))
        if device == "cuda":
            style, where = "-", "cuda"
        else:  # one CPU thread dotted, the most threads dashed
            style = ":" if threads == cpu_threads[0] and len(cpu_threads) > 1 else "--"
            where = f"cpu {threads} thr"
        label = f"{engine}{'' if mode == 'eager' else ' ' + mode}, {where}"
        ax.plot(group["width"], group["time_ms"], marker=marker, color=colour, linestyle=style, label=label,
                linewidth=1.8 if device == "cuda" else 1.2)
    ax.set(xscale="log", yscale="log", xlabel="width (hidden units per layer)", ylabel="step time (ms, median)",
           title=f"(a) training step, float32, depth {depth}, batch {batch}")
    ax.set_xscale("log", base=2)
    _plain_log_ticks(ax.yaxis)
    # below the axes: the lines span the whole panel, so any place inside would hide some
    ax.legend(fontsize=5.5, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.17))


def _plain_log_ticks(axis) -> None:
    """Ticks at 1, 2, 5 x 10^k labelled as plain numbers (a log axis spanning about one decade
    otherwise labels its minor ticks in scientific notation, which crowds the axis)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _heatmap(fig, ax, df: pd.DataFrame) -> None:
    if not (df["device"] == "cuda").any():
        _cpu_heatmap(fig, ax, analysis.ok_rows(df))
        return
    ax.set_title("(b) GPU / CPU speed-up (float32)")
    speed = analysis.speedups(df)
    speed = speed[speed["sweep"] == "heatmap"]
    if speed.empty:
        ax.text(0.5, 0.5, "no cell measured on both devices", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    grid = speed.pivot_table(index="batch", columns="width", values="speedup")
    values = grid.to_numpy()
    bound = max(np.nanmax(values), 1 / np.nanmin(values), 2.0)
    image = ax.imshow(values, origin="lower", cmap="RdBu", norm=LogNorm(1 / bound, bound), aspect="auto")
    _annotate(ax, grid, "CPU\nover cap")
    fig.colorbar(image, ax=ax, label="CPU time / GPU time (>1: GPU wins)")


def _cpu_heatmap(fig, ax, ok: pd.DataFrame) -> None:
    """Without a GPU: the CPU's step time over the same width x batch grid, and a title that says why."""
    ax.set_title(f"(b) {NO_CUDA}: no GPU / CPU speed-up;\nthe CPU's step time over width x batch instead", fontsize=9)
    rows = ok[(ok["sweep"] == "heatmap") & (ok["device"] == "cpu")]
    if rows.empty:
        ax.text(0.5, 0.5, NO_CUDA, ha="center", va="center", transform=ax.transAxes)
        ax.text(0.5, 0.38, "(CPU only; a GPU run: --preset full --device cuda)", ha="center", va="center",
                fontsize=7, color="grey", transform=ax.transAxes)
        ax.set_axis_off()
        return
    grid = rows.pivot_table(index="batch", columns="width", values="time_ms")
    image = ax.imshow(grid.to_numpy(), origin="lower", cmap="viridis", norm=LogNorm(), aspect="auto")
    _annotate(ax, grid, "over\ncap")
    engine, threads = rows["engine"].iloc[0], int(rows["threads"].max())
    fig.colorbar(image, ax=ax, label=f"CPU step time (ms): {engine}, float32, {threads} thr")


def _annotate(ax, grid: pd.DataFrame, missing: str) -> None:
    """One number per cell (``missing`` where the cell was not run), the sizes on the axes."""
    image = ax.images[0]
    for (i, j), v in np.ndenumerate(grid.to_numpy()):
        # dark text on light cells, light text on dark ones (luminance of the cell's colour)
        red, green, blue, _ = image.cmap(image.norm(v)) if np.isfinite(v) else (1.0, 1.0, 1.0, 1.0)
        dark_cell = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(j, i, missing if np.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=6,
                color="white" if dark_cell else "black")
    ax.set_xticks(range(grid.shape[1]), [str(w) for w in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(b) for b in grid.index])
    ax.set(xlabel="width (hidden units per layer)", ylabel="batch (points per step)")
    ax.grid(False)


def _utilisation(ax, ok: pd.DataFrame) -> None:
    rows = ok[(ok["mode"] == "eager") & ok["sweep"].isin(["width", "corner", "heatmap"])]
    rows = rows[rows["peak_fraction"] > 0]
    for (device, precision), group in rows.groupby(["device", "precision"]):
        ax.scatter(group["flops"], group["peak_fraction"], s=10, alpha=0.7,
                   marker="o" if device == "cpu" else "^", label=f"{device}, {precision}")
    ax.set(xscale="log", yscale="log", xlabel="FLOPs per step (6 E batch sum fan_in fan_out)",
           ylabel="achieved / measured matmul peak", title="(c) utilisation vs size")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    if len(rows):
        ax.legend(fontsize=6)


def _ensembles(ax, ok: pd.DataFrame) -> None:
    rows = ok[ok["sweep"] == "ensemble"]
    if rows.empty:
        ax.text(0.5, 0.5, "no ensemble rows in this run", ha="center", transform=ax.transAxes)
        return
    for (device, engine, mode), group in rows.groupby(["device", "engine", "mode"]):
        group = group.sort_values("ensemble")
        ax.plot(group["ensemble"], group["time_ms"] / group["ensemble"], marker=MARKERS.get(engine, "x"),
                color=COLOURS.get(engine, "k"), linestyle="-" if mode == "eager" else ":",
                linewidth=1.8 if device == "cuda" else 1.2, fillstyle="full" if device == "cuda" else "none",
                label=f"{engine} {'batched' if mode == 'eager' else 'loop'}, {device}")
    width, batch = int(rows["width"].iloc[0]), int(rows["batch"].iloc[0])
    ax.set(xscale="log", yscale="log", xlabel="ensemble size E", ylabel="time per model per step (ms)",
           title=f"(d) E networks of width {width} on {batch} points")
    ax.set_xscale("log", base=2)
    _plain_log_ticks(ax.yaxis)
    ax.legend(fontsize=6)


def _ratio(ax, df: pd.DataFrame) -> None:
    rf = analysis.reverse_forward(df)
    rf = rf[rf["precision"] == "float32"]
    ax.set_title("(e) reverse / forward vs size, float32")
    if rf.empty:
        ax.text(0.5, 0.5, "no forward pass timed in this run", ha="center", transform=ax.transAxes)
        return
    for (device, sweep, engine), group in rf.groupby(["device", "sweep", "engine"]):
        if sweep == "batch":  # the width sweep's cell of the same width is this line's first point
            width = group["width"].iloc[0]
            shared = rf[(rf["sweep"] == "width") & (rf["width"] == width) & (rf["depth"] == group["depth"].iloc[0])
                        & (rf["device"] == device) & (rf["engine"] == engine)]
            group = pd.concat([shared, group])
            where = f"batch sweep (width {width})"
        else:
            where = f"{sweep} sweep (batch {group['batch'].iloc[0]})"
        group = group.sort_values("flops")
        ax.plot(group["flops"], group["ratio"], marker=MARKERS.get(engine, "x"), color=COLOURS.get(engine, "k"),
                linestyle=SWEEP_STYLE.get(sweep, ":"), linewidth=1.8 if device == "cuda" else 1.2,
                fillstyle="full" if device == "cuda" else "none",
                label=f"{engine}, {device}{' 1 thr' if device == 'cpu' else ''}, {where}")
    ax.axhline(3.0, color="C3", linewidth=1.0, linestyle="--", label="target: 3")
    ax.axhline(2.0, color="grey", linewidth=1.0, linestyle=":", label="FLOP model: 2")
    ax.set(xscale="log", yscale="log", xlabel="FLOPs per step (6 E batch sum fan_in fan_out)",
           ylabel="(gradient - forward) / forward time")
    ax.set_yticks([1, 2, 3, 5, 10], ["1", "2", "3", "5", "10"])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=5.5, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.17))


def _split(ax, df: pd.DataFrame) -> None:
    rf = analysis.reverse_forward(df)
    rf = rf[rf["precision"] == "float32"]
    device = "cuda" if (rf["device"] == "cuda").any() else "cpu"
    rf = rf[rf["device"] == device]
    where = "1 CPU thread" if device == "cpu" else "CUDA"
    ax.set_title(f"(f) where a step's time goes, float32, {where}")
    if rf.empty:
        ax.text(0.5, 0.5, "no forward pass timed in this run", ha="center", transform=ax.transAxes)
        return
    bars = []  # (label, forward, reverse, update) in units of the forward pass
    for engine, group in rf.groupby("engine", sort=False):
        group = group.sort_values("forward_ms")
        for _, row in (group.iloc[[0, -1]] if len(group) > 1 else group).iterrows():
            bars.append((f"{engine}, width {int(row['width'])}, batch {int(row['batch'])}\n"
                         f"(forward {row['forward_ms']:.3g} ms)",
                         1.0, row["ratio"], max(row["update_ms"], 0.0) / row["forward_ms"], engine))
    y = np.arange(len(bars))[::-1]
    left = np.zeros(len(bars))
    for i, (part, colour) in enumerate((("forward", "0.75"), ("reverse", None), ("update", "0.45"))):
        widths = np.array([b[1 + i] for b in bars])
        colours = [COLOURS.get(b[4], "k") for b in bars] if colour is None else colour
        ax.barh(y, widths, left=left, color=colours, edgecolor="white", height=0.7,
                label=part if part != "reverse" else "reverse (engine colour)")
        left += widths
    ax.axvline(4.0, color="C3", linewidth=1.0, linestyle="--", label="target: reverse = 3 x forward")
    ax.set_yticks(y, [b[0] for b in bars], fontsize=5.5)
    ax.set(xlabel="time / forward time (step = forward + reverse + update)")
    ax.grid(False, axis="y")
    ax.legend(fontsize=6, loc="lower right")


PEER_STYLE = {  # peer_table column -> (colour, marker, line style)
    "backprop": ("C1", "o", "-"), "autograd": ("C0", "s", "-"),
    "backprop_compiled": ("C1", "D", "--"), "autograd_compiled": ("C0", "D", "--"),
    "backprop_scan": ("C1", "^", ":"), "autograd_scan": ("C0", "^", ":"), "jax": ("C3", "*", "-"),
}
PEER_LABEL = {"backprop_scan": "backprop compiled, K per call", "autograd_scan": "autograd compiled, K per call"}
WIDTH_ALPHA = (1.0, 0.5)  # the first width solid, the next fainter


def _peer(ax, df: pd.DataFrame) -> None:
    table = analysis.peer_table(df)
    ax.set_title("(g) peer: JAX and approx, float32, 1 CPU thread")
    if table.empty:
        ax.text(0.5, 0.5, "no peer cells in this run", ha="center", transform=ax.transAxes)
        return
    for i, (width, group) in enumerate(table.groupby("width")):
        for column, (colour, marker, style) in PEER_STYLE.items():
            if group[column].notna().any():
                ax.plot(group["ensemble"], group[column], color=colour, marker=marker, linestyle=style,
                        alpha=WIDTH_ALPHA[min(i, 1)],
                        label=f"{PEER_LABEL.get(column, column.replace('_', ' '))}, width {width}")
    ax.set(xscale="log", yscale="log", xlabel="ensemble size E",
           ylabel="time per model per step (us, median)")
    ax.set_xscale("log", base=2)
    _plain_log_ticks(ax.yaxis)
    ax.legend(fontsize=5.5, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.17))


def _peer_phases(ax, df: pd.DataFrame) -> None:
    phases = analysis.peer_phases(df)
    phases = phases[phases["ensemble"] > 1]  # the ensembles (E = 1 is mostly Python per call)
    ax.set_title("(h) peer ensembles, eager: the parts of a step")
    if phases.empty:
        ax.text(0.5, 0.5, "no peer cells in this run", ha="center", transform=ax.transAxes)
        return
    y = np.arange(len(phases))[::-1]
    left = np.zeros(len(phases))
    for part, colour in (("forward", "0.75"), ("reverse", None), ("update", "0.45")):
        widths = phases[f"{part}_us"].clip(lower=0).to_numpy()
        colours = [COLOURS.get(e, "k") for e in phases["engine"]] if colour is None else colour
        ax.barh(y, widths, left=left, color=colours, edgecolor="white", height=0.7,
                label=part if part != "reverse" else "reverse (engine colour)")
        left += widths
    labels = [f"{r.engine}, E = {r.ensemble}, width {r.width}" for r in phases.itertuples()]
    ax.set_yticks(y, labels, fontsize=5.5)
    ax.set(xlabel="time per model per step (us): forward + reverse + update")
    ax.grid(False, axis="y")
    ax.legend(fontsize=6, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.17))
