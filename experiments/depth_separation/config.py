"""The configuration of experiments/depth_separation: its Config, with every field checked,
and its presets. The computations (parts.py), the figure and the text import it; it imports
none of them."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks
from approx.device import DEVICES
from approx.network import DTYPES, INITS
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_DEPTH, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["MAX_K", "PARTS", "PRESETS", "Config"]

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
    engine: str = "autograd"  # approx.train.TRAINING_ENGINES
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
        checks.choice("engine", self.engine, TRAINING_ENGINES)
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
