"""Universal approximation (Cybenko 1989; Hornik, Stinchcombe & White 1989): sigmoid staircases
versus ReLU ramps and interpolants, constructed and trained, with fitted convergence rates.

    approx run universal                  # default preset -> results/universal.{csv,png,pdf,json}
    approx run universal --preset smoke   # seconds on CPU; what the tests run

For every 1-D target (approx.targets) and width n (hidden units, 2 .. 1024) it measures the sup
and L2 error, on a fine grid, of
  * the sigmoid staircase (approx.constructions.sigmoid_staircase) at a fixed steepness, at
    steepness proportional to n, and at steepness proportional to n^2, next to its proven bound;
  * the staircase with ReLU ramps for sigmoids ("put two together": n/2 steps of 2 ReLUs);
  * the piecewise-linear interpolant as n ReLUs (n - 1 intervals);
  * one-hidden-layer sigmoid, tanh and ReLU networks of width n *trained* by Adam on an even
    grid of n_train points (mini-batches, cosine schedule; seeds x targets as one ensemble per
    width; approx.train.fit, either engine), over the same widths as the constructions. A
    mean-field output layer (experiments/_shallow.py) lets one learning rate serve every width;
    training runs in float32, errors are measured in float64.
Rates are log-log slopes of error against width (approx.metrics.loglog_slope, 95% CI) over
widths >= FIT_MIN_WIDTH. Theory: staircases O(1/n) on Lipschitz targets (modulus omega(h/2)),
the interpolant O(1/n^2) on C^2 targets (h^2/8 max|f''|); trained networks are measured.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from approx import checks
from approx import targets as _targets
from approx.constructions import (
    interpolant_error_bound, ramp_staircase, ramp_staircase_error_bound, relu_interpolant,
    sigmoid_staircase, staircase_error_bound,
)
from approx.device import DEVICES, resolve_device, threads
from approx.metrics import errors, grid, loglog_slope
from approx.network import DTYPES
from approx.train import ENGINES

from .._shallow import diverged_text, evaluate, shallow_ensemble, train
from .._limits import MAX_COUNT, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH
from .figure import draw

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "completed", "rates", "plot",
           "describe", "FIT_MIN_WIDTH"]

FIT_MIN_WIDTH = 8  # rates are fitted on widths >= this (the asymptotic regime)
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
    batch_size: int = 32  # Adam mini-batch (points per step); n_train or more: full batch
    steps: int = 1500  # Adam steps (cosine schedule)
    lr: float = 0.2  # Adam learning rate
    beta2: float = 0.99  # Adam's second-moment decay
    init_steepness: float = 20.0  # first-layer init scale (experiments/_shallow.py); sigmoid
    #                               gets twice it: sigma(2z) = (1 + tanh z)/2 has tanh's shape
    mean_field: bool = True  # output layer (1/n) sum a_i h_i: one lr for every width (_shallow.py)
    dtype: str = "float32"  # training precision (float32 | float64); errors are taken in float64
    engine: str = "backprop"  # approx.train.ENGINES: backprop (hand-written) or autograd
    n_eval: int = 16_385  # points of the evaluation grid on [0, 1] (sup and L2 errors)
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
        checks.integer("batch_size", self.batch_size, low=1, high=MAX_POINTS)
        checks.integer("steps", self.steps, low=1, high=MAX_STEPS)
        checks.number("lr", self.lr, low=0, low_open=True)
        checks.number("beta2", self.beta2, low=0, high=1, high_open=True)
        checks.number("init_steepness", self.init_steepness, low=0, low_open=True)
        checks.flag("mean_field", self.mean_field)
        checks.choice("dtype", self.dtype, DTYPES)
        checks.choice("engine", self.engine, ENGINES)
        checks.integer("n_eval", self.n_eval, low=2, high=MAX_POINTS)
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
              "curve_widths": (8,), "curve_target": "sin1", "n_curve": 50},
    "default": {},
    "full": {"n_seeds": 5, "steps": 10_000, "batch_size": 2048, "n_train": 4096},
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


def points(cfg: Config) -> list[dict]:
    trained = [{"part": "trained", "activation": a, "width": w}
               for a in cfg.activations for w in cfg.trained_widths]
    return [{"part": "constructions"}] + trained


def _curve_rows(target: str, method: str, width: int, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    return [{"table": "curve", "target": target, "method": method, "width": width, "x": float(a),
             "y": float(b)} for a, b in zip(x.reshape(-1).tolist(), y.reshape(-1).tolist())]


def _constructions(cfg: Config) -> list[dict]:
    rows = []
    x = grid(cfg.n_eval)  # (n_eval, 1), float64 on the CPU: constructions are cheap
    xc = grid(cfg.n_curve)
    for name in dict.fromkeys(cfg.targets + (cfg.curve_target,)):
        t = _targets.get(name)
        for width in cfg.widths:
            built = []
            for rule in cfg.steepness:
                s = float(steepness_of(rule, width))
                built.append((f"sigmoid s={rule}", width, s, sigmoid_staircase(t, width, s),
                              staircase_error_bound(t, width, s)))
            half = width // 2  # 2 ReLUs per step
            built.append((RAMP, half, math.nan, ramp_staircase(t, half),
                          ramp_staircase_error_bound(t, half)))
            knots = np.linspace(0, 1, width)  # width knots: width - 1 intervals, width ReLUs
            bound = (interpolant_error_bound(t, knots) if t.max_f2 is not None
                     else float(t.omega(1 / (width - 1))))
            built.append((INTERP, width - 1, math.nan, relu_interpolant(t, knots), bound))
            for method, n, s, net, bound in built:
                if name in cfg.targets:
                    rows.append({"table": "error", "target": name, "kind": t.kind, "method": method,
                                 "width": width, "n": n, "steepness": s, "seed": -1, "bound": bound,
                                 **errors(lambda z: evaluate(net, z), t, x)})
                if name == cfg.curve_target and width in cfg.curve_widths:
                    rows += _curve_rows(name, method, width, xc, net(xc))
        if name == cfg.curve_target:
            rows += _curve_rows(name, "target", 0, xc, t(xc))
    return rows


def _trained(cfg: Config, activation: str, width: int) -> list[dict]:
    device = resolve_device(cfg.device)
    names = list(cfg.targets)
    draw_curves = width in cfg.curve_widths and cfg.curve_target in names
    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]
    members = [(name, s) for name in names for s in seeds]  # member e = (target, seed)
    x = torch.linspace(0, 1, cfg.n_train, dtype=torch.float64, device=device)[:, None]  # (n, 1)
    y = torch.stack([_targets.get(name)(x) for name, _ in members])  # (E, n, 1)
    steepness = cfg.init_steepness * (2 if activation == "sigmoid" else 1)
    net = shallow_ensemble(1, width, activation, [s for _, s in members],
                           init_steepness=steepness, scale_relu=True,
                           mean_field=cfg.mean_field, dtype=DTYPES[cfg.dtype], device=device)
    net, loss, status = train(net, x, y, engine=cfg.engine, lr=cfg.lr, steps=cfg.steps,
                              batch_size=cfg.batch_size, beta2=cfg.beta2, seed=cfg.seed)
    xe = grid(cfg.n_eval, device=device)
    out = evaluate(net, xe)  # (E, n_eval, 1), float64
    rows = []
    for e, (name, s) in enumerate(members):
        rows.append({"table": "error", "target": name, "kind": _targets.get(name).kind,
                     "method": f"trained {activation}",
                     "width": width, "n": width, "steepness": math.nan, "seed": s,
                     "bound": math.nan, "init_steepness": steepness, "train_loss": float(loss[e]),
                     "status": status[e],
                     "steps": cfg.steps, "batch_size": min(cfg.batch_size, cfg.n_train),
                     "n_train": cfg.n_train, "lr": cfg.lr, "mean_field": cfg.mean_field,
                     "train_dtype": cfg.dtype,
                     **errors(lambda _: out[e], _targets.get(name), xe)})
        if draw_curves and name == cfg.curve_target and s == seeds[0]:
            xc = grid(cfg.n_curve, device=device)
            curve = _curve_rows(name, f"trained {activation}", width, xc,
                                evaluate(net.member(e), xc).cpu())
            rows += [{**r, "status": status[e]} for r in curve]  # the plot skips diverged curves
    return rows


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    with threads(cfg.threads):
        if point["part"] == "constructions":
            return pd.DataFrame(_constructions(cfg))
        return pd.DataFrame(_trained(cfg, point["activation"], int(point["width"])))


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


# ---------------------------------------------------------------------- reading the results
def predicted_sup_slope(method: str, kind: str) -> float | None:
    """The theorem's sup-error slope for a method on a target kind (None: no prediction)."""
    if kind == "discontinuous":
        return 0.0 if not method.startswith("trained") else None  # no uniform convergence
    if method == INTERP:
        return -2.0 if kind in ("smooth", "rough") else -1.0
    if method == RAMP or (method.startswith("sigmoid") and "n" in method):
        return -1.0
    return None  # fixed steepness saturates; trained networks are measured


