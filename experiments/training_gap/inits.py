"""The first-layer initialisations that experiments/training_gap compares, for networks
[1, n, 1] on [0, 1]: where each unit's kink (ReLU) or centre (tanh, sigmoid) starts.

A unit phi(w x + b) has its kink or centre at x = -b / w. Every init below draws only the first
layer; the output layer is the study's (experiments/_shallow.py: mean-field or standard, from
the member's seed), the same for every init, so inits differ in where the units sit and nothing
else. ``steepness`` is the first-layer scale |w| of the data-aware inits (the study's
init_steepness, doubled for sigmoid as for "steep").

    steep          experiments/_shallow.py's init, the study's before this comparison: PyTorch's
                   nn.Linear default, W, b ~ U(-1/sqrt(d), 1/sqrt(d)) (LeCun, Bottou, Orr & Müller
                   1998), drawn for the centred input 2x - 1 and folded onto [0, 1], then times
                   ``steepness``. The centre 1/2 - b/(2W) lies outside [0, 1] when |b| > |W|,
                   for half the units (b/W has a heavy tail, so some lie far out): a ReLU unit
                   there is linear or dead on the data.
    standard       PyTorch's nn.Linear default on x itself (no folding, no scaling): w, b ~ U(-1, 1)
                   for d = 1, kinks at -b/w, outside [0, 1] for ~3/4 of the units (what a reader
                   who calls nn.Linear gets).
    he             He, Zhang, Ren & Sun (2015): w ~ N(0, 2/d), b = 0. Every kink at x = 0, the
                   corner of the domain: on [0, 1] the ReLU units are then one linear function,
                   the degenerate start Steinwart (2019) warns of.
    uniform_knots  data-aware (Steinwart 2019, "A sober look at neural network initializations",
                   arXiv:1903.11482: place the units' hyperplanes through the data's domain): kink
                   or centre c_i ~ U(0, 1), slope sign +-1 with probability 1/2, |w| = steepness,
                   b = -w c_i. A ReLU network so drawn is a free-knot linear spline with its
                   knots at random points of [0, 1].
    even_knots     data-aware with c_i = (i + 1/2) / n, the midpoints of n equal cells (the knots
                   of a uniform linear spline, de Boor 1978, ch. III), signs and |w| as above; only
                   the signs and the output layer differ between seeds.
"""
from __future__ import annotations

from typing import Sequence

import torch

from approx.network import Layer, Network

from .._shallow import shallow_ensemble
from .config import INITS

__all__ = ["INITS", "initial_ensemble", "unit_centres"]

SIGN_STREAM = 1_000_003  # the data-aware inits' generator: seed + this (not the output layer's stream)


def initial_ensemble(init: str, width: int, activation: str, seeds: Sequence[int], *, steepness: float,
                     mean_field: bool, dtype=torch.float64, device="cpu") -> Network:
    """E = len(seeds) networks 1 -> width -> 1 with the first layer of ``init`` (the module
    docstring) and the output layer of experiments/_shallow.shallow_ensemble for the same seeds."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
    base = shallow_ensemble(1, width, activation, seeds, init_steepness=steepness, scale_relu=True,
                            mean_field=mean_field, dtype=torch.float64)
    first, last = base.layers
    if init == "steep":
        w, b = first.weight, first.bias
    elif init in ("standard", "he"):  # the rule's draw on x itself: approx.network's inits of these names
        drawn = Network.random([1, width, 1], activation, seed=list(seeds), init=init).layers[0]
        w, b = drawn.weight, drawn.bias
    else:
        draws = [_knots(init, width, seed, steepness) for seed in seeds]
        w = torch.stack([wi for wi, _ in draws])  # (E, width, 1)
        b = torch.stack([bi for _, bi in draws])  # (E, width)
    return Network([Layer(w, b, first.activation, first.scale), last]).to(dtype=dtype, device=device)


def _knots(init: str, width: int, seed: int, steepness: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(w (width, 1), b (width,)) with the units' kinks or centres at c_i in [0, 1]: b = -w c."""
    gen = torch.Generator().manual_seed(seed + SIGN_STREAM)
    if init == "uniform_knots":
        centres = torch.rand(width, generator=gen, dtype=torch.float64)
    else:
        centres = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    signs = 1 - 2 * (torch.rand(width, generator=gen, dtype=torch.float64) < 0.5).double()  # +-1
    w = steepness * signs
    return w[:, None], -w * centres


def unit_centres(net: Network) -> torch.Tensor:
    """-b / w of the first layer, (E, width) or (width,): where each unit's kink or centre sits."""
    first = net.layers[0]
    return -first.bias / first.weight[..., 0]
