"""The reverse pass takes O(M) time for M edges, a small constant times the forward pass.

    approx run backprop_cost                  # default: < 90 s on a 2-core CPU
    approx run backprop_cost --preset smoke   # seconds; what the tests run

The notes' lemma visits every node once and sends one message along every edge, so the reverse
pass costs O(M) for a graph of M edges (Linnainmaa 1970; Rumelhart, Hinton & Williams 1986), and
the gradient costs a small constant times the function itself: the cheap-gradient principle
(Baur & Strassen 1983; Griewank & Walther 2008, ch. 4, who bound the ratio by about 3 to 5
depending on the operation mix). Three panels measure it on the hand-written engine:

- *scalar graphs*: a Network's loss written with one float Node per input, weight and bias and
  per product and partial sum (``approx.backprop.scalar_loss``, the picture in the notes), M =
  the graph's edges (``count_edges``), over more than three decades of M;
- *tensor graphs*: the same loss with one tensor Node per array operation
  (``approx.backprop.tensor_loss``), M = sum over layers of fan_in * fan_out;
- *engines*: one training step (``loss_and_grad``: forward, loss, all gradients) of the fused
  hand-written engine against torch.autograd, alternating the engines round by round.

Forward = building the graph and computing its values; reverse = ``backward()`` (topological
sort and messages). Every timing runs at ``threads`` CPU threads, with Python's cyclic garbage
collector paused (as ``timeit`` does; it would otherwise strike at random inside large scalar
graphs), after warm-up, with CUDA synchronised where used; medians and interquartile ranges over
``repeats``. On the CPU at one thread the clock is the thread's CPU time (``time.thread_time``,
column ``clock``), which other processes on a shared machine cannot inflate; wall time otherwise.
The fitted slope of log(reverse time) on log(M) comes with a 95% t-interval.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from approx import activations, autograd, backprop, checks
from approx.device import DEVICES, resolve_device, synchronize, threads
from approx.metrics import loglog_slope
from approx.network import Network
from approx.plotting import figure, save

from ._limits import MAX_COUNT, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_SECONDS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "run", "plot", "describe", "summary", "slopes", "per_node",
           "engine_table", "engine_target"]


# A scalar graph holds Python objects per node and edge (~10^2 bytes each): 2**23 edges, 32x the
# full preset's largest graph, take about a gigabyte.
MAX_SCALAR_EDGES = 2**23


@dataclass(frozen=True)
class Config:
    scalar_widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256)  # w of [d, w, w, 1] graphs
    tensor_widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048)  # w of tensor graphs
    engine_widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)  # w of the engine race
    input_dim: int = 4  # d, inputs of every network
    activation: str = "tanh"  # hidden activation of every network
    scalar_batch: int = 1  # points in a scalar graph (each point repeats the whole graph)
    tensor_batch: int = 256  # points in a tensor graph and in a training step
    repeats: int = 7  # timings per size (median and IQR are reported)
    min_time_s: float = 0.02  # each timing repeats a call until it has run this long
    threads: int = 1  # CPU intra-op threads during the timings (restored afterwards)
    seed: int = 0  # network and data seed
    device: str = "cpu"  # auto | cpu | cuda for tensor graphs and the engine race

    def __post_init__(self):
        for name in ("scalar_widths", "tensor_widths", "engine_widths"):
            # a rate is fitted over the sizes: at least two different ones
            checks.integers(name, getattr(self, name), low=1, high=MAX_WIDTH, min_len=2)
        checks.integer("input_dim", self.input_dim, low=1, high=MAX_DIM)
        checks.choice("activation", self.activation, activations.names())
        checks.integer("scalar_batch", self.scalar_batch, low=1, high=MAX_POINTS)
        checks.integer("tensor_batch", self.tensor_batch, low=1, high=MAX_POINTS)
        checks.integer("repeats", self.repeats, low=1, high=MAX_COUNT)
        checks.number("min_time_s", self.min_time_s, low=0, high=MAX_SECONDS, low_open=True)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        w = max(self.scalar_widths)
        checks.product_at_most("the largest scalar graph's edges", {
            "scalar_batch": self.scalar_batch, "(input_dim + w + 1) w at w = max(scalar_widths)":
            (self.input_dim + w + 1) * w}, MAX_SCALAR_EDGES)
        w = max(self.tensor_widths + self.engine_widths)
        checks.product_at_most("the largest weight matrix", {"w^2 at the largest width": w * w}, MAX_NUMBERS)
        checks.product_at_most("the largest activation", {"tensor_batch": self.tensor_batch,
                                                          "largest width": w}, MAX_NUMBERS)


PRESETS = {
    "smoke": {"scalar_widths": (2, 4, 8), "tensor_widths": (8, 16, 32), "engine_widths": (4, 16),
              "repeats": 2, "min_time_s": 0.002, "tensor_batch": 16},
    "default": {},
    "full": {"scalar_widths": (2, 4, 8, 16, 32, 64, 128, 256, 512),
             "tensor_widths": (16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
             "engine_widths": (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), "repeats": 15},
}


def _network(cfg: Config, width: int, device) -> Network:
    return Network.random([cfg.input_dim, width, width, 1], cfg.activation, seed=cfg.seed,
                          device=device)


def _data(cfg: Config, batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(batch, cfg.input_dim, generator=gen, dtype=torch.float64)
    return x.to(device), torch.sin(x.sum(1, keepdim=True)).to(device)


def _clock(device, threads: int):
    """CPU time of this thread where all the work runs on it (CPU, one thread): other processes
    on a shared machine cannot inflate it; wall-clock time otherwise (threads, CUDA)."""
    return time.thread_time if device.type == "cpu" and threads == 1 else time.perf_counter


def _timed(fn, device, clock) -> tuple[float, object]:
    synchronize(device)
    start = clock()
    out = fn()
    synchronize(device)
    return clock() - start, out


# ---------------------------------------------------------------------- graph panels
def _graph_rows(cfg: Config, kind: str, width: int, device) -> list[dict]:
    """Forward and reverse times of one graph size, ``repeats`` times (after one warm-up)."""
    build = backprop.scalar_loss if kind == "scalar" else backprop.tensor_loss
    net = _network(cfg, width, device)
    x, y = _data(cfg, cfg.scalar_batch if kind == "scalar" else cfg.tensor_batch, device)
    root, _ = build(net, x, y)
    n_edges = backprop.count_edges(root)
    n_nodes = len(backprop.topological_order(root))
    root.backward()  # warm-up
    clock = _clock(device, cfg.threads)
    M = n_edges if kind == "scalar" else sum(l.fan_in * l.fan_out for l in net.layers)
    rows = []
    for repeat in range(cfg.repeats):
        n_calls, forward, reverse = 0, 0.0, 0.0
        while n_calls == 0 or forward + reverse < cfg.min_time_s:
            del root  # graphs have no cycles: reference counting frees them, untimed, here
            t_forward, (root, _) = _timed(lambda: build(net, x, y), device, clock)
            t_reverse, _ = _timed(root.backward, device, clock)
            forward, reverse, n_calls = forward + t_forward, reverse + t_reverse, n_calls + 1
        rows.append({"panel": kind, "width": width, "M": M, "n_graph_edges": n_edges,
                     "n_nodes": n_nodes, "repeat": repeat, "n_calls": n_calls,
                     "forward_ms": 1e3 * forward / n_calls, "reverse_ms": 1e3 * reverse / n_calls})
    return rows


# ---------------------------------------------------------------------- engine race
TIMED_ENGINES = {"backprop": backprop.loss_and_grad, "autograd": autograd.loss_and_grad}  # whose loss_and_grad races


def _engine_rows(cfg: Config, width: int, device) -> list[dict]:
    net = _network(cfg, width, device)
    x, y = _data(cfg, cfg.tensor_batch, device)
    clock = _clock(device, cfg.threads)
    n_calls = {}
    for name, step in TIMED_ENGINES.items():  # warm-up, and calls per timing for min_time_s
        step(net, x, y)
        t, _ = _timed(lambda: step(net, x, y), device, clock)
        n_calls[name] = max(1, int(cfg.min_time_s / max(t, 1e-7)))
    n = min(n_calls.values())  # the same count for both, so each round compares like with like
    rows = []
    for repeat in range(cfg.repeats):
        order = list(TIMED_ENGINES)[:: 1 if repeat % 2 == 0 else -1]  # alternate who goes first
        for name in order:
            step = TIMED_ENGINES[name]

            def calls():
                for _ in range(n):
                    step(net, x, y)

            t, _ = _timed(calls, device, clock)
            rows.append({"panel": "engines", "width": width,
                         "M": sum(l.fan_in * l.fan_out for l in net.layers), "engine": name,
                         "repeat": repeat, "n_calls": n, "step_ms": 1e3 * t / n})
    return rows


def run(cfg: Config) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    with threads(cfg.threads):
        gc_was_enabled = gc.isenabled()
        gc.collect()
        gc.disable()  # graphs hold no cycles: reference counting frees each one, the collector idles
        try:
            # the engine race first: the scalar graphs' millions of small Python objects leave the
            # memory allocator fragmented, which slows later tensor allocations measurably
            rows = []
            for width in cfg.engine_widths:
                rows += _engine_rows(cfg, width, device)
            for width in cfg.tensor_widths:
                rows += _graph_rows(cfg, "tensor", width, device)
            for width in cfg.scalar_widths:  # Python floats: always on the CPU
                rows += _graph_rows(cfg, "scalar", width, torch.device("cpu"))
        finally:
            if gc_was_enabled:
                gc.enable()
    df = pd.DataFrame(rows)
    df["device"] = np.where(df.panel == "scalar", "cpu", device.type)
    df["threads"] = cfg.threads
    df["clock"] = [_clock(torch.device(d), cfg.threads).__name__ for d in df.device]
    df["activation"] = cfg.activation
    df["batch"] = np.where(df.panel == "scalar", cfg.scalar_batch, cfg.tensor_batch)
    df["input_dim"] = cfg.input_dim
    return df


# ---------------------------------------------------------------------- reading the table
def _q(p):
    return lambda s: s.quantile(p)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (graph kind, M): median and IQR of forward and reverse times, and their ratio."""
    graphs = df[df.panel.isin(["scalar", "tensor"])]
    out = graphs.groupby(["panel", "M"]).agg(
        width=("width", "first"), n_nodes=("n_nodes", "first"),
        forward_ms=("forward_ms", "median"), reverse_ms=("reverse_ms", "median"),
        reverse_q25_ms=("reverse_ms", _q(0.25)), reverse_q75_ms=("reverse_ms", _q(0.75)),
        forward_q25_ms=("forward_ms", _q(0.25)), forward_q75_ms=("forward_ms", _q(0.75)),
    ).reset_index()
    ratios = (graphs.assign(ratio=graphs.reverse_ms / graphs.forward_ms)
              .groupby(["panel", "M"]).ratio)
    out["ratio"] = ratios.median().to_numpy()
    out["ratio_q25"] = ratios.quantile(0.25).to_numpy()
    out["ratio_q75"] = ratios.quantile(0.75).to_numpy()
    return out


