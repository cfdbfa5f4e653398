"""Barron's rate (Barron 1993): trained one-hidden-layer sigmoid networks in d = 1 .. 16
dimensions, squared L2 error against width n, for a target with a finite Barron constant and
one without.

    approx run barron                  # default preset -> results/barron.{csv,png,pdf,json}
    approx run barron --preset smoke   # seconds on CPU; what the tests run

Theorem (Barron 1993, Thm 1): if C_{f,B} = int sup_{x in B} |w.x| |F(dw)| is finite, then for
every n some network with n sigmoidal units has int_B (f - f_n)^2 dmu <= (2 C_{f,B})^2 / n, for
any probability measure mu on B: the exponent -1 does not depend on d. Series in n *fixed*
basis functions cannot do better than n^{-2/d} uniformly over the same class (Thm 6).

Families (approx.targets): ``ridge_nd`` = (1/3) sum_k cos(2 pi w_k . (x - c)), three unit
directions (finite C_{f,B}, computed exactly); ``ball_nd`` = the indicator of a ball holding
about half the cube (C = inf). Two kinds of networks:
  * trained: for each d, family and width, ``n_seeds`` networks trained by Adam on mini-batches
    of a large sample (so that the test error measures approximation and optimisation, not
    overfitting), tested on fresh points; a mean-field output layer (experiments/_shallow.py)
    lets one learning rate serve widths 4 .. 512; trained in float32, tested in float64 (or,
    with --set optimizer=lbfgs or lm, by L-BFGS or Levenberg-Marquardt on the full sample);
  * sampled: the network of Barron's proof (approx.constructions.barron.barron_sampled: n units
    drawn by Maurey's argument), ``n_draws`` draws per width, for the ridge family, whose
    expected error is at most ~V^2/n with V <= 2C.
Slopes of log test MSE on log n come from approx.metrics.loglog_slope (95% CI), per d, family
and method.

Two further measurements:
  * the step budget: at ``budget_dims`` and ``budget_widths`` the trained networks are trained
    again with ``step_budgets`` times the steps (column ``budget``; 1 for the main runs). Where
    more steps lower the error by FLOOR_FACTOR or more, the main runs' error is a budget floor,
    and their fitted "rate" is dropped from the text (rates are fitted on budget 1 only);
  * a fixed basis against adaptive units across d (Barron 1993, Thm 6): on one ridge
    ``ridge1_nd`` = cos(2 pi w . (x - c)) with a random unit direction w, ``random_features``
    rows fit the output layer of N random units (the trained networks' own initial first layer,
    drawn independently of w, frozen) by least squares (approx.random_features), for N in
    ``rf_widths``, beside sigmoid networks of the same widths trained as above (family
    ridge1_nd). Reported: slopes and the N that each needs for test MSE / Var f = RF_TARGET.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter

from approx import checks
from approx import targets as _targets
from approx.compiled_step import COMPILE_CHOICES, records_compile_time
from approx.constructions.barron import barron_sampled, barron_sampled_bound, ridge_variation
from approx.device import DEVICES, resolve_device, threads
from approx.metrics import loglog_slope
from approx.network import DTYPES
from approx.plotting import figure, save
from approx.random_features import fit_output_layer
from approx.train import TRAINING_ENGINES

from ._limits import MAX_COUNT, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH
from ._shallow import (
    DIVERGED_STYLE, OPTIMIZER_NAMES, OPTIMIZERS, diverged_text, evaluate, optimizer_of, shallow_ensemble, train,
)

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "completed", "main_budget", "rates",
           "budget_effects", "relative_error_width", "plot", "describe", "RIDGE1", "FLOOR_FACTOR", "RF_TARGET"]

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
    optimizer: str = "adam"  # adam | lbfgs | lm (float64 suits these two: set dtype=float64; full batch)
    batch_size: int = 128  # Adam mini-batch
    steps: int = 1500  # Adam steps (cosine schedule); lbfgs, lm: iterations
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
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
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
        if max((b * self.steps for b in budgets), default=0) > MAX_STEPS:
            raise ValueError(f"step_budgets x steps must be at most {MAX_STEPS}, got {budgets!r} x {self.steps}")
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
        checks.product_at_most("the points", {"max(n_train, n_test)": n, "max(dims)": max(self.dims)},
                               MAX_NUMBERS)
        checks.product_at_most("a sampled network's hidden layer", {
            "n_test": self.n_test, "max(sampled_widths)": max(self.sampled_widths, default=0)}, MAX_NUMBERS)


PRESETS = {
    "smoke": {"dims": (1, 4), "widths": (2, 8), "n_seeds": 1, "n_train": 256, "batch_size": 64,
              "steps": 20, "n_test": 256, "sampled_widths": (4, 16, 64), "n_draws": 2,
              "budget_dims": (4,), "budget_widths": (8,), "rf_widths": (4, 16)},
    "default": {},
    "full": {"dims": (1, 2, 4, 8, 16, 32), "widths": (4, 8, 16, 32, 64, 128, 256, 512, 1024),
             "n_seeds": 5, "n_train": 65_536, "steps": 10_000, "families": ("ridge_nd", "gaussian_nd", "ball_nd"),
             "step_budgets": (0.25, 4.0), "budget_dims": (1, 4, 16), "budget_widths": (16, 64, 256, 1024),
             "rf_widths": (16, 64, 256, 1024, 4096)},
}


def points(cfg: Config) -> list[dict]:
    trained = [{"part": "trained", "d": d, "width": w} for d in cfg.dims for w in cfg.widths]
    sampled = [{"part": "sampled", "d": d} for d in cfg.dims] if "ridge_nd" in cfg.families else []
    budgets = [{"part": "trained", "d": d, "width": w, "budget": b} for b in cfg.step_budgets
               for d in cfg.budget_dims for w in cfg.budget_widths]
    ridge1 = [{"part": "trained", "d": d, "width": w, "family": RIDGE1} for d in cfg.dims for w in cfg.rf_widths]
    features = [{"part": "random_features", "d": d} for d in cfg.dims] if cfg.rf_widths else []
    return trained + sampled + budgets + ridge1 + features


def _family(name: str, d: int):
    """The target of a family name: approx.targets' d-dimensional families, or the single ridge."""
    return _targets.get("ridge_nd", d=d, n_ridges=1) if name == RIDGE1 else _targets.get(name, d=d)


