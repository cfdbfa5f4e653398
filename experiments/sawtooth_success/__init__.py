"""How often training from a random start finds Telgarsky's sawtooth t^k: P(success) over many seeds,
by depth, width and optimizer, and the pieces the trained networks realise.

    approx run sawtooth_success                  # default preset -> results/sawtooth_success.{csv,png,pdf,json}
    approx run sawtooth_success --preset smoke   # seconds on CPU; what the tests run

t^k, the k-fold composition of the triangle map, has 2^k linear pieces and is exactly k hidden
ReLU layers of width 2 (Telgarsky 2015, 2016; approx.constructions.depth.sawtooth), while one
hidden layer needs 2^k units. experiments/depth_separation trains it with Adam from 3 seeds and
finds it only for small k; this study measures the probability. For every k in ``ks``, width m in
``widths`` and depth L = f k (f in ``depth_factors``), n_seeds networks [1, m x L, 1] start from
He weights with zero biases except the first layer's, whose kinks -b/w are drawn uniform on
[0, 1] (experiments/depth_separation's "kinks" start: He biases of zero would put every kink at
x = 0, and the network would be affine on [0, 1]); member seed s draws its network from seed s
alone. They train as one ensemble on t^k at the grid x = j / (points_per_piece 2^k) (every kink
and points_per_piece - 1 points between), full batch, float64, with each optimizer:

  * adam   Adam at one constant rate, adam.steps steps;
  * lm     Levenberg-Marquardt (approx.levenberg_marquardt), lm.steps iterations, on the cells
           with at most lm.max_params parameters (a trial step costs ~ 2 (m + P) min(m, P)^2 per
           member for m training points, approx.levenberg_marquardt's primal or dual solve).

A run succeeded when its exact L2 distance to t^k on [0, 1] is below 1e-3 (analysis.SUCCESS_L2,
the rule experiments/sawtooth_basin uses): both functions are piecewise linear, so the distance is
read off the union of their breakpoints (experiments.depth_separation.parts.pl_errors).
P(success) per cell gets Wilson's interval (analysis.success_table). approx.pieces counts the
exact pieces of every network at initialisation and after training, against its neurons m L:
Hanin & Rolnick (2019, "Complexity of linear regions in deep networks", ICML; "Deep ReLU
networks have surprisingly few activation patterns", NeurIPS) observe that the number of regions
along a line stays near the number of neurons, at initialisation and through training, far below
the (2m)^L a network can realise. Columns:

    k, width, depth, depth_factor, optimizer, seed       the cell and the member
    steps, lr, n_params, neurons, n_points               budget (lr: Adam's; NaN for lm), size, grid
    l2_init, l2_after, sup_after                         exact distances to t^k, start and end
    success, at_constant, l2_constant                    l2_after < 1e-3; l2_after within 1% of
                                                         l2_constant, the grid-mean constant's L2
    train_loss, status                                   fit's final training loss and status
    pieces_init, pieces_after                            exact pieces on [0, 1] (approx.pieces)
    pieces_target, pieces_bound, serra_bound             2^k; (2m)^L; prod (m_l + 1) = (m + 1)^L

The Config is in config.py, the success rule and tables in analysis.py, the figure in figure.py
and the text in text.py.
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from approx.constructions.depth import tooth_power
from approx.device import resolve_device, threads
from approx.network import Network
from approx.pieces import count_pieces
from approx.train import fit

from ..depth_separation.parts import pl_errors
from .analysis import CELL, at_constant, constant_l2, pieces_table, succeeded, success_table
from .config import OPTIMIZERS, PRESETS, AdamRun, Config, LMRun
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "AdamRun", "LMRun", "points", "run_point", "run", "plot", "describe",
           "random_start", "train_from", "measure", "success_table", "pieces_table", "CELL"]


def points(cfg: Config) -> list[dict]:
    """One point per cell that runs: (optimizer, k, width, depth_factor)."""
    return [{"optimizer": o, "k": k, "width": w, "depth_factor": f}
            for o in cfg.optimizers for k in cfg.ks for w in cfg.widths for f in cfg.depth_factors
            if cfg.trains(o, w, f * k)]


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    optimizer = point["optimizer"]
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    k, width, factor = int(point["k"]), int(point["width"]), int(point["depth_factor"])
    with threads(cfg.threads):
        return pd.DataFrame(_cell(cfg, optimizer, k, width, factor))


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


def random_start(width: int, depth: int, seeds: list[int]) -> Network:
    """An ensemble of [1, width x depth, 1] ReLU networks in float64: He weights, zero biases, and
    first-layer biases b = -w c with kinks c ~ U(0, 1), so that every first-layer kink lies in the
    data interval [0, 1]. Member e is drawn from seeds[e] alone (the same network in any ensemble)."""
    sizes = [1] + [width] * depth + [1]
    members = []
    for s in seeds:
        net = Network.random(sizes, "relu", seed=s, init="he", dtype=torch.float64)
        params = net.parameters()
        gen = torch.Generator().manual_seed(s)
        kinks = torch.rand(width, generator=gen, dtype=torch.float64)  # (width,) in [0, 1)
        params[1] = -params[0][:, 0] * kinks  # (width,): unit i is relu(w_i (x - c_i))
        members.append(net.with_parameters(params))
    return Network.stack(members)


def measure(net: Network, k: int) -> list[dict]:
    """Per member of a float64 ensemble on the CPU: exact L2 and sup distance to t^k on [0, 1] and
    the exact number of pieces there."""
    rows = []
    for member in net.unstack():
        sup, l2 = pl_errors(member, k)
        rows.append({"l2": l2, "sup": sup, "pieces": int(count_pieces(member, 0.0, 1.0))})
    return rows


def _cell(cfg: Config, optimizer: str, k: int, width: int, factor: int) -> list[dict]:
    seeds = [cfg.seed + i for i in range(cfg.n_seeds)]
    return train_from(cfg, optimizer, k, random_start(width, factor * k, seeds), seeds, depth_factor=factor)


def train_from(cfg: Config, optimizer: str, k: int, start: Network, seeds: list[int], *,
               depth_factor: int = 1) -> list[dict]:
    """Train the float64 ensemble ``start`` (one hidden width m, L hidden layers; member e is seed
    seeds[e]) on t^k with ``optimizer`` and cfg's budget for it; one row per member."""
    device = resolve_device(cfg.device)
    width, depth = start.sizes[1], start.depth - 1
    n = cfg.points_per_piece * 2**k
    x = (torch.arange(n + 1, dtype=torch.float64) / n)[:, None]  # (n + 1, 1): every kink j / 2^k
    y = tooth_power(x, k)  # (n + 1, 1)
    before = measure(start, k)
    run_cfg = getattr(cfg, optimizer)
    options = {"lr": run_cfg.lr} if optimizer == "adam" else {}
    trained, history = fit(start.to(device), (x.to(device), y.to(device)), engine=cfg.engine, loss="mse",
                           optimizer=optimizer, steps=run_cfg.steps, log_every=max(1, run_cfg.steps), **options)
    final = history.sort_values("step").groupby("member").tail(1).set_index("member").sort_index()  # (E,) rows
    after = measure(trained.to("cpu", torch.float64), k)
    common = {"k": k, "width": width, "depth": depth, "depth_factor": depth_factor, "optimizer": optimizer,
              "steps": run_cfg.steps, "lr": run_cfg.lr if optimizer == "adam" else math.nan,
              "n_params": start.n_params, "neurons": width * depth, "n_points": n + 1,
              "l2_constant": constant_l2(y.mean().item()), "pieces_target": 2**k,
              "pieces_bound": float((2 * width) ** depth), "serra_bound": float((width + 1) ** depth)}
    rows = []
    for e, (s, b, a) in enumerate(zip(seeds, before, after)):
        rows.append({**common, "seed": s, "l2_init": b["l2"], "l2_after": a["l2"], "sup_after": a["sup"],
                     "success": bool(succeeded(a["l2"])), "at_constant": bool(at_constant(a["l2"], common["l2_constant"])),
                     "train_loss": float(final.loc[e, "loss"]), "status": final.loc[e, "status"],
                     "pieces_init": b["pieces"], "pieces_after": a["pieces"]})
    return rows