def slopes(df: pd.DataFrame) -> dict:
    """Fitted log-log slope of the median reverse time against M, per graph kind (all points,
    and the upper half of the M range, where fixed per-call costs have faded)."""
    table = summary(df)
    out = {}
    for kind, part in table.groupby("panel"):
        part = part.sort_values("M")
        out[kind] = loglog_slope(part.M, part.reverse_ms)
        upper = part.iloc[len(part) // 2:]
        if len(upper) >= 3:
            out[f"{kind}_upper"] = loglog_slope(upper.M, upper.reverse_ms)
    return out


def per_node(df: pd.DataFrame) -> pd.DataFrame:
    """Per scalar graph size M: the median forward and reverse times per graph node (ns) and the
    edges per node. If the time grows faster than M while the edges per node stay fixed, the
    work per node is the same and each node costs more: the slope above 1 is a cost per
    element that rises with the graph's size, not extra work."""
    table = summary(df)
    scalar = table[table.panel == "scalar"].sort_values("M")
    edges = df[df.panel == "scalar"].groupby("M").n_graph_edges.first()
    return pd.DataFrame({
        "M": scalar.M.to_numpy(), "n_nodes": scalar.n_nodes.to_numpy(),
        "edges_per_node": edges.loc[scalar.M].to_numpy() / scalar.n_nodes.to_numpy(),
        "forward_ns_per_node": 1e6 * scalar.forward_ms.to_numpy() / scalar.n_nodes.to_numpy(),
        "reverse_ns_per_node": 1e6 * scalar.reverse_ms.to_numpy() / scalar.n_nodes.to_numpy(),
    })


def engine_target(autograd_ms: float) -> float:
    """The target ratio backprop/autograd of step time, by autograd's step time: a fused
    hand-written step should halve autograd's fixed per-node cost on small steps (< 0.5 ms),
    stay 15% ahead in the middle, and at worst tie (5%) where both spend their time in BLAS."""
    return 0.5 if autograd_ms < 0.5 else 0.85 if autograd_ms <= 10 else 1.05


def engine_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per width: median step times of both engines (IQR), their ratio, the target, verdict."""
    eng = df[df.panel == "engines"]
    wide = eng.pivot_table(index=["width", "M", "repeat"], columns="engine", values="step_ms")
    wide["ratio"] = wide.backprop / wide.autograd  # per round: the two ran back to back
    g = wide.groupby(["width", "M"])
    out = pd.DataFrame({
        "backprop_ms": g.backprop.median(), "autograd_ms": g.autograd.median(),
        "backprop_iqr_ms": g.backprop.quantile(0.75) - g.backprop.quantile(0.25),
        "autograd_iqr_ms": g.autograd.quantile(0.75) - g.autograd.quantile(0.25),
        "ratio": g.ratio.median(), "ratio_q25": g.ratio.quantile(0.25),
        "ratio_q75": g.ratio.quantile(0.75),
    }).reset_index()
    out["target"] = out.autograd_ms.map(engine_target)
    out["meets_target"] = out.ratio <= out.target
    return out


# ---------------------------------------------------------------------- figure and text
COLORS = {"scalar": "C0", "tensor": "C2"}


def plot(df: pd.DataFrame, path: Path) -> None:
    table, fits, engines = summary(df), slopes(df), engine_table(df)
    fig, axes = figure(1, 3, width=4.3, height=3.5)
    ax = axes[0, 0]
    for kind, part in table.groupby("panel"):
        c = COLORS[kind]
        ax.errorbar(part.M, part.reverse_ms, yerr=[part.reverse_ms - part.reverse_q25_ms,
                    part.reverse_q75_ms - part.reverse_ms], fmt="o-", color=c, capsize=2,
                    label=f"{kind} graph, reverse: slope {fits[kind]}")
        ax.plot(part.M, part.forward_ms, "x--", color=c, alpha=0.6, label=f"{kind} graph, forward")
    m = np.geomspace(table.M.min(), table.M.max(), 10)
    scalar = table[table.panel == "scalar"]
    ax.plot(m, scalar.reverse_ms.iloc[-1] * m / scalar.M.iloc[-1], ":", color="grey",
            label="slope 1 (O(M))")
    ax.set(xscale="log", yscale="log", xlabel="M (edges; tensor graphs: sum fan_in*fan_out)",
           ylabel="time (ms), median and IQR", title="reverse pass against graph size")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[0, 1]
    for kind, part in table.groupby("panel"):
        spread = [part.ratio - part.ratio_q25, part.ratio_q75 - part.ratio]
        ax.errorbar(part.M, part.ratio, yerr=spread,
                    fmt="o-", color=COLORS[kind], capsize=2, label=f"{kind} graph")
    ax.axhline(3, color="C3", ls="--", lw=1, label="target 3")
    ax.set(xscale="log", xlabel="M", ylabel="reverse time / forward time", ylim=(0, None),
           title="the cheap-gradient ratio")
    ax.legend()
    ax = axes[0, 2]
    ax.errorbar(engines.width, engines.ratio, yerr=[engines.ratio - engines.ratio_q25,
                engines.ratio_q75 - engines.ratio], fmt="o-", color="C0", capsize=2,
                label="hand-written / autograd")
    ax.scatter(engines.width, engines.target, marker="_", s=200, color="C3",
               label="target (by autograd's time)")
    for w, a, r in zip(engines.width, engines.autograd_ms, engines.ratio):
        ax.annotate(f"{a:.2g} ms", (w, r), textcoords="offset points", xytext=(-8, -12),
                    fontsize=6, color="grey")
    first = df[df.panel == "engines"].iloc[0]
    ax.set(xscale="log", ylim=(0, max(1.3, engines.ratio_q75.max() * 1.1)),
           xlabel=f"width w of [{first.input_dim}, w, w, 1] (grey: autograd's step)",
           ylabel="step time, hand-written / autograd",
           title=f"training step, batch {first.batch}, {first.threads} thread, {first.device}")
    ax.xaxis.set_major_formatter("{x:g}")
    ax.legend(loc="upper left")
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    table, fits, engines = summary(df), slopes(df), engine_table(df)
    parts = []
    for kind in ("scalar", "tensor"):
        part = table[table.panel == kind]
        upper = fits.get(f"{kind}_upper")
        parts.append(
            f"{kind} graphs (M = {part.M.min():,} to {part.M.max():,}): reverse-time slope "
            f"{fits[kind]} (95% CI)" + (f", {upper} over the upper half of M" if upper else "")
            + f"; reverse/forward {part.ratio.min():.2f}-{part.ratio.max():.2f} "
            f"(median {part.ratio.median():.2f})")
    met = int(engines.meets_target.sum())
    first = df[df.panel == "engines"].iloc[0]
    growth = _growth_text(df, fits)
    rows = "; ".join(f"w={w}: {b:.3g} vs {a:.3g} ms ({r:.2f}, target {t})" for w, b, a, r, t in
                     zip(engines.width, engines.backprop_ms, engines.autograd_ms, engines.ratio,
                         engines.target))
    return (
        "Backprop's reverse pass against the graph size M, on the hand-written engine "
        f"({first.threads} thread, medians of {df.repeat.nunique()} repeats). "
        + ". ".join(parts) + ". The notes' O(M) predicts slope 1 and the cheap-gradient "
        "principle a ratio of a small constant (target <= 3)." + growth + " Training step (forward, loss, all "
        f"gradients) of the fused hand-written engine vs autograd, batch {first.batch}, "
        f"{first.device}: {rows}; {met}/{len(engines)} sizes meet their target."
    )


def _interval_verdict(rate, value: float = 1.0) -> str:
    return f"includes {value:g}" if rate.contains(value) else f"excludes {value:g}"


def _growth_text(df: pd.DataFrame, fits: dict) -> str:
    """Both scalar-graph fits against slope 1, and what grows over the upper half of M."""
    upper = fits.get("scalar_upper")
    if upper is None:
        return ""
    nodes = per_node(df)
    start, last = nodes.iloc[len(nodes) // 2], nodes.iloc[-1]  # the upper half's first and last sizes
    return (
        f" On scalar graphs the all-M interval {_interval_verdict(fits['scalar'])} and the upper-half "
        f"interval {_interval_verdict(upper)}. Over that upper half (M = {int(start.M):,} to "
        f"{int(last.M):,}) the edges per node stay at {start.edges_per_node:.2f}-{last.edges_per_node:.2f} "
        f"while the reverse time per node goes from {start.reverse_ns_per_node:.0f} to "
        f"{last.reverse_ns_per_node:.0f} ns ({last.reverse_ns_per_node / start.reverse_ns_per_node:.2f}x; "
        f"forward {start.forward_ns_per_node:.0f} to {last.forward_ns_per_node:.0f} ns, "
        f"{last.forward_ns_per_node / start.forward_ns_per_node:.2f}x)" + (
            ": the same work per node costs more in larger graphs. The cause is unexplained: not measured "
            "here (a memory-hierarchy effect of millions of Python objects is a guess, not a finding)."
            if last.reverse_ns_per_node > start.reverse_ns_per_node else ": no cost per node grows."))


if __name__ == "__main__":  # python -m experiments.backprop_cost [options] is approx run backprop_cost [options]
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
