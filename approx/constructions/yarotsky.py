"""Yarotsky's depth-width trade-off for x^2 and xy, built exactly at every depth.

Yarotsky (2017), "Error bounds for approximations with deep ReLU networks", Neural Networks 94,
Proposition 2: the interpolant of x^2 at the knots j / 2^m is

    f_m(x) = x - sum_{s=1..m} t^s(x) / 4^s,   sup_[0,1] |f_m - x^2| = 2^(-2m-2),

with t the tooth of approx.constructions.depth: m layers of width 3, O(log(1/eps)) parameters,
against the O(eps^(-1/2)) of one hidden layer. Between the two, this module composes a few teeth
per layer. The identity behind it (a base-b version of Yarotsky's): with I_h the interpolant
at spacing h and z_h the zigzag that runs linearly from 0 to 1 and back on alternate cells of
width h,

    q(x) - I_h q(x) = -h^2 phi(z_h(x)),   q(x) = x^2,  phi(u) = u (1 - u)

(on a cell, q - I_h q = -(x - x_k)(x_(k+1) - x), and phi is symmetric, so the cell's direction
does not matter). Interpolating once more on a grid b times finer only refines phi:

    I_(h/b) q = I_h q - h^2 psi_b(z_h(x)),   psi_b = the interpolant of phi at i / b,
    z_(h/b) = T_b(z_h),                        T_b = the zigzag of b pieces on [0, 1].

(The second holds for every b: on a coarse cell the fine cells alternate in direction whether
b is even or odd.) So with bases b_1..b_L, N = b_1 ... b_L and H_j = 1 / (b_1 ... b_j),

    f(x) = x - sum_(j=1..L) H_(j-1)^2 psi_(b_j)(z_(H_(j-1))(x))  =  I_(1/N) q,
    sup_[0,1] |f - x^2| = 1 / (4 N^2)   (the interpolant's error h^2/4 at h = 1/N).

Both T_b and psi_b are piecewise linear with kinks only at i / b, so one hidden layer of the b
units relu(g - i / b), i = 0..b-1, holds both for g in [0, 1]:

    T_b(u)   = b relu(u) + sum_(i=1..b-1) (-1)^i 2b relu(u - i/b),
    psi_b(u) = (1 - 1/b) relu(u) - sum_(i=1..b-1) (2/b) relu(u - i/b).

Hidden layer j reads g = z_(H_(j-1))(x) and the running sum S = I_(H_(j-1)) q(x) from the layer
before (both linear in its units) and holds the b_j units of g plus one carry unit relu(S) = S
(S >= x^2 >= 0: the interpolant of a convex function lies above it). Layer 1 needs no carry:
S = x = relu(x - 0) is its first unit. Widths b_1, b_2 + 1, ..., b_L + 1; the output is S
after the last layer. Bases (2, ..., 2) are Yarotsky's f_m (widths 2, 3, ..., 3: 12m - 7
parameters for m >= 2, one unit less than approx.constructions.depth.yarotsky_square), and a
single base (N) is the one-hidden-layer interpolant at N + 1 knots (3N + 1 parameters).
``fewest_parameter_bases`` picks, for a depth L and N, the bases with the fewest parameters
(dynamic programming, exact).

Lower bound (the counting argument behind Yarotsky's Theorem 6, made explicit for dense
layered networks; Yarotsky states his bound up to constants, of the order eps^(-1/(2L)) weights
at fixed depth). A relu network R -> R with hidden widths m_1..m_L has at most
prod (m_l + 1) linear pieces (each unit's input is affine on a piece and crosses 0 once:
Telgarsky 2015, approx.pieces.max_regions), and a piecewise-linear function with n pieces
is at least 1/(8 n^2) from x^2 somewhere on [0, 1] (its longest piece has length h >= 1/n, and
no line is within h^2/8 of x^2 on it, Chebyshev). So sup error eps needs
prod (m_l + 1) >= N_min = ceil(1 / sqrt(8 eps)). With a_l = m_l + 1 >= 2 a dense network has

    P = 2 m_1 + sum_(l=2..L) (m_(l-1) + 1) m_l + m_L + 1
      >= a_1 + sum_(l=2..L) a_(l-1) a_l / 2 + a_L        (m >= a/2 for a >= 2)
      >= (L + 1) (N_min^2 / 2^(L-1))^(1/(L+1))            (AM-GM: the L + 1 terms multiply to
                                                            (prod a)^2 / 2^(L-1))

parameters (weights and biases, zeros included). For xy on [0, 1]^2 the same bound holds:
restricted to the diagonal x = y a network for xy is one for x^2 with no more parameters.

Products (polarisation): xy = 2 q((x + y)/2) - q(x)/2 - q(y)/2 on [0, 1]^2, so three copies of
a square network with sup error delta side by side give xy to within 2 delta + delta/2 +
delta/2 = 3 delta (triangle inequality; (x + y)/2 stays in [0, 1]).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .. import checks
from ..network import Layer, Network
from ..pieces import breakpoints

__all__ = [
    "MAX_PIECES",
    "fewest_parameter_bases",
    "interpolant_pieces",
    "min_pieces",
    "params_lower_bound",
    "polarised_product",
    "product_error_bound",
    "square_blocks",
    "square_blocks_error",
    "square_blocks_params",
    "sup_error_to_quadratic",
    "tooth_bases",
]

MAX_PIECES = 2**20  # N = b_1 ... b_L: the one-hidden-layer network then has 2^20 units


def _bases(bases) -> tuple[int, ...]:
    bases = checks.integers("bases", bases, low=1, high=MAX_PIECES, distinct=False)
    checks.product_at_most("the pieces b_1 x ... x b_L", {f"b_{j + 1}": b for j, b in enumerate(bases)}, MAX_PIECES)
    return bases


def square_blocks(bases, *, dtype: torch.dtype = torch.float64, device="cpu") -> Network:
    """The interpolant of x^2 at j / N, N = prod(bases), with one hidden layer per base (module
    docstring): widths b_1, b_2 + 1, ..., b_L + 1; sup error 1 / (4 N^2) on [0, 1]."""
    bases = _bases(bases)
    layers = []
    # g and S as linear functionals of the previous layer's outputs h: value = coef . h + const
    g_coef, g_const = np.array([1.0]), 0.0  # g = z_1(x) = x
    s_coef, s_const = np.array([1.0]), 0.0  # S = I_1 q = x
    h2 = 1.0  # H_(j-1)^2
    for j, b in enumerate(bases):
        knots = np.arange(b) / b  # (b,) the kinks i / b
        weight = np.tile(g_coef, (b, 1))  # (b, fan_in): every unit reads g
        bias = g_const - knots
        if j > 0:  # carry S (layer 1 has it as its first unit, relu(x) = x)
            weight = np.vstack([weight, s_coef])
            bias = np.append(bias, s_const)
        layers.append(Layer(torch.from_numpy(weight), torch.from_numpy(bias), "relu"))
        width = weight.shape[0]
        tooth = np.full(b, 2.0 * b) * (-1.0) ** np.arange(b)  # T_b: b, then -+2b at each kink
        tooth[0] = b
        psi = np.full(b, -2.0 / b)  # psi_b: 1 - 1/b, then -2/b at each kink
        psi[0] = 1 - 1 / b
        s_prev = np.zeros(width)
        s_prev[0 if j == 0 else b] = 1.0  # where S sits among this layer's units
        g_coef, g_const = np.zeros(width), 0.0
        g_coef[:b] = tooth
        s_coef, s_const = s_prev, 0.0
        s_coef[:b] -= h2 * psi
        h2 /= b * b
    layers.append(Layer(torch.from_numpy(s_coef[None, :]), torch.tensor([s_const], dtype=torch.float64), "identity"))
    return Network(layers).to(device, dtype)


def square_blocks_error(bases) -> float:
    """sup_[0,1] |square_blocks(bases)(x) - x^2| = 1 / (4 N^2), N = prod(bases)."""
    return 1.0 / (4.0 * math.prod(_bases(bases)) ** 2)


def square_blocks_params(bases) -> int:
    """Parameters (weights and biases, zeros included) of square_blocks(bases):
    2 w_1 + sum_(j>=2) (w_(j-1) + 1) w_j + w_L + 1 with w_1 = b_1, w_j = b_j + 1."""
    widths = [b + (j > 0) for j, b in enumerate(_bases(bases))]
    return 2 * widths[0] + sum((a + 1) * w for a, w in zip(widths, widths[1:])) + widths[-1] + 1


def interpolant_pieces(eps: float) -> int:
    """N = ceil(1 / (2 sqrt(eps))): the fewest equal pieces whose interpolant of x^2 has sup
    error 1 / (4 N^2) <= eps."""
    eps = checks.number("eps", eps, low=0, high=1, low_open=True)
    n = max(1, math.ceil(1 / (2 * math.sqrt(eps))))
    while n > 1 and 1 / (4 * (n - 1) ** 2) <= eps:  # float rounding of the ceil, either way
        n -= 1
    while 1 / (4 * n * n) > eps:
        n += 1
    return n


def min_pieces(eps: float) -> int:
    """N_min = ceil(1 / sqrt(8 eps)): no piecewise-linear function with fewer pieces is within
    eps of x^2 on [0, 1] (a piece of length h costs h^2 / 8). Rounded down where float rounding
    could put it one too high, so it stays a lower bound."""
    eps = checks.number("eps", eps, low=0, high=1, low_open=True)
    return max(1, math.ceil(1 / math.sqrt(8 * eps) * (1 - 1e-12)))


def params_lower_bound(eps: float, depth: int) -> float:
    """(L + 1) (N_min^2 / 2^(L-1))^(1/(L+1)): no dense relu network with L = ``depth`` hidden
    layers and fewer parameters is within eps of x^2 on [0, 1] (module docstring)."""
    depth = checks.integer("depth", depth, low=1)
    n = min_pieces(eps)
    return (depth + 1) * math.exp((2 * math.log(n) - (depth - 1) * math.log(2)) / (depth + 1))


def _base_choices(r: int) -> list[int]:
    """The smallest base b for each distinct value of ceil(r / b), b = 1..r (a larger b with the
    same remaining factor only costs more)."""
    out, b = [], 1
    while b <= r:
        out.append(b)
        q = -(-r // b)  # ceil(r / b)
        if q == 1:
            break
        b = -(-r // (q - 1))  # the smallest b with ceil(r / b) <= q - 1
    return out


@lru_cache(maxsize=None)
def _rest(layers_left: int, width: int, need: int) -> tuple[int, tuple[int, ...]]:
    """(fewest parameters, bases) of hidden layers after one of ``width`` units, plus the output,
    with product of the remaining bases >= need."""
    if layers_left == 0:
        return (width + 1, ()) if need <= 1 else (math.inf, ())
    best = (math.inf, ())
    for b in ([need] if layers_left == 1 else _base_choices(need)):
        cost, tail = _rest(layers_left - 1, b + 1, -(-need // b))
        cost += (width + 1) * (b + 1)
        if cost < best[0]:
            best = (cost, (b,) + tail)
    return best


def fewest_parameter_bases(n_pieces: int, depth: int) -> tuple[int, ...]:
    """The bases (b_1..b_L), L = ``depth``, with prod >= ``n_pieces`` and the fewest parameters of
    square_blocks (exact: dynamic programming over the remaining factor ceil(N / b_1...b_j))."""
    n = checks.integer("n_pieces", n_pieces, low=1, high=MAX_PIECES)
    depth = checks.integer("depth", depth, low=1, high=64)
    best = (math.inf, ())
    for b in _base_choices(n) if depth > 1 else [n]:
        cost, tail = _rest(depth - 1, b, -(-n // b))
        if 2 * b + cost < best[0]:
            best = (2 * b + cost, (b,) + tail)
    return best[1]


def tooth_bases(n_pieces: int) -> tuple[int, ...]:
    """Yarotsky's f_m: m = ceil(log2 N) bases of 2, so 2^m >= ``n_pieces``."""
    n = checks.integer("n_pieces", n_pieces, low=1, high=MAX_PIECES)
    return (2,) * max(1, math.ceil(math.log2(n) - 1e-12))


