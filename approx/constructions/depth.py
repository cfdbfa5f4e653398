"""Depth separation by construction: Telgarsky's sawtooth and Yarotsky's square.

The triangle map (the "tooth") on [0, 1],

    t(x) = 2 relu(x) - 4 relu(x - 1/2) = 2x on [0, 1/2],  2 - 2x on [1/2, 1],

maps [0, 1] onto [0, 1] twice, so its k-fold composition t^k is a sawtooth with 2^(k-1) teeth
and 2^k linear pieces, the piecewise-linear interpolant of t^k(j / 2^k) = j mod 2. Composed as
layers it costs k hidden layers of width 2 (6k + 1 parameters); with one hidden layer it costs
2^k units (3 * 2^k + 1 parameters). Depth buys an exponential saving (Telgarsky 2015, 2016).

Yarotsky (2017, Proposition 2) turns the teeth into a fast approximation of x^2:

    f_m(x) = x - sum_{s=1..m} t^s(x) / 4^s

is the piecewise-linear interpolant of x^2 at the knots j / 2^m, so
sup_[0,1] |f_m(x) - x^2| = (2^-m)^2 / 4 = 2^(-2m-2), attained at the midpoints between knots.
Error eps costs O(log(1/eps)) parameters deep, but O(eps^(-1/2)) with one hidden layer.

Classification (Telgarsky 2015, "Representation benefits of deep feedforward networks",
Theorem 1.1): the n = 2^k points x_i = i / 2^k with alternating labels y_i = i mod 2 are
classified with zero error by 1[t^k(x) >= 1/2], a network with 2 units in each of k hidden
layers, while every ReLU network with l layers of m <= 2^((k - 3)/l - 1) units has
classification error >= 1/6 on them (it has at most (2m)^l <= n/8 pieces, and a function with
few pieces cannot follow n alternating labels). The approximation version, for the L1 distance
to t^(k^3), is Telgarsky (2016), "Benefits of depth in neural networks", Theorem 1.1.
"""
from __future__ import annotations

import math

import torch

from .. import checks
from ..network import Layer, Network

__all__ = [
    "alternating_error_floor",
    "alternating_error_floor_width",
    "alternating_points",
    "relu_interpolant_1d",
    "sawtooth",
    "sawtooth_shallow",
    "sawtooth_shallow_width",
    "square_interpolant_shallow",
    "tooth_power",
    "yarotsky_square",
    "yarotsky_square_error",
]


def _tensor(rows, dtype, device) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).to(device=device, dtype=dtype)


def tooth_power(x: torch.Tensor, k: int) -> torch.Tensor:
    """t^k(x), the k-fold composition of the triangle map, evaluated directly (a reference)."""
    checks.integer("k", k, low=1)
    for _ in range(k):
        x = 2 * torch.relu(x) - 4 * torch.relu(x - 0.5)
    return x


def sawtooth(k: int, *, dtype: torch.dtype = torch.float64, device="cpu") -> Network:
    """t^k on [0, 1] as k hidden relu layers of width 2: exactly 2^k pieces, 6k + 1 parameters.

    Hidden layer 1: (relu(x), relu(x - 1/2)); each later hidden layer reads t = 2 h_1 - 4 h_2
    of the one before and emits (relu(t), relu(t - 1/2)); the output is 2 h_1 - 4 h_2.
    """
    k = checks.integer("k", k, low=1)
    first = Layer(_tensor([[1.0], [1.0]], dtype, device), _tensor([0.0, -0.5], dtype, device), "relu")
    middle = Layer(_tensor([[2.0, -4.0], [2.0, -4.0]], dtype, device),
                   _tensor([0.0, -0.5], dtype, device), "relu")
    output = Layer(_tensor([[2.0, -4.0]], dtype, device), _tensor([0.0], dtype, device), "identity")
    return Network([first] + [middle] * (k - 1) + [output])


