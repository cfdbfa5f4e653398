"""A sweep that counts its own computations (runner tests: resume, executors, repeatability).

approx run counting --preset smoke    # with APPROX_EXPERIMENTS=fixture_experiments
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from approx.plotting import figure, save


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6)  # one point per size
    n_samples: int = 40          # rows per point
    sleep_s: float = 0.0         # seconds each point waits (gives kill tests time to act)
    log_path: str = ""           # when set, each point appends "start SIZE PID" and "done SIZE PID"
    fail_size: int = -1          # the point with this size raises (an experiment's bug)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if any(s < 1 for s in self.sizes):
            raise ValueError(f"sizes must be >= 1, got {self.sizes}")


PRESETS = {"smoke": {"sizes": (1, 2, 3), "n_samples": 8}, "default": {}, "full": {"sizes": tuple(range(1, 13))}}


def _log(cfg: Config, event: str, size: int) -> None:
    if cfg.log_path:
        with open(cfg.log_path, "a", encoding="utf-8") as handle:  # one short append: atomic
            handle.write(f"{event} {size} {os.getpid()}\n")


def points(cfg: Config) -> list[dict]:
    return [{"size": s} for s in cfg.sizes]


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    size = point["size"]
    _log(cfg, "start", size)
    time.sleep(cfg.sleep_s)
    if size == cfg.fail_size:
        raise RuntimeError(f"point size={size} failed on purpose")
    generator = torch.Generator().manual_seed(1000 * cfg.seed + size)
    x = torch.rand(cfg.n_samples, generator=generator, dtype=torch.float64)  # (n,)
    y = torch.sin(size * x) / size + x.square().cumsum(0) / 3.0              # (n,)
    frame = pd.DataFrame({
        "size": size,
        "sample": range(cfg.n_samples),
        "x": x.numpy(),
        "y": y.numpy(),
        "y32": y.float().numpy(),            # float32 must survive the store exactly
        "positive": (y > 0.5).numpy(),
        "label": [f"s{size}-{i % 3}" for i in range(cfg.n_samples)],
    })
    _log(cfg, "done", size)
    return frame


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


def plot(df: pd.DataFrame, path: Path) -> None:
    fig, axes = figure()
    ax = axes[0, 0]
    for size, group in df.groupby("size"):
        ax.plot(group["x"], group["y"], ".", label=f"size {size}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    return f"{df['size'].nunique()} sizes, {len(df)} rows, mean y = {df['y'].mean():.6f}."
