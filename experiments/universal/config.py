"""The configuration of experiments/universal: its Config, with every field checked, its presets,
and the names the computation, the figure and the text share (method names, FIT_MIN_WIDTH).
It imports none of them."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from approx import checks
from approx import targets as _targets
from approx.device import DEVICES
from approx.network import DTYPES
from approx.compiled_step import COMPILE_CHOICES
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH
from .._shallow import OPTIMIZERS

__all__ = ["Config", "PRESETS", "FIT_MIN_WIDTH", "STEEP_FIT_MIN_WIDTH", "RAMP", "INTERP", "LR_SWEEP",
           "steepness_of"]

FIT_MIN_WIDTH = 8  # rates are fitted on widths >= this (the asymptotic regime)
# steepness ~ n^2 reaches its O(1/n) regime late (its constant still grows towards omega(h/2)
# below this width): its rate is also fitted on widths >= this
STEEP_FIT_MIN_WIDTH = 128
LR_SWEEP = "lr_sweep"  # the table of the trained runs at the learning rates of Config.lr_sweep
RAMP, INTERP = "relu ramp staircase", "relu interpolant"
MAX_CURVE_POINTS = 65_536  # points per drawn curve: far more than a figure can show
ONE_D_TARGETS = "sin1, sin2, ..., gaussian, square, abs, triangle, step, weierstrass"


@dataclass(frozen=True)
class Config:
    targets: tuple[str, ...] = ("sin1", "sin3", "gaussian", "square", "abs", "triangle", "step",
                                "weierstrass")  # names from approx.targets (1-D)
    widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # constructions' units
    steepness: tuple[str, ...] = ("100", "8n", "n^2")  # sigmoid steepness rules: c, c*n or c*n^2
    trained_widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # trained nets
    activations: tuple[str, ...] = ("sigmoid", "tanh", "relu")  # of the trained networks
    n_seeds: int = 3  # trained networks per (target, activation, width): seeds seed .. seed+n-1
    n_train: int = 2048  # training points: an even grid on [0, 1] (more than a 1024-unit net's
    #                      3073 parameters can interpolate trivially)
    optimizer: str = "adam"  # adam | lbfgs | lm (float64 suits these two: set dtype=float64; full batch)
    batch_size: int = 32  # Adam mini-batch (points per step); n_train or more: full batch
    steps: int = 1500  # Adam steps (cosine schedule); lbfgs, lm: iterations
    lr: float = 0.2  # Adam learning rate
    lr_sweep: tuple[float, ...] = (0.05,)  # further Adam learning rates, each trained per activation
    #                                        at sweep_widths (table "lr_sweep"); () for none; one equal
    #                                        to lr is skipped (its runs are the main table's)
    sweep_widths: tuple[int, ...] = (8, 32, 128, 512)  # widths of the lr sweep (among widths)
    beta2: float = 0.99  # Adam's second-moment decay
    init_steepness: float = 20.0  # first-layer init scale (experiments/_shallow.py); sigmoid
    #                               gets twice it: sigma(2z) = (1 + tanh z)/2 has tanh's shape
    mean_field: bool = True  # output layer (1/n) sum a_i h_i: one lr for every width (_shallow.py)
    dtype: str = "float32"  # training precision (float32 | float64); errors are taken in float64
    engine: str = "backprop"  # approx.train.TRAINING_ENGINES: backprop (hand-written) or autograd
    compile: str = "auto"  # approx.compiled_step: compile Adam's steps where they repay it (off | on | auto)
    n_eval: int = 16_385  # points of the evaluation grid on [0, 1] (sup and L2 errors)
    sup_grid: int = 4_097  # first grid of the constructions' certified sup (approx.sup_error), refined
    sup_rtol: float = 1e-3  # ... until its upper end is within this relative gap of its lower end
    curve_target: str = "sin3"  # target drawn with its approximants
    curve_widths: tuple[int, ...] = (8, 64)  # widths at which approximants are drawn
    n_curve: int = 400  # points per drawn curve
    threads: int = 1  # CPU threads (restored after each point)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        names = checks.sequence("targets", self.targets, what=f"1-D target names ({ONE_D_TARGETS})")
        for name in names:
            _check_one_d_target("targets", name)
        _check_one_d_target("curve_target", self.curve_target)
        widths = checks.integers("widths", self.widths, low=2, high=MAX_WIDTH)
        if sum(w >= FIT_MIN_WIDTH for w in widths) < 2:  # else no rate to fit, draw or describe
            raise ValueError(f"widths needs at least two widths >= {FIT_MIN_WIDTH} (FIT_MIN_WIDTH: rates "
                             f"are fitted there), got {widths!r}")
        for rule in checks.sequence("steepness", self.steepness, min_len=0, what="rules like 100, 8n, n^2"):
            if not isinstance(rule, str):
                raise ValueError(f"steepness rules must be text like 100, 8n or n^2, got {rule!r}")
            steepness_of(rule, 1)
        trained = checks.integers("trained_widths", self.trained_widths, low=1, high=MAX_WIDTH, min_len=0)
        if not set(trained) <= set(widths):  # describe() compares them at equal widths
            raise ValueError(f"trained_widths must be among widths {widths!r} (trained networks are compared "
                             f"with the constructions of the same width), got {trained!r}")
        checks.choices("activations", self.activations, ("sigmoid", "tanh", "relu", "softplus"), min_len=0)
        checks.integer("n_seeds", self.n_seeds, low=1, high=MAX_COUNT)
        checks.integer("n_train", self.n_train, low=2, high=MAX_POINTS)
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.integer("batch_size", self.batch_size, low=1, high=MAX_POINTS)
        checks.integer("steps", self.steps, low=1, high=MAX_STEPS)
        checks.number("lr", self.lr, low=0, low_open=True)
        checks.numbers("lr_sweep", self.lr_sweep, low=0, low_open=True, min_len=0)  # lr itself: skipped
        sweep = checks.integers("sweep_widths", self.sweep_widths, low=1, high=MAX_WIDTH, min_len=0)
        if not set(sweep) <= set(widths):  # compared with the constructions of the same widths
            raise ValueError(f"sweep_widths must be among widths {widths!r}, got {sweep!r}")
        checks.number("beta2", self.beta2, low=0, high=1, high_open=True)
        checks.number("init_steepness", self.init_steepness, low=0, low_open=True)
        checks.flag("mean_field", self.mean_field)
        checks.choice("dtype", self.dtype, DTYPES)
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.choice("compile", self.compile, COMPILE_CHOICES)
        checks.integer("n_eval", self.n_eval, low=2, high=MAX_POINTS)
        checks.integer("sup_grid", self.sup_grid, low=2, high=MAX_POINTS)
        checks.number("sup_rtol", self.sup_rtol, low=0, low_open=True, high=1)
        checks.integers("curve_widths", self.curve_widths, low=2, high=MAX_WIDTH, min_len=0)
        checks.integer("n_curve", self.n_curve, low=2, high=MAX_CURVE_POINTS)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        # the trained ensemble of one width: (members, batch, width) activations, (members, n, 1) data
        members = len(names) * self.n_seeds
        checks.product_at_most("a trained hidden activation", {
            "targets x n_seeds": members, "min(batch_size, n_train)": min(self.batch_size, self.n_train),
            "max(trained_widths)": max(self.trained_widths, default=0)}, MAX_NUMBERS)
        checks.product_at_most("the trained networks' outputs", {
            "targets x n_seeds": members, "max(n_train, n_eval)": max(self.n_train, self.n_eval)}, MAX_NUMBERS)


PRESETS = {
    "smoke": {"targets": ("sin1", "abs"), "widths": (2, 4, 8, 16, 32), "trained_widths": (4, 8),
              "n_seeds": 1, "n_train": 64, "batch_size": 16, "steps": 30, "n_eval": 2_049,
              "sweep_widths": (8,), "sup_grid": 1_025,
              "curve_widths": (8,), "curve_target": "sin1", "n_curve": 50},
    "default": {},
    "full": {"n_seeds": 5, "steps": 10_000, "batch_size": 2048, "n_train": 4096, "lr_sweep": (0.02, 0.05, 0.5),
             "sweep_widths": (8, 16, 32, 64, 128, 256, 512, 1024)},
}


def steepness_of(rule: str, n: int) -> float:
    """The steepness for rule "c" (fixed), "cn" (c * n) or "cn^2" (c * n^2); c defaults to 1."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)?\s*\*?\s*(n(?:\^2)?)?\s*", rule)
    if not match or not (match.group(1) or match.group(2)):
        raise ValueError(f"steepness rule {rule!r} must look like 100, 8n or n^2")
    c = float(match.group(1) or 1.0)
    power = {None: 0, "n": 1, "n^2": 2}[match.group(2)]
    if not 0 < c < math.inf:
        raise ValueError(f"steepness rule {rule!r} needs a positive finite constant")
    return c * n**power


def _check_one_d_target(field: str, name) -> None:
    """A ValueError naming ``field`` unless ``name`` is a 1-D target of approx.targets."""
    try:
        dim = _targets.get(name).dim
    except ValueError as err:
        raise ValueError(f"{field}: {err}") from None
    if dim != 1:
        raise ValueError(f"{field} must name 1-D targets ({ONE_D_TARGETS}); {name!r} is {dim}-D")
