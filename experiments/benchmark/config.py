"""The configuration of experiments/benchmark: its Config, with every field checked, and its
presets. The computation, the figure and the text import it; it imports none of them."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks
from approx.bench.jax_peer import ACTIVATIONS as PEER_ACTIVATIONS
from approx.bench.precision import PRECISIONS
from approx.bench.steps import STEP_VARIANTS
from approx.device import DEVICES

from .._limits import MAX_DEPTH, MAX_DIM, MAX_ENSEMBLE, MAX_NUMBERS, MAX_POINTS, MAX_SECONDS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS"]


@dataclass(frozen=True)
class Config:
    device: str = "auto"  # auto | cpu | cuda; a CUDA run also times the CPU on the same cells
    seed: int = 0  # seeds the networks and the data
    engines: tuple[str, ...] = STEP_VARIANTS  # backprop (hand-written), autograd, module (nn.Module + torch.optim)
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
    # the peer: E networks [1, width x peer_depth, 1] on peer_batch points, float32, one CPU
    # thread, trained by GD in JAX (jit(vmap(step)) in lax.scan; approx.bench.jax_peer) and by
    # approx's engines, eager and compiled (approx.compiled_step), in the same cells
    peer_ensembles: tuple[int, ...] = (1, 64, 1024)  # E (E = 1: one network); () leaves the peer out
    peer_widths: tuple[int, ...] = (16, 64)
    peer_depth: int = 2  # hidden layers
    peer_batch: int = 64
    peer_activation: str = "tanh"  # of the hidden layers
    peer_steps: int = 10  # K: GD steps per timed JAX call (one lax.scan); the time is per step
    peer_compiled: bool = True  # also approx's compiled step (each cell compiles: seconds)
    # ... and K = peer_steps of them per compiled call (approx.compiled_scan; seconds of compiling per cell)
    peer_scan_engines: tuple[str, ...] = ("backprop",)
    peer_only: bool = False  # measure the peer cells alone (and the peak they are divided by)
    # limits
    cpu_max_flops: float = 7e9  # CPU cells above this many FLOPs per step are not timed
    cpu_max_activations: int = 2**22  # ... nor those whose activations hold more numbers (E batch width)
    min_run_time_s: float = 0.2  # per timed quantity; at least 5 samples
    peak_n_cpu: int = 1024  # size of the peak matrix product on the CPU
    peak_n_cuda: int = 8192  # ... and on a GPU
    time_budget_s: float = 0.0  # rows starting after this many seconds are skipped and listed (0: none)
    pin_cores: bool = True  # each CPU row on as many cores as threads (approx.bench.cores); false shows why

    def __post_init__(self) -> None:
        checks.choice("device", self.device, DEVICES)
        checks.seed(self.seed)
        checks.choices("engines", self.engines, STEP_VARIANTS)
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
        checks.choice("heatmap_engine", self.heatmap_engine, STEP_VARIANTS)
        checks.integers("heatmap_widths", self.heatmap_widths, low=1, high=MAX_WIDTH)
        checks.integers("heatmap_batches", self.heatmap_batches, low=1, high=MAX_POINTS)
        checks.integers("ensemble_sizes", self.ensemble_sizes, low=1, high=MAX_ENSEMBLE)
        checks.flag("compile_on_cpu", self.compile_on_cpu)
        checks.integers("peer_ensembles", self.peer_ensembles, low=1, high=MAX_ENSEMBLE, min_len=0)
        checks.integers("peer_widths", self.peer_widths, low=1, high=MAX_WIDTH)
        checks.integer("peer_depth", self.peer_depth, low=1, high=MAX_DEPTH)
        checks.integer("peer_batch", self.peer_batch, low=1, high=MAX_POINTS)
        checks.choice("peer_activation", self.peer_activation, PEER_ACTIVATIONS)
        checks.integer("peer_steps", self.peer_steps, low=1, high=10_000)
        checks.flag("peer_compiled", self.peer_compiled)
        checks.flag("pin_cores", self.pin_cores)
        checks.choices("peer_scan_engines", self.peer_scan_engines, ("backprop", "autograd"), min_len=0)
        checks.flag("peer_only", self.peer_only)
        if self.peer_only and not self.peer_ensembles:
            raise ValueError("peer_only=True needs peer cells; peer_ensembles is empty")
        checks.number("cpu_max_flops", self.cpu_max_flops, low=0, low_open=True)
        checks.integer("cpu_max_activations", self.cpu_max_activations, low=1, high=MAX_NUMBERS)
        checks.number("min_run_time_s", self.min_run_time_s, low=0, high=MAX_SECONDS, low_open=True)
        for name in ("peak_n_cpu", "peak_n_cuda"):  # n x n matrices: n^2 <= MAX_NUMBERS
            checks.integer(name, getattr(self, name), low=1, high=32_768)
        checks.number("time_budget_s", self.time_budget_s, low=0, high=7 * 86_400.0)  # 0: none; a week
        # the largest tensors of each sweep: a weight matrix (width^2) and an activation
        # (ensemble x batch x width); the CPU skips cells over its caps, a GPU runs them all
        widest = max(self.widths + self.graph_widths + self.compile_widths + self.corner_widths
                     + self.heatmap_widths + self.peer_widths + (self.batch_width, self.ensemble_width))
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
        checks.product_at_most("a peer activation", {
            "max(peer_ensembles)": max(self.peer_ensembles, default=0), "peer_batch": self.peer_batch,
            "max(peer_widths)": max(self.peer_widths)}, MAX_NUMBERS)
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
        peer_ensembles=(1, 4), peer_widths=(16,), peer_steps=2, peer_compiled=False,
    ),
    # the peer cells' compiled rows compile 12 steps (about 70 s on a 2-core CPU): the peer preset has them
    "default": dict(time_budget_s=150.0, peer_compiled=False),
    "peer": dict(peer_only=True),
    "full": dict(
        widths=(16, 64, 256, 1024, 4096), width_batch=4096, batches=(), corner_depths=(1, 4),
        ensemble_sizes=(1, 32, 1024),
        min_run_time_s=0.1, time_budget_s=190.0,
    ),
}
