"""Ensembles: E tiny networks trained as one batched computation vs a Python loop, per model.

    approx run ensembles                  # default: < 60 s on a 2-core CPU -> results/ensembles-cpu.*
    approx run ensembles --preset smoke   # seconds; what the tests run
    approx run ensembles --device cuda    # the same on a GPU -> results/ensembles-cuda.*

A tiny network (1 -> width -> 1, tanh, 64 points, full-batch GD) is all Python overhead: each
step launches a few dozen small kernels whose cost barely depends on their size. An ensemble
(``Network.random(..., ensemble=E)``) runs the E members' steps as one batched kernel each, so
the overhead is paid once per step for all E, and until the kernels grow compute-bound the
time per model falls like 1/E. Training is end to end through ``approx.train.fit`` on both
engines, so the numbers include the training loop's own overhead. The loop's time per model
does not depend on E (the models are independent and identical in cost), so the loop trains
min(E, loop_max) networks and reports the time per model; the ensemble always trains all E.
Each cell is timed ``repeats`` times, interleaved, and summarised by its median and range.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from approx import checks
from approx.device import DEVICES, resolve_device, synchronize, threads
from approx.network import DTYPES, Network
from approx.plotting import figure, save
from approx.train import TRAINING_ENGINES, fit

from ._limits import MAX_COUNT, MAX_ENSEMBLE, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "run", "plot", "describe", "output_name", "speedups"]


@dataclass(frozen=True)
class Config:
    ensemble_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # E, networks per batched run
    engines: tuple[str, ...] = TRAINING_ENGINES  # backprop (hand-written), autograd
    width: int = 16  # hidden units of each 1 -> width -> 1 tanh network
    n_points: int = 64  # training points (full batch)
    steps: int = 100  # GD steps per fit
    lr: float = 0.05  # GD learning rate
    loop_max: int = 8  # the loop times at most this many single networks per cell
    repeats: int = 3  # timings per cell (median and range are reported)
    threads: int = 1  # CPU intra-op threads during the timings (restored afterwards)
    dtype: str = "float64"  # float32 | float64
    seed: int = 0  # member e of a run has seed seed + e
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        checks.integers("ensemble_sizes", self.ensemble_sizes, low=1, high=MAX_ENSEMBLE)
        checks.choices("engines", self.engines, TRAINING_ENGINES)
        checks.integer("width", self.width, low=1, high=MAX_WIDTH)
        checks.integer("n_points", self.n_points, low=1, high=MAX_POINTS)
        checks.integer("steps", self.steps, low=1, high=MAX_STEPS)
        checks.number("lr", self.lr, low=0, low_open=True)
        checks.integer("loop_max", self.loop_max, low=1, high=MAX_ENSEMBLE)
        checks.integer("repeats", self.repeats, low=1, high=MAX_COUNT)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.choice("dtype", self.dtype, DTYPES)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        checks.product_at_most("the largest ensemble's hidden activation", {
            "max(ensemble_sizes)": max(self.ensemble_sizes), "n_points": self.n_points, "width": self.width},
            MAX_NUMBERS)


PRESETS = {
    "smoke": {"ensemble_sizes": (1, 4, 16), "steps": 5, "loop_max": 2, "repeats": 1},
    "default": {},
    "full": {"ensemble_sizes": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), "steps": 200,
             "loop_max": 16, "repeats": 5},
}


def output_name(cfg: Config) -> str:
    """ensembles-cpu or ensembles-cuda: the device the run resolves to."""
    return f"ensembles-{resolve_device(cfg.device).type}"


def _timed_fit(net: Network, data, cfg: Config, engine: str, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fit(net, data, engine=engine, lr=cfg.lr, steps=cfg.steps, log_every=cfg.steps)
    synchronize(device)
    return time.perf_counter() - start


def run(cfg: Config) -> pd.DataFrame:
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    x = torch.linspace(-1, 1, cfg.n_points, dtype=dtype, device=device)[:, None]  # (n, 1)
    data = (x, torch.sin(3 * x))
    sizes = [1, cfg.width, 1]
    rows = []
    with threads(cfg.threads):
        for engine in cfg.engines:  # warm-up: first calls allocate and load kernels
            _timed_fit(Network.random(sizes, "tanh", seed=cfg.seed, dtype=dtype, device=device),
                       data, cfg, engine, device)
        for repeat in range(cfg.repeats):
            for n_members in cfg.ensemble_sizes:
                for engine in cfg.engines:
                    ensemble = Network.random(sizes, "tanh", seed=cfg.seed, ensemble=n_members,
                                              dtype=dtype, device=device)
                    n_loop = min(n_members, cfg.loop_max)
                    singles = [Network.random(sizes, "tanh", seed=cfg.seed + e, dtype=dtype,
                                              device=device) for e in range(n_loop)]
                    timings = [("ensemble", n_members, _timed_fit(ensemble, data, cfg, engine, device)),
                               ("loop", n_loop, sum(_timed_fit(s, data, cfg, engine, device) for s in singles))]
                    for mode, n_timed, seconds in timings:
                        rows.append({"engine": engine, "mode": mode, "n_members": n_members,
                                     "repeat": repeat, "n_timed": n_timed, "time_s": seconds,
                                     "time_per_model_ms": 1e3 * seconds / n_timed,
                                     "time_per_model_step_us": 1e6 * seconds / n_timed / cfg.steps,
                                     "steps": cfg.steps, "width": cfg.width, "n_points": cfg.n_points,
                                     "dtype": cfg.dtype, "threads": cfg.threads, "device": device.type})
    return pd.DataFrame(rows)


def speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Per (engine, E): median per-model time of loop and ensemble, their ratio and ranges."""
    stats = (df.groupby(["engine", "n_members", "mode"]).time_per_model_ms
             .agg(["median", "min", "max"]).unstack("mode"))
    out = pd.DataFrame({
        "loop_ms": stats[("median", "loop")], "ensemble_ms": stats[("median", "ensemble")],
        "loop_min_ms": stats[("min", "loop")], "loop_max_ms": stats[("max", "loop")],
        "ensemble_min_ms": stats[("min", "ensemble")], "ensemble_max_ms": stats[("max", "ensemble")],
    })
    out["speedup"] = out.loop_ms / out.ensemble_ms
    return out.reset_index()


