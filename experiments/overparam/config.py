"""The configuration of experiments/overparam: its Config, with every field checked, and its
presets. The computation, the figure and the text import it; it imports none of them."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks
from approx.device import DEVICES
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_DIM, MAX_GRAM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS"]


@dataclass(frozen=True)
class Config:
    # 1. no hidden layer
    n_linear: int = 100  # data points for the linear and logistic problems
    d_linear: int = 5  # input dimension there
    steps_lstsq: int = 400  # GD steps on least squares
    steps_logistic: int = 5000  # GD steps on logistic regression (logged on a log grid)
    engines: tuple[str, ...] = TRAINING_ENGINES  # backprop (hand-written), autograd
    # 2. interpolation threshold
    n_interp: int = 30  # training points on the unit sphere
    d_interp: int = 5  # their dimension
    noise: float = 0.1  # label noise of the target labels (std)
    widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # one hidden layer
    deep_widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)  # two hidden layers of this width
    seeds: int = 3  # networks per width and label kind (one ensemble of 2 * seeds per width)
    steps_interp: int = 4000  # GD step budget per run
    target_loss: float = 1e-8  # "numerically zero" training loss (labels are O(1))
    # 3. lazy training
    n_ntk: int = 20  # points on the unit sphere
    d_ntk: int = 10  # their dimension
    ntk_widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)  # m
    ntk_seeds: int = 5  # networks per width (one ensemble)
    steps_ntk: int = 300  # GD steps on the first layer
    du_n: int = 4  # points of the run inside Du et al.'s conditions (its width grows like n^6)
    du_d: int = 64  # their dimension (lambda_0 -> 1/2 as d grows, and m ~ lambda_0^-4)
    du_delta: float = 0.5  # their failure probability delta in m = n^6 / (lambda_0^4 delta^3)
    du_steps: int = 100  # GD steps of that run, at their step eta = lambda_0 / n^2
    # 1b. separable logistic regression, long (Soudry et al. 2018)
    steps_soudry: int = 1_000_000  # GD steps (NumPy float64; logged on a log grid)
    seed: int = 0
    device: str = "auto"
    threads: int = 1  # CPU intra-op threads (the steps are overhead-bound; more threads only contend)

    def __post_init__(self):
        checks.integer("n_linear", self.n_linear, low=1, high=MAX_POINTS)
        # n x n kernels and their eigenvalues; one point is fitted exactly at every width (a zero
        # loss, which the log-scaled figure cannot show)
        checks.integer("n_interp", self.n_interp, low=2, high=MAX_GRAM)
        checks.integer("n_ntk", self.n_ntk, low=1, high=MAX_GRAM)
        for name in ("d_linear", "d_interp", "d_ntk", "du_d"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_DIM)
        for name in ("steps_lstsq", "steps_logistic", "steps_interp", "steps_ntk", "du_steps", "steps_soudry"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_STEPS)
        checks.choices("engines", self.engines, TRAINING_ENGINES)
        checks.number("noise", self.noise, low=0)
        checks.integers("widths", self.widths, low=1, high=MAX_WIDTH)
        checks.integers("deep_widths", self.deep_widths, low=1, high=MAX_WIDTH, min_len=0)
        checks.integers("ntk_widths", self.ntk_widths, low=1, high=MAX_WIDTH, min_len=3)  # a slope
        for name in ("seeds", "ntk_seeds"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_COUNT)
        checks.number("target_loss", self.target_loss, low=0, low_open=True)
        # m = n^6 / (lambda_0^4 delta^3) units with lambda_0 <= 1/2: n = 6 already asks for 1e7 or more
        checks.integer("du_n", self.du_n, low=2, high=6)
        checks.number("du_delta", self.du_delta, low=0, high=1, low_open=True, high_open=True)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        # the largest tensors: the empirical NTK's Jacobians, (members, n, parameters)
        w, deep = max(self.widths), max(self.deep_widths, default=0)
        checks.product_at_most("the interpolation Jacobian", {
            "2 x seeds": 2 * self.seeds, "n_interp": self.n_interp,
            "parameters of the largest network": max((self.d_interp + 2) * w, (self.d_interp + 2 + deep) * deep)},
            MAX_NUMBERS)
        checks.product_at_most("the lazy-training Jacobian", {
            "ntk_seeds": self.ntk_seeds, "n_ntk": self.n_ntk,
            "(d_ntk + 1) max(ntk_widths)": (self.d_ntk + 1) * max(self.ntk_widths)}, MAX_NUMBERS)
        checks.product_at_most("the logistic data", {"n_linear": self.n_linear, "d_linear": self.d_linear},
                               MAX_NUMBERS)


PRESETS = {
    "smoke": {"n_linear": 40, "steps_lstsq": 150, "steps_logistic": 300, "steps_soudry": 10000, "du_n": 2,
              "du_d": 8, "du_steps": 30, "n_interp": 12,
              "widths": (1, 4, 32), "deep_widths": (2, 8), "seeds": 2, "steps_interp": 300,
              "n_ntk": 8, "d_ntk": 4, "ntk_widths": (64, 256, 1024), "ntk_seeds": 3, "steps_ntk": 60},
    "default": {},
    "full": {"widths": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, 512), "seeds": 8,
             "steps_interp": 20000, "ntk_widths": (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384),
             "ntk_seeds": 10, "steps_logistic": 100000},
}
