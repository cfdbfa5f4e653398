"""The barron study's Config, its presets, and the constants the other parts share."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks
from approx.compiled_step import COMPILE_CHOICES
from approx.device import DEVICES
from approx.network import DTYPES
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH
from .._shallow import OPTIMIZERS

FAMILIES = ("ridge_nd", "gaussian_nd", "ball_nd")
RIDGE1 = "ridge1_nd"  # the family label of the single ridge cos(2 pi w . (x - c)) (ridge_nd, K = 1)
FLOOR_FACTOR = 2.0  # more steps lowering the test MSE by this factor or more: a budget floor
RF_TARGET = 0.01  # the relative error test MSE / Var f at which N is compared across d


@dataclass(frozen=True)
class Config:
    dims: tuple[int, ...] = (1, 2, 4, 8, 16)  # input dimensions d
    families: tuple[str, ...] = ("ridge_nd", "ball_nd")  # approx.targets names (d-dimensional)
    widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)  # hidden units n, trained
    sampled_widths: tuple[int, ...] = (4, 16, 64, 256, 1024)  # units of Barron's sampled network
    n_draws: int = 8  # sampled networks per (d, width)
    activation: str = "sigmoid"  # Barron's theorem is for sigmoidal units
    n_seeds: int = 3  # networks per (d, family, width), trained as one ensemble
    n_train: int = 8192  # training sample (uniform on [0, 1]^d)
    # the trained part's optimizers, one set of rows each (column optimizer): adam trains the grid
    # above, the step budgets and the single ridge; lbfgs and lm (second order: full batch, float64)
    # train the second_order_* grid below, where their cost (lm: batch x P^2 per iteration) allows
    optimizers: tuple[str, ...] = ("adam", "lbfgs")
    second_order_dims: tuple[int, ...] = (1, 2, 4, 8)  # dims of the second-order runs
    second_order_families: tuple[str, ...] = ("ridge_nd",)  # their families
    second_order_widths: tuple[int, ...] = (4, 8, 16, 32)  # their widths n
    second_order_steps: int = 1000  # their iterations
    second_order_n_train: int = 2048  # their training points: the first of the n_train sample
    batch_size: int = 128  # Adam mini-batch
    steps: int = 1500  # Adam steps (cosine schedule)
    lr: float = 0.1  # Adam learning rate
    beta2: float = 0.999  # Adam's second-moment decay
    init_steepness: float = 8.0  # first-layer init scale (experiments/_shallow.py)
    mean_field: bool = True  # output layer (1/n) sum a_i h_i: one lr for every width (_shallow.py)
    dtype: str = "float32"  # training precision (float32 | float64); test errors in float64
    n_test: int = 4096  # fresh test points
    step_budgets: tuple[float, ...] = (4.0,)  # further step budgets, multiples of steps; () for none
    budget_dims: tuple[int, ...] = (1, 4, 16)  # dims at which the budgets are run (among dims)
    budget_widths: tuple[int, ...] = (64, 256)  # widths at which they are run (among widths)
    rf_widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512)  # random features N, and the trained
    #                                                      networks' widths on the single ridge; ()
    rf_activations: tuple[str, ...] = ("sigmoid", "relu")  # of the random features
    engine: str = "backprop"  # approx.train.TRAINING_ENGINES: backprop (hand-written) or autograd
    compile: str = "auto"  # approx.compiled_step: compile Adam's steps where they repay it (off | on | auto)
    threads: int = 1  # CPU threads (restored after each point)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        checks.integers("dims", self.dims, low=1, high=MAX_DIM)
        checks.choices("families", self.families, FAMILIES)
        checks.integers("widths", self.widths, low=1, high=MAX_WIDTH)
        checks.integers("sampled_widths", self.sampled_widths, low=1, high=MAX_WIDTH, min_len=0)
        checks.integer("n_draws", self.n_draws, low=1, high=MAX_COUNT)
        checks.choice("activation", self.activation, ("sigmoid", "tanh", "relu", "softplus"))
        checks.integer("n_seeds", self.n_seeds, low=1, high=MAX_COUNT)
        checks.integer("n_train", self.n_train, low=1, high=MAX_POINTS)
        checks.choices("optimizers", self.optimizers, OPTIMIZERS)
        checks.integers("second_order_dims", self.second_order_dims, low=1, high=MAX_DIM)
        checks.choices("second_order_families", self.second_order_families, FAMILIES)
        checks.integers("second_order_widths", self.second_order_widths, low=1, high=MAX_WIDTH)
        checks.integer("second_order_steps", self.second_order_steps, low=1, high=MAX_STEPS)
        checks.integer("second_order_n_train (at most n_train)", self.second_order_n_train, low=1,
                       high=self.n_train)
        checks.integer("batch_size (at most n_train)", self.batch_size, low=1, high=self.n_train)
        checks.integer("steps", self.steps, low=1, high=MAX_STEPS)
        checks.number("lr", self.lr, low=0, low_open=True)
        checks.number("beta2", self.beta2, low=0, high=1, high_open=True)
        checks.number("init_steepness", self.init_steepness, low=0, low_open=True)
        checks.flag("mean_field", self.mean_field)
        checks.choice("dtype", self.dtype, DTYPES)
        checks.integer("n_test", self.n_test, low=2, high=MAX_POINTS)  # 2: a variance
        budgets = checks.numbers("step_budgets", self.step_budgets, low=0, low_open=True, min_len=0)
        if 1 in budgets:
            raise ValueError(f"step_budgets must not hold 1 (budget 1 is the main runs), got {budgets!r}")
        for steps_name, steps in (("steps", self.steps), ("second_order_steps", self.second_order_steps)):
            if max((b * steps for b in budgets), default=0) > MAX_STEPS:
                raise ValueError(f"step_budgets x {steps_name} must be at most {MAX_STEPS}, got {budgets!r} x {steps}")
        for name, values, among in (("budget_dims", self.budget_dims, self.dims),
                                    ("budget_widths", self.budget_widths, self.widths)):
            if not set(checks.integers(name, values, low=1, min_len=0)) <= set(among):
                raise ValueError(f"{name} must be among {'dims' if name == 'budget_dims' else 'widths'} "
                                 f"{tuple(among)!r}, got {values!r}")
        rf = checks.integers("rf_widths", self.rf_widths, low=1, high=MAX_WIDTH, min_len=0)
        if len(rf) == 1:
            raise ValueError(f"rf_widths needs at least two widths (a slope) or none, got {rf!r}")
        checks.choices("rf_activations", self.rf_activations, ("sigmoid", "tanh", "relu", "softplus"))
        checks.product_at_most("the random features", {"n_train": self.n_train, "max(rf_widths)": max(rf, default=0)},
                               MAX_NUMBERS)
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.choice("compile", self.compile, COMPILE_CHOICES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        # the largest tensors: the trained ensemble's (members, batch, width) activations and
        # (members, n, 1) targets, the points (n, d), the sampled network's (n_test, width) layer
        members = len(self.families) * self.n_seeds
        checks.product_at_most("a trained hidden activation", {
            "families x n_seeds": members, "batch_size": self.batch_size, "max(widths)": max(self.widths)},
            MAX_NUMBERS)
        n = max(self.n_train, self.n_test)
        checks.product_at_most("the targets", {"families x n_seeds": members, "max(n_train, n_test)": n},
                               MAX_NUMBERS)
        checks.product_at_most("the points", {"max(n_train, n_test)": n,
                                              "max(dims, second_order_dims)": max(*self.dims, *self.second_order_dims)},
                               MAX_NUMBERS)
        if "lm" in self.optimizers:  # its per-example Jacobian: members x batch x P numbers
            checks.product_at_most("Levenberg-Marquardt's Jacobian", {
                "second_order_families x n_seeds": len(self.second_order_families) * self.n_seeds,
                "second_order_n_train": self.second_order_n_train,
                "P = max(second_order_widths) x (max(second_order_dims) + 2) + 1":
                    max(self.second_order_widths) * (max(self.second_order_dims) + 2) + 1}, MAX_NUMBERS)
        checks.product_at_most("a sampled network's hidden layer", {
            "n_test": self.n_test, "max(sampled_widths)": max(self.sampled_widths, default=0)}, MAX_NUMBERS)


PRESETS = {
    "smoke": {"dims": (1, 4), "widths": (2, 8), "n_seeds": 1, "n_train": 256, "batch_size": 64,
              "steps": 20, "n_test": 256, "sampled_widths": (4, 16, 64), "n_draws": 2,
              "budget_dims": (4,), "budget_widths": (8,), "rf_widths": (4, 16), "second_order_dims": (1, 4),
              "second_order_widths": (2, 8), "second_order_steps": 20, "second_order_n_train": 256},
    "default": {},
    "full": {"dims": (1, 2, 4, 8, 16, 32), "widths": (4, 8, 16, 32, 64, 128, 256, 512, 1024),
             "n_seeds": 5, "n_train": 65_536, "steps": 10_000, "families": ("ridge_nd", "gaussian_nd", "ball_nd"),
             "step_budgets": (0.25, 4.0), "budget_dims": (1, 4, 16), "budget_widths": (16, 64, 256, 1024),
             "rf_widths": (16, 64, 256, 1024, 4096), "second_order_dims": (1, 2, 4, 8, 16),
             "second_order_families": ("ridge_nd", "gaussian_nd"), "second_order_widths": (4, 8, 16, 32, 64, 128, 256),
             "second_order_steps": 5000, "second_order_n_train": 16_384},
}
