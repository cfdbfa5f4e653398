"""The configuration of experiments/sawtooth_basin: its Config, with every field checked, and its presets.
The computation, the figure and the text import it; it imports none of them."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks
from approx.device import DEVICES
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_ENSEMBLE, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "OPTIMIZERS", "SIGMAS", "MAX_K", "n_params"]

OPTIMIZERS = ("adam", "lm")  # Adam (cosine schedule) and Levenberg-Marquardt, both float64, full batch
MAX_K = 16  # t^16 has 65,536 pieces, as in experiments/depth_separation
# the noise scales: 0 (the exact construction) and 13 points of a log grid from 1e-4 to 1, three per decade
SIGMAS = (0.0,) + tuple(float(f"{10 ** (-4 + j / 3):.3g}") for j in range(13))


def n_params(k: int, width: int) -> int:
    """Parameters of k hidden layers of ``width`` units on R -> R: 2w + (k - 1)(w^2 + w) + w + 1."""
    return 2 * width + (k - 1) * (width * width + width) + width + 1


@dataclass(frozen=True)
class Config:
    # default: sized for `approx reproduce` on a 2-core CPU (~45 s); `full` is the complete grid, for a GPU
    ks: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)  # t^k: k hidden layers
    widths: tuple[int, ...] = (2, 8)  # hidden width: 2 is the construction's own; wider embeds it (inert units)
    sigmas: tuple[float, ...] = SIGMAS  # std of the Gaussian noise added to every parameter; 0 = the construction
    n_seeds: int = 8  # noise draws per (k, width, sigma): seeds seed .. seed + n_seeds - 1 (32 costs ~90 s)
    optimizers: tuple[str, ...] = OPTIMIZERS
    adam_steps: int = 300  # Adam's fixed budget (steps, full batch)
    adam_lr: float = 1e-4  # Adam's peak rate; a cosine schedule takes it to 0 over the budget
    lm_steps: int = 20  # Levenberg-Marquardt's fixed budget (iterations)
    lm_max_width: int = 2  # LM trains widths up to this (an iteration costs ~ n P^2 + P^3 per member)
    points_per_piece: int = 2  # training grid x = j / (points_per_piece * 2^k): the kinks and between them
    recovery_l2: float = 1e-3  # a run has recovered when its exact L2 error to t^k on [0, 1] is below this
    engine: str = "backprop"  # approx.train.TRAINING_ENGINES: gradients and Jacobians by hand or autograd
    threads: int = 1  # CPU threads (restored after each point)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        ks = checks.integers("ks", self.ks, low=1, high=MAX_K)
        widths = checks.integers("widths", self.widths, low=2, high=MAX_WIDTH)  # the construction needs 2
        sigmas = checks.numbers("sigmas", self.sigmas, low=0)
        checks.integer("n_seeds", self.n_seeds, low=2, high=MAX_COUNT)  # 2: the bootstrap resamples seeds
        checks.choices("optimizers", self.optimizers, OPTIMIZERS)
        checks.integer("adam_steps", self.adam_steps, low=1, high=MAX_STEPS)
        checks.number("adam_lr", self.adam_lr, low=0, low_open=True)
        checks.integer("lm_steps", self.lm_steps, low=1, high=MAX_STEPS)
        checks.integer("lm_max_width", self.lm_max_width, low=2, high=MAX_WIDTH)
        checks.integer("points_per_piece", self.points_per_piece, low=1, high=MAX_POINTS)
        checks.number("recovery_l2", self.recovery_l2, low=0, low_open=True)
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        members = {"sigmas x n_seeds": len(sigmas) * self.n_seeds}
        checks.product_at_most("an ensemble", members, MAX_ENSEMBLE)
        grid = {"points_per_piece": self.points_per_piece, "2^max(ks)": 2 ** max(ks)}
        checks.product_at_most("the training grid", grid, MAX_POINTS)
        checks.product_at_most("a trained hidden activation", {**members, **grid, "max(widths)": max(widths)},
                               MAX_NUMBERS)
        if "lm" in self.optimizers and any(w <= self.lm_max_width for w in widths):
            widest = max(w for w in widths if w <= self.lm_max_width)
            checks.product_at_most("the Levenberg-Marquardt Jacobian", {
                **members, **grid, "parameters at max(ks) and the widest LM width": n_params(max(ks), widest)},
                MAX_NUMBERS)

    def trains(self, optimizer: str, width: int) -> bool:
        """Whether networks of this width are trained with this optimizer."""
        return optimizer in self.optimizers and (optimizer != "lm" or width <= self.lm_max_width)


PRESETS = {
    "smoke": {"ks": (2, 3), "sigmas": (0.0, 1e-3, 1e-1), "n_seeds": 2, "adam_steps": 20, "lm_steps": 5,
              "lm_max_width": 8},
    "default": {},
    # the complete grid, sized for one GPU: 32 seeds per cell, both widths with both optimizers, longer budgets
    "full": {"n_seeds": 32, "adam_steps": 3000, "lm_steps": 100, "lm_max_width": 8, "points_per_piece": 4},
}
