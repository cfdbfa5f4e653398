"""Neural tangent kernels: the infinite-width Gram matrix H^inf and the empirical NTK of a Network.

Du, Zhai, Poczos & Singh (2019), "Gradient descent provably optimizes over-parameterized
neural networks", study the two-layer ReLU network on unit-norm inputs

    f(x) = (1/sqrt(m)) sum_r a_r relu(<w_r, x>),   w_r ~ N(0, I_d),  a_r ~ uniform{-1, +1},

with a fixed and only the first layer w trained. Its kernel (the Gram matrix of the gradients
df(x_i)/dw) at width m is

    H_ij(0) = (1/m) sum_r <x_i, x_j> 1{<w_r, x_i> > 0, <w_r, x_j> > 0},

a Monte Carlo average that converges, as m -> inf, to

    H^inf_ij = E_w[<x_i, x_j> 1{<w, x_i> > 0, <w, x_j> > 0}] = <x_i, x_j> (pi - arccos <x_i, x_j>) / (2 pi)

(``h_infinity``; the two half-spaces overlap in an angle pi - arccos <x_i, x_j> out of 2 pi).
Its smallest eigenvalue lambda_0 > 0 when no two inputs are parallel, and sets the rate of
gradient descent: ||y - u(k)||^2 <= (1 - eta lambda_0 / 2)^k ||y - u(0)||^2 (their Theorem 4.1).

``empirical_ntk`` computes Theta_ij = <df(x_i)/dtheta, df(x_j)/dtheta> for any single-output
Network, over a chosen subset of its parameters, from the per-example Jacobian J of
``approx.jacobian`` (Theta = J J^T on the chosen columns), either with the hand-written engine
(approx.backprop: per-example gradients by one reverse pass over a graph in which the batch is
an ensemble axis, so example i has its own copy of the parameters and the gradient of
sum_i f_i(x_i) with respect to copy i is df(x_i)/dtheta) or with torch.func (jacrev + vmap),
the cross-check. ``two_layer_relu`` builds Du et al.'s network; ``DU_TRAINABLE`` names its
trained parameters.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from .jacobian import jacobian, parameter_slices
from .network import Layer, Network

__all__ = ["h_infinity", "empirical_ntk", "parameter_names", "two_layer_relu", "unit_sphere",
           "DU_TRAINABLE", "NTK_ENGINES"]

NTK_ENGINES = ("backprop", "torch.func")
_JACOBIAN_ENGINE = {"backprop": "backprop", "torch.func": "autograd"}  # approx.jacobian's names
DU_TRAINABLE = ("W1",)  # Du et al. train the first layer only; a (W2) and the zero biases stay fixed


def h_infinity(x: Tensor, *, atol: float = 1e-6) -> Tensor:
    """H^inf_ij = <x_i, x_j> (pi - arccos <x_i, x_j>) / (2 pi) for unit-norm rows of x (n, d).

    Raises ValueError if a row's norm differs from 1 by more than ``atol``.
    """
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point():
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a float tensor of shape (n, d); got {got}")
    norms = x.norm(dim=1)
    bad = (norms - 1).abs() > atol
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"rows of x must have unit norm (within {atol}); row {i} has norm {norms[i].item():.6g}")
    gram = (x @ x.T).clamp(-1.0, 1.0)  # (n, n); clamp rounding so arccos stays real
    return gram * (math.pi - torch.arccos(gram)) / (2 * math.pi)


def unit_sphere(n: int, d: int, *, seed: int = 0, dtype=torch.float64, device="cpu") -> Tensor:
    """n points drawn uniformly from the unit sphere in R^d (normalised Gaussians), seeded."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return (x / x.norm(dim=1, keepdim=True)).to(device=device, dtype=dtype)


def two_layer_relu(m: int, d: int, *, seed: int = 0, ensemble: int | None = None,
                   dtype=torch.float64, device="cpu") -> Network:
    """Du et al.'s f(x) = (1/sqrt(m)) sum_r a_r relu(<w_r, x>) as a Network [d, m, 1].

    W1 = (w_r) ~ N(0, I), b1 = 0, W2 = (a_r) uniform +-1 with the layer scale 1/sqrt(m), b2 = 0.
    Member e of an ensemble uses seed + e.
    """
    if m < 1 or d < 1:
        raise ValueError(f"need width m >= 1 and input dimension d >= 1; got m={m}, d={d}")
    seeds = [seed] if ensemble is None else [seed + e for e in range(ensemble)]
    ws, as_ = [], []
    for s in seeds:
        gen = torch.Generator().manual_seed(s)
        ws.append(torch.randn(m, d, generator=gen, dtype=torch.float64))
        as_.append(torch.randint(0, 2, (1, m), generator=gen, dtype=torch.float64) * 2 - 1)
    w, a = (ws[0], as_[0]) if ensemble is None else (torch.stack(ws), torch.stack(as_))
    w, a = w.to(device=device, dtype=dtype), a.to(device=device, dtype=dtype)
    return Network([
        Layer(w, w.new_zeros(w.shape[:-1]), "relu"),
        Layer(a, a.new_zeros(a.shape[:-1]), "identity", scale=1.0 / math.sqrt(m)),
    ])


def parameter_names(net: Network) -> list[str]:
    """["W1", "b1", "W2", "b2", ...], aligned with ``net.parameters()``."""
    return [f"{kind}{l + 1}" for l in range(net.depth) for kind in ("W", "b")]


def empirical_ntk(net: Network, x: Tensor, *, engine: str = "backprop",
                  trainable: Sequence[str] | None = None) -> Tensor:
    """Theta_ij = sum over trainable theta of df(x_i)/dtheta . df(x_j)/dtheta.

    net: a Network with one output (an ensemble gives one kernel per member); x: (n, d_0).
    trainable: parameter names from ``parameter_names`` (None: all of them), e.g.
        DU_TRAINABLE for Du et al.'s model. engine: "backprop" or "torch.func".
    Returns (n, n), or (E, n, n) for an ensemble.
    """
    if engine not in NTK_ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(NTK_ENGINES)}")
    if net.sizes[-1] != 1:
        raise ValueError(f"empirical_ntk needs a network with one output; got sizes {net.sizes}")
    if not isinstance(x, Tensor) or x.ndim != 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be (n, {net.sizes[0]}), shared by all members; got {got}")
    names = parameter_names(net)
    chosen = names if trainable is None else list(trainable)
    unknown = [p for p in chosen if p not in names]
    if unknown or not chosen:
        raise ValueError(f"trainable must name some of {', '.join(names)}; got {list(trainable)}")
    selected = [names.index(p) for p in chosen]
    net.check_input(x)
    columns = parameter_slices(net)
    members = [net] if net.ensemble is None else net.unstack()
    kernels = []
    for member in members:  # one member's Jacobian in memory at a time
        jac = jacobian(member, x, engine=_JACOBIAN_ENGINE[engine])[:, 0, :]  # (n, P)
        jac = torch.cat([jac[:, columns[k]] for k in selected], dim=1)  # (n, trainable columns)
        kernels.append(jac @ jac.T)
    return kernels[0] if net.ensemble is None else torch.stack(kernels)
