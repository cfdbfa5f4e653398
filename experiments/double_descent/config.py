"""The configuration of experiments/double_descent: its Config, with every field checked, and its
presets. The computation, the figure and the text import it; it imports none of them."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks
from approx.device import DEVICES

from .._limits import MAX_COUNT, MAX_DIM, MAX_GRAM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS"]


@dataclass(frozen=True)
class Config:
    n: int = 40  # training points
    d: int = 5  # input dimension
    noise: float = 0.1  # label noise (std) of the regression labels
    n_test: int = 2000  # test points
    # (a) random features
    features: tuple[int, ...] = (2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 80, 120, 200, 400, 1000, 4000)  # N
    ridges: tuple[float, ...] = (0.0, 1e-3)  # ridge penalties (0: minimum-norm interpolation)
    rf_seeds: int = 20  # random first layers per N
    # (b, c) trained networks
    widths: tuple[int, ...] = (1, 2, 4, 6, 8, 12, 16, 32, 64, 256)  # hidden units
    seeds: int = 4  # networks per width (one ensemble)
    steps: int = 2000  # full-batch GD steps
    small_scale: float = 0.1  # "small initialisation": the standard one times this
    # (c) random labels
    random_widths: tuple[int, ...] = (1, 4, 16, 64, 256)  # hidden units
    # (d) label corruption (Zhang et al. 2017, Fig. 1) on Du et al.'s network, first layer trained
    corruptions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # fractions of labels made coin flips
    corruption_n: int = 100  # training points on the unit sphere in R^d, labelled sign(x_1)
    corruption_width: int = 1024  # hidden units m
    corruption_steps: int = 3000  # GD budget: each run stops once all members fit, or here
    seed: int = 0
    device: str = "auto"
    threads: int = 1  # CPU intra-op threads (small problems: more threads only contend)

    def __post_init__(self):
        checks.integer("n", self.n, low=1, high=MAX_GRAM)
        checks.integer("d", self.d, low=1, high=MAX_DIM)
        checks.number("noise", self.noise, low=0)
        checks.integer("n_test", self.n_test, low=1, high=MAX_POINTS)
        features = checks.integers("features", self.features, low=1, high=MAX_WIDTH)
        if not (min(features) < self.n < max(features)):  # the text compares the two sides of N = n
            raise ValueError(f"features must hold some N below n = {self.n} and some above it "
                             f"(the two sides of the peak at N = n), got {features!r}")
        checks.numbers("ridges", self.ridges, low=0)
        checks.integer("rf_seeds", self.rf_seeds, low=1, high=MAX_COUNT)
        checks.integers("widths", self.widths, low=1, high=MAX_WIDTH)
        checks.integer("seeds", self.seeds, low=1, high=MAX_COUNT)
        checks.integer("steps", self.steps, low=1, high=MAX_STEPS)
        checks.number("small_scale", self.small_scale, low=0, low_open=True)
        checks.integers("random_widths", self.random_widths, low=1, high=MAX_WIDTH)
        checks.numbers("corruptions", self.corruptions, low=0, high=1)
        checks.integer("corruption_n", self.corruption_n, low=2, high=MAX_GRAM)  # H^inf is n x n
        checks.integer("corruption_width", self.corruption_width, low=1, high=MAX_WIDTH)
        checks.integer("corruption_steps", self.corruption_steps, low=1, high=MAX_STEPS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        # the largest tensors: random features on the test points, (n_test, N); the trained
        # ensemble's NTK Jacobian (seeds, n, parameters) and its test activations
        checks.product_at_most("the test features", {"n_test": self.n_test, "max(features)": max(features)},
                               MAX_NUMBERS)
        w = max(self.widths + self.random_widths)
        checks.product_at_most("the NTK Jacobian", {"seeds": self.seeds, "n": self.n,
                                                    "parameters (d + 2) x max width": (self.d + 2) * w}, MAX_NUMBERS)
        checks.product_at_most("a test activation", {"seeds": self.seeds, "n_test": self.n_test,
                                                     "max width": w}, MAX_NUMBERS)
        # (d): one member's first-layer Jacobian (n, m d) for the NTK, and the test activations
        checks.product_at_most("the corruption sweep's NTK Jacobian", {
            "corruption_n": self.corruption_n, "corruption_width x d": self.corruption_width * self.d}, MAX_NUMBERS)
        checks.product_at_most("a corruption-sweep test activation", {
            "seeds": self.seeds, "n_test": self.n_test, "corruption_width": self.corruption_width}, MAX_NUMBERS)


PRESETS = {
    "smoke": {"n": 16, "n_test": 400, "features": (4, 8, 16, 24, 64, 400), "rf_seeds": 6,
              "widths": (1, 4, 32), "seeds": 2, "steps": 200, "random_widths": (2, 64),
              "corruption_n": 24, "corruption_width": 256, "corruption_steps": 1000},
    "default": {},
    "full": {"n": 100, "features": tuple(sorted({*range(5, 200, 5), 250, 300, 400, 1000, 4000, 10000})),
             "rf_seeds": 50, "widths": (1, 2, 3, 4, 6, 8, 10, 12, 16, 24, 32, 64, 128, 256, 1024),
             "seeds": 10, "steps": 20000, "random_widths": (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
             "corruptions": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0), "corruption_n": 200,
             "corruption_width": 4096, "corruption_steps": 20000},
}
