"""A data-dependent complexity measure that tells learnable labels from random ones.

Arora, Du, Hu, Li & Wang (2019), "Fine-grained analysis of optimization and generalization for
overparameterized two-layer neural networks", Theorem 5.1: for Du et al.'s two-layer ReLU network
(approx.ntk.two_layer_relu) trained by GD on n unit-norm inputs with labels y, wide enough and
from a small enough start, the population loss (of a 1-Lipschitz loss bounded by 1) is at most

    sqrt(2 y^T (H^inf)^-1 y / n) + O(sqrt(log(n / (lambda_0 delta)) / n))

with probability 1 - delta, where H^inf is the infinite-width kernel of approx.ntk.h_infinity.
``arora_complexity`` computes the leading term, sqrt(2 y^T (H^inf)^-1 y / n). Labels that lie
along H^inf's large eigenvectors (smooth in the kernel's geometry) give a small value; labels
spread over its small eigenvalues (random ones) a large one. Their Section 5 shows it ranks
label-corruption levels as their test errors do (with the bound itself above 1, so vacuous
as a number, on real data). Computed in float64 by a Cholesky solve: H^inf is positive definite
when no two inputs are parallel (Du et al. 2019, Theorem 3.1).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .ntk import h_infinity

__all__ = ["arora_complexity"]


def arora_complexity(x: Tensor, y: Tensor) -> float:
    """sqrt(2 y^T (H^inf)^-1 y / n) for unit-norm inputs x (n, d) and labels y (n,) or (n, 1).

    Raises ValueError if y does not hold n labels, or if H^inf is not numerically positive
    definite (two inputs parallel, or nearly so).
    """
    kernel = h_infinity(x.to(torch.float64))  # (n, n); checks x's shape and unit norms
    n = kernel.shape[0]
    if not isinstance(y, Tensor) or y.numel() != n or y.ndim > 2:
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y must hold one label per input, shape ({n},) or ({n}, 1); got {got}")
    labels = y.reshape(n, 1).to(device=kernel.device, dtype=torch.float64)
    factor, info = torch.linalg.cholesky_ex(kernel)  # (n, n) lower triangular
    # a pivot at rounding level (squared, below n eps times the diagonal) means a singular kernel
    tiny = n * torch.finfo(torch.float64).eps * kernel.diagonal().max()
    if int(info) != 0 or bool(factor.diagonal().square().min() <= tiny):
        raise ValueError("H^inf is not positive definite for these inputs (two of them are parallel, "
                         "or nearly so); the complexity needs inputs in pairwise non-parallel directions")
    solved = torch.cholesky_solve(labels, factor)  # (n, 1): (H^inf)^-1 y
    return math.sqrt(2.0 * (labels * solved).sum().item() / n)
