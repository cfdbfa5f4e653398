"""Shared by ``universal`` and ``barron``: ensembles of one-hidden-layer networks on [0, 1]^d.

Initialisation. ``Network.random``'s standard init (W, b ~ U(-1/sqrt(d), 1/sqrt(d)) per layer)
is drawn for the centred input u = 2x - 1 in [-1, 1]^d and folded into the first layer
(W' = 2W, b' = b - W 1), so units are spread over the cube instead of sitting mostly outside
[0, 1]^d. The first layer is then multiplied by ``init_steepness``: a sigmoidal unit with O(1)
weights is nearly linear across the cube and Adam needs thousands of steps to sharpen it
(measured while choosing the defaults). A ReLU network computes the same function after the
scaling if its output weights shrink by the same factor, but Adam moves every coordinate by
about lr per step whatever its size, so the scale still sets how fast kinks move (lr / |w|)
against how fast slopes grow; ``scale_relu`` says whether ReLU units are scaled too.

Output layer. ``mean_field=False`` keeps the standard output layer, f = sum_i a_i h_i + c with
a_i ~ U(-1/sqrt(n), 1/sqrt(n)). With Adam every a_i moves by about lr per step, so the output
of an n-unit network moves about n lr: one learning rate cannot serve widths 2 .. 1024.
``mean_field=True`` writes f = (1/n) sum_i a_i h_i + c with a_i ~ U(-1, 1) (the fixed 1/n is the
layer's ``scale``; the same function class), the mean-field / muP scaling of the output layer
for Adam (Mei, Montanari & Nguyen 2018; Yang & Hu 2021), under which a step moves the output by
about lr at every width.

Precision. Networks may be trained in float32 (half the memory traffic of float64, which is
what these memory-bound kernels cost) and are then evaluated in float64 (``evaluate``), so the
measured errors are those of the trained float32 parameters, without float32 rounding on top.

Threads. Training runs at ``threads`` CPU threads (restored afterwards): these are small
kernels, and two threads fighting for a shared 2-core machine were measured ~10x slower than one.

Divergence. ``train`` returns fit's status per member; a diverged member (loss NaN, inf or above
``fit``'s divergence_factor times its reference) is frozen at its last fine parameters, so its
errors describe an early network, not a trained one. The studies draw such runs with
``DIVERGED_STYLE``, leave them out of medians and slopes, and say so with ``diverged_text``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import pandas as pd
import torch
from torch import Tensor

from approx.network import Layer, Network
from approx.train import DIVERGENCE_FACTOR, fit

__all__ = ["DIVERGED_STYLE", "OPTIMIZERS", "OPTIMIZER_NAMES", "shallow_ensemble", "train", "evaluate",
           "optimizer_of", "diverged_text"]

SIGMOIDAL = ("sigmoid", "tanh")
DIVERGED_STYLE = {"marker": "x", "color": "red", "s": 18, "linewidths": 1.0, "zorder": 5}  # scatter
# what a study's ``optimizer`` field may name, and how its texts name it
OPTIMIZER_NAMES = {"adam": "Adam", "lbfgs": "L-BFGS", "lm": "Levenberg-Marquardt"}
OPTIMIZERS = tuple(OPTIMIZER_NAMES)


def shallow_ensemble(d: int, width: int, activation: str, seeds: Sequence[int], *,
                     init_steepness: float = 1.0, scale_relu: bool = False, mean_field: bool = False,
                     dtype=torch.float64, device="cpu") -> Network:
    """E = len(seeds) networks d -> width -> 1 for inputs on [0, 1]^d (see the module docstring)."""
    net = Network.random([d, width, 1], activation, seed=list(seeds), dtype=dtype, device=device)
    first, last = net.layers
    w, b = 2 * first.weight, first.bias - first.weight.sum(-1)  # (E, width, d), (E, width)
    if activation in SIGMOIDAL or scale_relu:
        w, b = init_steepness * w, init_steepness * b
    if mean_field:  # a_i = sqrt(n) U(-1/sqrt(n), 1/sqrt(n)) = U(-1, 1), times the fixed 1/n
        last = Layer(math.sqrt(width) * last.weight, last.bias, last.activation, 1.0 / width)
    return Network([Layer(w, b, first.activation, first.scale), last])


def train(net: Network, x: Tensor, y: Tensor, *, engine: str, lr: float, steps: int,
          batch_size: int | None = None, beta2: float = 0.999, seed: int = 0,
          optimizer: str = "adam", compile: str = "off") -> tuple[Network, Tensor, list[str]]:
    """Adam (betas (0.9, beta2)) with a cosine schedule; returns (trained net, final training
    loss (E,), statuses). ``batch_size`` None or >= n trains on the full batch. ``compile``:
    fit's (approx.compiled_step: "off", "on", or "auto", where the planned steps repay it).

    optimizer "lbfgs" or "lm" (approx.train.fit's L-BFGS and Levenberg-Marquardt) instead take
    ``steps`` iterations on the full batch: they set their own steps, so lr, batch_size, beta2,
    seed (the mini-batch order) and compile (they are never compiled) are Adam's and unused."""
    if optimizer != "adam":
        trained, history = fit(net, (x, y), engine=engine, optimizer=optimizer, steps=steps,
                               log_every=max(steps, 1))
    else:
        if batch_size is not None and batch_size >= x.shape[-2]:
            batch_size = None
        trained, history = fit(net, (x, y), engine=engine, optimizer="adam", lr=lr, steps=steps,
                               schedule="cosine", batch_size=batch_size, betas=(0.9, beta2),
                               log_every=max(steps, 1), seed=seed, compile=compile)
    last = history.sort_values("step").groupby("member").tail(1).sort_values("member")
    return trained, torch.tensor(last.loss.to_numpy()), list(last.status)


def evaluate(net: Network, x: Tensor, cells: int = 2**18) -> Tensor:
    """net(x) in float64: x (n, d) -> (n, 1), or (E, n, 1) for an ensemble.

    Evaluated in blocks of rows whose (E, rows, width) hidden activations hold about ``cells``
    numbers: a 1024-unit network on 16385 points in one piece makes 134 MB intermediates, while
    blocks that fit in the CPU's cache avoid streaming them through memory."""
    net64 = net.to(dtype=torch.float64)
    x = x.to(net64.device, torch.float64)
    rows = max(1, cells // ((net64.ensemble or 1) * max(net64.sizes)))
    return torch.cat([net64(x[i:i + rows]) for i in range(0, x.shape[0], rows)], dim=-2)


def optimizer_of(row: pd.Series) -> str:
    """The optimizer a result row's networks were trained with: its ``optimizer`` column, or
    "adam" in results written before the column existed."""
    value = row.get("optimizer", "adam")
    return value if isinstance(value, str) else "adam"


def diverged_text(trained: pd.DataFrame, label: Callable[[Any], str], shown: int = 6) -> str:
    """One sentence on how many trained runs (rows with a ``status``) diverged, and which.

    ``label`` names a run from its row (a namedtuple of ``itertuples``); at most ``shown`` runs
    are listed. Says so as well when none diverged, so that a reader knows it was checked.
    """
    diverged = trained[trained.status == "diverged"]
    rule = f"fit's rule: a training loss NaN, inf or above {DIVERGENCE_FACTOR:g} times its starting scale"
    if not len(diverged):
        return f"None of the {len(trained)} trained networks diverged ({rule})."
    runs = [label(row) for row in diverged.head(shown).itertuples()]
    more = f" and {len(diverged) - shown} more" if len(diverged) > shown else ""
    return (f"{len(diverged)} of {len(trained)} trained networks diverged ({rule}): "
            f"{', '.join(runs)}{more}. They are frozen at their last fine parameters, drawn as red "
            f"crosses, and left out of the medians, slopes and comparisons.")
