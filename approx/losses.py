"""Training losses, each with its hand-derived gradient with respect to the prediction.

For predictions p and targets y of shape (batch, out), or (E, batch, out) for an ensemble of E
networks, with N = batch * out entries per network:

    mse:       L = (1/N) sum (p - y)^2                      dL/dp = 2 (p - y) / N
    logistic:  L = (1/N) sum softplus(p) - y p,  y in {0,1}  dL/dp = (sigmoid(p) - y) / N

The logistic loss is binary cross-entropy with logits: -y log sigma(p) - (1 - y) log(1 - sigma(p))
rewritten as softplus(p) - y p, which never takes the log of 0 and never overflows. softplus(p) is
computed as logaddexp(p, 0) = log(e^p + 1), exact for every p, rather than by torch's softplus,
which returns p itself above p = 20 (off by e^-p) and whose derivative there is 1, not
sigmoid(p): that would put the hand-derived dL/dp and autograd 2e-9 apart for logits above 20.

Both reduce over every axis but a leading ensemble axis, so an ensemble gets a vector of E
losses and each member's gradient is that of its own loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

__all__ = ["Loss", "LOSSES", "get", "names"]


def _reduce_dims(p: Tensor, ensemble: bool) -> tuple[int, ...]:
    return tuple(range(1, p.ndim)) if ensemble else tuple(range(p.ndim))


def _count(p: Tensor, ensemble: bool) -> int:
    return p[0].numel() if ensemble else p.numel()


def _mse(p: Tensor, y: Tensor, ensemble: bool) -> Tensor:
    return (p - y).square().mean(dim=_reduce_dims(p, ensemble))


def _mse_grad(p: Tensor, y: Tensor, ensemble: bool) -> Tensor:
    return (p - y) * (2.0 / _count(p, ensemble))


def _logistic(p: Tensor, y: Tensor, ensemble: bool) -> Tensor:
    return (torch.logaddexp(p, p.new_zeros(())) - y * p).mean(dim=_reduce_dims(p, ensemble))


def _logistic_grad(p: Tensor, y: Tensor, ensemble: bool) -> Tensor:
    return (torch.sigmoid(p) - y) * (1.0 / _count(p, ensemble))


@dataclass(frozen=True)
class Loss:
    """A loss L(p, y) reduced per network, and its gradient dL/dp (same shape as p)."""

    name: str
    value: Callable[[Tensor, Tensor, bool], Tensor]  # (p, y, ensemble) -> () or (E,)
    grad: Callable[[Tensor, Tensor, bool], Tensor]  # (p, y, ensemble) -> like p


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", _mse, _mse_grad),
    "logistic": Loss("logistic", _logistic, _logistic_grad),
}


def names() -> list[str]:
    return list(LOSSES)


def get(name: str) -> Loss:
    """The loss called ``name``; a ValueError lists the allowed names otherwise."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; allowed: {', '.join(LOSSES)}")
    return LOSSES[name]