def relu_interpolant_1d(knots, values, *, dtype: torch.dtype = torch.float64, device="cpu") -> Network:
    """The piecewise-linear interpolant of (knots, values) on [knots[0], knots[-1]], one hidden layer.

    g(x) = values[0] + sum_{j=0..n-2} c_j relu(x - knots[j]), c_0 the first slope and c_j the
    slope change at knot j: n - 1 units for n knots, exact on [knots[0], knots[-1]].
    """
    knots = torch.as_tensor(knots, dtype=torch.float64).reshape(-1)
    values = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if knots.numel() < 2 or knots.numel() != values.numel():
        raise ValueError(f"need >= 2 knots and one value per knot, got {knots.numel()} knots "
                         f"and {values.numel()} values")
    if not bool((torch.diff(knots) > 0).all()):
        at = int(torch.nonzero(torch.diff(knots) <= 0)[0])  # the first knot not above its left neighbour
        raise ValueError(f"knots must be strictly increasing; got knots[{at}] = {knots[at].item():g} and "
                         f"knots[{at + 1}] = {knots[at + 1].item():g}")
    slopes = torch.diff(values) / torch.diff(knots)  # (n - 1,)
    coef = torch.cat([slopes[:1], torch.diff(slopes)])  # (n - 1,) slope changes
    hidden = Layer(torch.ones(knots.numel() - 1, 1, dtype=torch.float64), -knots[:-1], "relu")
    output = Layer(coef.unsqueeze(0), values[:1].clone(), "identity")
    return Network([hidden, output]).to(device, dtype)


def sawtooth_shallow_width(k: int) -> int:
    """Units a one-hidden-layer relu network needs to equal t^k on [0, 1]: 2^k, and no fewer.

    Why no fewer: each unit relu(w x + b) has one kink, and t^k has 2^k - 1 kinks inside
    (0, 1), so every kink needs its own unit. With exactly 2^k - 1 units each sits on one kink
    j / 2^k and, facing left or right, changes the slope there by d_j = -+2^(k+1); the slope on
    the first piece is then minus the sum of d_j over the left-facing units, a multiple of
    2^(k+1), but t^k starts with slope 2^k. So one more unit (the initial slope) is needed.
    """
    return 2 ** checks.integer("k", k, low=1)


def sawtooth_shallow(k: int, *, dtype: torch.dtype = torch.float64, device="cpu") -> Network:
    """t^k on [0, 1] with one hidden layer of 2^k relu units (3 * 2^k + 1 parameters).

    The interpolant of t^k(j / 2^k) = j mod 2 at j = 0..2^k: a unit at x = 0 for the first
    slope 2^k and one per interior kink j / 2^k with slope change -+2^(k+1).
    See ``sawtooth_shallow_width`` for why 2^k units are the minimum.
    """
    n = 2 ** checks.integer("k", k, low=1)
    knots = torch.arange(n + 1, dtype=torch.float64) / n
    return relu_interpolant_1d(knots, torch.arange(n + 1) % 2, dtype=dtype, device=device)


def yarotsky_square(m: int, *, dtype: torch.dtype = torch.float64, device="cpu") -> Network:
    """x^2 on [0, 1] to sup error 2^(-2m-2) with m hidden layers of width 3 (12m - 2 parameters).

    f_m(x) = x - sum_{s=1..m} t^s(x) / 4^s (Yarotsky 2017). Hidden layer s holds
    (relu(g), relu(g - 1/2), relu(S)) with g = t^(s-1)(x) and the running sum
    S = f_(s-1)(x) = x - sum_{r<s} t^r(x) / 4^r. relu(S) = S because f_(s-1) >= x^2 >= 0
    (the interpolant of a convex function lies above it), so the carry costs nothing; the
    next layer reads t^s = 2 h_1 - 4 h_2 and S - t^s / 4^s. Valid for x in [0, 1].
    """
    m = checks.integer("m", m, low=1)
    layers = [Layer(_tensor([[1.0], [1.0], [1.0]], dtype, device),
                    _tensor([0.0, -0.5, 0.0], dtype, device), "relu")]
    for s in range(1, m):
        c = 4.0 ** -s
        weight = [[2.0, -4.0, 0.0], [2.0, -4.0, 0.0], [-2 * c, 4 * c, 1.0]]  # (g, g - 1/2, S - g/4^s)
        layers.append(Layer(_tensor(weight, dtype, device), _tensor([0.0, -0.5, 0.0], dtype, device), "relu"))
    c = 4.0 ** -m
    layers.append(Layer(_tensor([[-2 * c, 4 * c, 1.0]], dtype, device), _tensor([0.0], dtype, device),
                        "identity"))  # f_m = S - t^m / 4^m
    return Network(layers)


