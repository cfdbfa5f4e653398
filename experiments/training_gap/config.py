"""The configuration of experiments/training_gap: its Config, with every field checked, its presets,
and the names the computation, the figure and the text share. It imports none of them.

Each optimizer setting is a group of fields (AdamRun, AdamFullRun, LBFGSRun, LMRun), set on the command line as
``--set lm.budgets=100,300,1000`` or ``--set adam_full.max_width=256``; ``optimizers`` says which
settings run, ``inits`` which first-layer initialisations (inits.py), and each setting's
``every_init`` whether it runs all of them or only the first."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from approx import checks
from approx import targets as _targets
from approx.device import DEVICES
from approx.network import DTYPES
from approx.compiled_step import COMPILE_CHOICES
from approx.train import TRAINING_ENGINES

from .._limits import MAX_COUNT, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "AdamRun", "AdamFullRun", "LBFGSRun", "LMRun", "SETTINGS", "FIRST_ORDER", "SECOND_ORDER",
           "INTERP", "STAIRCASE", "FIT_MIN_WIDTH", "ACTIVATIONS", "INITS"]

# the optimizer settings a run can include: Adam as in experiments/universal (mini-batches,
# float32), Adam on the full batch in float64, L-BFGS and Levenberg-Marquardt (float64, full batch)
FIRST_ORDER = ("adam", "adam_full")
SECOND_ORDER = ("lbfgs", "lm")
SETTINGS = FIRST_ORDER + SECOND_ORDER
ACTIVATIONS = ("tanh", "sigmoid", "relu")  # one hidden layer of these (the sup error is certified for them)
INTERP, STAIRCASE = "relu interpolant", "relu ramp staircase"  # the constructions of equal width
FIT_MIN_WIDTH = 8  # slopes against the width are fitted on widths >= this (n = 8 .. 64)
MAX_CURVE_POINTS = 65_536  # points per drawn curve: far more than a figure can show
# first-layer initialisations, built by inits.py (which documents each, with its source)
INITS = ("steep", "standard", "he", "uniform_knots", "even_knots")
TARGETS_ALLOWED = "sin1, sin2, ..., gaussian, square, abs, triangle, weierstrass"


@dataclass(frozen=True)
class AdamRun:
    """Adam with betas (0.9, beta2) and a cosine schedule over the run: one run per budget (the
    schedule spans the whole run, so a shorter budget is not the start of a longer one). These
    defaults are experiments/universal's: mini-batches of 32 in float32."""
    GROUP: ClassVar[str] = "adam"  # the field it is set as: --set adam.budgets=...
    budgets: tuple[int, ...] = (1500, 6000)  # steps
    batch_size: int = 32  # points per step; 0: all n_train points (full batch)
    dtype: str = "float32"  # training precision (float32 | float64); errors are measured in float64
    lr: float = 0.2  # peak learning rate
    beta2: float = 0.99  # second-moment decay
    max_width: int = MAX_WIDTH  # wider networks are not trained with this setting
    every_init: bool = False  # train from every init in Config.inits (False: only the first)

    def __post_init__(self):
        checks.integers(f"{self.GROUP}.budgets", self.budgets, low=1, high=MAX_STEPS)
        checks.flag(f"{self.GROUP}.every_init", self.every_init)
        checks.integer(f"{self.GROUP}.batch_size", self.batch_size, low=0, high=MAX_POINTS)
        checks.choice(f"{self.GROUP}.dtype", self.dtype, DTYPES)
        checks.number(f"{self.GROUP}.lr", self.lr, low=0, low_open=True)
        checks.number(f"{self.GROUP}.beta2", self.beta2, low=0, high=1, high_open=True)
        checks.integer(f"{self.GROUP}.max_width", self.max_width, low=1, high=MAX_WIDTH)


@dataclass(frozen=True)
class AdamFullRun(AdamRun):
    """Adam on the full batch in float64 (otherwise as AdamRun)."""
    GROUP: ClassVar[str] = "adam_full"
    budgets: tuple[int, ...] = (1500,)
    batch_size: int = 0
    dtype: str = "float64"


@dataclass(frozen=True)
class LBFGSRun:
    """L-BFGS (approx.lbfgs through approx.train.fit), float64, full batch: one run of the largest
    budget, read at every budget (there is no schedule, so the first k iterations of a longer run
    are exactly a k-iteration run)."""
    GROUP: ClassVar[str] = "lbfgs"
    budgets: tuple[int, ...] = (100, 300)  # iterations
    max_width: int = 64  # wider networks are not trained with this setting
    every_init: bool = False  # train from every init in Config.inits (False: only the first)

    def __post_init__(self):
        checks.integers(f"{self.GROUP}.budgets", self.budgets, low=1, high=MAX_STEPS)
        checks.integer(f"{self.GROUP}.max_width", self.max_width, low=1, high=MAX_WIDTH)
        checks.flag(f"{self.GROUP}.every_init", self.every_init)


