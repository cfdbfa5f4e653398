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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter

from approx import checks
from approx import targets as _targets
from approx.compiled_step import COMPILE_CHOICES, records_compile_time
from approx.constructions.barron import barron_sampled, barron_sampled_bound
from approx.device import DEVICES, resolve_device, threads
from approx.metrics import loglog_slope
from approx.network import DTYPES
from approx.plotting import figure, save
from approx.train import TRAINING_ENGINES

from ._limits import MAX_COUNT, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH
from ._shallow import (
    DIVERGED_STYLE, OPTIMIZER_NAMES, OPTIMIZERS, diverged_text, evaluate, optimizer_of, shallow_ensemble, train,
)

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "completed", "rates", "plot",
           "describe"]

FAMILIES = ("ridge_nd", "gaussian_nd", "ball_nd")


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
              "steps": 20, "n_test": 256, "sampled_widths": (4, 16, 64), "n_draws": 2},
    "default": {},
    "full": {"dims": (1, 2, 4, 8, 16, 32), "widths": (4, 8, 16, 32, 64, 128, 256, 512, 1024),
             "n_seeds": 5, "n_train": 65_536, "steps": 10_000, "families": ("ridge_nd", "gaussian_nd", "ball_nd")},
}


def points(cfg: Config) -> list[dict]:
    trained = [{"part": "trained", "d": d, "width": w} for d in cfg.dims for w in cfg.widths]
    sampled = [{"part": "sampled", "d": d} for d in cfg.dims] if "ridge_nd" in cfg.families else []
    return trained + sampled


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
                         "sampled_bound": barron_sampled_bound(target, width)})
    return pd.DataFrame(rows)


@records_compile_time
def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    if point["part"] == "sampled":
        with threads(cfg.threads):
            return _sampled(cfg, int(point["d"]))
    d, width = int(point["d"]), int(point["width"])
    device = resolve_device(cfg.device)
    families = [_targets.get(name, d=d) for name in cfg.families]
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
        net, loss, status = train(net, x, y, engine=cfg.engine, lr=cfg.lr, steps=cfg.steps,
                                  batch_size=cfg.batch_size, beta2=cfg.beta2, seed=cfg.seed,
                                  optimizer=cfg.optimizer, compile=cfg.compile)
        test = (evaluate(net, xt) - yt).square().mean(dim=(1, 2)).cpu()  # (E,), float64
    adam = cfg.optimizer == "adam"  # lbfgs and lm: full batch, no rate
    rows = []
    for e, (f, s) in enumerate(members):
        constant = f.barron
        rows.append({"method": "trained", "d": d, "family": f.name, "width": width, "seed": s,
                     "test_mse": float(test[e]), "train_mse": float(loss[e]),
                     "target_var": float(yt[e].var()), "barron_constant": constant,
                     "barron_bound": (2 * constant) ** 2 / width, "status": status[e],
                     "optimizer": cfg.optimizer, "steps": cfg.steps,
                     "batch_size": cfg.batch_size if adam else cfg.n_train, "n_train": cfg.n_train,
                     "lr": cfg.lr if adam else np.nan, "mean_field": cfg.mean_field, "train_dtype": cfg.dtype})
    return pd.DataFrame(rows)


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """The rows without diverged trained runs (frozen early, they measure no training)."""
    return df[df.status != "diverged"] if "status" in df else df


def rates(df: pd.DataFrame) -> pd.DataFrame:
    """Slope of log test MSE on log width per (method, family, d), every seed or draw a point;
    diverged trained runs are left out."""
    out = []
    for (method, family, d), part in completed(df).groupby(["method", "family", "d"], sort=False):
        if part.width.nunique() < 2:
            continue
        rate = loglog_slope(part.width, part.test_mse)
        out.append({"method": method, "family": family, "d": d, "slope": rate.slope, "lo": rate.lo,
                    "hi": rate.hi, "n_points": rate.n_points})
    return pd.DataFrame(out)


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