def yarotsky_square_error(m: int) -> float:
    """sup_[0,1] |f_m(x) - x^2| = 2^(-2m-2): the interpolant's error h^2/4 with h = 2^-m."""
    return 2.0 ** (-2 * checks.integer("m", m, low=1) - 2)


def square_interpolant_shallow(n_params: int, *, minimax: bool = False,
                               dtype: torch.dtype = torch.float64, device="cpu") -> Network:
    """The best one-hidden-layer relu approximation of x^2 on [0, 1] within ``n_params`` parameters.

    n = (n_params - 1) // 3 units (3 per unit plus the output bias) give the interpolant at the
    n + 1 equispaced knots j / n, sup error 1 / (4 n^2); equispaced knots are optimal for x^2
    (constant curvature). ``minimax=True`` lowers it by half its error, which equioscillates
    and gives the best uniform error with n pieces, 1 / (8 n^2).
    """
    n = (checks.integer("n_params (4 or more: one unit)", n_params, low=4) - 1) // 3
    knots = torch.arange(n + 1, dtype=torch.float64) / n
    values = knots.square() - (1.0 / (8 * n * n) if minimax else 0.0)
    return relu_interpolant_1d(knots, values, dtype=dtype, device=device)


def alternating_points(k: int, *, dtype: torch.dtype = torch.float64, device="cpu"):
    """Telgarsky's n-ap: (x (n, 1), y (n, 1)) with x_i = i / 2^k and y_i = i mod 2, n = 2^k.

    ``sawtooth(k)`` classifies them with zero error by thresholding at 1/2, since
    t^k(i / 2^k) = i mod 2 exactly.
    """
    n = 2 ** checks.integer("k", k, low=1)
    i = torch.arange(n, dtype=torch.float64)
    return (i / n).unsqueeze(1).to(device, dtype), (i % 2).unsqueeze(1).to(device, dtype)


def alternating_error_floor_width(k: int, n_layers: int) -> int:
    """The largest width m with m <= 2^((k - 3)/l - 1): up to it, error >= 1/6 is guaranteed.

    Telgarsky (2015), Theorem 1.1, for relu networks with l = ``n_layers`` layers of m units on
    the 2^k alternating points. Returns 0 when no width qualifies.
    """
    k, l = checks.integer("k", k, low=1), checks.integer("n_layers", n_layers, low=1)
    return math.floor(2.0 ** ((k - 3) / l - 1) + 1e-12)


def alternating_error_floor(n_pieces: int, k: int) -> float:
    """max(0, (n - t - 1) / (2n)): the least error on the 2^k alternating points of 1[f >= 1/2]
    for any continuous f with t = ``n_pieces`` linear pieces (the counting step of Telgarsky 2015).

    Along the sorted points the prediction changes at most t times (each non-constant piece
    meets the level 1/2 once), so it forms r <= t + 1 runs; a run of p alternating labels
    gets at most ceil(p/2) <= (p + 1)/2 right, so at least (n - r)/2 points are wrong. With
    t <= (2m)^l <= n/8 this is >= 7/16 - 1/(2n) >= 1/6, Telgarsky's bound.
    """
    n = 2 ** checks.integer("k", k, low=1)
    if isinstance(n_pieces, bool) or int(n_pieces) != n_pieces or n_pieces < 1:
        raise ValueError(f"n_pieces must be an integer >= 1, got {n_pieces!r}")
    return max(0.0, (n - int(n_pieces) - 1) / (2 * n))
