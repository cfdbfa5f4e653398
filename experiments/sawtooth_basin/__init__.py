"""The basin of the sawtooth: how far from Telgarsky's construction t^k can training start and still find it?

    approx run sawtooth_basin                  # default preset -> results/sawtooth_basin.{csv,png,pdf,json}
    approx run sawtooth_basin --preset smoke   # seconds on CPU; what the tests run

experiments/depth_separation finds that Adam from a random start reaches t^k only for k <= 2,
although k hidden layers of width 2 represent t^k exactly (Telgarsky 2015, 2016;
approx.constructions.depth.sawtooth). This study starts training *at* the construction and moves
away: every parameter of the exact t^k network gets Gaussian noise of scale sigma,

    theta_0 = theta* + sigma z_s,   z_s ~ N(0, I),

with one z_s per seed s for every sigma (so a seed's starts differ only in scale), for k hidden
layers of width 2 and for the same network embedded in width w > 2 (the extra units have zero
weights and biases in and out, so they are inert until the noise wakes them). Each
(k, width, optimizer) trains one ensemble holding every sigma x seed on the even grid
x = j / (points_per_piece 2^k), with a fixed budget: Adam (full batch, float64, cosine schedule)
and Levenberg-Marquardt (approx.train.fit(optimizer="lm"), float64).

Errors are exact: the networks are piecewise linear, so between consecutive breakpoints of the
network (approx.pieces) and of t^k (the knots j / 2^k) the difference d is linear, and

    ||f - t^k||_2^2 = sum over pieces [a, b] of (b - a) (d(a)^2 + d(a) d(b) + d(b)^2) / 3

on [0, 1] (l2_before at theta_0, l2_after after training; pieces_after counts the trained
function's pieces). A run has *recovered* when l2_after < recovery_l2 (1e-3). sigma*(k), the
largest sigma from which at least half the runs recover, with its bootstrap interval over
seeds, and the fit of log2 sigma* against k (the prediction sigma* ~ 2^-k: the slope of t^k and
its number of pieces double with each layer) are in analysis.py, the figure in figure.py and the
text in text.py; the Config is in config.py.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from approx.constructions.depth import sawtooth, tooth_power
from approx.device import resolve_device, threads
from approx.network import Layer, Network
from approx.pieces import breakpoints
from approx.train import fit

from .analysis import fitted_slopes, recovery, sigma_star, sigma_stars
from .config import OPTIMIZERS, PRESETS, Config
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "plot", "describe", "embedded_sawtooth",
           "noisy_starts", "exact_l2", "recovery", "sigma_star", "sigma_stars", "fitted_slopes"]


def points(cfg: Config) -> list[dict]:
    """One point per (k, width, optimizer): an ensemble of every sigma x seed."""
    return [{"k": k, "width": w, "optimizer": o} for k in cfg.ks for w in cfg.widths for o in OPTIMIZERS
            if cfg.trains(o, w)]


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    with threads(cfg.threads):
        return pd.DataFrame(_trained(cfg, int(point["k"]), int(point["width"]), point["optimizer"]))


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


def embedded_sawtooth(k: int, width: int, *, device="cpu") -> Network:
    """t^k as k hidden layers of ``width`` >= 2 units, float64: units 0 and 1 of every layer are
    approx.constructions.depth.sawtooth(k)'s, the others have zero weights in and out and zero bias."""
    base = sawtooth(k)
    layers = []
    for i, layer in enumerate(base.layers):
        out = 1 if i == len(base.layers) - 1 else width
        fan_in = 1 if i == 0 else width
        weight = torch.zeros(out, fan_in, dtype=torch.float64)  # (out, in)
        weight[:layer.fan_out, :layer.fan_in] = layer.weight
        bias = torch.zeros(out, dtype=torch.float64)
        bias[:layer.fan_out] = layer.bias
        layers.append(Layer(weight, bias, layer.activation))
    return Network(layers).to(device)