def plot(df: pd.DataFrame, path: Path) -> None:
    panels = _panels(df)
    colors = {d: f"C{i}" for i, d in enumerate(sorted(df.d.unique()))}
    fig, axes = figure(1, len(panels) + 1, width=3.7, height=3.4)
    for k, (ax, (method, family)) in enumerate(zip(axes[0], panels)):
        _error_panel(ax, df[(df.method == method) & (df.family == family)], colors, method, family,
                     legend=k == 0)
    ax = axes[0][-1]
    table = rates(df)
    markers = {"ridge_nd": "o", "gaussian_nd": "s", "ball_nd": "^"}
    for k, ((method, family), part) in enumerate(table.groupby(["method", "family"], sort=False)):
        shift = (k - (len(panels) - 1) / 2) * 0.04
        ax.errorbar(part.d * (1 + shift), part.slope, yerr=[part.slope - part.lo, part.hi - part.slope],
                    fmt=markers.get(family, "o") + ("-" if method == "trained" else "--"), capsize=2,
                    label=f"{family}, {method}", markersize=4)
    dims = np.array(sorted(df.d.unique()), dtype=float)
    ax.axhline(-1, color="grey", linestyle=":", label="Barron: -1 for every d")
    grid_d = np.geomspace(dims.min(), dims.max(), 50)
    ax.plot(grid_d, -2 / grid_d, color="grey", linestyle="--", linewidth=0.8,
            label="fixed basis: -2/d (Thm 6)")
    ax.set(xscale="log", xlabel="input dimension d", ylabel="fitted slope of test MSE vs n",
           title="rates with 95% CI")
    ax.xaxis.set_major_formatter("{x:g}")
    n_diverged = int((df.status == "diverged").sum()) if "status" in df else 0
    if n_diverged:
        ax.scatter([], [], label=f"diverged ({n_diverged} runs; not in medians or slopes)",
                   **DIVERGED_STYLE)
    ax.legend(fontsize=7)
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    table = rates(df)
    trained = df[df.method == "trained"]
    parts = [
        "Barron (1993): with a finite Barron constant C the best n-unit sigmoid network on "
        "[0, 1]^d has squared L2 error <= (2C)^2/n, slope -1 whatever d, where n fixed basis "
        "functions cannot beat n^(-2/d) (Thm 6)."
    ]
    for (method, family), part in table.groupby(["method", "family"], sort=False):
        slopes = ", ".join(f"d={r.d} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in part.itertuples())
        parts.append(f"Fitted slopes, {family} {method}: {slopes}.")
    sampled = df[df.method == "sampled"]
    if len(sampled):
        scaled = (sampled.test_mse * sampled.width).groupby(sampled.d).median()
        below = (sampled.groupby(["d", "width"]).test_mse.mean()
                 <= sampled.groupby(["d", "width"]).sampled_bound.first()).all()
        sampled_rates = table[table.method == "sampled"]
        law = ("realise the 1/n law (-1 lies in every interval)"
               if ((sampled_rates.lo <= -1) & (sampled_rates.hi >= -1)).all()
               else "do not all show the 1/n law (see the intervals)")
        parts.append(
            f"The sampled networks (Barron's proof, {sampled.seed.nunique()} draws per width, up to "
            f"n = {sampled.width.max()}) {law}: n x MSE stays near "
            + ", ".join(f"{v:.3g} (d = {d})" for d, v in scaled.items())
            + f"; their mean error is {'below' if below else 'NOT below'} the expected-error bound at "
            "every width. The constant grows with d because C measures sup |w.x| over the cube "
            "(|w|_1 / 2 for a unit direction w), not because the rate changes.")
    if len(trained):
        parts.append(diverged_text(trained, lambda r: f"{r.family} d = {r.d} n = {r.width} (seed {r.seed})"))
    trained = completed(trained)
    finite = trained[np.isfinite(trained.barron_constant)]
    if len(finite):
        above = int((finite.test_mse > finite.barron_bound).sum())
        parts.append("Every trained network's error is below (2C)^2/n." if above == 0 else
                     f"{above} of {len(finite)} trained networks have errors above (2C)^2/n.")
    if len(trained):
        parts.append(_trained_text(trained))
    return " ".join(parts)


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
        + f". Where these stop falling, {name}'s step budget, not the width, sets the error, so the "
        "trained slopes mix approximation with optimisation; the theorem is about the best network "
        "of each width, which the sampled networks track.")


if __name__ == "__main__":  # python -m experiments.barron [options] is approx run barron [options]
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