def _random_features(cfg: Config, d: int) -> pd.DataFrame:
    """Random features on the single ridge: the first layer of shallow_ensemble (as the trained
    networks start), frozen, and the least-squares output layer; N = rf_widths, one per seed."""
    device = resolve_device(cfg.device)
    target = _family(RIDGE1, d)
    x, _ = _targets.sample(target, cfg.n_train, seed=cfg.seed * 1000 + d)  # the trained nets' points
    xt = _test_points(cfg, target, cfg.n_test, "cpu")
    y, yt = target(x), target(xt)
    rows = []
    for activation in cfg.rf_activations:
        for width in cfg.rf_widths:
            for k in range(cfg.n_seeds):
                start = shallow_ensemble(d, width, activation, [cfg.seed + k], init_steepness=cfg.init_steepness,
                                         dtype=torch.float64, device="cpu")
                net = fit_output_layer(start.member(0), x, y)
                rows.append({"method": "random_features", "activation": activation, "d": d, "family": RIDGE1,
                             "width": width, "seed": cfg.seed + k,
                             "test_mse": (net(xt) - yt).square().mean().item(),
                             "train_mse": (net(x) - y).square().mean().item(),
                             "target_var": float(yt.var()), "barron_constant": target.barron,
                             "barron_bound": (2 * target.barron) ** 2 / width, "budget": 1.0,
                             "n_train": cfg.n_train})
    del device  # least squares in float64 on the CPU: (n_train, N) is small
    return pd.DataFrame(rows)


def _test_points(cfg: Config, target, n: int, device) -> torch.Tensor:
    """Fresh uniform test points, the same for every width and method of this d."""
    return _targets.sample(target, n, seed=cfg.seed * 1000 + target.dim + 500, device=device)[0]


def _sampled(cfg: Config, d: int) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    target = _targets.get("ridge_nd", d=d)
    xt = _test_points(cfg, target, cfg.n_test, device)
    yt = target(xt)
    rows = []
    for width in cfg.sampled_widths:
        for draw in range(cfg.n_draws):
            net = barron_sampled(target, width, seed=cfg.seed * 1000 + draw, device=device)
            rows.append({"method": "sampled", "d": d, "family": target.name, "width": width,
                         "seed": cfg.seed * 1000 + draw,
                         "test_mse": (net(xt) - yt).square().mean().item(),
                         "target_var": float(yt.var()), "barron_constant": target.barron,
                         "barron_bound": (2 * target.barron) ** 2 / width,
                         "sampled_bound": barron_sampled_bound(target, width),
                         "variation": ridge_variation(target), "budget": 1.0, "activation": "sigmoid"})
    return pd.DataFrame(rows)