def completed(errs: pd.DataFrame) -> pd.DataFrame:
    """The error rows without diverged trained runs (frozen early, they measure no training)."""
    return errs[errs.status != "diverged"] if "status" in errs else errs


def rates(df: pd.DataFrame, column: str = "err_sup") -> pd.DataFrame:
    """Fitted slope of log(column) on log(width) per (target, method), widths >= FIT_MIN_WIDTH;
    diverged trained runs are left out."""
    errs = completed(df[(df.table == "error") & (df.width >= FIT_MIN_WIDTH)])
    out = []
    for (target, method), part in errs.groupby(["target", "method"], sort=False):
        # exact fits (error 0: a piecewise-linear target whose kinks are knots) carry no rate
        if part.width[(part[column] > 0) & np.isfinite(part[column])].nunique() < 2:
            continue
        rate = loglog_slope(part.width, part[column])
        kind = _targets.get(target).kind
        out.append({"target": target, "kind": kind, "method": method, "slope": rate.slope,
                    "lo": rate.lo, "hi": rate.hi, "n_points": rate.n_points,
                    "predicted": predicted_sup_slope(method, kind) if column == "err_sup" else None})
    return pd.DataFrame(out, columns=["target", "kind", "method", "slope", "lo", "hi", "n_points", "predicted"])


