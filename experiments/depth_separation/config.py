"""The configuration of experiments/depth_separation: its Config, with every field checked,
and its presets. The computations (parts.py), the figure and the text import it; it imports
none of them.

Each part's own fields form a group (Constructed, Sawtooth, Alternating, Radial: frozen
dataclasses that check their fields), which the command line sets with dotted keys,
``--set radial.dims=2,8``; the training settings that two parts share stay at the top."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks
from approx.device import DEVICES
from approx.network import DTYPES, INITS
from approx.compiled_step import COMPILE_CHOICES
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_DEPTH, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH
from .._shallow import OPTIMIZERS

__all__ = ["MAX_K", "PARTS", "PRESETS", "Config", "Constructed", "Sawtooth", "Alternating", "Radial"]

PARTS = ("constructed", "sawtooth", "alternating", "radial")
# k of t^k: 2^k pieces, as many units as MAX_WIDTH in the one-hidden-layer network at k = 16
# (the default constructs k <= 12 and trains k <= 6; full trains k <= 8)
MAX_K = 16


@dataclass(frozen=True)
class Constructed:
    """The constructed part: networks built by formula, deep against one hidden layer."""
    ks: tuple[int, ...] = tuple(range(1, 13))  # k of t^k and m of Yarotsky's x^2

    def __post_init__(self):
        checks.integers("constructed.ks", self.ks, low=1, high=MAX_K)


@dataclass(frozen=True)
class Sawtooth:
    """The sawtooth part: networks trained on t^k (with the Config's steps, lrs, n_seeds and init)."""
    ks: tuple[int, ...] = tuple(range(1, 7))  # train on t^k for these k (at scale: experiments/sawtooth_success)
    deep_widths: tuple[int, ...] = (8,)  # widths of the deep networks
    depth_factors: tuple[int, ...] = (1, 2)  # deep networks have factor * k hidden layers
    shallow_factors: tuple[int, ...] = (1, 4)  # one-hidden-layer widths factor * 2^k ...
    max_width: int = 1024  # ... capped here (plus one matched to each deep network's size)
    points_per_piece: int = 2  # training grid x = j / (points_per_piece * 2^k): kinks, midpoints

    def __post_init__(self):
        checks.integers("sawtooth.ks", self.ks, low=1, high=MAX_K)
        checks.integers("sawtooth.deep_widths", self.deep_widths, low=1, high=MAX_WIDTH)
        checks.integers("sawtooth.depth_factors", self.depth_factors, low=1, high=MAX_DEPTH)
        checks.integers("sawtooth.shallow_factors", self.shallow_factors, low=1, high=MAX_WIDTH)
        checks.integer("sawtooth.max_width", self.max_width, low=1, high=MAX_WIDTH)
        checks.integer("sawtooth.points_per_piece", self.points_per_piece, low=1, high=MAX_POINTS)
        checks.product_at_most("hidden layers of sawtooth", {
            "max(sawtooth.depth_factors) x max(sawtooth.ks)": max(self.depth_factors) * max(self.ks)}, MAX_DEPTH)
        checks.product_at_most("the training grid of sawtooth", self.grid, MAX_POINTS)

    @property
    def grid(self) -> dict[str, int]:
        """The largest training grid's size, as named factors (for the size checks)."""
        return {"sawtooth.points_per_piece": self.points_per_piece, "2^max(sawtooth.ks)": 2 ** max(self.ks)}


@dataclass(frozen=True)
class Alternating:
    """The alternating part: Telgarsky's alternating points (trained with the Config's steps, lrs,
    n_seeds and init)."""
    ks: tuple[int, ...] = (5, 6, 7, 8)  # n = 2^k alternating points
    deep_width: int = 4  # deep networks: k hidden layers of this width

    def __post_init__(self):
        checks.integers("alternating.ks", self.ks, low=1, high=MAX_K)
        checks.integer("alternating.deep_width", self.deep_width, low=1, high=MAX_WIDTH)


@dataclass(frozen=True)
class Radial:
    """The radial part: a radial target in d dimensions, with its own training settings. Trained
    online (online.py): every Adam step on `batch` fresh points, so that the training error
    estimates the population error (approximation, not generalization)."""
    dims: tuple[int, ...] = (2, 8, 32)  # input dimensions d
    widths: tuple[int, ...] = (8, 32)  # widths of the 3-layer networks
    band: float = 0.2  # the target falls from 1 to 0 over |x| in 1 -+ band/2
    batch: int = 256  # fresh points per Adam step (no training set: none is seen twice)
    n_test: int = 100_000  # fresh test points per d, drawn once (standard error ~ 1/sqrt(n_test))
    steps: int = 1000  # Adam steps, each on a fresh batch
    lrs: tuple[float, ...] = (3e-3, 1e-2)  # Adam rates; the best final training (online) loss is kept
    n_seeds: int = 4  # initialisations per configuration: the ranges over seeds in the text
    init: str = "standard"  # an approx.network.INITS name

    def __post_init__(self):
        checks.integers("radial.dims", self.dims, low=1, high=MAX_DIM)
        checks.integers("radial.widths", self.widths, low=1, high=MAX_WIDTH)
        checks.number("radial.band", self.band, low=0, high=2, low_open=True, high_open=True)
        checks.integer("radial.batch", self.batch, low=1, high=MAX_POINTS)
        checks.integer("radial.n_test", self.n_test, low=2, high=MAX_POINTS)  # 2: a standard error
        checks.integer("radial.steps", self.steps, low=1, high=MAX_STEPS)
        checks.numbers("radial.lrs", self.lrs, low=0, low_open=True)
        checks.integer("radial.n_seeds", self.n_seeds, low=1, high=MAX_COUNT)
        checks.choice("radial.init", self.init, INITS)
        # the largest tensors: the test set, and an ensemble of n_seeds x lrs members' activations on
        # a batch or a test chunk of 8192 points (parts.TEST_CHUNK)
        checks.product_at_most("the test set of radial", {
            "radial.n_test": self.n_test, "max(radial.dims)": max(self.dims)}, MAX_NUMBERS)
        w = max(self.widths)
        checks.product_at_most("a hidden activation of radial", {
            "radial.n_seeds x len(radial.lrs)": self.n_seeds * len(self.lrs),
            "max(radial.batch, 8192)": max(self.batch, 8192),
            "max(radial.widths)^2 (the matched one-hidden-layer width, at d = 1)": w * w}, MAX_NUMBERS)


@dataclass(frozen=True)
class Config:
    constructed: Constructed = Constructed()
    sawtooth: Sawtooth = Sawtooth()
    alternating: Alternating = Alternating()
    radial: Radial = Radial()  # with its own training settings
    optimizer: str = "adam"  # sawtooth, alternating: adam | lbfgs | lm (one run per seed: no rates;
    #                          float64 suits these two, set dtype=float64); radial keeps Adam
    steps: int = 1000  # ... Adam steps, full batch (lbfgs, lm: iterations)
    lrs: tuple[float, ...] = (3e-3, 1e-2, 3e-2)  # ... Adam rates; the best final training loss is kept
    n_seeds: int = 3  # ... initialisations per configuration
    init: str = "kinks"  # ... He weights, first-layer kinks ~ U[0, 1]; or an INITS name
    engine: str = "autograd"  # approx.train.TRAINING_ENGINES
    compile: str = "auto"  # approx.compiled_step: compile Adam's steps where they repay it (off | on | auto)
    dtype: str = "float32"  # training dtype; pieces and errors are always computed in float64
    threads: int = 1  # CPU intra-op threads while a point runs (restored after): small tensors
    seed: int = 0  # member seeds are seed, seed + 1, ...
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        for name, group in (("constructed", Constructed), ("sawtooth", Sawtooth), ("alternating", Alternating),
                            ("radial", Radial)):
            checks.group(name, getattr(self, name), group)  # each group checked its own fields
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.integer("steps", self.steps, low=1, high=MAX_STEPS)
        checks.numbers("lrs", self.lrs, low=0, low_open=True)
        checks.integer("n_seeds", self.n_seeds, low=1, high=MAX_COUNT)
        checks.choice("init", self.init, ("kinks", *INITS))
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.choice("compile", self.compile, COMPILE_CHOICES)
        checks.choice("dtype", self.dtype, DTYPES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        # the largest tensors of sawtooth and alternating: an ensemble of seeds x lrs members, its
        # activations on all the training points (full batch) and its weights
        members = {"n_seeds x len(lrs)": self.n_seeds * len(self.lrs)}
        saw = self.sawtooth
        checks.product_at_most("a hidden activation of sawtooth", {
            **members, **saw.grid, "widest layer": max(saw.max_width, *saw.deep_widths)}, MAX_NUMBERS)
        checks.product_at_most("the deep weights of sawtooth", {
            **members, "max(sawtooth.depth_factors) x max(sawtooth.ks)": max(saw.depth_factors) * max(saw.ks),
            "max(sawtooth.deep_widths)^2": max(saw.deep_widths) ** 2}, MAX_NUMBERS)
        alt = self.alternating
        k = max(alt.ks)
        checks.product_at_most("a hidden activation of alternating", {
            **members, "2^max(alternating.ks) points": 2**k, "widest layer": max(2**k, alt.deep_width)},
            MAX_NUMBERS)
        checks.product_at_most("the deep weights of alternating", {
            **members, "max(alternating.ks)": k, "alternating.deep_width^2": alt.deep_width**2}, MAX_NUMBERS)


PRESETS = {
    "smoke": {"constructed": Constructed(ks=(1, 2, 3, 4)), "sawtooth": Sawtooth(ks=(2,), depth_factors=(1,)),
              "alternating": Alternating(ks=(4,)),
              "radial": Radial(dims=(2,), widths=(4,), steps=30, batch=64, n_test=512, n_seeds=1),
              "steps": 60, "n_seeds": 1, "lrs": (1e-2, 3e-2)},
    # default: t^k for k = 1..6 at 1000 steps. k = 7 and 8 took ~110 s of the study's 169 s (the
    # one-hidden-layer networks of 4 * 2^k units cost ~ 4^k per step) and every network ended at
    # the constant fit there; whether training finds t^k is measured at scale by
    # experiments/sawtooth_success. The full preset trains k = 1..8.
    "default": {},
    "full": {"sawtooth": Sawtooth(ks=tuple(range(1, 9)), deep_widths=(4, 8), shallow_factors=(1, 4, 16),
                                  max_width=4096, points_per_piece=4),
             "alternating": Alternating(ks=(5, 6, 7, 8, 9)),
             "radial": Radial(dims=(2, 4, 8, 16, 32, 64), widths=(8, 16, 32, 64), batch=1024, n_test=1_000_000,
                              steps=20000, lrs=(1e-3, 3e-3, 1e-2), n_seeds=8),
             "steps": 10000, "lrs": (1e-3, 3e-3, 1e-2, 3e-2), "n_seeds": 4},
}
