"""Benchmark: the training step of every engine on the CPU and the GPU, every size, against the
machine's own measured matrix-product peak (FLOP model as in Kaplan et al. 2020; MFU as in
nanoGPT).

    approx run benchmark                                   # default: CPU, < 150 s -> results/benchmark-cpu.*
    approx run benchmark --preset full --device cuda       # the whole grid on a GPU -> results/benchmark-cuda.*
    approx run benchmark --preset smoke                    # seconds; what the tests run

One row per measured cell (engine x mode x precision x size x device x threads): median and IQR
of the step time (forward + backward + update), samples/s, achieved FLOP/s (6 x E x batch x
sum fan_in fan_out per step), the fraction of the peak measured in the same run, and the
relative error of the step's update against float64. What a step is, per engine
(approx.bench.steps): backprop = approx.backprop.loss_and_grad + gradient descent; autograd =
approx.autograd.loss_and_grad + the same descent; module = nn.Sequential + mse_loss + backward
+ torch.optim.SGD, PyTorch as usually written (the baseline for "autograd under torch.compile").
Networks are d_in -> depth hidden ReLU layers of one width -> 1, trained on the mean squared
error of sin(3 sum x / sqrt(d_in)) at uniform points. No numpy is timed, so no two thread pools
share a process. The grid is a union of sweeps, because the full product of sizes would take
hours:

    peak      an n x n matrix product per (device, precision, threads): the machine's limit
    width     step time vs width at fixed depth and batch: all engines, precisions and thread
              counts; at one CPU thread (and on a GPU) also the forward pass alone and the
              gradient alone, for the reverse / forward ratio (approx.bench.measure)
    batch     the same vs batch at fixed depth and width (the full preset leaves it to the heatmap)
    corner    every depth x the extreme widths, batches and d_in (corners of the grid), float32
    heatmap   width x batch, one engine, float32, on both devices: the GPU/CPU speed-up and
              crossover (a CPU-only run draws the CPU's step times instead)
    ensemble  E tiny networks as one batched step vs a Python loop over them
    graph     small networks captured in a CUDA graph (CUDA only)
    compile   the nn.Module step under torch.compile (CUDA; on the CPU with compile_on_cpu)

A CUDA run also times the CPU on the same cells, so the GPU/CPU ratios come from one run. CPU
cells whose modelled step exceeds ``cpu_max_flops``, or whose layer activations hold more than
``cpu_max_activations`` numbers (E x batch x width), are left out (a 4096-wide step on 65536
points would take minutes and gigabytes). A row that fails (say torch.compile is unavailable)
is kept with its error in ``status``, and rows past ``time_budget_s`` are listed as skipped.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from approx import checks
from approx.bench.measure import COLUMNS, Bench, Cell, Job
from approx.bench.precision import PRECISIONS
from approx.bench.steps import COMPILE_MODES, ENGINES
from approx.device import DEVICES, resolve_device

from . import figure, text
from .._limits import MAX_DEPTH, MAX_DIM, MAX_ENSEMBLE, MAX_NUMBERS, MAX_POINTS, MAX_SECONDS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "run", "plot", "describe", "output_name", "jobs"]

COMPILE_RESERVE_S = 30.0  # budget a torch.compile row needs left before it starts


@dataclass(frozen=True)
class Config:
    device: str = "auto"  # auto | cpu | cuda; a CUDA run also times the CPU on the same cells
    seed: int = 0  # seeds the networks and the data
    engines: tuple[str, ...] = ENGINES  # backprop (hand-written), autograd, module (nn.Module + torch.optim)
    precisions: tuple[str, ...] = tuple(PRECISIONS)  # each device runs those it supports
    thread_counts: tuple[str, ...] = ("1", "all")  # CPU intra-op threads: a number or "all" (every core)
    lr: float = 1e-3  # learning rate of the timed steps (small: the network stays well scaled)
    # width sweep
    width_depth: int = 2  # hidden layers
    width_batch: int = 64  # small enough that one CPU thread spans steps of 0.1 to 20 ms
    widths: tuple[int, ...] = (16, 64, 256, 1024)  # the CPU has 4096 in the corners and the heatmap
    # batch sweep (at width_depth; cells the width sweep measures are not repeated)
    batch_width: int = 256  # wide enough that the products dominate at the larger batches
    batches: tuple[int, ...] = (512, 4096)  # 65536 on the CPU: corners and heatmap (one row each, not 18)
    # corners of the grid (float32)
    corner_depths: tuple[int, ...] = (1, 2, 4)
    corner_widths: tuple[int, ...] = (16, 4096)
    corner_batches: tuple[int, ...] = (64, 65536)
    corner_d_ins: tuple[int, ...] = (1, 10)
    # width x batch (float32, one engine; the CPU at all threads): GPU/CPU speed-up or CPU step time
    heatmap_engine: str = "autograd"
    heatmap_depth: int = 2
    heatmap_widths: tuple[int, ...] = (16, 64, 256, 1024, 4096)
    heatmap_batches: tuple[int, ...] = (64, 512, 4096, 65536)
    # ensembles: E networks d_in -> width -> 1 on ensemble_batch points (float32, CPU at 1 thread)
    ensemble_sizes: tuple[int, ...] = (1, 16, 128, 1024)
    ensemble_width: int = 16
    ensemble_batch: int = 64
    # CUDA graphs and torch.compile, at the width sweep's depth and batch (float32)
    graph_widths: tuple[int, ...] = (16, 64, 256)
    compile_widths: tuple[int, ...] = (16, 1024)
    compile_on_cpu: bool = False  # torch.compile on the CPU too (slow to compile; rarely pays)
    # limits
    cpu_max_flops: float = 7e9  # CPU cells above this many FLOPs per step are not timed
    cpu_max_activations: int = 2**22  # ... nor those whose activations hold more numbers (E batch width)
    min_run_time_s: float = 0.2  # per timed quantity; at least 5 samples
    peak_n_cpu: int = 1024  # size of the peak matrix product on the CPU
    peak_n_cuda: int = 8192  # ... and on a GPU
    time_budget_s: float = 0.0  # rows starting after this many seconds are skipped and listed (0: none)

    def __post_init__(self) -> None:
        checks.choice("device", self.device, DEVICES)
        checks.seed(self.seed)
        checks.choices("engines", self.engines, ENGINES)
        checks.choices("precisions", self.precisions, PRECISIONS)
        for count in checks.sequence("thread_counts", self.thread_counts, what="thread counts: 1, 2, ... or all"):
            if count != "all" and not (isinstance(count, str) and count.isdigit() and 1 <= int(count) <= MAX_THREADS):
                raise ValueError(f"every entry of thread_counts must be 'all' or a whole number in "
                                 f"[1, {MAX_THREADS}] (as text), got {count!r}")
        checks.number("lr", self.lr, low=0, low_open=True)
        for name in ("width_depth", "heatmap_depth"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_DEPTH)
        for name in ("width_batch", "ensemble_batch"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_POINTS)
        for name in ("batch_width", "ensemble_width"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_WIDTH)
        # sweeps a preset may leave empty (full: no batch sweep; no CUDA graphs or compile rows)
        for name in ("widths", "graph_widths", "compile_widths"):
            checks.integers(name, getattr(self, name), low=1, high=MAX_WIDTH, min_len=0)
        checks.integers("batches", self.batches, low=1, high=MAX_POINTS, min_len=0)
        checks.integers("corner_depths", self.corner_depths, low=1, high=MAX_DEPTH)
        checks.integers("corner_widths", self.corner_widths, low=1, high=MAX_WIDTH)
        checks.integers("corner_batches", self.corner_batches, low=1, high=MAX_POINTS)
        checks.integers("corner_d_ins", self.corner_d_ins, low=1, high=MAX_DIM)
        checks.choice("heatmap_engine", self.heatmap_engine, ENGINES)
        checks.integers("heatmap_widths", self.heatmap_widths, low=1, high=MAX_WIDTH)
        checks.integers("heatmap_batches", self.heatmap_batches, low=1, high=MAX_POINTS)
        checks.integers("ensemble_sizes", self.ensemble_sizes, low=1, high=MAX_ENSEMBLE)
        checks.flag("compile_on_cpu", self.compile_on_cpu)
        checks.number("cpu_max_flops", self.cpu_max_flops, low=0, low_open=True)
        checks.integer("cpu_max_activations", self.cpu_max_activations, low=1, high=MAX_NUMBERS)
        checks.number("min_run_time_s", self.min_run_time_s, low=0, high=MAX_SECONDS, low_open=True)
        for name in ("peak_n_cpu", "peak_n_cuda"):  # n x n matrices: n^2 <= MAX_NUMBERS
            checks.integer(name, getattr(self, name), low=1, high=32_768)
        checks.number("time_budget_s", self.time_budget_s, low=0, high=7 * 86_400.0)  # 0: none; a week
        # the largest tensors of each sweep: a weight matrix (width^2) and an activation
        # (ensemble x batch x width); the CPU skips cells over its caps, a GPU runs them all
        widest = max(self.widths + self.graph_widths + self.compile_widths + self.corner_widths
                     + self.heatmap_widths + (self.batch_width, self.ensemble_width))
        checks.product_at_most("the widest weight matrix", {"width^2": widest**2}, MAX_NUMBERS)
        for what, batch, width in (
                ("a width-sweep activation", ("width_batch", self.width_batch),
                 ("max(widths, graph_widths, compile_widths)", max(self.widths + self.graph_widths
                                                                   + self.compile_widths, default=0))),
                ("a batch-sweep activation", ("max(batches)", max(self.batches, default=0)),
                 ("batch_width", self.batch_width)),
                ("a corner activation", ("max(corner_batches)", max(self.corner_batches)),
                 ("max(corner_widths)", max(self.corner_widths))),
                ("a heatmap activation", ("max(heatmap_batches)", max(self.heatmap_batches)),
                 ("max(heatmap_widths)", max(self.heatmap_widths)))):
            checks.product_at_most(what, dict([batch, width]), MAX_NUMBERS)
        checks.product_at_most("an ensemble activation", {
            "max(ensemble_sizes)": max(self.ensemble_sizes), "ensemble_batch": self.ensemble_batch,
            "ensemble_width": self.ensemble_width}, MAX_NUMBERS)


PRESETS = {
    "smoke": dict(
        precisions=("float64", "float32"), thread_counts=("1",), widths=(16, 64), width_batch=64,
        batch_width=16, batches=(256,),
        corner_depths=(1,), corner_widths=(16,), corner_batches=(64,), corner_d_ins=(1, 10),
        heatmap_widths=(16, 64), heatmap_batches=(64,), ensemble_sizes=(1, 4), graph_widths=(16,),
        compile_widths=(16,), min_run_time_s=0.01, peak_n_cpu=128, peak_n_cuda=1024,
    ),
    "default": dict(time_budget_s=150.0),
    "full": dict(
        widths=(16, 64, 256, 1024, 4096), width_batch=4096, batches=(), corner_depths=(1, 4),
        ensemble_sizes=(1, 32, 1024),
        min_run_time_s=0.1, time_budget_s=190.0,
    ),
}


def output_name(cfg: Config) -> str:
    """benchmark-cpu or benchmark-cuda: the device the run resolves to (ValueError if absent)."""
    return f"benchmark-{resolve_device(cfg.device).type}"


def _threads(count: str) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores if count == "all" else int(count)


def jobs(cfg: Config, device: torch.device) -> list[Job]:
    """Every row to measure, in the order they run: essential first, compilation (slowest) last."""
    gpu = device.type == "cuda"
    devices = [device, torch.device("cpu")] if gpu else [device]
    all_threads = [max(_threads(c) for c in cfg.thread_counts)]
    out: list[Job] = []

    def add(cell: Cell, engines, modes, precisions, threads_cpu, time_forward=False, on=devices) -> None:
        for dev in on:
            if dev.type == "cpu" and (cell.flops > cfg.cpu_max_flops
                                      or cell.ensemble * cell.batch * cell.width > cfg.cpu_max_activations):
                continue
            for prec in precisions:
                if dev.type not in PRECISIONS[prec].devices:
                    continue
                for threads in (threads_cpu if dev.type == "cpu" else [torch.get_num_threads()]):
                    for engine in engines:
                        for mode in modes:
                            out.append(Job(cell, engine, mode, prec, str(dev), threads, time_forward))

    thread_list = sorted({_threads(c) for c in cfg.thread_counts})

    def sweep(cell: Cell) -> None:
        # the forward pass and the gradient alone are timed on the GPU and at one CPU thread:
        # reverse / forward is a property of the algorithm, which more threads would only blur
        add(cell, cfg.engines, ["eager"], cfg.precisions, [1] if 1 in thread_list else [], time_forward=True)
        add(cell, cfg.engines, ["eager"], cfg.precisions, [t for t in thread_list if t != 1],
            on=[torch.device("cpu")])

    for width in cfg.widths:
        sweep(Cell("width", cfg.width_depth, width, cfg.width_batch))
    for e in cfg.ensemble_sizes:
        add(Cell("ensemble", 1, cfg.ensemble_width, cfg.ensemble_batch, 1, e, stacked=True),
            [x for x in cfg.engines if x != "module"], ["eager", "loop"], ["float32"], [1])
    if gpu:
        for width in cfg.graph_widths:
            add(Cell("graph", cfg.width_depth, width, cfg.width_batch),
                [e for e in cfg.engines if e != "module"], ["cuda-graph"], ["float32"], [], on=[device])
    for depth in cfg.corner_depths:
        for width in cfg.corner_widths:
            for batch in cfg.corner_batches:
                for d_in in cfg.corner_d_ins:
                    add(Cell("corner", depth, width, batch, d_in), cfg.engines, ["eager"], ["float32"], all_threads)
    for batch in cfg.batches:  # after the cheap coverage rows: its large-batch rows are the slowest
        if not (batch == cfg.width_batch and cfg.batch_width in cfg.widths):
            sweep(Cell("batch", cfg.width_depth, cfg.batch_width, batch))
    for batch in cfg.heatmap_batches:
        for width in cfg.heatmap_widths:
            add(Cell("heatmap", cfg.heatmap_depth, width, batch), [cfg.heatmap_engine], ["eager"],
                ["float32"], all_threads)
    if "module" in cfg.engines:
        modes = ["compile", "compile-reduce-overhead"] if gpu else ["compile"]
        on = [device] if gpu else ([device] if cfg.compile_on_cpu else [])
        for width in cfg.compile_widths:
            add(Cell("compile", cfg.width_depth, width, cfg.width_batch), ["module"], modes, ["float32"],
                all_threads, on=on)
    return out


def run(cfg: Config) -> pd.DataFrame:
    """Measure every job of ``cfg`` on its device; one row per job plus one per peak."""
    device = resolve_device(cfg.device)
    bench = Bench(seed=cfg.seed, lr=cfg.lr, min_run_time_s=cfg.min_run_time_s,
                  peak_sizes={"cpu": cfg.peak_n_cpu, "cuda": cfg.peak_n_cuda})
    start = time.perf_counter()
    rows = []
    for job in jobs(cfg, device):
        # a compilation cannot be interrupted, so it starts only with COMPILE_RESERVE_S left
        reserve = COMPILE_RESERVE_S if job.mode in COMPILE_MODES else 0.0
        if cfg.time_budget_s and time.perf_counter() - start > cfg.time_budget_s - reserve:
            rows.append(bench.skipped(job, f"skipped: time budget of {cfg.time_budget_s:g} s spent"))
            continue
        rows.append(bench.measure(job))
    return pd.DataFrame(bench.peak_rows + rows, columns=COLUMNS)


def plot(df: pd.DataFrame, path: Path) -> None:
    figure.draw(df, path)


def describe(df: pd.DataFrame) -> str:
    return text.describe(df)