def plot(df: pd.DataFrame, path: Path) -> None:
    """Error vs width per target (log-log, reference slopes), approximants, fitted rates."""
    draw(df, rates(df), path, FIT_MIN_WIDTH)


def describe(df: pd.DataFrame) -> str:
    errs = df[df.table == "error"]
    sup = rates(df)
    built = errs[errs.seed < 0]
    ratio = (built.err_sup / built.bound).max()
    within = bool((built.err_sup <= built.bound * (1 + 1e-9) + 1e-12).all())  # rounding only

    def slopes(method: str, kinds: tuple[str, ...]) -> str:
        part = sup[(sup.method == method) & sup.kind.isin(kinds)]
        return ", ".join(f"{r.target} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]" for r in part.itertuples())

    sigmoid = [m for m in dict.fromkeys(errs.method) if m.startswith("sigmoid s=")]
    growing = [m for m in sigmoid if "n" in m]
    fixed = [m for m in sigmoid if "n" not in m]
    lip = ("smooth", "lipschitz")
    trained = [m for m in dict.fromkeys(errs.method) if m.startswith("trained")]
    text = [
        f"Sup error of one-hidden-layer approximants against width n (hidden units), slopes fitted "
        f"on n >= {FIT_MIN_WIDTH} with 95% intervals. Theory: a staircase of steep sigmoidal steps "
        f"(Cybenko 1989, Nielsen ch. 4) is within omega(h/2) + tails of f, so O(1/n) on Lipschitz "
        f"targets; the ReLU interpolant is within h^2/8 max|f''|, O(1/n^2), on C^2 targets."
    ]
    for method in growing:
        text.append(f"Measured, {method}: {slopes(method, lip)}.")
    if len(growing) > 1:
        text.append("Steepness ~ n keeps s h fixed, so the sigmoids also blend neighbouring steps "
                    "(error below the sharp staircase's omega(h/2)); steepness ~ n^2 approaches the "
                    "sharp staircase, whose constant grows towards omega(h/2) ~ L h / 2: the same "
                    "O(1/n) rate, reached later.")
    text.append(f"ReLU ramp staircase (two ReLUs per step, 'put two together'): {slopes(RAMP, lip)}.")
    text.append(f"ReLU interpolant: smooth {slopes(INTERP, ('smooth',))}; Lipschitz (theory -1) "
                f"{slopes(INTERP, ('lipschitz',))}.")
    if "weierstrass" in set(errs.target):
        w = _targets.get("weierstrass")
        text.append(f"The truncated Weierstrass function is C^2 but rough (max|f''| = {w.max_f2:.2g}, "
                    f"L = {w.lipschitz:.3g}); its slopes stay pre-asymptotic at these widths.")
    if fixed:
        plateau = built[built.method == fixed[0]].groupby("target").err_sup.min()
        text.append(f"With fixed steepness ({fixed[0]}) the error stalls (tail term ~ L/s): best "
                    + ", ".join(f"{k} {v:.2g}" for k, v in plateau.items()) + ".")
    text.append(f"{'Every construction stayed within its' if within else 'Some constructions exceeded their'} "
                f"proven sup bound (largest error/bound {ratio:.4f}; 1 where a bound is attained).")
    steps = built[built.kind == "discontinuous"] if "kind" in built else built.iloc[0:0]
    if len(steps):
        text.append(f"A discontinuous target has no uniform approximant by continuous units: the "
                    f"constructions' sup error on the step stays >= {steps.err_sup.min():.2f}.")
    if trained:
        runs = errs[errs.method.isin(trained)]
        text.append(diverged_text(runs, lambda r: f"{r.method.removeprefix('trained ')} on "
                                  f"{r.target} at n = {r.width} (seed {int(r.seed)})"))
        if (runs.status != "diverged").any():
            text += _trained_text(completed(errs), sup, trained)
    return " ".join(text)


