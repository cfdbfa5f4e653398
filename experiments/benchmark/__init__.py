"""Benchmark: the training step of every engine on the CPU and the GPU, every size, against the
machine's own measured matrix-product peak (FLOP model as in Kaplan et al. 2020; MFU as in
nanoGPT).

    approx run benchmark                                   # default: CPU, < 150 s -> results/benchmark-cpu.*
    approx run benchmark --preset full --device cuda       # the whole grid on a GPU -> results/benchmark-cuda.*
    approx run benchmark --preset smoke                    # seconds; what the tests run
    approx run benchmark --preset peer                     # the peer cells alone, compiled rows included
                                                           # (~2 min on 1 CPU thread) -> results/benchmark-peer-cpu.*

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
    peer      E = 1, 64, 1024 tanh networks [1, W, W, 1] (W = 16, 64) on 64 points, float32, one
              CPU thread: JAX as its users write it (engine "jax", mode jit-vmap-scan: GD in
              lax.scan over K steps; approx.bench.jax_peer) beside backprop and autograd, eager
              (with the forward / gradient / update split) and compiled (mode compiled-step:
              approx.compiled_step, as fit(compile="on"); and mode compiled-scan, K steps per
              compiled call as JAX's lax.scan takes them: approx.compiled_scan, for the engines
              in peer_scan_engines), from the same parameters and data.
              Without jax installed the run says so in one line and lists those rows as skipped

A CUDA run also times the CPU on the same cells, so the GPU/CPU ratios come from one run. CPU
cells whose modelled step exceeds ``cpu_max_flops``, or whose layer activations hold more than
``cpu_max_activations`` numbers (E x batch x width), are left out (a 4096-wide step on 65536
points would take minutes and gigabytes). A row that fails (say torch.compile is unavailable)
is kept with its error in ``status``, and rows past ``time_budget_s`` are listed as skipped.

The jobs are listed and timed here (with approx.bench); the Config is in config.py, the ratios
and targets read off the table in analysis.py, the figure in figure.py and the text in text.py.
"""
from __future__ import annotations

import os
import sys
import time

import pandas as pd
import torch

from approx.bench.measure import COLUMNS, PEER, Bench, Cell, Job
from approx.bench.precision import PRECISIONS
from approx.bench.steps import COMPILED_SCAN, COMPILED_STEP, COMPILING_MODES
from approx.device import resolve_device

from .config import PRESETS, Config
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "run", "plot", "describe", "output_name", "jobs"]

COMPILE_RESERVE_S = 30.0  # budget a torch.compile row needs left before it starts
NO_JAX = "skipped: jax is not installed (pip install 'approx[peers]')"


def output_name(cfg: Config) -> str:
    """benchmark-cpu or benchmark-cuda: the device the run resolves to (ValueError if absent);
    benchmark-peer-cpu (or -cuda) for a run of the peer cells alone (peer_only)."""
    return f"benchmark-{'peer-' if cfg.peer_only else ''}{resolve_device(cfg.device).type}"


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
    peer_cells = [Cell("peer", cfg.peer_depth, width, cfg.peer_batch, 1, e, stacked=e > 1,
                       activation=cfg.peer_activation)
                  for width in cfg.peer_widths for e in cfg.peer_ensembles]
    cpu = torch.device("cpu")

    def peer(cells: list[Cell], engine: str, mode: str, time_forward: bool = False) -> None:
        for cell in cells:
            out.append(Job(cell, engine, mode, "float32", str(cpu), 1, time_forward, cfg.peer_steps))

    if cfg.peer_only:
        peer(peer_cells, PEER, "jit-vmap-scan")
        for engine in ("backprop", "autograd"):
            peer(peer_cells, engine, "eager", time_forward=True)
        if cfg.peer_compiled:
            for engine in ("backprop", "autograd"):
                peer(peer_cells, engine, COMPILED_STEP)
            for engine in cfg.peer_scan_engines:
                peer(peer_cells, engine, COMPILED_SCAN)
        return out

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
    peer(peer_cells, PEER, "jit-vmap-scan")  # after the first benchmark's cells: a budget cuts these first
    for engine in ("backprop", "autograd"):
        peer(peer_cells, engine, "eager", time_forward=True)
    if "module" in cfg.engines:
        modes = ["compile", "compile-reduce-overhead"] if gpu else ["compile"]
        on = [device] if gpu else ([device] if cfg.compile_on_cpu else [])
        for width in cfg.compile_widths:
            add(Cell("compile", cfg.width_depth, width, cfg.width_batch), ["module"], modes, ["float32"],
                all_threads, on=on)
    if cfg.peer_compiled:
        for engine in ("backprop", "autograd"):
            peer(peer_cells, engine, COMPILED_STEP)
        for engine in cfg.peer_scan_engines:
            peer(peer_cells, engine, COMPILED_SCAN)
    return out


def run(cfg: Config) -> pd.DataFrame:
    """Measure every job of ``cfg`` on its device; one row per job plus one per peak."""
    device = resolve_device(cfg.device)
    bench = Bench(seed=cfg.seed, lr=cfg.lr, min_run_time_s=cfg.min_run_time_s,
                  peak_sizes={"cpu": cfg.peak_n_cpu, "cuda": cfg.peak_n_cuda}, pin_cores=cfg.pin_cores)
    start = time.perf_counter()
    rows = []
    todo = jobs(cfg, device)
    has_jax = not any(job.engine == PEER for job in todo) or _jax_installed()
    if not has_jax:
        print(f"benchmark: jax is not installed, so the JAX peer's rows are skipped (pip install 'approx[peers]')",
              file=sys.stderr)
    for job in todo:
        if job.engine == PEER and not has_jax:
            rows.append(bench.skipped(job, NO_JAX))
            continue
        # a compilation cannot be interrupted, so it starts only with COMPILE_RESERVE_S left
        reserve = COMPILE_RESERVE_S if job.mode in COMPILING_MODES else 0.0
        if cfg.time_budget_s and time.perf_counter() - start > cfg.time_budget_s - reserve:
            rows.append(bench.skipped(job, f"skipped: time budget of {cfg.time_budget_s:g} s spent"))
            continue
        rows.append(bench.measure(job))
    return pd.DataFrame(bench.peak_rows + rows, columns=COLUMNS)


def _jax_installed() -> bool:
    """Whether the JAX peer can run (importing jax, with XLA on one thread: approx.bench.jax_peer)."""
    from approx.bench.jax_peer import import_jax

    try:
        import_jax()
    except ImportError:
        return False
    return True
