"""The linearized model's prediction of a gradient-descent loss curve, from the NTK at initialisation.

Arora, Du, Hu, Li & Wang (2019, ICML), "Fine-grained analysis of optimization and generalization for
overparameterized two-layer neural networks", Section 4: linearize f around its initial parameters,
f_t(x) = f_0(x) + J (theta_t - theta_0) with J the per-example Jacobian (n, P) on the n training
points. Full-batch GD theta <- theta - lr grad L on L = (1/n) ||u - y||^2 (approx.losses "mse",
u = f(x) (n,)) then moves the residual r_t = u_t - y by

    r_{t+1} = (I - eta Theta) r_t,      Theta = J J^T (n, n),   eta = 2 lr / n

(eta is Du et al.'s step on (1/2) ||u - y||^2, so that approx.lazy's runs read the same), and with
the eigendecomposition Theta = sum_i lambda_i v_i v_i^T

    L(t) = ||r_t||^2 / n = (1/n) sum_i (1 - eta lambda_i)^(2t) (v_i^T r_0)^2.

The formula is exact for a model that is linear in its parameters (a Network without a hidden
layer on least squares, a trained output layer on frozen features); for a network it holds while
the kernel stays near Theta_0, which is what wide networks do (lazy training).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

__all__ = ["linearized_loss"]


def linearized_loss(kernel: Tensor, residual: Tensor, lr, steps: Sequence[int]) -> Tensor:
    """L(t) = (1/n) sum_i (1 - (2 lr / n) lambda_i)^(2t) (v_i^T r_0)^2 at each t in ``steps``.

    kernel: Theta_0 (n, n), or (E, n, n) for E models; residual: r_0 = u_0 - y, (n,) or (E, n);
    lr: the step on the mse loss, a number or one per model (E,); steps: non-negative integers (T,).
    Returns (T,), or (E, T). Computed in float64 (a loss of 1e-12 after thousands of steps needs it).
    """
    if not isinstance(kernel, Tensor) or kernel.ndim not in (2, 3) or kernel.shape[-1] != kernel.shape[-2]:
        got = tuple(kernel.shape) if isinstance(kernel, Tensor) else type(kernel).__name__
        raise ValueError(f"kernel must be a square (n, n) or (E, n, n) tensor; got {got}")
    if not isinstance(residual, Tensor) or tuple(residual.shape) != tuple(kernel.shape[:-1]):
        got = tuple(residual.shape) if isinstance(residual, Tensor) else type(residual).__name__
        raise ValueError(f"residual must have shape {tuple(kernel.shape[:-1])} to match the kernel; got {got}")
    t = torch.as_tensor(list(steps), dtype=torch.float64, device=kernel.device)  # (T,)
    if t.ndim != 1 or bool((t < 0).any()) or not bool((t == t.round()).all()):
        raise ValueError(f"steps must be non-negative integers; got {list(steps)}")
    lr = torch.as_tensor(lr, dtype=torch.float64, device=kernel.device)
    if not bool((lr > 0).all()) or not bool(torch.isfinite(lr).all()):
        raise ValueError(f"lr must be a positive number (or one per model); got {lr.tolist()}")
    n = kernel.shape[-1]
    eig, vec = torch.linalg.eigh(kernel.to(torch.float64))  # (..., n), (..., n, n): Theta v_i = lambda_i v_i
    coef = (vec.transpose(-1, -2) @ residual.to(torch.float64).unsqueeze(-1)).squeeze(-1)  # v_i^T r_0 (..., n)
    eta = (2 * lr / n).reshape(-1, 1) if kernel.ndim == 3 else 2 * lr / n
    factor = 1 - eta * eig  # (..., n): the residual's contraction along v_i per step
    # (..., T, n) -> (..., T): sum over the eigen-directions
    decay = factor.unsqueeze(-2) ** (2 * t.unsqueeze(-1))
    return (decay * coef.square().unsqueeze(-2)).sum(-1) / n
