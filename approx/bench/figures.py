"""The benchmark's figure, drawn from its table alone: four panels.

    (a) step time vs width, one line per engine (and mode) and device, float32 (the CPU at 1 and
        at all threads; beside a GPU, at all threads only)
    (b) GPU/CPU speed-up over width x batch (or "no CUDA device in this run")
    (c) utilisation: achieved FLOP/s / measured matmul peak vs FLOPs per step
    (d) ensembles: time per model vs E, one batched step vs a loop
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from ..plotting import figure, save
from . import summary

__all__ = ["draw"]

COLOURS = {"backprop": "C1", "autograd": "C0", "module": "C2"}
MARKERS = {"backprop": "o", "autograd": "s", "module": "^"}
MODE_STYLE = {"cuda-graph": ("*", "C3"), "compile": ("D", "C4"), "compile-reduce-overhead": ("P", "C5")}


def draw(df: pd.DataFrame, path: str | Path) -> None:
    fig, axes = figure(2, 2, width=5.2, height=3.9)
    ok = summary.ok_rows(df)
    _step_time(axes[0, 0], ok)
    _heatmap(fig, axes[0, 1], df)
    _utilisation(axes[1, 0], ok)
    _ensembles(axes[1, 1], ok)
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
    ax.set(xscale="log", yscale="log", xlabel="width", ylabel="step time (ms, median)",
           title=f"(a) training step, float32, depth {depth}, batch {batch}")
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=5.5, ncol=2)


def _heatmap(fig, ax, df: pd.DataFrame) -> None:
    ax.set_title("(b) GPU / CPU speed-up (float32)")
    if not (df["device"] == "cuda").any():
        ax.text(0.5, 0.5, "no CUDA device in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    speed = summary.speedups(df)
    speed = speed[speed["sweep"] == "heatmap"]
    if speed.empty:
        ax.text(0.5, 0.5, "no cell measured on both devices", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    grid = speed.pivot_table(index="batch", columns="width", values="speedup")
    values = grid.to_numpy()
    bound = max(np.nanmax(values), 1 / np.nanmin(values), 2.0)
    image = ax.imshow(values, origin="lower", cmap="RdBu", norm=LogNorm(1 / bound, bound), aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "CPU\nover cap" if np.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(grid.shape[1]), [str(w) for w in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(b) for b in grid.index])
    ax.set(xlabel="width", ylabel="batch")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="CPU time / GPU time (>1: GPU wins)")


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
    ax.legend(fontsize=6)
