"""Shared by ``universal`` and ``barron``: ensembles of one-hidden-layer networks on [0, 1]^d.

Initialisation. ``Network.random``'s standard init (W, b ~ U(-1/sqrt(d), 1/sqrt(d)) per layer)
is drawn for the centred input u = 2x - 1 in [-1, 1]^d and folded into the first layer
(W' = 2W, b' = b - W 1), so units are spread over the cube instead of sitting mostly outside
[0, 1]^d. For sigmoid and tanh the first layer is then multiplied by ``init_steepness``: a
sigmoidal unit with O(1) weights is nearly linear across the cube and Adam needs thousands of
steps to sharpen it (measured while choosing the defaults); ReLU is positively homogeneous, so
the same factor would only rescale its output weights, and ReLU keeps the plain init.

Threads. Training runs at ``threads`` CPU threads (restored afterwards): these are small
kernels, and two threads fighting for a shared 2-core machine were measured ~10x slower than one.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import Tensor

from approx.network import Layer, Network
from approx.train import fit

__all__ = ["shallow_ensemble", "train", "threads"]

SIGMOIDAL = ("sigmoid", "tanh")


def shallow_ensemble(d: int, width: int, activation: str, seeds: Sequence[int], *,
                     init_steepness: float = 1.0, dtype=torch.float64, device="cpu") -> Network:
    """E = len(seeds) networks d -> width -> 1 for inputs on [0, 1]^d (see the module docstring)."""
    net = Network.random([d, width, 1], activation, seed=list(seeds), dtype=dtype, device=device)
    first = net.layers[0]
    w, b = 2 * first.weight, first.bias - first.weight.sum(-1)  # (E, width, d), (E, width)
    if activation in SIGMOIDAL:
        w, b = init_steepness * w, init_steepness * b
    return Network([Layer(w, b, first.activation, first.scale)] + net.layers[1:])


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(net: Network, x: Tensor, y: Tensor, *, engine: str, lr: float, steps: int,
          batch_size: int | None = None, seed: int = 0) -> tuple[Network, Tensor, list[str]]:
    """Adam with a cosine schedule; returns (trained net, final training loss (E,), statuses)."""
    trained, history = fit(net, (x, y), engine=engine, optimizer="adam", lr=lr, steps=steps,
                           schedule="cosine", batch_size=batch_size, log_every=max(steps, 1),
                           seed=seed)
    last = history.sort_values("step").groupby("member").tail(1).sort_values("member")
    return trained, torch.tensor(last.loss.to_numpy()), list(last.status)
