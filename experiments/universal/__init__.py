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

from .._shallow import evaluate, shallow_ensemble, train
from .analysis import completed, rates
from .config import FIT_MIN_WIDTH, INTERP, PRESETS, RAMP, Config, steepness_of
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "completed", "rates", "plot",
           "describe", "FIT_MIN_WIDTH"]


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
                              batch_size=cfg.batch_size, beta2=cfg.beta2, seed=cfg.seed,
                              optimizer=cfg.optimizer, compile=cfg.compile)
    adam = cfg.optimizer == "adam"  # lbfgs and lm: full batch, no rate
    xe = grid(cfg.n_eval, device=device)
    out = evaluate(net, xe)  # (E, n_eval, 1), float64
    rows = []
    for e, (name, s) in enumerate(members):
        rows.append({"table": "error", "target": name, "kind": _targets.get(name).kind,
                     "method": f"trained {activation}",
                     "width": width, "n": width, "steepness": math.nan, "seed": s,
                     "bound": math.nan, "init_steepness": steepness, "train_loss": float(loss[e]),
                     "status": status[e],
                     "optimizer": cfg.optimizer, "steps": cfg.steps,
                     "batch_size": min(cfg.batch_size, cfg.n_train) if adam else cfg.n_train,
                     "n_train": cfg.n_train, "lr": cfg.lr if adam else math.nan, "mean_field": cfg.mean_field,
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
        return pd.DataFrame(_trained(cfg, point["activation"], int(point["width"])))


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)
