"""Depth versus width: functions a small deep network represents and a shallow one cannot.

    approx run depth_separation                  # default preset -> results/depth_separation.*
    approx run depth_separation --preset smoke   # seconds on CPU; what the tests run

Four parts, one tidy DataFrame with a ``part`` column:

(a) constructed. Telgarsky's sawtooth t^k (2^k pieces) is k hidden layers of width 2, 6k + 1
    parameters; one hidden layer needs 2^k units, 3 * 2^k + 1 parameters (minimal:
    approx.constructions.depth.sawtooth_shallow_width). Yarotsky's x^2 to error 2^(-2m-2):
    12m - 2 parameters deep, 3 * 2^m + 1 shallow, and any one-hidden-layer network reaching
    it needs >= 2^(m - 1/2) pieces (a piece of length h costs h^2/8). Linear versus exponential.
(b) trained on t^k, k = 1..8: deep narrow networks (L = k and 2k hidden layers of width 8) and
    one-hidden-layer networks matched to each in parameters, of 2^k units (enough to represent
    t^k) and of 4 * 2^k (up to 1024); all seeds times all learning rates as one ensemble, Adam,
    full batch on the kinks and midpoints j / 2^(k+1). Errors are exact (both functions are
    piecewise linear: the sup and L2 distances are read off the union of their breakpoints),
    and approx.pieces counts the pieces each trained network realises, against 2^k and the
    (2m)^L bound.
(c) Telgarsky (2015)'s 2^k alternating points: zero error for the sawtooth; error >= 1/6 for
    any network with l layers of m <= 2^((k-3)/l - 1) units. Trained deep and shallow networks,
    with the floor (n - t - 1)/(2n) implied by each network's own piece count t.
(d) a radial target in d dimensions (Eldan & Shamir 2016; Safran & Shamir 2017): a smoothed
    indicator of the unit ball, 2-layer (one hidden) versus 3-layer (two hidden) networks with
    equal parameter counts, test error versus size and versus training steps.

``run`` is the concatenation of ``run_point`` over ``points`` (one per part and k or d). The
parts are computed in parts.py, drawn in figure.py and described in text.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from approx import checks
from approx.device import DEVICES, threads
from approx.network import DTYPES, INITS
from approx.train import ENGINES

from . import figure, parts, text
from .._limits import MAX_COUNT, MAX_DEPTH, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["PARTS", "PRESETS", "Config", "describe", "plot", "points", "run", "run_point"]

PARTS = ("a", "b", "c", "d")
# k of t^k: 2^k pieces, as many units as MAX_WIDTH in the one-hidden-layer network at k = 16
# (the default constructs k <= 12 and trains k <= 8)
MAX_K = 16


@dataclass(frozen=True)
class Config:
    constructed_ks: tuple[int, ...] = tuple(range(1, 13))  # (a) k of t^k and m of Yarotsky's x^2
    ks: tuple[int, ...] = tuple(range(1, 9))  # (b) train on t^k for these k
    deep_widths: tuple[int, ...] = (8,)  # (b) widths of the deep networks
    depth_factors: tuple[int, ...] = (1, 2)  # (b) deep networks have factor * k hidden layers
    shallow_factors: tuple[int, ...] = (1, 4)  # (b) one-hidden-layer widths factor * 2^k ...
    max_width: int = 1024  # ... capped here (plus one matched to each deep network's size)
    points_per_piece: int = 2  # (b) training grid x = j / (points_per_piece * 2^k): kinks, midpoints
    classify_ks: tuple[int, ...] = (5, 6, 7, 8)  # (c) n = 2^k alternating points
    classify_deep_width: int = 4  # (c) deep networks: k hidden layers of this width
    radial_dims: tuple[int, ...] = (2, 8, 32)  # (d) input dimensions d
    radial_widths: tuple[int, ...] = (8, 32)  # (d) widths of the 3-layer networks
    radial_band: float = 0.2  # (d) the target falls from 1 to 0 over |x| in 1 -+ band/2
    n_radial_train: int = 1000  # (d) training points
    n_radial_test: int = 2000  # (d) test points
    steps: int = 1000  # (b, c) Adam steps, full batch
    radial_steps: int = 600  # (d) Adam steps, full batch
    lrs: tuple[float, ...] = (3e-3, 1e-2, 3e-2)  # (b, c) Adam rates; the best final training loss is kept
    n_seeds: int = 3  # (b, c) initialisations per configuration
    radial_lrs: tuple[float, ...] = (3e-3, 1e-2)  # (d) Adam rates
    radial_n_seeds: int = 2  # (d) initialisations per configuration
    init: str = "kinks"  # (b, c): He weights, first-layer kinks ~ U[0, 1]; or an INITS name
    radial_init: str = "standard"  # (d): an approx.network.INITS name
    engine: str = "autograd"  # approx.train.ENGINES
    dtype: str = "float32"  # training dtype; pieces and errors are always computed in float64
    threads: int = 1  # CPU intra-op threads while a point runs (restored after): small tensors
    seed: int = 0  # member seeds are seed, seed + 1, ...
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        for name in ("constructed_ks", "ks", "classify_ks"):
            checks.integers(name, getattr(self, name), low=1, high=MAX_K)
        checks.integers("deep_widths", self.deep_widths, low=1, high=MAX_WIDTH)
        checks.integers("depth_factors", self.depth_factors, low=1, high=MAX_DEPTH)
        checks.integers("shallow_factors", self.shallow_factors, low=1, high=MAX_WIDTH)
        checks.integer("max_width", self.max_width, low=1, high=MAX_WIDTH)
        checks.integer("points_per_piece", self.points_per_piece, low=1, high=MAX_POINTS)
        checks.integer("classify_deep_width", self.classify_deep_width, low=1, high=MAX_WIDTH)
        checks.integers("radial_dims", self.radial_dims, low=1, high=MAX_DIM)
        checks.integers("radial_widths", self.radial_widths, low=1, high=MAX_WIDTH)
        checks.number("radial_band", self.radial_band, low=0, high=2, low_open=True, high_open=True)
        for name in ("n_radial_train", "n_radial_test"):  # 2: Var(y) scales the errors
            checks.integer(name, getattr(self, name), low=2, high=MAX_POINTS)
        for name in ("steps", "radial_steps"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_STEPS)
        for name in ("lrs", "radial_lrs"):
            checks.numbers(name, getattr(self, name), low=0, low_open=True)
        for name in ("n_seeds", "radial_n_seeds"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_COUNT)
        checks.choice("init", self.init, ("kinks", *INITS))
        checks.choice("radial_init", self.radial_init, INITS)
        checks.choice("engine", self.engine, ENGINES)
        checks.choice("dtype", self.dtype, DTYPES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        # the largest tensors of (b), (c) and (d): an ensemble of seeds x lrs members, its
        # activations on all the training points (full batch) and its weights
        members = {"n_seeds x len(lrs)": self.n_seeds * len(self.lrs)}
        k = max(self.ks)
        checks.product_at_most("hidden layers of (b)", {"max(depth_factors) x max(ks)": max(self.depth_factors) * k},
                               MAX_DEPTH)
        grid = {"points_per_piece": self.points_per_piece, "2^max(ks)": 2**k}
        checks.product_at_most("the training grid of (b)", grid, MAX_POINTS)
        checks.product_at_most("a hidden activation of (b)", {
            **members, **grid, "widest layer": max(self.max_width, *self.deep_widths)}, MAX_NUMBERS)
        checks.product_at_most("the deep weights of (b)", {
            **members, "max(depth_factors) x max(ks)": max(self.depth_factors) * k,
            "max(deep_widths)^2": max(self.deep_widths) ** 2}, MAX_NUMBERS)
        k = max(self.classify_ks)
        checks.product_at_most("a hidden activation of (c)", {
            **members, "2^max(classify_ks) points": 2**k, "widest layer": max(2**k, self.classify_deep_width)},
            MAX_NUMBERS)
        checks.product_at_most("the deep weights of (c)", {
            **members, "max(classify_ks)": k, "classify_deep_width^2": self.classify_deep_width**2}, MAX_NUMBERS)
        radial = {"radial_n_seeds x len(radial_lrs)": self.radial_n_seeds * len(self.radial_lrs)}
        w = max(self.radial_widths)
        checks.product_at_most("a hidden activation of (d)", {
            **radial, "max(n_radial_train, n_radial_test)": max(self.n_radial_train, self.n_radial_test),
            "max(radial_widths)^2 (the matched one-hidden-layer width, at d = 1)": w * w}, MAX_NUMBERS)


PRESETS = {
    "smoke": {"constructed_ks": (1, 2, 3, 4), "ks": (2,), "depth_factors": (1,),
              "classify_ks": (4,), "radial_dims": (2,), "radial_widths": (4,), "steps": 60,
              "radial_steps": 30, "n_radial_train": 128, "n_radial_test": 128, "n_seeds": 1,
              "lrs": (1e-2, 3e-2), "radial_n_seeds": 1},
    # default: t^k for k = 1..8 at 1000 steps, the most that fits 4 minutes on a 2-core CPU
    # (the one-hidden-layer networks of 4 * 2^k units cost ~ 4^k per step)
    "default": {},
    "full": {"deep_widths": (4, 8), "shallow_factors": (1, 4, 16), "max_width": 4096,
             "points_per_piece": 4, "classify_ks": (5, 6, 7, 8, 9), "radial_dims": (2, 4, 8, 16, 32),
             "radial_widths": (8, 16, 32, 64), "n_radial_train": 4000, "n_radial_test": 4000,
             "steps": 10000, "radial_steps": 4000, "lrs": (1e-3, 3e-3, 1e-2, 3e-2), "n_seeds": 4,
             "radial_lrs": (1e-3, 3e-3, 1e-2), "radial_n_seeds": 4},
}


def points(cfg: Config) -> list[dict]:
    return ([{"part": "a"}] + [{"part": "b", "k": k} for k in cfg.ks]
            + [{"part": "c", "k": k} for k in cfg.classify_ks]
            + [{"part": "d", "d": d} for d in cfg.radial_dims])


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    with threads(cfg.threads):
        return _run_part(cfg, point)


def _run_part(cfg: Config, point: dict) -> pd.DataFrame:
    part = point.get("part")
    if part == "a":
        return parts.constructed(cfg)
    if part == "b":
        return parts.trained_sawtooth(cfg, int(point["k"]))
    if part == "c":
        return parts.classification(cfg, int(point["k"]))
    if part == "d":
        return parts.radial(cfg, int(point["d"]))
    raise ValueError(f"unknown part {part!r}; allowed: {', '.join(PARTS)}")


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)



def plot(df: pd.DataFrame, path: Path) -> None:
    """Six panels: (a) parameters, (b) errors and pieces, (c) classification, (d) size and steps."""
    figure.plot(df, path)


def describe(df: pd.DataFrame) -> str:
    """The gallery paragraph: theorem, prediction, measurement, every number read from df."""
    return text.describe(df)