def polarised_product(square: Network) -> Network:
    """xy on [0, 1]^2 from a network s ~ x^2 on [0, 1]: 2 s((x + y)/2) - s(x)/2 - s(y)/2.

    Three copies of s side by side (block-diagonal weights), the first layer reading (x + y)/2,
    x and y. Sup error <= 3 delta if |s - x^2| <= delta on [0, 1] (``product_error_bound``).
    """
    if square.sizes[0] != 1 or square.sizes[-1] != 1 or square.ensemble is not None:
        raise ValueError(f"polarised_product needs one network R -> R, got sizes {square.sizes}"
                         + (f" and an ensemble of {square.ensemble}" if square.ensemble else ""))
    mix = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]], dtype=square.dtype, device=square.device)  # (3, 2)
    first, *rest = square.layers
    layers = [Layer(torch.cat([first.weight @ mix[i:i + 1] for i in range(3)]), first.bias.repeat(3),
                    first.activation, first.scale)]
    for layer in rest[:-1]:
        layers.append(Layer(torch.block_diag(*[layer.weight] * 3), layer.bias.repeat(3), layer.activation,
                            layer.scale))
    out = rest[-1] if rest else None
    if out is None:
        raise ValueError("polarised_product needs a network with at least one hidden layer")
    w = out.weight  # (1, m)
    layers.append(Layer(torch.cat([2 * w, -0.5 * w, -0.5 * w], dim=1), out.bias.clone(), out.activation, out.scale))
    return Network(layers)