def _trained_text(errs: pd.DataFrame, sup: pd.DataFrame, trained: list[str]) -> list[str]:
    """The gallery sentences on the trained networks, numbers read from the rows."""
    rows = errs[errs.method.isin(trained)]
    first = rows.iloc[0]
    output = ("a mean-field output layer (1/n) sum a_i h_i" if first.mean_field
              else "a standard output layer")
    text = [f"Trained networks ({rows.seed.nunique()} seeds per width and activation, medians): Adam "
            f"({first.steps:.0f} steps, cosine schedule from lr {first.lr:g}) on mini-batches of "
            f"{first.batch_size:.0f} from {first.n_train:.0f} grid points, {first.train_dtype}, "
            f"{output}. Fitted slopes: " + "; ".join(
                f"{m}: " + ", ".join(f"{r.target} {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}]"
                                     for r in sup[sup.method == m].itertuples())
                for m in trained) + "."]
    widths = sorted(rows.width.unique())
    middle = min(widths, key=lambda w: abs(math.log(w) - math.log(widths[0] * widths[-1]) / 2))
    best = (rows.groupby(["target", "width", "method"]).err_sup.median()
            .groupby(["target", "width"]).min())  # (target, width) -> best activation's median
    interp = errs[errs.method == INTERP].groupby(["target", "width"]).err_sup.first()
    names = [t for t in dict.fromkeys(rows.target) if _targets.get(t).kind != "discontinuous"]
    both = [t for t in names if (t, middle) in best and (t, widths[-1]) in best]  # not all diverged
    if middle < widths[-1] and both:
        fall = [best[t, middle] / best[t, widths[-1]] for t in both]
        fall_interp = [interp[t, middle] / interp[t, widths[-1]] for t in both
                       if (t, middle) in interp and (t, widths[-1]) in interp]
        text.append(
            f"Best trained sup error (best activation) at n = {middle} and n = {widths[-1]}, with the "
            f"interpolant's in brackets: " + ", ".join(
                f"{t} {best[t, middle]:.2g} -> {best[t, widths[-1]]:.2g} "
                f"({interp.get((t, middle), math.nan):.2g} -> {interp.get((t, widths[-1]), math.nan):.2g})"
                for t in both)
            + f". Over these {widths[-1] // middle}x more units the trained error fell by a median "
            f"factor of {np.median(fall):.2g}, the interpolant's by {np.median(fall_interp):.3g}: the "
            "trained curves level off while constructions of the same widths keep their rates, so "
            "what limits them there is the optimisation (its step budget), not the width.")
    wins = {t: [w for w in widths if w >= FIT_MIN_WIDTH
                and best.get((t, w), math.inf) < interp.get((t, w), -math.inf)] for t in names}
    wins = {t: w for t, w in wins.items() if w}

    def span(ws: list[int]) -> str:
        contiguous = ws == [w for w in widths if ws[0] <= w <= ws[-1]]
        return f"n = {ws[0]}" if len(ws) == 1 else (
            f"n = {ws[0]} .. {ws[-1]}" if contiguous else "n = " + ", ".join(map(str, ws)))

    text.append(f"At n >= {FIT_MIN_WIDTH} training beat the interpolant of the same width on "
                + (", ".join(f"{t} ({span(ws)})" for t, ws in wins.items()) or "no target")
                + (" (trained units can go where the target bends, onto the kinks of abs and "
                   "triangle; the interpolant's knots are evenly spaced)."
                   if set(wins) & {"abs", "triangle"} else "."))
    return text

