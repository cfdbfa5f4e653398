"""A fixed basis: random features with the output layer fitted by least squares.

    net = fit_output_layer(first_layer_net, x, y)   # same hidden layer, output solved exactly

The hidden layer of a one-hidden-layer network is frozen where it was drawn (independently of the
target), and only the output layer f(x) = sum_i a_i h_i(x) + c is fitted, by linear least squares:

    (a, c) = argmin || [H 1] (a; c) - y ||^2,   H (n, N) the hidden activations at the data x (n, d).

This is an n-term series in a fixed basis: Barron (1993, Thm 6) shows that for every choice of
N fixed basis functions, the worst squared L2 error over his class of functions (finite C_{f,B}) is
at least of order N^(-2/d), while adaptive units (a trained or a sampled network) reach N^-1 in
every dimension. A random basis that ignores the target direction is such a fixed basis.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .network import Layer, Network

__all__ = ["fit_output_layer"]


def fit_output_layer(net: Network, x: Tensor, y: Tensor) -> Network:
    """The network with the same hidden layer and the least-squares output layer on (x, y).

    net: a single (non-ensemble) Network [d, N, 1] whose output layer is linear; x (n, d); y (n, 1)
    or (n,). Solved in float64 by torch.linalg.lstsq with the gelsd driver (SVD: the minimum-norm
    solution when [H 1] is rank deficient, as when N + 1 > n or units coincide on the data).
    The returned output layer has scale 1; parameters keep net's dtype and device.
    """
    if not isinstance(net, Network) or net.ensemble is not None or len(net.layers) != 2:
        raise ValueError(f"fit_output_layer needs a single one-hidden-layer Network, got {net!r}")
    first, last = net.layers
    if last.activation != "identity" or net.sizes[-1] != 1:
        raise ValueError(f"the output layer must be linear with one output, got {last.activation} "
                         f"with sizes {net.sizes}")
    x64 = x.detach().to("cpu", torch.float64)
    y64 = y.detach().to("cpu", torch.float64).reshape(-1, 1)  # (n, 1)
    if x64.ndim != 2 or x64.shape[0] != y64.shape[0]:
        raise ValueError(f"need x (n, d) and y (n, 1) with the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    hidden = Network([first]).to(device="cpu", dtype=torch.float64)(x64)  # (n, N)
    design = torch.cat([hidden, torch.ones_like(hidden[:, :1])], dim=1)  # (n, N + 1)
    coef = torch.linalg.lstsq(design, y64, driver="gelsd").solution  # (N + 1, 1)
    weight = coef[:-1].T.to(last.weight.device, last.weight.dtype)  # (1, N)
    bias = coef[-1].to(last.bias.device, last.bias.dtype)  # (1,)
    return Network([first, Layer(weight, bias, "identity")])