COLORS = {"backprop": "C0", "autograd": "C3"}


def plot(df: pd.DataFrame, path: Path) -> None:
    table = speedups(df)
    fig, axes = figure(1, 2, width=4.2)
    left, right = axes[0]
    for engine, part in table.groupby("engine", sort=False):
        color = COLORS.get(engine, "k")
        for mode, style in (("loop", "--"), ("ensemble", "-")):
            median = part[f"{mode}_ms"]
            spread = [median - part[f"{mode}_min_ms"], part[f"{mode}_max_ms"] - median]
            left.errorbar(part.n_members, median, yerr=spread, fmt="o" + style, color=color,
                          capsize=2, label=f"{engine}, {mode}")
        right.plot(part.n_members, part.speedup, "o-", color=color, label=engine)
    first = df.iloc[0].to_dict()
    left.set(xscale="log", yscale="log", xlabel="ensemble size E (networks)",
             ylabel="training time per model (ms)",
             title=f"{first['steps']} GD steps, width {first['width']}, {first['n_points']} points, "
                   f"{first['dtype']}, {first['device']}")
    left.legend()
    right.axhline(10, color="grey", linestyle=":", label="10x")
    right.set(xscale="log", yscale="log", xlabel="ensemble size E (networks)",
              ylabel="speed-up per model (loop / ensemble)", title="median over repeats")
    right.legend()
    for ax in (left, right):
        ax.xaxis.set_major_formatter("{x:g}")
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    table = speedups(df)
    first = df.iloc[0].to_dict()
    largest = table.n_members.max()
    parts = []
    for engine, part in table.groupby("engine", sort=False):
        at = part[part.n_members == largest].iloc[0]
        parts.append(f"{engine}: {at.ensemble_ms:.3g} ms per model as an ensemble vs "
                     f"{at.loop_ms:.3g} ms in a loop, {at.speedup:.3g}x")
    return (
        f"Training E tiny networks (1 -> {first['width']} -> 1, tanh, {first['n_points']} points, "
        f"{first['steps']} full-batch GD steps, {first['dtype']}, {first['device']}, {first['threads']} "
        f"thread(s)) as one ensemble instead of a Python loop of single `fit` calls. The loop's "
        f"cost per model is flat in E; the ensemble's falls like 1/E while the step is overhead-"
        f"bound. At E = {largest}: " + "; ".join(parts) + f" (medians of {df.repeat.nunique()} "
        "repeats; the dotted line marks the 10x target). Every ensemble member's result equals "
        "its single run to 1e-12 in float64 (tests/test_train.py)."
    )


if __name__ == "__main__":  # python -m experiments.ensembles [options] is approx run ensembles [options]
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
