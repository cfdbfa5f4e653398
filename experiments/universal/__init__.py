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
    width; approx.train.fit, either engine), over the same widths as the constructions (or, with
    --set optimizer=lbfgs or lm, by L-BFGS or Levenberg-Marquardt on the full batch; see
    experiments/training_gap for all of them side by side). A
    mean-field output layer (experiments/_shallow.py) lets one learning rate serve every width;
    training runs in float32, errors are measured in float64.
The trained networks are also trained at the learning rates of ``lr_sweep`` (per activation, at
``sweep_widths``; rows of table "lr_sweep"), so that a trained rate is not one learning rate's.
Each construction's sup error is also certified (approx.sup_error.sup_error_interval: columns
sup_lower <= sup <= sup_upper, and sup_method): exact for a piecewise-linear network on a
piecewise-linear target (the error is affine between breakpoints and kinks, so its sup is at one
of them), within sup_rtol otherwise (between points, a proven bound on |e''| bounds the rise: for
a piecewise-linear approximant on a C^2 target, where the sup is at a breakpoint or at an interior
critical point, that bound is max|f''| h^2/8), and the bound check uses sup_upper.
Rates are log-log slopes of error against width (approx.metrics.loglog_slope, 95% CI) over
widths >= FIT_MIN_WIDTH. Theory: staircases O(1/n) on Lipschitz targets (modulus omega(h/2)),
the interpolant O(1/n^2) on C^2 targets (h^2/8 max|f''|); trained networks are measured.

The points are computed here; the Config is in config.py, the rates in analysis.py, the figure
in figure.py and the text in text.py.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from approx import targets as _targets
from approx.compiled_step import records_compile_time
from approx.constructions import (
    interpolant_error_bound, ramp_staircase, ramp_staircase_error_bound, relu_interpolant,
    sigmoid_staircase, staircase_error_bound,
)
from approx.device import resolve_device, threads
from approx.metrics import errors, grid
from approx.network import DTYPES
from approx.pieces import PIECEWISE_LINEAR
from approx.sup_error import sup_error_interval

from .._shallow import evaluate, shallow_ensemble, train
from .analysis import completed, rates, sweep_rates
from .config import FIT_MIN_WIDTH, INTERP, LR_SWEEP, PRESETS, RAMP, STEEP_FIT_MIN_WIDTH, Config, steepness_of
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "completed", "rates", "plot",
           "describe", "FIT_MIN_WIDTH", "STEEP_FIT_MIN_WIDTH", "certified_sup", "sweep_rates"]


def points(cfg: Config) -> list[dict]:
    trained = [{"part": "trained", "activation": a, "width": w}
               for a in cfg.activations for w in cfg.trained_widths]
    sweep = [{"part": "trained", "activation": a, "width": w, "lr": lr}
             for lr in (cfg.lr_sweep if cfg.optimizer == "adam" else ())  # lbfgs, lm: no lr
             if lr != cfg.lr  # the main runs
             for a in cfg.activations for w in cfg.sweep_widths]
    return [{"part": "constructions"}] + trained + sweep


def certified_sup(net, target, n_grid: int, rtol: float) -> dict:
    """{"sup_lower", "sup_upper", "sup_method"}: an interval that holds sup_[0, 1] |net - target|
    (approx.sup_error.sup_error_interval), and how it was found: "exact" (a piecewise-linear net
    on a piecewise-linear target: the error is affine between breakpoints and kinks), "certified"
    (within rtol: the evaluation points plus a proven bound between them), or "grid" for a target
    with neither kinks nor max|f''| (the step), where no interval is computed (nan)."""
    if target.kinks is None and target.max_f2 is None:
        return {"sup_lower": math.nan, "sup_upper": math.nan, "sup_method": "grid"}
    lower, upper = sup_error_interval(net, target, n_grid=n_grid, rtol=rtol)
    linear = all(a in PIECEWISE_LINEAR for a in net.activations) and target.kinks is not None
    return {"sup_lower": lower, "sup_upper": upper, "sup_method": "exact" if linear else "certified"}


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
                                 **errors(lambda z: evaluate(net, z), t, x),
                                 **certified_sup(net, t, cfg.sup_grid, cfg.sup_rtol)})
                if name == cfg.curve_target and width in cfg.curve_widths:
                    rows += _curve_rows(name, method, width, xc, net(xc))
        if name == cfg.curve_target:
            rows += _curve_rows(name, "target", 0, xc, t(xc))
    return rows


def _trained(cfg: Config, activation: str, width: int, lr: float | None = None) -> list[dict]:
    """The trained networks of one activation and width at Adam's rate cfg.lr (table "error"),
    or at ``lr`` from cfg.lr_sweep (table "lr_sweep", no curves)."""
    device = resolve_device(cfg.device)
    names = list(cfg.targets)
    table = "error" if lr is None else LR_SWEEP
    lr = cfg.lr if lr is None else lr
    draw_curves = width in cfg.curve_widths and cfg.curve_target in names and table == "error"
    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]
    members = [(name, s) for name in names for s in seeds]  # member e = (target, seed)
    x = torch.linspace(0, 1, cfg.n_train, dtype=torch.float64, device=device)[:, None]  # (n, 1)
    y = torch.stack([_targets.get(name)(x) for name, _ in members])  # (E, n, 1)
    steepness = cfg.init_steepness * (2 if activation == "sigmoid" else 1)
    net = shallow_ensemble(1, width, activation, [s for _, s in members],
                           init_steepness=steepness, scale_relu=True,
                           mean_field=cfg.mean_field, dtype=DTYPES[cfg.dtype], device=device)
    net, loss, status = train(net, x, y, engine=cfg.engine, lr=lr, steps=cfg.steps,
                              batch_size=cfg.batch_size, beta2=cfg.beta2, seed=cfg.seed,
                              optimizer=cfg.optimizer, compile=cfg.compile)
    adam = cfg.optimizer == "adam"  # lbfgs and lm: full batch, no rate
    xe = grid(cfg.n_eval, device=device)
    out = evaluate(net, xe)  # (E, n_eval, 1), float64
    rows = []
    for e, (name, s) in enumerate(members):
        rows.append({"table": table, "target": name, "kind": _targets.get(name).kind,
                     "method": f"trained {activation}",
                     "width": width, "n": width, "steepness": math.nan, "seed": s,
                     "bound": math.nan, "init_steepness": steepness, "train_loss": float(loss[e]),
                     "status": status[e],
                     "optimizer": cfg.optimizer, "steps": cfg.steps,
                     "batch_size": min(cfg.batch_size, cfg.n_train) if adam else cfg.n_train,
                     "n_train": cfg.n_train, "lr": lr if adam else math.nan, "mean_field": cfg.mean_field,
                     "train_dtype": cfg.dtype,
                     **errors(lambda _: out[e], _targets.get(name), xe)})
        if draw_curves and name == cfg.curve_target and s == seeds[0]:
            xc = grid(cfg.n_curve, device=device)
            curve = _curve_rows(name, f"trained {activation}", width, xc,
                                evaluate(net.member(e), xc).cpu())
            rows += [{**r, "status": status[e]} for r in curve]  # the plot skips diverged curves
    return rows


@records_compile_time
def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    with threads(cfg.threads):
        if point["part"] == "constructions":
            return pd.DataFrame(_constructions(cfg))
        lr = point.get("lr")
        return pd.DataFrame(_trained(cfg, point["activation"], int(point["width"]),
                                     None if lr is None else float(lr)))


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)
