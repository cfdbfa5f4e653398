"""A one-shot experiment whose Config has a field of every type `--set` parses.

approx run single --preset smoke      # with APPROX_EXPERIMENTS=fixture_experiments
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Optional

import pandas as pd
import torch

from approx.plotting import figure, save


@dataclass(frozen=True)
class Config:
    n: int = 4                          # must be >= 1 (checked in __post_init__)
    scale: float = 1.0                  # multiplies every width
    flag: bool = False                  # a boolean switch
    label: str = "a"                    # also names the output file: single-LABEL
    widths: tuple[int, ...] = (2, 4)    # one row per width
    rates: tuple[float, ...] = (0.5,)   # a tuple of floats
    names: tuple[str, ...] = ("x", "y")  # a tuple of strings
    pair: tuple[int, float] = (1, 2.5)  # a fixed-length tuple
    limit: int | None = None            # an optional int
    note: Optional[str] = None          # an optional string
    mode: Literal["fast", "slow"] = "fast"  # one of two words
    tf32: bool = False                  # the runner wraps run() in approx.device.precision(tf32)
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")


PRESETS = {"smoke": {"n": 2}}  # no "full": asking for it is an error naming smoke and default


def output_name(cfg: Config) -> str:
    return f"single-{cfg.label}"


def run(cfg: Config) -> pd.DataFrame:
    config = {k: str(v) for k, v in asdict(cfg).items()}
    return pd.DataFrame({
        "width": list(cfg.widths),
        "value": [cfg.scale * w * cfg.n for w in cfg.widths],
        "tf32_in_run": torch.backends.cuda.matmul.allow_tf32,  # what precision() set
        "seed_draw": float(torch.rand(1, dtype=torch.float64)),  # global RNG: the runner seeds it
        "config": repr(sorted(config.items())),
    })


def plot(df: pd.DataFrame, path: Path) -> None:
    fig, axes = figure()
    axes[0, 0].plot(df["width"], df["value"], "o-")
    axes[0, 0].set_xlabel("width")
    axes[0, 0].set_ylabel("value")
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    return f"{len(df)} widths; the largest value is {df['value'].max():g}."