@records_compile_time
def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    if point["part"] == "sampled":
        with threads(cfg.threads):
            return _sampled(cfg, int(point["d"]))
    if point["part"] == "random_features":
        with threads(cfg.threads):
            return _random_features(cfg, int(point["d"]))
    d, width = int(point["d"]), int(point["width"])
    budget = float(point.get("budget", 1.0))
    steps = max(1, round(cfg.steps * budget))
    device = resolve_device(cfg.device)
    names = [point["family"]] if "family" in point else list(cfg.families)
    families = [_family(name, d) for name in names]
    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]
    members = [(f, s) for f in families for s in seeds]  # member e = (family, seed)
    # The same training points for every width of this d (seeded by d).
    x, _ = _targets.sample(families[0], cfg.n_train, seed=cfg.seed * 1000 + d, device=device)
    xt = _test_points(cfg, families[0], cfg.n_test, device)
    y = torch.stack([f(x) for f, _ in members])  # (E, n_train, 1)
    yt = torch.stack([f(xt) for f, _ in members])  # (E, n_test, 1)
    with threads(cfg.threads):
        net = shallow_ensemble(d, width, cfg.activation, [s for _, s in members],
                               init_steepness=cfg.init_steepness, mean_field=cfg.mean_field,
                               dtype=DTYPES[cfg.dtype], device=device)
        net, loss, status = train(net, x, y, engine=cfg.engine, lr=cfg.lr, steps=steps,
                                  batch_size=cfg.batch_size, beta2=cfg.beta2, seed=cfg.seed,
                                  optimizer=cfg.optimizer, compile=cfg.compile)
        test = (evaluate(net, xt) - yt).square().mean(dim=(1, 2)).cpu()  # (E,), float64
    adam = cfg.optimizer == "adam"  # lbfgs and lm: full batch, no rate
    rows = []
    for e, (f, s) in enumerate(members):
        constant = f.barron
        rows.append({"method": "trained", "d": d, "family": names[e // len(seeds)], "width": width, "seed": s,
                     "test_mse": float(test[e]), "train_mse": float(loss[e]),
                     "target_var": float(yt[e].var()), "barron_constant": constant,
                     "barron_bound": (2 * constant) ** 2 / width, "status": status[e],
                     "optimizer": cfg.optimizer, "steps": steps, "budget": budget, "activation": cfg.activation,
                     "batch_size": cfg.batch_size if adam else cfg.n_train, "n_train": cfg.n_train,
                     "lr": cfg.lr if adam else np.nan, "mean_field": cfg.mean_field, "train_dtype": cfg.dtype})
    return pd.DataFrame(rows)


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """The rows without diverged trained runs (frozen early, they measure no training)."""
    return df[df.status != "diverged"] if "status" in df else df


def main_budget(df: pd.DataFrame) -> pd.DataFrame:
    """The rows at the main step budget (budget 1; results without the column: every row)."""
    return df[df.budget.fillna(1.0) == 1.0] if "budget" in df else df


def _activation(df: pd.DataFrame) -> pd.Series:
    """Each row's unit activation (results without the column: sigmoid, Barron's)."""
    return df.activation.fillna("sigmoid") if "activation" in df else pd.Series("sigmoid", df.index)


def rates(df: pd.DataFrame) -> pd.DataFrame:
    """Slope of log test MSE on log width per (method, activation, family, d), every seed or draw a
    point, with the fitted line's intercept; diverged trained runs and further step budgets are
    left out."""
    out = []
    rows = main_budget(completed(df))
    rows = rows.assign(activation=_activation(rows))
    for (method, activation, family, d), part in rows.groupby(["method", "activation", "family", "d"], sort=False):
        if part.width.nunique() < 2:
            continue
        rate = loglog_slope(part.width, part.test_mse)
        out.append({"method": method, "activation": activation, "family": family, "d": d, "slope": rate.slope,
                    "lo": rate.lo, "hi": rate.hi, "intercept": rate.intercept, "n_points": rate.n_points})
    return pd.DataFrame(out, columns=["method", "activation", "family", "d", "slope", "lo", "hi", "intercept",
                                      "n_points"])


def budget_effects(df: pd.DataFrame) -> pd.DataFrame:
    """Per (family, d, width, budget > 1) of the step-budget sweep: the median test MSE at budget 1
    and at that budget, and their ratio ``factor`` (> 1: more steps lowered the error)."""
    columns = ["family", "d", "width", "budget", "base", "more", "factor"]
    trained = completed(df[df.method == "trained"])
    if "budget" not in trained or not (trained.budget > 1).any():
        return pd.DataFrame([], columns=columns)
    med = trained.groupby(["family", "d", "width", "budget"]).test_mse.median()
    out = []
    for (family, d, width, budget), more in med.items():
        if budget > 1 and (family, d, width, 1.0) in med:
            base = med[family, d, width, 1.0]
            out.append({"family": family, "d": d, "width": width, "budget": budget, "base": base,
                        "more": more, "factor": base / more})
    return pd.DataFrame(out, columns=columns)


def relative_error_width(rate, target_var: float, level: float = RF_TARGET) -> float:
    """The width n at which the fitted line log MSE = intercept + slope log n reaches MSE / Var f =
    level: exp((log(level Var f) - intercept) / slope); inf when the slope is not negative."""
    if not rate.slope < 0:
        return math.inf
    return math.exp((math.log(level * target_var) - rate.intercept) / rate.slope)


def _panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(method, family) pairs in the order drawn: trained then sampled per family."""
    pairs = df[["family", "method"]].drop_duplicates()
    order = {m: i for i, m in enumerate(("trained", "sampled"))}
    families = list(dict.fromkeys(df.family))
    return sorted(((m, f) for f, m in pairs.itertuples(index=False)),
                  key=lambda p: (families.index(p[1]) if p[1] != "ball_nd" else 99, order[p[0]]))


def _error_panel(ax, part: pd.DataFrame, colors: dict, method: str, family: str,
                 legend: bool) -> None:
    widths = sorted(part.width.unique())
    finite = np.isfinite(part.barron_constant.iloc[0])
    diverged = part.status == "diverged" if "status" in part else pd.Series(False, part.index)
    if diverged.any():  # frozen early: drawn apart, left out of the medians
        ax.scatter(part.width[diverged], part.test_mse[diverged], **DIVERGED_STYLE)
    part = part[~diverged]
    for d, by_d in part.groupby("d"):
        median = by_d.groupby("width").test_mse.median()
        ax.plot(median.index, median.values, "o-", color=colors[d], label=f"d = {d}", markersize=3)
        ax.scatter(by_d.width, by_d.test_mse, color=colors[d], s=5, alpha=0.4)
        if method == "sampled":
            bound = by_d.groupby("width").sampled_bound.first()
            ax.plot(bound.index, bound.values, "--", color=colors[d], linewidth=0.8)
    if len(part):
        w = np.array([part.width.min(), part.width.max()], dtype=float)
        anchor = part[part.width == w[0]].test_mse.median()
        ax.plot(w, anchor * w[0] / w, color="grey", linewidth=1.2, linestyle=":", label="slope -1")
    trained_by = OPTIMIZER_NAMES[optimizer_of(part.iloc[0])] if len(part) else "Adam"
    what = {"trained": f"trained ({trained_by})", "sampled": "sampled as in Barron's proof"}[method]
    note = ("\n(dashed: E err^2 <= ~V^2/n, V <= 2C)" if method == "sampled"
            else "" if finite else "\n(Barron constant infinite)")
    ax.set(xscale="log", yscale="log", xlabel="hidden units n", ylabel="test MSE (squared L2 error)",
           title=f"{family}, {what}{note}")
    ax.set_xticks(widths, [f"{w:g}" for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    if legend and ax.get_legend_handles_labels()[0]:  # the colours mean the same d in every
        # panel: say so once, where there is room (nothing to say if every run here diverged)
        ax.legend(fontsize=7, loc="upper right", ncol=2, framealpha=0.8)


def _fixed_basis_panel(ax, fixed: pd.DataFrame, colors: dict) -> None:
    """Median test MSE / Var f against width on the single ridge: trained sigmoid networks (solid)
    and random features (dashed, dotted per activation), one colour per d."""
    styles = {}
    for (method, activation), part in fixed.groupby(["method", "activation"], sort=False):
        line = "-" if method == "trained" else ("--", ":", "-.")[len(styles) % 3]
        styles[(method, activation)] = line
        for d, by_d in part.groupby("d"):
            rel = (by_d.test_mse / by_d.target_var).groupby(by_d.width).median()
            ax.plot(rel.index, rel.values, line, color=colors[d], marker=".", markersize=3)
    for (method, activation), line in styles.items():
        ax.plot([], [], line, color="grey", label=f"{method.replace('_', ' ')} ({activation})")
    ax.axhline(RF_TARGET, color="grey", linewidth=0.6)
    widths = sorted(fixed.width.unique())
    ax.set(xscale="log", yscale="log", xlabel="units N", ylabel="test MSE / Var f",
           title="one ridge cos(2 pi w.x): fixed basis\nvs trained (colour: d as left)")
    ax.set_xticks(widths, [f"{w:g}" for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)


def plot(df: pd.DataFrame, path: Path) -> None:
    fixed = df[df.family == RIDGE1]
    fixed = main_budget(completed(fixed)).assign(activation=_activation(fixed))
    main = main_budget(df[df.family != RIDGE1])
    panels = _panels(main)
    colors = {d: f"C{i}" for i, d in enumerate(sorted(df.d.unique()))}
    fig, axes = figure(1, len(panels) + 1 + bool(len(fixed)), width=3.7, height=3.4)
    for k, (ax, (method, family)) in enumerate(zip(axes[0], panels)):
        _error_panel(ax, main[(main.method == method) & (main.family == family)], colors, method, family,
                     legend=k == 0)
    if len(fixed):
        _fixed_basis_panel(axes[0][len(panels)], fixed, colors)
    ax = axes[0][-1]
    table = rates(df)
    markers = {"ridge_nd": "o", "gaussian_nd": "s", "ball_nd": "^", RIDGE1: "D"}
    groups = table.groupby(["method", "activation", "family"], sort=False)
    for k, ((method, activation, family), part) in enumerate(groups):
        shift = (k - (groups.ngroups - 1) / 2) * 0.03
        what = f"{method}, {activation}" if method == "random_features" else method
        ax.errorbar(part.d * (1 + shift), part.slope, yerr=[part.slope - part.lo, part.hi - part.slope],
                    fmt=markers.get(family, "o") + ("-" if method == "trained" else "--"), capsize=2,
                    label=f"{family}, {what}", markersize=4)
    dims = np.array(sorted(df.d.unique()), dtype=float)
    ax.axhline(-1, color="grey", linestyle=":", label="Barron: -1 for every d")
    grid_d = np.geomspace(dims.min(), dims.max(), 50)
    ax.plot(grid_d, -2 / grid_d, color="grey", linestyle="--", linewidth=0.8,
            label="fixed basis: -2/d (Thm 6)")
    ax.set(xscale="log", xlabel="input dimension d", ylabel="fitted slope of test MSE vs n",
           title="rates with 95% CI (clipped at -4)")
    ax.set_ylim(max(ax.get_ylim()[0], -4.0), max(ax.get_ylim()[1], 0.2))  # 1-D random features: ~-10
    ax.xaxis.set_major_formatter("{x:g}")
    n_diverged = int((df.status == "diverged").sum()) if "status" in df else 0
    if n_diverged:
        ax.scatter([], [], label=f"diverged ({n_diverged} runs; not in medians or slopes)",
                   **DIVERGED_STYLE)
    ax.legend(fontsize=7)
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    table = rates(df)
    trained = main_budget(df[(df.method == "trained") & (df.family != RIDGE1)])
    floors = budget_effects(df)
    floored = {(r.family, r.d) for r in floors.itertuples() if r.factor >= FLOOR_FACTOR}
    parts = [
        "Barron (1993): with a finite Barron constant C the best n-unit sigmoid network on "
        "[0, 1]^d has squared L2 error <= (2C)^2/n, slope -1 whatever d, where n fixed basis "
        "functions cannot beat n^(-2/d) (Thm 6)."
    ]
    main = table[table.family != RIDGE1]
    for (method, family), part in main.groupby(["method", "family"], sort=False):
        if method == "trained":
            dropped = [r.d for r in part.itertuples() if (family, r.d) in floored]
            part = part[~part.d.isin(dropped)]
        slopes = ", ".join(f"d={r.d} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in part.itertuples())
        if method == "trained" and dropped:
            slopes += (f" (d = {', '.join(map(str, dropped))} dropped: a budget floor, below)" if slopes
                       else f"none (d = {', '.join(map(str, dropped))}: budget floors, below)")
        parts.append(f"Fitted slopes, {family} {method}: {slopes}.")
    sampled = df[df.method == "sampled"]
    if len(sampled):
        parts.append(_sampled_text(sampled, table, trained))
    if len(trained):
        parts.append(diverged_text(df[df.method == "trained"],
                                   lambda r: f"{r.family} d = {r.d} n = {r.width} (seed {r.seed})"))
    trained = completed(trained)
    finite = trained[np.isfinite(trained.barron_constant)]
    if len(finite):
        parts.append(_vacuous_text(finite))
    if len(trained):
        parts.append(_trained_text(trained))
    if len(floors):
        parts.append(_budget_text(floors))
    fixed = df[df.family == RIDGE1]
    if (fixed.method == "random_features").any():
        parts.append(_fixed_basis_text(fixed, table))
    return " ".join(parts)


def _sampled_text(sampled: pd.DataFrame, table: pd.DataFrame, trained: pd.DataFrame) -> str:
    """The sampled networks against their expected-error bound (normalised by V^2), and against
    the trained networks of the same widths."""
    normalised = "variation" in sampled
    scale = sampled.variation ** 2 if normalised else 1.0
    scaled = (sampled.test_mse * sampled.width / scale).groupby(sampled.d).median()
    below = (sampled.groupby(["d", "width"]).test_mse.mean()
             <= sampled.groupby(["d", "width"]).sampled_bound.first()).all()
    sampled_rates = table[table.method == "sampled"]
    law = ("-1 lies in every interval" if ((sampled_rates.lo <= -1) & (sampled_rates.hi >= -1)).all()
           else "-1 is NOT in every interval")
    what = "n x MSE / V^2" if normalised else "n x MSE"
    text = (f"The sampled networks (Barron's proof, {sampled.seed.nunique()} draws per width, up to "
            f"n = {sampled.width.max()}) track their expected-error bound ~V^2/n (V = the sampling "
            f"measure's mass, <= 2C): {what} = " + ", ".join(f"{v:.3g} (d = {d})" for d, v in scaled.items())
            + f"; their mean error is {'below' if below else 'NOT below'} the bound at every width, and "
            f"{law} of their slopes. That is a check of the sampling (the variance of a mean of n "
            "independent draws is V^2/n by construction), not a finding about networks.")
    common = sorted(set(sampled.width) & set(trained[trained.family == "ridge_nd"].width))
    if common:
        w = common[-1]
        ridge = completed(trained[(trained.family == "ridge_nd") & (trained.width == w)])
        t = ridge.groupby("d").test_mse.median()
        m = sampled[sampled.width == w].groupby("d").test_mse.median()
        dims = [d for d in m.index if d in t.index]
        text += (f" Trained networks beat them: median test MSE at n = {w}, trained against sampled, "
                 + ", ".join(f"d = {d} {t[d]:.2g} vs {m[d]:.2g} ({m[d] / t[d]:.2g}x)" for d in dims) + ".")
    return text


def _vacuous_text(finite: pd.DataFrame) -> str:
    """(2C)^2/n against the trained errors, only in the cells where the bound is below Var f (else
    predicting the mean would pass it too)."""
    cells = finite.groupby(["family", "d", "width"]).agg(bound=("barron_bound", "first"),
                                                         var=("target_var", "median"))
    useful = cells[cells.bound < cells["var"]]
    text = (f"(2C)^2/n is below Var f (non-vacuous: predicting the mean would not meet it) in "
            f"{len(useful)} of {len(cells)} (d, n) cells of the finite-C family")
    if not len(useful):
        return text + "; no trained error is compared with it."
    keys = finite.set_index(["family", "d", "width"]).index.isin(useful.index)
    runs = finite[keys]
    above = int((runs.test_mse > runs.barron_bound).sum())
    where = ", ".join(f"d={d} n={w}" for _, d, w in useful.index)
    return (text + f" ({where}); there {len(runs) - above} of {len(runs)} trained networks are below it"
            + ("." if above == 0 else f" and {above} above."))


def _budget_text(floors: pd.DataFrame) -> str:
    """The step-budget sweep: how much more steps lowered the median test MSE."""
    return ("Step budget: " + "; ".join(
        f"{r.family} d={r.d} n={r.width}: {r.budget:g}x the steps took the median test MSE from "
        f"{r.base:.2g} to {r.more:.2g} ({r.factor:.2g}x lower)" for r in floors.itertuples())
        + f". Where it fell {FLOOR_FACTOR:g}x or more the error was a budget floor, and that (family, d)'s "
        "trained slope is dropped above; where no budget was swept, the slopes may still be floors.")


def _fixed_basis_text(fixed: pd.DataFrame, table: pd.DataFrame) -> str:
    """Random features against trained networks on the single ridge: slopes, and the N needed for
    MSE / Var f = RF_TARGET from each fitted line, per d."""
    rows = table[table.family == RIDGE1]
    var = fixed.groupby("d").target_var.median()
    widest = fixed.width.max()
    runs = main_budget(completed(fixed))
    runs = runs.assign(activation=_activation(runs), rel=runs.test_mse / runs.target_var)
    rel = runs.groupby(["method", "activation", "d", "width"]).rel.median()
    parts = []
    for (method, activation), part in rows.groupby(["method", "activation"], sort=False):
        name = "trained sigmoid networks" if method == "trained" else f"random {activation} features"

        def needed(r) -> str:
            curve = rel[method, activation, r.d]  # width -> median MSE / Var f
            reached = curve[curve <= RF_TARGET]
            if len(reached):  # measured: the smallest N that got there
                return f"{reached.index.min()}"
            n = relative_error_width(r, var[r.d])
            if math.isinf(n):
                return "never (slope >= 0)"
            return f"> {100 * widest}" if n > 100 * widest else f"{n:.3g}*"

        parts.append(f"{name}: " + ", ".join(
            f"d={r.d} slope {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}], MSE/Var {rel[method, activation, r.d].iloc[0]:.2g} "
            f"-> {rel[method, activation, r.d].iloc[-1]:.2g}, N {needed(r)}" for r in part.itertuples()))
    first = fixed[fixed.method == "random_features"].iloc[0]
    return (f"Fixed basis against adaptive units (Barron 1993, Thm 6) on one ridge cos(2 pi w . (x - c)) "
            f"with a random unit direction w: random features are the networks' own random first layer "
            f"(drawn without w), frozen, with the output layer fitted by least squares on the same "
            f"{first.n_train:.0f} points; slopes of test MSE "
            f"against N, median MSE / Var f at the smallest -> largest N, and the smallest N measured with "
            f"MSE / Var f <= {RF_TARGET:g} (* where none did: extrapolated from the fitted line beyond the "
            f"largest N, {widest}): " + "; ".join(parts) + ".")


def _trained_text(trained: pd.DataFrame) -> str:
    """The gallery sentence on the trained networks, numbers read from the rows."""
    first = trained.iloc[0]
    widths = sorted(trained.width.unique())
    middle = min(widths, key=lambda w: abs(np.log(w) - np.log(widths[0] * widths[-1]) / 2))
    shown = sorted({widths[0], middle, widths[-1]})
    rel = (trained.test_mse / trained.target_var).groupby(
        [trained.family, trained.d, trained.width]).median()  # (family, d, width) -> median
    output = "mean-field output layer" if first.mean_field else "standard output layer"
    name = OPTIMIZER_NAMES[optimizer_of(first)]
    how = (f"Adam, {first.steps:.0f} steps, cosine schedule from lr {first.lr:g}, mini-batches of "
           f"{first.batch_size:.0f} from" if name == "Adam" else f"{name}, {first.steps:.0f} iterations on all")
    return (
        f"Trained networks ({trained.seed.nunique()} seeds; {how} "
        f"{first.n_train:.0f} uniform points, {output}, {first.train_dtype}): median test MSE / "
        f"Var f at n = {' -> '.join(map(str, shown))}: "
        + ", ".join(f"{fam} d={d} " + " -> ".join(f"{rel.get((fam, d, w), np.nan):.2g}" for w in shown)
                    for fam in dict.fromkeys(trained.family) for d in sorted(trained.d.unique()))
        + f". Where these stop falling, {name}'s step budget, not the width, can set the error, so the "
        "trained slopes mix approximation with optimisation; the theorem bounds the best network of "
        "each width, which no measurement here finds.")


if __name__ == "__main__":  # python -m experiments.barron [options] is approx run barron [options]
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
