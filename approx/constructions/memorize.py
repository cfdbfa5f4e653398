"""Zhang, Bengio, Hardt, Recht & Vinyals (2017), Theorem 1: a network that memorizes any labels.

    "There exists a two-layer neural network with ReLU activations and 2n + d weights that can
    represent any function on a sample of size n in d dimensions."

The construction, for points x_1..x_n in R^d and labels y_1..y_n:

1. pick a direction a in R^d on which the projections z_i = <a, x_i> are pairwise distinct
   (a random Gaussian a does this with probability 1 when the points are distinct);
2. relabel so that z_1 < z_2 < ... < z_n and interleave thresholds
   b_1 < z_1 < b_2 < z_2 < ... < b_n < z_n;
3. the network c(x) = sum_j w_j relu(<a, x> - b_j) then has c(x_i) = sum_j A_ij w_j with
   A_ij = relu(z_i - b_j), which is lower triangular (z_i > b_j exactly when j <= i) with a
   positive diagonal A_ii = z_i - b_i, so y = A w has a unique solution, found by forward
   substitution.

The free numbers are a (d), b (n) and w (n): exactly 2n + d weights (``memorizer_weight_count``).
As an ``approx.Network`` (a dense MLP) the same function is stored as a first layer whose n rows
all equal a, with bias -b, and a linear output layer with weight w and bias 0; the Network
therefore *stores* n d + 2n + 1 numbers, of which only 2n + d are distinct and nonzero.

Conditioning: the output weights w_j are the changes of slope of the piecewise-linear
interpolant along a, so they grow like 1/(gap between neighbouring z_i). We put each b_i
midway between z_{i-1} and z_i (b_1 one median gap below z_1) and, unless ``a`` is given, draw
``n_directions`` random directions and keep the one with the largest smallest gap. For n = 200
Gaussian points in d = 10 the largest |w_j| is ~2e4 and the fit is exact to ~1e-10 in float64;
float32 loses the labels to that cancellation (errors of order 1), so use float64.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..network import Layer, Network

__all__ = ["memorizer", "memorizer_weight_count"]


def memorizer_weight_count(n: int, d: int) -> int:
    """The number of weights of Zhang et al.'s construction: a (d) + b (n) + w (n) = 2n + d."""
    return 2 * n + d


def memorizer(x: Tensor, y: Tensor, *, a: Tensor | None = None, seed: int = 0,
              n_directions: int = 16) -> Network:
    """The one-hidden-layer ReLU Network c(x) = sum_j w_j relu(<a, x> - b_j) with c(x_i) = y_i.

    x: (n, d) points, y: (n,) labels (any reals). a: the projection direction (d,), or None to
    draw ``n_directions`` Gaussian directions from ``seed`` and keep the best-conditioned one
    (largest smallest gap between sorted projections). Works in x's dtype and on x's device.
    Raises ValueError on shape mismatches or when two points project to the same value.
    """
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (n, d) with n, d >= 1; got {got}")
    if not x.is_floating_point():
        raise ValueError(f"x must have a float dtype; got {x.dtype}")
    n, d = x.shape
    if not isinstance(y, Tensor) or y.shape != (n,):
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y must be a tensor of shape ({n},), one label per point; got {got}")
    if n_directions < 1:
        raise ValueError(f"n_directions must be >= 1; got {n_directions}")
    y = y.to(x.dtype)
    if a is None:
        a = _best_direction(x, seed, n_directions)
    elif not isinstance(a, Tensor) or a.shape != (d,):
        got = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
        raise ValueError(f"a must be a tensor of shape ({d},); got {got}")
    a = a.to(device=x.device, dtype=x.dtype)

    z = x @ a  # (n,) projections
    z_sorted, order = torch.sort(z)
    gaps = torch.diff(z_sorted)  # (n-1,)
    if n > 1 and bool((gaps <= 0).any()):
        k = int(torch.nonzero(gaps <= 0)[0])
        i, j = int(order[k]), int(order[k + 1])
        raise ValueError(
            f"points {i} and {j} project to the same value <a, x> = {z_sorted[k].item():.17g}; "
            "the construction needs pairwise distinct projections (distinct points and a "
            "direction a that separates them)"
        )
    # thresholds b_1 < z_1 < b_2 < z_2 < ...: b_i midway between z_{i-1} and z_i
    first_gap = gaps.median() if n > 1 else z_sorted.new_tensor(1.0)
    b = torch.cat([z_sorted[:1] - first_gap, (z_sorted[:-1] + z_sorted[1:]) / 2])  # (n,)
    # A_ij = relu(z_i - b_j): lower triangular with A_ii = z_i - b_i > 0
    A = torch.relu(z_sorted[:, None] - b[None, :]).tril()  # (n, n)
    w = torch.linalg.solve_triangular(A, y[order][:, None], upper=False)  # (n, 1)

    hidden = Layer(a.expand(n, d).clone(), -b, "relu")  # every unit reads the same <a, x>
    output = Layer(w.T.contiguous(), x.new_zeros(1), "identity")
    return Network([hidden, output])


def _best_direction(x: Tensor, seed: int, n_directions: int) -> Tensor:
    """Of ``n_directions`` seeded Gaussian directions, the one whose smallest gap is largest."""
    gen = torch.Generator().manual_seed(seed)
    candidates = torch.randn(n_directions, x.shape[1], generator=gen, dtype=torch.float64)
    candidates = candidates / candidates.norm(dim=1, keepdim=True)
    z = x.to("cpu", torch.float64) @ candidates.T  # (n, n_directions)
    if x.shape[0] == 1:
        return candidates[0]
    smallest_gap = torch.diff(torch.sort(z, dim=0).values, dim=0).min(dim=0).values
    return candidates[int(torch.argmax(smallest_gap))]