@dataclass(frozen=True)
class LMRun(LBFGSRun):
    """Levenberg-Marquardt (approx.levenberg_marquardt), read at every budget like LBFGSRun; an
    iteration costs ~ 2 (P + m) min(P, m)^2 per member (the damped solve, primal or dual form, for
    P = 3n + 1 parameters and m = n_train residuals), so the widths are capped."""
    GROUP: ClassVar[str] = "lm"
    budgets: tuple[int, ...] = (100, 300)
    every_init: bool = True


GROUPS = (AdamRun, AdamFullRun, LBFGSRun, LMRun)  # in SETTINGS order


@dataclass(frozen=True)
class Config:
    # default: sized for `approx reproduce` on a 2-core CPU (~2 minutes); `full` is the complete grid; `wide`
    # the LM runs at n = 128 and 256 that do not fit the default's time (solve_cost.py has their cost)
    targets: tuple[str, ...] = ("sin1", "sin3", "square", "abs", "triangle")  # 1-D, from approx.targets
    activations: tuple[str, ...] = ("tanh", "relu")  # of the one hidden layer
    widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64)  # hidden units n (128, 256: --preset wide)
    n_seeds: int = 5  # networks per (target, activation, width, setting): seeds seed .. seed+n-1
    optimizers: tuple[str, ...] = SETTINGS  # which settings below run
    adam: AdamRun = AdamRun()  # universal's Adam: mini-batches of 32, float32
    adam_full: AdamFullRun = AdamFullRun()  # Adam on the full batch, float64
    lbfgs: LBFGSRun = LBFGSRun()
    lm: LMRun = LMRun()
    n_train: int = 256  # training points: an even grid on [0, 1], the same for every setting
    inits: tuple[str, ...] = ("steep", "even_knots")  # first-layer inits (inits.py); the first is every setting's
    init_steepness: float = 20.0  # first-layer init scale (experiments/_shallow.py; sigmoid gets twice it)
    mean_field: bool = True  # output layer (1/n) sum a_i h_i (experiments/_shallow.py)
    engine: str = "backprop"  # approx.train.TRAINING_ENGINES: gradients and Jacobians by hand or autograd
    compile: str = "auto"  # approx.compiled_step: compile Adam's steps where they repay it (off | on | auto)
    n_eval: int = 16_385  # even grid of the errors (plus breakpoints and kinks for the sup, approx.sup_error)
    budget_widths: tuple[int, ...] = (8, 32)  # widths drawn in the error-against-budget panels
    solve_cost_widths: tuple[int, ...] = (32, 64, 128, 256)  # LM's solve timed in both forms (solve_cost.py)
    solve_cost_batches: tuple[int, ...] = (64, 1024)  # ... also at these numbers of residuals m (besides n_train)
    curve_target: str = "sin3"  # target drawn with its trained approximants
    curve_widths: tuple[int, ...] = (8, 32)  # the two widths at which approximants are drawn
    n_curve: int = 200  # points per drawn curve
    threads: int = 1  # CPU threads (restored after each point)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        names = checks.sequence("targets", self.targets, what=f"1-D target names ({TARGETS_ALLOWED})")
        for name in names:
            _check_target("targets", name)
        checks.choices("activations", self.activations, ACTIVATIONS)
        widths = checks.integers("widths", self.widths, low=2, high=MAX_WIDTH)  # a staircase needs 2 units
        checks.integer("n_seeds", self.n_seeds, low=1, high=MAX_COUNT)
        settings = checks.choices("optimizers", self.optimizers, SETTINGS)
        checks.choices("inits", self.inits, INITS)
        for group in GROUPS:
            checks.group(group.GROUP, getattr(self, group.GROUP), group)
        if not any(self.trains(s, w) for s in settings for w in widths):  # nothing to compare
            caps = ", ".join(f"{s}.max_width={getattr(self, s).max_width}" for s in settings)
            raise ValueError(f"no width in {widths!r} is trained: each is above {caps}; allowed: a width at or "
                             f"below one of them")
        checks.integer("n_train", self.n_train, low=2, high=MAX_POINTS)
        checks.number("init_steepness", self.init_steepness, low=0, low_open=True)
        checks.flag("mean_field", self.mean_field)
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.choice("compile", self.compile, COMPILE_CHOICES)
        checks.integer("n_eval", self.n_eval, low=2, high=MAX_POINTS)
        cost_widths = checks.integers("solve_cost_widths", self.solve_cost_widths, low=1, high=MAX_WIDTH, min_len=0)
        cost_batches = checks.integers("solve_cost_batches", self.solve_cost_batches, low=1, high=MAX_POINTS, min_len=0)
        for field in ("budget_widths", "curve_widths"):
            chosen = checks.integers(field, getattr(self, field), low=2, high=MAX_WIDTH, min_len=0)
            if not set(chosen) <= set(widths):
                raise ValueError(f"{field} must be among widths {widths!r}, got {chosen!r}")
        if self.curve_target not in names:
            raise ValueError(f"curve_target must be one of targets {names!r}, got {self.curve_target!r}")
        checks.integer("n_curve", self.n_curve, low=2, high=MAX_CURVE_POINTS)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        # the largest tensors: an ensemble of targets x n_seeds members, its hidden activations on
        # a batch, its outputs on the evaluation grid, and LM's Jacobian (members, n_train, P)
        members = {"targets x n_seeds": len(names) * self.n_seeds}
        checks.product_at_most("a trained hidden activation", {
            **members, "n_train": self.n_train, "max(widths)": max(widths)}, MAX_NUMBERS)
        checks.product_at_most("the trained networks' outputs", {
            **members, "max(n_train, n_eval)": max(self.n_train, self.n_eval)}, MAX_NUMBERS)
        if cost_widths:  # solve_cost.py's Jacobian: at most 8 members
            checks.product_at_most("the timed Levenberg-Marquardt Jacobian", {
                "8 members": 8, "max(n_train, solve_cost_batches)": max(self.n_train, *cost_batches),
                "parameters 3 x max(solve_cost_widths) + 1":
                3 * max(cost_widths) + 1}, MAX_NUMBERS)
        if "lm" in settings:
            widest = max((w for w in widths if w <= self.lm.max_width), default=0)
            checks.product_at_most("the Levenberg-Marquardt Jacobian", {
                **members, "n_train": self.n_train, "parameters 3 x width + 1": 3 * widest + 1}, MAX_NUMBERS)

    def settings(self) -> list[str]:
        """The settings that run, in SETTINGS order."""
        return [s for s in SETTINGS if s in self.optimizers]

    def trains(self, setting: str, width: int) -> bool:
        """Whether networks of this width are trained with this setting."""
        return setting in self.optimizers and width <= getattr(self, setting).max_width

    def inits_of(self, setting: str) -> tuple[str, ...]:
        """The inits this setting trains from: all of ``inits``, or the first (every_init False)."""
        return self.inits if getattr(self, setting).every_init else self.inits[:1]