def product_error_bound(square_error: float) -> float:
    """3 delta: the polarised product's sup error on [0, 1]^2 when the square's is delta."""
    return 3.0 * checks.number("square_error", square_error, low=0)


def sup_error_to_quadratic(net: Network, coeffs=(1.0, 0.0, 0.0), lo: float = 0.0, hi: float = 1.0
                           ) -> tuple[float, float]:
    """(sup_[lo, hi] |net(x) - q(x)|, a point where it is attained), q(x) = a x^2 + b x + c, exact.

    net is piecewise linear (approx.pieces finds its breakpoints). On a piece where net has slope
    s, e = q - net is a quadratic, so |e| is largest at an end of the piece or where e' = 0,
    at x* = (s - b) / (2a); all three are evaluated (net at x* by its line on the piece).
    """
    a, b, c = (checks.number(f"coeffs[{i}]", v) for i, v in enumerate(coeffs))
    x = np.concatenate([[lo], breakpoints(net, lo, hi), [hi]])  # (n + 1,)
    g = net(torch.from_numpy(x)[:, None].to(net.dtype)).detach().double().cpu().numpy()[:, 0]
    q = lambda t: (a * t + b) * t + c  # noqa: E731
    errors, points = list(np.abs(g - q(x))), list(x)
    slope = np.diff(g) / np.diff(x)  # (n,) per piece
    if a != 0:
        star = (slope - b) / (2 * a)
        inside = (star > x[:-1]) & (star < x[1:])
        line = g[:-1][inside] + slope[inside] * (star[inside] - x[:-1][inside])
        errors += list(np.abs(line - q(star[inside])))
        points += list(star[inside])
    i = int(np.argmax(errors))
    return float(errors[i]), float(points[i])
