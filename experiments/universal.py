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
  * one-hidden-layer sigmoid, tanh and ReLU networks of width n *trained* by Adam on samples of
    the target (seeds x targets as one ensemble per width; approx.train.fit, either engine).
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

from approx import targets as _targets
from approx.constructions import (
    interpolant_error_bound, ramp_staircase, ramp_staircase_error_bound, relu_interpolant,
    sigmoid_staircase, staircase_error_bound,
)
from approx.device import resolve_device
from approx.metrics import errors, grid, loglog_slope

from ._shallow import shallow_ensemble, threads, train
from ._universal_plot import draw

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "rates", "plot", "describe",
           "FIT_MIN_WIDTH"]

FIT_MIN_WIDTH = 8  # rates are fitted on widths >= this (the asymptotic regime)
RAMP, INTERP = "relu ramp staircase", "relu interpolant"


@dataclass(frozen=True)
class Config:
    targets: tuple[str, ...] = ("sin1", "sin3", "gaussian", "square", "abs", "triangle", "step",
                                "weierstrass")  # names from approx.targets (1-D)
    widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # constructions' units
    steepness: tuple[str, ...] = ("100", "8n", "n^2")  # sigmoid steepness rules: c, c*n or c*n^2
    trained_widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64)  # widths of the trained networks
    activations: tuple[str, ...] = ("sigmoid", "tanh", "relu")  # of the trained networks
    n_seeds: int = 2  # trained networks per (target, activation, width): seeds seed .. seed+n-1
    n_train: int = 256  # training points: an even grid on [0, 1]
    steps: int = 1500  # Adam steps (cosine schedule, full batch)
    lr: float = 0.02  # Adam learning rate
    init_steepness: float = 8.0  # first-layer init scale for sigmoid/tanh (experiments/_shallow.py)
    engine: str = "backprop"  # approx.train.ENGINES: backprop (hand-written) or autograd
    n_eval: int = 16_385  # points of the evaluation grid on [0, 1] (sup and L2 errors)
    curve_target: str = "sin3"  # target drawn with its approximants
    curve_widths: tuple[int, ...] = (8, 32)  # widths at which approximants are drawn
    n_curve: int = 400  # points per drawn curve
    threads: int = 1  # CPU threads (restored after each point)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        for name in self.targets + (self.curve_target,):
            if _targets.get(name).dim != 1:
                raise ValueError(f"universal takes 1-D targets; {name!r} is not")
        if not self.widths or min(self.widths) < 2:
            raise ValueError(f"widths must be integers >= 2, got {self.widths}")
        if self.trained_widths and min(self.trained_widths) < 1:
            raise ValueError(f"trained_widths must be >= 1, got {self.trained_widths}")
        for rule in self.steepness:
            steepness_of(rule, 1)
        bad = [a for a in self.activations if a not in ("sigmoid", "tanh", "relu", "softplus")]
        if bad:
            raise ValueError(f"activations must be among sigmoid, tanh, relu, softplus; got {bad}")
        if self.engine not in ("backprop", "autograd"):
            raise ValueError(f"engine must be backprop or autograd, got {self.engine!r}")
        minimum = {"n_seeds": 1, "threads": 1, "n_train": 2, "n_eval": 2, "n_curve": 2}
        for name, least in minimum.items():
            if getattr(self, name) < least:
                raise ValueError(f"{name} must be >= {least}, got {getattr(self, name)}")


PRESETS = {
    "smoke": {"targets": ("sin1", "abs"), "widths": (2, 4, 8, 16, 32), "trained_widths": (4, 8),
              "n_seeds": 1, "n_train": 64, "steps": 30, "n_eval": 2_049, "curve_widths": (8,),
              "curve_target": "sin1", "n_curve": 50},
    "default": {},
    "full": {"trained_widths": (2, 4, 8, 16, 32, 64, 128, 256), "n_seeds": 4, "steps": 5000,
             "n_train": 1024},
}


