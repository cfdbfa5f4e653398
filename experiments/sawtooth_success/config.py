"""The configuration of experiments/sawtooth_success: its Config, with every field checked, and its
presets. The computation, the figure and the text import it; it imports none of them.

Each optimizer's own fields form a group (AdamRun, LMRun), set on the command line as
``--set adam.steps=2000`` or ``--set lm.max_params=1000``; ``optimizers`` says which run."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from approx import checks
from approx.device import DEVICES
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_DEPTH, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "AdamRun", "LMRun", "OPTIMIZERS", "MAX_K", "n_params"]

OPTIMIZERS = ("adam", "lm")  # Adam (full batch) and Levenberg-Marquardt, both in float64
# k of t^k: 2^k pieces, and a training grid of points_per_piece * 2^k + 1 points (the default trains k <= 6)
MAX_K = 16


def n_params(width: int, depth: int) -> int:
    """Weights and biases of [1, width x depth, 1]: 2w + (depth - 1)(w^2 + w) + w + 1."""
    return 2 * width + (depth - 1) * (width * width + width) + width + 1


@dataclass(frozen=True)
class AdamRun:
    """Adam on the full training grid at one constant rate (depth_separation's middle rate)."""
    GROUP: ClassVar[str] = "adam"  # the field it is set as: --set adam.steps=...
    steps: int = 500  # Adam steps
    lr: float = 1e-2  # learning rate

    def __post_init__(self):
        checks.integer(f"{self.GROUP}.steps", self.steps, low=0, high=MAX_STEPS)
        checks.number(f"{self.GROUP}.lr", self.lr, low=0, low_open=True)


@dataclass(frozen=True)
class LMRun:
    """Levenberg-Marquardt (approx.levenberg_marquardt through approx.train.fit). A trial step costs
    ~ 2 (m + P) min(m, P)^2 per member for m training points and P parameters (the damped solve,
    primal or dual), so networks with more than max_params parameters are not trained with it: the
    default keeps LM to the narrow and shallow cells a 2-core CPU can afford (measured, one thread
    under load: k = 6, width 8, L = 6, P = 385, m = 257 took 44 s of CPU for 64 members)."""
    GROUP: ClassVar[str] = "lm"
    steps: int = 100  # LM iterations
    max_params: int = 100  # networks with more parameters P are not trained with LM

    def __post_init__(self):
        checks.integer(f"{self.GROUP}.steps", self.steps, low=0, high=MAX_STEPS)
        checks.integer(f"{self.GROUP}.max_params", self.max_params, low=1, high=MAX_NUMBERS)


@dataclass(frozen=True)
class Config:
    # default: sized for about a minute on a 2-core CPU; `full` is the complete grid (256 seeds), for a GPU
    ks: tuple[int, ...] = (1, 2, 3, 4, 5, 6)  # train on t^k for these k
    widths: tuple[int, ...] = (2, 4, 8)  # width of every hidden layer (t^k's construction has width 2)
    depth_factors: tuple[int, ...] = (1, 2)  # networks have factor x k hidden layers
    optimizers: tuple[str, ...] = OPTIMIZERS  # which optimizers run (adam, lm)
    adam: AdamRun = AdamRun()
    lm: LMRun = LMRun()
    n_seeds: int = 64  # networks per (k, width, depth, optimizer), one ensemble: seeds seed .. seed + n - 1
    points_per_piece: int = 4  # training grid x = j / (points_per_piece * 2^k): the kinks and 3 points between
    #                            (with 2, k = 1's five points let LM fit the grid exactly but not t^k between)
    engine: str = "backprop"  # approx.train.TRAINING_ENGINES: gradients and Jacobians by hand or autograd
    threads: int = 1  # CPU threads while a point runs (restored after): small tensors
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        ks = checks.integers("ks", self.ks, low=1, high=MAX_K)
        widths = checks.integers("widths", self.widths, low=1, high=MAX_WIDTH)
        factors = checks.integers("depth_factors", self.depth_factors, low=1, high=MAX_DEPTH)
        checks.choices("optimizers", self.optimizers, OPTIMIZERS)
        for group in (AdamRun, LMRun):
            checks.group(group.GROUP, getattr(self, group.GROUP), group)
        checks.integer("n_seeds", self.n_seeds, low=1, high=MAX_COUNT)
        checks.integer("points_per_piece", self.points_per_piece, low=1, high=MAX_POINTS)
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        deepest = max(factors) * max(ks)
        checks.product_at_most("hidden layers", {"max(depth_factors) x max(ks)": deepest}, MAX_DEPTH)
        checks.product_at_most("the training grid", self.grid, MAX_POINTS)
        # the largest tensors: an ensemble of n_seeds members, its activations on the whole grid (full
        # batch), its deepest weights, and LM's Jacobian (members, points, P) for P <= lm.max_params
        members = {"n_seeds": self.n_seeds}
        checks.product_at_most("a hidden activation", {**members, **self.grid, "max(widths)": max(widths)},
                               MAX_NUMBERS)
        checks.product_at_most("the weights of the deepest network", {
            **members, "max(depth_factors) x max(ks)": deepest, "max(widths)^2": max(widths) ** 2}, MAX_NUMBERS)
        if "lm" in self.optimizers:
            largest = max((p for p in (n_params(w, f * k) for w in widths for f in factors for k in ks)
                           if p <= self.lm.max_params), default=0)
            checks.product_at_most("the Levenberg-Marquardt Jacobian", {
                **members, **self.grid, "parameters (the most at or below lm.max_params)": largest}, MAX_NUMBERS)

    @property
    def grid(self) -> dict[str, int]:
        """The largest training grid's size, as named factors (for the size checks)."""
        return {"points_per_piece": self.points_per_piece, "2^max(ks)": 2 ** max(self.ks)}

    def trains(self, optimizer: str, width: int, depth: int) -> bool:
        """Whether networks of this shape are trained with this optimizer."""
        return optimizer in self.optimizers and (optimizer != "lm" or n_params(width, depth) <= self.lm.max_params)


PRESETS = {
    "smoke": {"ks": (1, 2), "widths": (2, 4), "depth_factors": (1, 2), "n_seeds": 4,
              "adam": AdamRun(steps=30), "lm": LMRun(steps=10)},
    # default: 64 seeds, Adam 500 steps everywhere, LM 100 iterations where P <= 100 (width 2 at
    # every k; width 4 and 8 only shallow): about a minute on a 2-core CPU
    "default": {},
    # the complete grid, for one GPU: 256 seeds, every cell with both optimizers (the largest, width 8
    # and 12 hidden layers, has P = 817), longer budgets
    "full": {"n_seeds": 256, "adam": AdamRun(steps=5000), "lm": LMRun(steps=300, max_params=1000)},
}
