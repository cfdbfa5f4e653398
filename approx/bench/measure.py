"""One row of the benchmark: time one training step of one engine, mode, precision and size on one
device, and check what that step computed against float64.

Per row, in this order, inside the row's arithmetic (``precision.arithmetic``) and, on the CPU,
at the row's thread count and on as many cores (``approx.bench.cores.on_cores``: a library's own
thread pool, XLA's, cannot spread further; ``cpu_per_wall`` is the CPU time the timed calls used
per wall-clock second, which shows it):

1. build the step on copies of the cell's float64 network, cast to the row's dtype; the data are
   moved to the device beforehand, so no host-to-device copy is inside any timed step;
2. ``first_step_ms``: the first call, alone (includes torch.compile's compilation, and
   ``compile_ms`` = first_step_ms - K time_ms, K the steps of one call: ``peer_steps`` for the
   JAX peer and compiled-scan, whose times are per step, 1 otherwise); for CUDA graphs the eager step is timed
   (``eager_ms``), then captured (``capture_ms``, wall clock);
3. warm-up calls (three; one for a step slower than SLOW_STEP_MS), then ``time_ms`` /
   ``iqr_ms``: median and IQR (``approx.bench.timing``);
4. where asked (``time_forward``), timed in rounds alternating with the step
   (``timing.time_calls``): ``forward_ms``, f(x) and the loss with no gradient, nothing
   recorded; ``gradient_ms``, the engine's loss and all gradients, no update. Then
   ``reverse_ms`` = gradient_ms - forward_ms is what the gradient costs beyond the function
   (recording the graph or storing activations, the reverse sweep, handing the gradients
   back), the numerator of the cheap-gradient ratio reverse / forward = cost(f, grad f) /
   cost(f) - 1 (Baur & Strassen 1983; Griewank & Walther 2008, ch. 4: a small constant); and
   ``update_ms`` = time_ms - gradient_ms is the optimizer's share of the step. Every engine
   is timed the same way: the same forward for backprop and autograd (``net(x)``), the update
   in neither forward nor reverse; eager single-network rows in float32 and float64 also carry
   ``products_ms``, the step's matrix products timed alone at the same shapes
   (``approx.bench.products``: about the floor under every engine's step there), and
   ``descent_ms``, the update theta <- theta - lr g timed alone on tensors of the parameters'
   shapes (the same call as the step's; with the products, about the least any engine's step takes);
5. ``rel_error``: reset the parameters to the cell's start (rounded to the row's dtype), run one
   step with lr = 2^10 and compare its update theta' - theta with the float64 update of the same
   step, computed by the autograd engine on the same device:
   ||d - d64||_F / ||d64||_F. The large rate makes the update dominate the rounding of theta
   (a power of two, so it is exact in every precision), hence this is the relative error of the
   gradient the step used.

``row_s`` is the wall-clock time the whole row took (setup, compilation, checks included). A row
that raises is kept, with ``status`` = "error: ..." and no numbers, and the run goes on.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass

import torch

from .. import autograd as _autograd
from .. import compiled_step as _compiled_step
from ..device import device_name, synchronize
from ..device import threads as cpu_threads
from ..network import Network
from . import precision as _precision
from .cores import on_cores
from .flops import matmul_flops, measure_peak, step_flops
from .graphs import capture
from .products import descent_call, products_call
from .steps import COMPILE_MODES, COMPILED_SCAN, COMPILED_STEP, COMPILING_MODES, make_step, member_rows
from .timing import Timing, time_call, time_calls, time_once

__all__ = ["Cell", "Job", "Bench", "CHECK_LR", "MODES", "COLUMNS"]

CHECK_LR = 2.0**10
SLOW_STEP_MS = 50.0  # a first step slower than this needs one warm-up call, not three
MODES = ("eager", "loop", "cuda-graph", *COMPILE_MODES, COMPILED_STEP, COMPILED_SCAN, "jit-vmap-scan")
PEER = "jax"  # the peer engine (approx.bench.jax_peer): its one mode is jit-vmap-scan
COLUMNS = [  # every row has every column (NaN where it does not apply), in this order
    "engine", "mode", "device", "device_name", "dtype", "precision", "sweep", "depth", "width",
    "batch", "d_in", "activation", "ensemble", "threads", "time_ms", "iqr_ms", "n_samples", "cpu_per_wall",
    "samples_per_s",
    "flops", "flops_per_s", "peak_flops_per_s", "peak_fraction", "rel_error", "first_step_ms",
    "forward_ms", "gradient_ms", "reverse_ms", "update_ms", "products_ms", "descent_ms", "eager_ms", "capture_ms", "compile_ms",
    "row_s", "status",
]


@dataclass(frozen=True)
class Cell:
    """One network size: d_in -> depth hidden layers of ``width`` (ReLU unless said) -> 1 output."""

    sweep: str  # the part of the grid it belongs to (width, corner, heatmap, ensemble, graph, ...)
    depth: int  # hidden layers (the network has depth + 1 weight matrices)
    width: int
    batch: int
    d_in: int = 1
    ensemble: int = 1  # E networks trained at once (E > 1: one batched computation, or a loop)
    stacked: bool = False  # parameters carry a leading ensemble axis, even when E = 1
    activation: str = "relu"  # of every hidden layer (the output layer is linear)

    @property
    def sizes(self) -> list[int]:
        return [self.d_in] + [self.width] * self.depth + [1]

    @property
    def flops(self) -> int:
        return step_flops(self.sizes, self.batch, self.ensemble)


@dataclass(frozen=True)
class Job:
    """What to measure in a cell."""

    cell: Cell
    engine: str
    mode: str
    precision: str
    device: str  # "cpu" or "cuda[:N]"
    threads: int  # CPU intra-op threads (CUDA rows: the host's setting, recorded)
    time_forward: bool = False
    peer_steps: int = 10  # GD steps per timed call of the JAX peer (lax.scan's length) and of compiled-scan


class Bench:
    """Measures Jobs; keeps the cell's network, data and float64 reference, and the peaks."""

    def __init__(self, *, seed: int, lr: float, min_run_time_s: float, peak_sizes: dict[str, int],
                 pin_cores: bool = True):
        self.seed, self.lr, self.min_run_time_s, self.peak_sizes = seed, lr, min_run_time_s, peak_sizes
        self.pin_cores = pin_cores  # False: rows run unpinned (what cpu_per_wall shows without the pin)
        self.peak_rows: list[dict] = []  # one per (device, precision, threads), measured on demand
        self._peaks: dict[tuple, float] = {}
        # ("products", sizes, batch, precision, device, threads) or ("descent", sizes, precision,
        # device, threads) -> ms of that part of a step timed alone
        self._alone: dict[tuple, float] = {}
        self._cell_key: tuple | None = None
        self._cell_data: tuple | None = None

    # ---------------------------------------------------------------- the cell's fixed inputs
    def cell_data(self, cell: Cell, device: torch.device) -> tuple[Network, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(float64 network, x, y, float64 update of one autograd step with lr = CHECK_LR)."""
        key = (cell, str(device))
        if key != self._cell_key:
            self._cell_data = None  # free the previous cell's tensors first
            ensemble = cell.ensemble if cell.stacked or cell.ensemble > 1 else None
            net = Network.random(cell.sizes, cell.activation, seed=self.seed, dtype=torch.float64,
                                 device=device, ensemble=ensemble)
            gen = torch.Generator().manual_seed(self.seed + 1)
            x = (torch.rand(cell.batch, cell.d_in, generator=gen, dtype=torch.float64) * 2 - 1)
            y = torch.sin(3.0 * x.sum(dim=1, keepdim=True) / math.sqrt(cell.d_in))  # (batch, 1)
            x, y = x.to(device), y.to(device)
            _, grads = _autograd.loss_and_grad(net, x, y, "mse")
            reference = member_rows(grads, ensemble is not None) * -CHECK_LR  # (E, P)
            self._cell_data, self._cell_key = (net, x, y, reference), key
        return self._cell_data

    # ---------------------------------------------------------------- the machine's limit
    def peak(self, device: torch.device, precision: str, threads: int) -> float:
        """FLOP/s of a large matrix product in the row's arithmetic, measured once per run."""
        key = (str(device), precision, threads)
        if key not in self._peaks:
            prec = _precision.get(precision)
            n = self.peak_sizes[device.type]
            started = time.perf_counter()
            with self._on_cpu(threads):
                timing, flops_per_s, rel_error = measure_peak(
                    device, prec, n, threads=threads, min_run_time_s=self.min_run_time_s, seed=self.seed)
            self._peaks[key] = flops_per_s
            self.peak_rows.append({
                **_identity(Cell("peak", 0, n, n), "matmul", "peak", prec, device, threads),
                "dtype": str(prec.peak_dtype).replace("torch.", ""),
                **_peak_columns(n, timing, flops_per_s, flops_per_s, rel_error, started),
            })
        return self._peaks[key]

    def peer_peak(self, threads: int) -> None:
        """The JAX peer's own n x n float32 product on the CPU (engine "jax", mode "peak"), once
        per run: the rate XLA's matrix kernels reach, beside torch's (``peak``). The row is the
        peak row's twin, its rel_error against the float64 product of the same inputs."""
        from .jax_peer import jax_product

        key = ("jax", threads)
        if key in self._peaks:
            return
        n = self.peak_sizes["cpu"]
        cpu, prec = torch.device("cpu"), _precision.get("float32")
        started = time.perf_counter()
        gen = torch.Generator().manual_seed(self.seed)  # the inputs measure_peak draws
        a64 = torch.randn(n, n, generator=gen, dtype=torch.float64)
        b64 = torch.randn(n, n, generator=gen, dtype=torch.float64)
        call, result = jax_product(a64.numpy(), b64.numpy())
        with self._on_cpu(threads):
            timing = time_call(call, cpu, threads=threads, min_run_time_s=self.min_run_time_s)
        exact = a64 @ b64
        rel_error = float(torch.linalg.norm(torch.from_numpy(result()) - exact) / torch.linalg.norm(exact))
        flops_per_s = matmul_flops(n) / (timing.median_ms / 1e3)
        self._peaks[key] = flops_per_s
        self.peak_rows.append({
            **_identity(Cell("peak", 0, n, n), "jax", "peak", prec, cpu, threads),
            **_peak_columns(n, timing, flops_per_s, self.peak(cpu, "float32", threads), rel_error, started),
        })

    def products_ms(self, cell: Cell, prec: _precision.Precision, device: torch.device, threads: int) -> float:
        """Median ms of a single network's step's matrix products alone (``approx.bench.products``),
        once per size, dtype, device and thread count: about the floor under every engine's step there."""
        return self._alone_ms(("products", tuple(cell.sizes), cell.batch, prec.name, str(device), threads),
                              lambda: products_call(cell.sizes, cell.batch, prec.dtype, device, seed=self.seed),
                              device, threads)

    def descent_ms(self, cell: Cell, prec: _precision.Precision, device: torch.device, threads: int) -> float:
        """Median ms of a single network's update theta <- theta - lr g alone
        (``approx.bench.products.descent_call``), once per size, dtype, device and thread count."""
        return self._alone_ms(("descent", tuple(cell.sizes), prec.name, str(device), threads),
                              lambda: descent_call(cell.sizes, prec.dtype, device, seed=self.seed), device, threads)

    def _alone_ms(self, key: tuple, make_call, device: torch.device, threads: int) -> float:
        """Median ms of the call ``make_call()`` builds, timed once per ``key`` after one untimed
        call (the BLAS's handles and workspaces)."""
        if key not in self._alone:
            call = make_call()
            time_once(call, device)
            self._alone[key] = time_call(call, device, threads=threads, min_run_time_s=self.min_run_time_s).median_ms
        return self._alone[key]

    @contextlib.contextmanager
    def _on_cpu(self, threads: int):
        """A CPU row's setting: torch's pool at ``threads`` threads, the row on as many cores."""
        with cpu_threads(threads), on_cores(threads) if self.pin_cores else contextlib.nullcontext():
            yield

    # ---------------------------------------------------------------- one row
    def skipped(self, job: Job, reason: str) -> dict:
        """The row of a job that was not run, saying why."""
        device = torch.device(job.device)
        row = _identity(job.cell, job.engine, job.mode, _precision.get(job.precision), device, job.threads)
        return {**row, "status": reason}

    def measure(self, job: Job) -> dict:
        device = torch.device(job.device)
        prec = _precision.get(job.precision)
        row = _identity(job.cell, job.engine, job.mode, prec, device, job.threads)
        started = time.perf_counter()
        try:
            with self._on_cpu(job.threads) if device.type == "cpu" else contextlib.nullcontext():
                row.update(self._measure(job, device, prec))
            row["status"] = "ok"
        except Exception as err:  # fail soft: the row says what went wrong and the run goes on
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            row["status"] = f"error: {type(err).__name__}: {message[:200]}"
            if device.type == "cuda":
                torch.cuda.empty_cache()
        row["row_s"] = time.perf_counter() - started
        return row

    def _measure(self, job: Job, device: torch.device, prec: _precision.Precision) -> dict:
        cell = job.cell
        base, x64, y64, reference = self.cell_data(cell, device)
        net = base.clone().to(dtype=prec.dtype)
        if job.mode == "cuda-graph" and net.ensemble is None:
            net = Network.stack([net])  # no host synchronisation in the step: the loss stays a tensor
        x, y = x64.to(prec.dtype), y64.to(prec.output_dtype)
        start = member_rows(base.parameters(), base.ensemble is not None).to(prec.dtype)
        out: dict = {}
        if job.engine == PEER:
            return self._measure_peer(job, net, x, y, start, reference, device, prec)
        compiles = job.mode in COMPILING_MODES
        if compiles:
            torch.compiler.reset()  # a fresh compilation per row: no recompile limits, no stale guards
            _compiled_step.clear_cache()
        # compiled-scan: K steps per call, timed per call and reported per step, as the JAX peer
        k = job.peer_steps if job.mode == COMPILED_SCAN else 1
        with _precision.arithmetic(prec, device):
            step = make_step(job.engine, "eager" if job.mode == "cuda-graph" else job.mode, net, x, y, self.lr, k)
            out["first_step_ms"] = time_once(step.run, device)
            if job.mode == "cuda-graph":
                out["eager_ms"] = self._time([step.run], device, job, [time_once(step.run, device)])[0].median_ms
                step, out["capture_ms"] = capture(step, device)
            # warm-up: CUDA-graph trees record on the 2nd-3rd call; a slow step is warm after one
            n_warmup = 3 if compiles or out["first_step_ms"] < SLOW_STEP_MS else 1
            for _ in range(n_warmup - 1):
                step.run()
            estimate = time_once(step.run, device)
            if job.time_forward and step.forward is not None and step.gradient is not None:
                timing, forward, gradient = self._time(
                    [step.run, step.forward, step.gradient], device, job, [estimate, None, None])
                out["forward_ms"], out["gradient_ms"] = forward.median_ms, gradient.median_ms
                out["reverse_ms"] = gradient.median_ms - forward.median_ms
                out["update_ms"] = timing.median_ms - gradient.median_ms
            else:
                timing, = self._time([step.run], device, job, [estimate])
            if job.mode == "eager" and not cell.stacked and cell.ensemble == 1 and prec.name in ("float32", "float64"):
                out["products_ms"] = self.products_ms(cell, prec, device, job.threads)
                out["descent_ms"] = self.descent_ms(cell, prec, device, job.threads)
            if k > 1:  # per step; the check below takes one step, so it runs the scan of one
                timing = timing.per_step(k)
                step = make_step(job.engine, COMPILED_SCAN, net, x, y, self.lr, 1)
            step.write(start)
            step.set_lr(CHECK_LR)
            step.run()
            synchronize(device)
            update = step.read() - start.double()
            step.set_lr(self.lr)
        if compiles:
            out["compile_ms"] = out["first_step_ms"] - k * timing.median_ms
        return self._summary(out, timing, update, reference, device, job)

    def _summary(self, out: dict, timing, update, reference, device: torch.device, job: Job) -> dict:
        """The row's rates, peak fraction and rel_error from its step timing and checked update."""
        cell = job.cell
        seconds = timing.median_ms / 1e3
        peak = self.peak(device, job.precision, job.threads)
        flops_per_s = cell.flops / seconds
        out.update({
            "time_ms": timing.median_ms, "iqr_ms": timing.iqr_ms, "n_samples": timing.n_samples,
            "cpu_per_wall": timing.cpu_per_wall, "samples_per_s": cell.ensemble * cell.batch / seconds,
            "flops": cell.flops,
            "flops_per_s": flops_per_s, "peak_flops_per_s": peak, "peak_fraction": flops_per_s / peak,
            "rel_error": float(torch.linalg.norm(update - reference) / torch.linalg.norm(reference)),
        })
        return out

    def _measure_peer(self, job: Job, net: Network, x, y, start, reference, device: torch.device,
                      prec: _precision.Precision) -> dict:
        """The JAX row (approx.bench.jax_peer): K = ``job.peer_steps`` GD steps per timed call of
        jit(vmap(step)) in lax.scan; time_ms is one step's share, time / K, for all E members.
        first_step_ms is the whole first call (the compile and K steps), compile_ms that less
        K time_ms; rel_error as for every row, from one step at CHECK_LR."""
        from .jax_peer import JaxGD

        if device.type != "cpu" or prec.name != "float32":
            raise ValueError(f"the JAX peer runs float32 on the CPU, not {prec.name} on {device.type}")
        self.peer_peak(job.threads)
        peer = JaxGD(net, x, y, self.lr, job.peer_steps)
        first_ms = time_once(peer.run, device)
        estimate = time_once(peer.run, device)
        timing, = self._time([peer.run], device, job, [estimate])
        k = job.peer_steps
        per_step = timing.per_step(k)
        peer.write(start.double().cpu().numpy())
        peer.step(CHECK_LR)
        update = torch.from_numpy(peer.read()).to(device) - start.double()
        out = {"first_step_ms": first_ms, "compile_ms": first_ms - timing.median_ms}
        return self._summary(out, per_step, update, reference, device, job)

    def _time(self, fns, device: torch.device, job: Job, estimates_ms: list[float | None]):
        estimates_s = [None if e is None else e / 1e3 for e in estimates_ms]
        return time_calls(fns, device, threads=job.threads, min_run_time_s=self.min_run_time_s,
                          estimates_s=estimates_s)


def _peak_columns(n: int, timing: Timing, flops_per_s: float, peak: float, rel_error: float, started: float) -> dict:
    """The measured columns of a peak row: an n x n product's timing, rate and its share of ``peak``."""
    return {
        "time_ms": timing.median_ms, "iqr_ms": timing.iqr_ms, "n_samples": timing.n_samples,
        "cpu_per_wall": timing.cpu_per_wall, "flops": matmul_flops(n), "flops_per_s": flops_per_s,
        "peak_flops_per_s": peak, "peak_fraction": flops_per_s / peak, "rel_error": rel_error,
        "row_s": time.perf_counter() - started, "status": "ok",
    }


def _identity(cell: Cell, engine: str, mode: str, prec, device: torch.device, threads: int) -> dict:
    """The columns that say what a row is."""
    fields = asdict(cell)
    fields.pop("stacked")
    return {
        "engine": engine, "mode": mode, "device": device.type, "device_name": device_name(device),
        "dtype": str(prec.dtype).replace("torch.", ""), "precision": prec.name,
        **fields, "threads": threads,
    }
