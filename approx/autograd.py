"""The PyTorch engine: the same ``loss_and_grad`` as ``approx.backprop``, computed by torch.autograd.

It exists to be the reference the hand-written engine is checked against, and to hand users an
ordinary ``torch.nn.Module`` (``Network.to_module``) when they want PyTorch's ecosystem. It runs
wherever the Network's tensors live (CPU or CUDA).
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import losses as _losses
from .engine_inputs import check_batch
from .network import Network

__all__ = ["loss_and_grad"]


def loss_and_grad(net: Network, x: Tensor, y: Tensor, loss: str = "mse") -> tuple[float | Tensor, list[Tensor]]:
    """(L, [dL/dW1, dL/db1, ...]) for the loss of ``net`` on (x, y), by torch.autograd.

    For a single network L is a Python float; for an ensemble it is a tensor of E losses and
    each member's gradient is that of its own loss (we differentiate their sum, whose gradient
    with respect to member e's parameters is dL_e/dtheta_e since members share nothing).
    x and y are checked as the hand-written engine checks them (``approx.engine_inputs``).
    """
    loss_fn = _losses.get(loss)
    y = check_batch(net, x, y)  # y: like the output, (batch, d_L) or (E, batch, d_L)
    params = [p.detach().requires_grad_(True) for p in net.parameters()]
    with torch.enable_grad():
        pred = net.with_parameters(params)(x)
        losses = loss_fn.value(pred, y, net.ensemble is not None)
        grads = torch.autograd.grad(losses.sum(), params)
    value = losses.detach()
    return (value.item() if net.ensemble is None else value), [g.detach() for g in grads]