def noisy_starts(net: Network, sigmas, seeds) -> Network:
    """The ensemble of net + sigma z_s for every (sigma, seed), member e = i_sigma * len(seeds) + i_seed.

    z_s ~ N(0, I) over every parameter, drawn in float64 on the CPU by a generator seeded with s (the
    same z_s for every sigma and on every device)."""
    noise = []
    for s in seeds:
        generator = torch.Generator().manual_seed(int(s))
        noise.append([torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.device)
                      for p in net.parameters()])
    members = [net.with_parameters([p + sigma * z for p, z in zip(net.parameters(), zs)])
               for sigma in sigmas for zs in noise]
    return Network.stack(members)


def exact_l2(net: Network, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(||f_e - t^k||_2 on [0, 1], pieces of f_e on [0, 1]) for every member f_e of ``net``, exactly.

    Between consecutive points of {0, 1} + f_e's breakpoints (approx.pieces) + t^k's knots j / 2^k
    both functions are linear, so the integral of the squared difference d is a sum of
    (b - a)(d(a)^2 + d(a) d(b) + d(b)^2) / 3. Float64 on the CPU; a single network gives arrays of one.
    """
    net = net.to(device="cpu", dtype=torch.float64)
    members = net.unstack() if net.ensemble is not None else [net]
    knots = np.arange(2**k + 1) / 2**k
    l2, pieces = [], []
    for member in members:
        kinks = breakpoints(member, 0.0, 1.0)
        x = np.union1d(kinks, knots)  # (n,) sorted, 0 and 1 included
        xt = torch.from_numpy(x)[:, None]  # (n, 1)
        with torch.no_grad():
            d = (member(xt) - tooth_power(xt, k))[:, 0].numpy()  # (n,)
        l2.append(np.sqrt(np.sum(np.diff(x) * (d[:-1] ** 2 + d[:-1] * d[1:] + d[1:] ** 2) / 3)))
        pieces.append(kinks.size + 1)
    return np.array(l2), np.array(pieces)


def _trained(cfg: Config, k: int, width: int, optimizer: str) -> list[dict]:
    device = resolve_device(cfg.device)
    seeds = [cfg.seed + s for s in range(cfg.n_seeds)]
    start = noisy_starts(embedded_sawtooth(k, width, device=device), cfg.sigmas, seeds)
    n_train = cfg.points_per_piece * 2**k + 1
    x = (torch.arange(n_train, dtype=torch.float64) / (n_train - 1))[:, None].to(device)  # (n_train, 1)
    y = tooth_power(x, k)  # (n_train, 1)
    if optimizer == "adam":
        budget = {"optimizer": "adam", "steps": cfg.adam_steps, "lr": cfg.adam_lr, "schedule": "cosine"}
    else:
        budget = {"optimizer": "lm", "steps": cfg.lm_steps}
    clock = time.perf_counter()
    trained, history = fit(start, (x, y), engine=cfg.engine, log_steps=[budget["steps"]], **budget)
    wall = time.perf_counter() - clock
    last = history.sort_values("step").groupby("member").tail(1).sort_values("member")  # (E,) rows
    l2_before, pieces_before = exact_l2(start, k)
    l2_after, pieces_after = exact_l2(trained, k)
    rows = []
    for e, (sigma, seed) in enumerate((sigma, seed) for sigma in cfg.sigmas for seed in seeds):
        rows.append({"k": k, "width": width, "optimizer": optimizer, "sigma": sigma, "seed": seed,
                     "l2_before": l2_before[e], "l2_after": l2_after[e],
                     "recovered": bool(l2_after[e] < cfg.recovery_l2), "recovery_l2": cfg.recovery_l2,
                     "pieces_before": int(pieces_before[e]), "pieces_after": int(pieces_after[e]),
                     "pieces_target": 2**k, "train_loss": float(last.loss.iloc[e]), "status": last.status.iloc[e],
                     "steps": budget["steps"], "lr": budget.get("lr", np.nan), "n_train": n_train,
                     "n_params": start.n_params, "n_members": start.ensemble, "engine": cfg.engine, "wall_s": wall})
    return rows
