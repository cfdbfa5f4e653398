"""Rounding-error bounds for tests that compare two computations of the same quantity whose
floating-point operations may run in a different order.

Bit-equality holds only where both sides run the very same operations on the same machine and
torch build. A blocked against a whole matrix product, a batched against a looped one, or two
BLAS kernels (an Intel Xeon's AVX-512 against an AMD EPYC's AVX2, MKL against OpenBLAS) sum in
different orders, and then the honest threshold is a bound from rounding analysis.

The bound used here is the standard one for inner products (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., 2002, eq. 3.5 and Lemma 3.1): whatever the summation order,

    |fl(w . h + b) - (w . h + b)| <= gamma_{n+1} (|w| . |h| + |b|),   gamma_n = n u / (1 - n u),

with u = eps / 2 the unit roundoff and n the length of the inner product. For a network this is
applied layer by layer (``forward_error_bound``); two evaluations that each satisfy it differ by
at most twice the bound.
"""
from __future__ import annotations

import torch
from torch import Tensor

from approx import activations
from approx.network import Network

__all__ = ["unit_roundoff", "gamma", "forward_error_bound"]

# Lipschitz constants of the activations (sup |phi'|), for propagating an input error.
LIPSCHITZ = {"identity": 1.0, "relu": 1.0, "ramp": 1.0, "tanh": 1.0, "softplus": 1.0, "sigmoid": 0.25}
# Activations whose value is itself rounded (a transcendental function): vectorised and scalar
# library code may differ by a few ulps on the same input. relu, ramp and identity are exact.
ROUNDED = {"tanh", "sigmoid", "softplus"}
ULPS_OF_A_LIBRARY_FUNCTION = 4  # SLEEF and glibc promise <= 1 ulp (tanh: 3.5 in SLEEF's u35 mode)


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps / 2: the largest relative error of one correctly rounded operation."""
    return torch.finfo(dtype).eps / 2


def gamma(n: int, dtype: torch.dtype) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error bound of n chained operations."""
    nu = n * unit_roundoff(dtype)
    if nu >= 1:
        raise ValueError(f"gamma_{n} is undefined in {dtype}: n u = {nu} >= 1")
    return nu / (1 - nu)


def forward_error_bound(net: Network, x: Tensor) -> Tensor:
    """A componentwise bound on |computed net(x) - exact net(x)|, any summation order.

    Layer by layer, with h_0 = x (exact) and e_0 = 0, for z = s (W h + b) and h' = phi(z):

        |dz| <= |s| (gamma_{n+2} (|W| |h| + |b|) + |W| e)     (n = fan_in; +1 for b, +1 for s)
        e'   <= Lip(phi) |dz| + 4 ulps |h'|                   (the last term if phi is rounded)

    to first order in u. Returns e_L with net(x)'s shape: (batch, out) or (E, batch, out).
    """
    dtype = x.dtype
    h = x
    err = torch.zeros_like(x)
    for layer in net.layers:
        w, b, s = layer.weight.abs(), layer.bias.abs(), abs(layer.scale)
        if w.ndim == 3 and h.ndim == 2:  # one data set shared by the E members
            h, err = h.expand(w.shape[0], *h.shape), err.expand(w.shape[0], *err.shape)
        w_t = w.transpose(-1, -2)
        b = b.unsqueeze(-2) if b.ndim == 2 else b  # (E, 1, out) against (E, batch, out)
        magnitude = h.abs() @ w_t + b  # |W| |h| + |b|: (batch, out) or (E, batch, out)
        dz = s * (gamma(layer.fan_in + 2, dtype) * magnitude + err @ w_t)
        phi = activations.get(layer.activation)
        h = phi.value(layer.scale * (h @ layer.weight.transpose(-1, -2)) + (
            layer.bias.unsqueeze(-2) if layer.bias.ndim == 2 else layer.bias))
        err = LIPSCHITZ[layer.activation] * dz
        if layer.activation in ROUNDED:
            err = err + ULPS_OF_A_LIBRARY_FUNCTION * torch.finfo(dtype).eps * h.abs()
    # the bound itself is computed in floating point: inflate it by a hair so that its own
    # rounding cannot make a true statement fail
    return err * (1 + 1e-6)