PRESETS = {
    "smoke": {"targets": ("sin1", "abs"), "activations": ("tanh", "relu"), "widths": (4, 8), "n_seeds": 2,
              "adam": AdamRun(budgets=(20, 40)), "adam_full": AdamFullRun(budgets=(20,)),
              "lbfgs": LBFGSRun(budgets=(5, 10)), "lm": LMRun(budgets=(5, 10)),
              "n_train": 64, "n_eval": 1025, "budget_widths": (8,), "solve_cost_widths": (8, 32), "solve_cost_batches": (16,),
              "curve_target": "sin1",
              "curve_widths": (4, 8), "n_curve": 50},
    "default": {},
    # the complete grid, sized for a GPU: six targets, three activations, every init for every
    # setting, n = 2 .. 1024 (Adam) and .. 256 (L-BFGS, LM: an LM iteration costs ~ 2 (P + m) m^2
    # per member in the dual form), budgets Adam {1.5k, 6k, 24k} steps, L-BFGS and LM {100, 300,
    # 1000} iterations
    "full": {"targets": ("sin1", "sin3", "gaussian", "square", "abs", "triangle"), "activations": ACTIVATIONS,
             "widths": (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), "inits": INITS,
             "adam": AdamRun(budgets=(1500, 6000, 24000), max_width=MAX_WIDTH, every_init=True),
             "adam_full": AdamFullRun(budgets=(1500, 6000, 24000), max_width=MAX_WIDTH, every_init=True),
             "lbfgs": LBFGSRun(budgets=(100, 300, 1000), max_width=256, every_init=True),
             "lm": LMRun(budgets=(100, 300, 1000), max_width=256, every_init=True),
             "n_train": 2048, "budget_widths": (16, 64, 256), "curve_widths": (16, 128)},
    # LM alone at n = 128 and 256 (the dual form of its solve, m = 256 < P), from both default inits:
    # 2 activations x 2 inits x 2 widths x 25 networks x 300 iterations, minutes on one CPU core
    "wide": {"widths": (128, 256), "optimizers": ("lm",), "lm": LMRun(budgets=(100, 300), max_width=256),
             "budget_widths": (128,), "curve_widths": (128, 256), "solve_cost_widths": (64, 128, 256)},
}


def _check_target(field: str, name) -> None:
    """A ValueError naming ``field`` unless ``name`` is a 1-D target whose sup error can be certified
    (C^2 with max|f''|, or piecewise linear with its kinks)."""
    try:
        target = _targets.get(name)
    except ValueError as err:
        raise ValueError(f"{field}: {err}") from None
    if target.dim != 1:
        raise ValueError(f"{field} must name 1-D targets ({TARGETS_ALLOWED}); {name!r} is {target.dim}-D")
    if target.kinks is None and target.max_f2 is None:
        raise ValueError(f"{field} must name targets with a certified sup error ({TARGETS_ALLOWED}); {name!r} is "
                         f"{target.kind}")