def steepness_of(rule: str, n: int) -> float:
    """The steepness for rule "c" (fixed), "cn" (c * n) or "cn^2" (c * n^2); c defaults to 1."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)?\s*\*?\s*(n(?:\^2)?)?\s*", rule)
    if not match or not (match.group(1) or match.group(2)):
        raise ValueError(f"steepness rule {rule!r} must look like 100, 8n or n^2")
    c = float(match.group(1) or 1.0)
    power = {None: 0, "n": 1, "n^2": 2}[match.group(2)]
    if not c > 0:
        raise ValueError(f"steepness rule {rule!r} needs a positive constant")
    return c * n**power


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
                                 **errors(net, t, x)})
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
    net = shallow_ensemble(1, width, activation, [s for _, s in members],
                           init_steepness=cfg.init_steepness, device=device)
    net, loss, status = train(net, x, y, engine=cfg.engine, lr=cfg.lr, steps=cfg.steps, seed=cfg.seed)
    xe = grid(cfg.n_eval, device=device)
    out = net(xe)  # (E, n_eval, 1)
    rows = []
    for e, (name, s) in enumerate(members):
        rows.append({"table": "error", "target": name, "kind": _targets.get(name).kind,
                     "method": f"trained {activation}",
                     "width": width, "n": width, "steepness": math.nan, "seed": s,
                     "bound": math.nan, "train_loss": float(loss[e]), "status": status[e],
                     "steps": cfg.steps,
                     **errors(lambda _: out[e], _targets.get(name), xe)})
        if draw_curves and name == cfg.curve_target and s == seeds[0]:
            xc = grid(cfg.n_curve, device=device)
            rows += _curve_rows(name, f"trained {activation}", width, xc, net.member(e)(xc).cpu())
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


def rates(df: pd.DataFrame, column: str = "err_sup") -> pd.DataFrame:
    """Fitted slope of log(column) on log(width) per (target, method), widths >= FIT_MIN_WIDTH."""
    errs = df[(df.table == "error") & (df.width >= FIT_MIN_WIDTH)]
    out = []
    for (target, method), part in errs.groupby(["target", "method"], sort=False):
        if part.width.nunique() < 2:
            continue
        rate = loglog_slope(part.width, part[column])
        kind = _targets.get(target).kind
        out.append({"target": target, "kind": kind, "method": method, "slope": rate.slope,
                    "lo": rate.lo, "hi": rate.hi, "n_points": rate.n_points,
                    "predicted": predicted_sup_slope(method, kind) if column == "err_sup" else None})
    return pd.DataFrame(out)


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
        top = int(errs[errs.method.isin(trained)].width.max())
        at = errs[(errs.width == top)]
        best = at[at.method.isin(trained)].groupby(["target", "method"]).err_sup.median()
        interp = at[at.method == INTERP].set_index("target").err_sup
        first = errs[errs.method.isin(trained)].iloc[0]
        text.append(
            f"Trained networks ({first.steps:.0f} Adam steps, {errs[errs.method == trained[0]].seed.nunique()} "
            f"seeds, median): " + "; ".join(
                f"{m}: " + ", ".join(f"{r.target} {r.slope:.2f}" for r in sup[sup.method == m].itertuples())
                for m in trained)
            + f". At n = {top} the best trained sup error vs the interpolant's: " + ", ".join(
                f"{t} {best[t].min():.2g} vs {interp.get(t, float('nan')):.2g}"
                for t in best.index.get_level_values(0).unique())
            + ".")
        worse = [t for t in best.index.get_level_values(0).unique()
                 if best[t].min() > interp.get(t, float("inf"))]
        better = [t for t in best.index.get_level_values(0).unique()
                  if best[t].min() < interp.get(t, -1.0)]
        text.append(f"Training reached a larger sup error than the interpolant of the same width on "
                    f"{len(worse)} of {len(interp)} targets ({', '.join(worse) or 'none'}) and a "
                    f"smaller one on {', '.join(better) or 'none'}"
                    + (" (trained kinks can sit on the target's kinks; the interpolant's evenly "
                       "spaced knots miss them)." if set(better) & {"abs", "triangle"} else "."))
    return " ".join(text)
