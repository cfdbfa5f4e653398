"""Universal approximation by construction: sigmoid staircases, ReLU ramps, hats, interpolants, bumps.

Theorem (Cybenko 1989; Hornik, Stinchcombe & White 1989): one hidden layer of *sigmoidal*
units (sigma(-inf) = 0, sigma(+inf) = 1) approximates every continuous f on [lo, hi] uniformly.
Cybenko's proof is an existence proof (Hahn-Banach and the Riesz representation theorem); the
staircase here is the constructive argument (Jones 1990, "Constructive approximations for neural
networks by sigmoidal functions", Proc. IEEE 78(10)), made visual by Nielsen ("Neural Networks
and Deep Learning", 2015, ch. 4): n steep sigmoids are n steps of a staircase through the
values f(x_i). Beyond sigmoidal units (Leshno, Lin, Pinkus & Schocken 1993): an activation that
is locally bounded and continuous except on a set whose closure has measure zero gives dense
one-hidden-layer networks in C(K), K compact, if and only if it is not a polynomial (a.e.). ReLU is not sigmoidal, but the
lecture notes say "put two together": ramp(x) = (relu(x - a) - relu(x - b)) / (b - a) is 0 left
of a and 1 right of b, so the same staircase works with two ReLUs per step. The ReLU versions
are exact where the sigmoid versions have tails: a ramp is exactly 0 / 1 outside [a, b].

Every function returns an ``approx.Network`` (float64 on the CPU by default; ``dtype`` and
``device`` keywords), so both engines, the metrics and the piece counter read it. The
parameters are computed in float64 and then cast. Throughout, h = (hi - lo) / n, the knots are
x_i = lo + i h (i = 0..n) and omega is a modulus of continuity of f: |f(x) - f(y)| <= omega(|x - y|),
non-decreasing and subadditive (``approx.targets.Target.omega``).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .. import checks
from ..device import resolve_device
from ..network import Layer, Network

__all__ = [
    "sigmoid_staircase", "staircase_error_bound", "relu_ramp", "relu_hat", "relu_trapezoid",
    "relu_interpolant", "interpolant_error_bound", "ramp_staircase", "ramp_staircase_error_bound",
    "sigmoid_bump", "relu_bump_nd",
]

F64 = torch.float64


# ---------------------------------------------------------------------- helpers
def _network(weights: Sequence[tuple[Sequence, Sequence, str]], dtype, device) -> Network:
    """A Network from [(W, b, activation)] given as float64 arrays; cast and moved at the end."""
    device = resolve_device(device)
    return Network([Layer(torch.as_tensor(np.asarray(w, dtype=float), dtype=F64).to(device, dtype),
                          torch.as_tensor(np.asarray(b, dtype=float), dtype=F64).to(device, dtype), a)
                    for w, b, a in weights])


def _increasing(points: Sequence[float], names: str) -> list[float]:
    """The points as floats; a ValueError unless they are finite and strictly increasing."""
    values = [float(p) for p in points]
    if not all(math.isfinite(v) for v in values) or any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(f"need finite {names} in strictly increasing order, got {tuple(points)}")
    return values


def _values(f: Callable[[Tensor], Tensor], knots: np.ndarray) -> np.ndarray:
    """f at the knots, with f called on a float64 tensor of shape (m,)."""
    y = f(torch.as_tensor(knots, dtype=F64))
    y = np.asarray(torch.as_tensor(y).detach().cpu().to(F64)).reshape(-1)
    if y.size != knots.size or not np.all(np.isfinite(y)):
        raise ValueError(f"f must map the {knots.size} knots to {knots.size} finite values; got {y.size}")
    return y


def _knots(n: int, lo: float, hi: float) -> np.ndarray:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"need finite lo < hi, got lo={lo!r}, hi={hi!r}")
    return np.linspace(lo, hi, n + 1)  # x_i = lo + i h, endpoints exact


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(v, dtype=float)))  # no overflow for large |v|


def _omega(target) -> Callable:
    omega = getattr(target, "omega", None)
    if omega is None:
        raise ValueError(f"the bound needs a modulus of continuity; {target!r} has none")
    return omega


# ---------------------------------------------------------------------- sigmoid staircase
def sigmoid_staircase(f: Callable[[Tensor], Tensor], n: int, steepness: float, lo: float = 0.0,
                      hi: float = 1.0, *, dtype=F64, device="cpu") -> Network:
    """n sigmoid units stepping through f's values: the constructive proof of the sigmoidal
    universal approximation theorem (Jones 1990), drawn by Nielsen (2015, ch. 4).

        g(x) = f(x_0) + sum_{i=1..n} (f(x_i) - f(x_{i-1})) sigma(s (x - t_i)),  t_i = x_i - h/2,

    with s = ``steepness``. As s -> inf g is the step function that equals f(x_k) on
    [t_k, t_{k+1}), within h/2 of x_k, so its error is at most omega(h/2). For finite s the sup
    error on [lo, hi] is at most ``staircase_error_bound`` (derived there).
    Network: [1, n, 1], sigmoid hidden layer, W1 = s, b1 = -s t_i, W2 = the jumps, b2 = f(x_0).
    """
    n = checks.integer("n", n, low=1)
    s = checks.number("steepness", steepness, low=0, low_open=True)
    x = _knots(n, lo, hi)
    y = _values(f, x)
    t = (x[:-1] + x[1:]) / 2  # (n,) thresholds midway between knots
    return _network([(np.full((n, 1), s), -s * t, "sigmoid"), (np.diff(y)[None, :], [y[0]], "identity")],
                    dtype, device)


def staircase_error_bound(target, n: int, steepness: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """A rigorous bound on sup_{[lo, hi]} |g - f| for g = sigmoid_staircase(f, n, s, lo, hi).

        sup |g - f| <= omega(h/2) + max_{0 <= u <= h/2} sigma(-s u) omega(u)
                       + omega(h) sum_{j=1..2n-2} sigma(-s j h / 2)

    Proof. Fix x; let t_k be the nearest threshold, u = |x - t_k| <= h/2 (t_1 = lo + h/2 and
    t_n = hi - h/2 cover the ends), sigma_i = sigma(s (x - t_i)), D_i = f(x_i) - f(x_{i-1}). Then

        g(x) = (1 - sigma_k) f(x_{k-1}) + sigma_k f(x_k) + sum_{i<k} D_i (sigma_i - 1) + sum_{i>k} D_i sigma_i.

    (1) The two knots are at distances h/2 -+ u from x, the nearer one carrying weight sigma(s u),
    the farther one sigma(-s u); with omega non-decreasing and subadditive the convex combination
    is within sigma(s u) omega(h/2) + sigma(-s u)(omega(h/2) + omega(u)) of f(x): the first two terms.
    (2) |D_i| <= omega(h), and |sigma_i - 1| = sigma(-s (x - t_i)) for i < k, sigma_i = sigma(-s |x - t_i|)
    for i > k. The other thresholds lie at distances m h - u and m h + u (m >= 1), at least
    (2m - 1) h/2 and 2m h/2, at most n - 1 of them: the third term, <= omega(h) / (e^{s h/2} - 1).
    As s -> inf the bound tends to omega(h/2); for s h -> 0 it grows like omega(h) / (s h).
    The max over u is bounded rigorously on a grid u_j: sigma(-s u) omega(u) <= sigma(-s u_j) omega(u_{j+1}).
    """
    n = checks.integer("n", n, low=1)
    s = checks.number("steepness", steepness, low=0, low_open=True)
    _knots(n, lo, hi)
    omega = _omega(target)
    h = (hi - lo) / n
    u = np.concatenate([[0.0], np.geomspace(h * 1e-12, h / 2, 4000)])  # dense near 0, where sigma(-s u) ~ 1/2
    near = np.max(_sigmoid(-s * u[:-1]) * omega(u[1:]))
    j = np.arange(1, 2 * n - 1)
    tail = float(omega(h)) * float(np.sum(_sigmoid(-s * j * h / 2)))
    return float(omega(h / 2)) + float(near) + tail


# ---------------------------------------------------------------------- ReLU pieces
def relu_ramp(a: float, b: float, *, dtype=F64, device="cpu") -> Network:
    """"Put two together": ramp(x) = (relu(x - a) - relu(x - b)) / (b - a).

    Exactly 0 for x <= a, exactly 1 for x >= b (to float rounding of the difference), linear in
    between: a sigmoidal function made of two ReLUs, so Cybenko's theorem applies to ReLU
    networks with twice the units. Network: [1, 2, 1], relu.
    """
    a, b = _increasing((a, b), "a < b")
    k = 1.0 / (b - a)
    return _network([([[1.0], [1.0]], [-a, -b], "relu"), ([[k, -k]], [0.0], "identity")], dtype, device)


def relu_hat(a: float, b: float, c: float, *, dtype=F64, device="cpu") -> Network:
    """The hat on [a, c] with peak 1 at b, from three ReLUs:

        hat(x) = relu(x - a)/(b - a) - (1/(b - a) + 1/(c - b)) relu(x - b) + relu(x - c)/(c - b).

    0 outside [a, c], 1 at b, linear on [a, b] and [b, c]. The slopes cancel right of c.
    Network: [1, 3, 1], relu.
    """
    a, b, c = _increasing((a, b, c), "a < b < c")
    p, q = 1.0 / (b - a), 1.0 / (c - b)
    return _network([([[1.0]] * 3, [-a, -b, -c], "relu"), ([[p, -(p + q), q]], [0.0], "identity")],
                    dtype, device)


def relu_trapezoid(a: float, b: float, c: float, d: float, *, dtype=F64, device="cpu") -> Network:
    """The trapezoid 0 outside [a, d], 1 on [b, c], linear on [a, b] and [c, d], from four ReLUs:

        trap(x) = (relu(x - a) - relu(x - b))/(b - a) - (relu(x - c) - relu(x - d))/(d - c),

    a rising ramp minus a falling one (b = c gives a hat). Network: [1, 4, 1], relu.
    """
    if not b <= c:
        raise ValueError(f"need b <= c for a trapezoid, got b={b!r}, c={c!r}")
    a, b = _increasing((a, b), "a < b")
    c, d = _increasing((c, d), "c < d")
    p, q = 1.0 / (b - a), 1.0 / (d - c)
    return _network([([[1.0]] * 4, [-a, -b, -c, -d], "relu"), ([[p, -p, -q, q]], [0.0], "identity")],
                    dtype, device)


def relu_interpolant(f: Callable[[Tensor], Tensor], knots: Sequence[float], *, dtype=F64,
                     device="cpu") -> Network:
    """The piecewise-linear interpolant of f at the knots, as one hidden layer of n + 1 ReLUs:

        g(x) = f(x_0) + sum_{i=0..n} c_i relu(x - x_i),  c_i = s_i - s_{i-1},  s_i = slope on [x_i, x_{i+1}],

    with s_{-1} = s_n = 0, so g is flat outside [x_0, x_n] and equals numpy.interp everywhere.
    Error (a classical bound, e.g. de Boor, "A Practical Guide to Splines", ch. 2): for f in C^2,
    |g - f| <= h^2/8 max|f''| with h the largest gap; for f with modulus omega, |g - f| <= omega(h).
    """
    x = np.asarray(_increasing(np.asarray(knots, dtype=float).reshape(-1), "knots"), dtype=float)
    if x.size < 2:
        raise ValueError(f"need at least 2 knots, got {x.size}")
    y = _values(f, x)
    slopes = np.diff(y) / np.diff(x)  # (n,)
    c = np.diff(np.concatenate([[0.0], slopes, [0.0]]))  # (n + 1,)
    return _network([(np.ones((x.size, 1)), -x, "relu"), (c[None, :], [y[0]], "identity")], dtype, device)


def interpolant_error_bound(target, knots: Sequence[float]) -> float:
    """max_i (x_{i+1} - x_i)^2 / 8 * max|f''| (the bound above), for a C^2 target."""
    if getattr(target, "max_f2", None) is None:
        raise ValueError(f"the h^2/8 bound needs a C^2 target with max_f2; {target!r} has none")
    x = _increasing(np.asarray(knots, dtype=float).reshape(-1), "knots")
    return float(np.max(np.diff(x)) ** 2 / 8 * target.max_f2)


def ramp_staircase(f: Callable[[Tensor], Tensor], n: int, lo: float = 0.0, hi: float = 1.0, *,
                   width_fraction: float = 0.5, dtype=F64, device="cpu") -> Network:
    """The sigmoid staircase with each sigmoid replaced by a ReLU ramp ("put two together"):

        g(x) = f(x_0) + sum_{i=1..n} (f(x_i) - f(x_{i-1})) ramp_{[t_i - w/2, t_i + w/2]}(x),

    t_i = x_i - h/2, w = width_fraction * h in (0, h]. The ramps do not overlap and are exactly
    0 / 1 outside their intervals, so there is no tail: at every x, g is f(x_k) or a convex
    combination of f(x_{k-1}), f(x_k) with both knots within (h + w)/2 of x, hence

        sup |g - f| <= omega((1 + width_fraction) h / 2)   (``ramp_staircase_error_bound``).

    width_fraction = 1 gives exactly the piecewise-linear interpolant. Network: [1, 2n, 1], relu.
    """
    n = checks.integer("n", n, low=1)
    theta = checks.number("width_fraction", width_fraction, low=0, low_open=True)
    if theta > 1:
        raise ValueError(f"width_fraction must lie in (0, 1], got {width_fraction!r}")
    x = _knots(n, lo, hi)
    y = _values(f, x)
    h = (hi - lo) / n
    t = (x[:-1] + x[1:]) / 2
    if theta == 1:
        starts, ends = x[:-1], x[1:]  # the knots themselves: no rounding in t -+ h/2
    else:
        starts, ends = t - theta * h / 2, t + theta * h / 2
    jump = np.diff(y) / (ends - starts)  # (n,)
    bias = np.stack([-starts, -ends], axis=1).reshape(-1)  # (2n,) [-a_1, -b_1, -a_2, ...]
    out = np.stack([jump, -jump], axis=1).reshape(1, -1)  # (1, 2n)
    return _network([(np.ones((2 * n, 1)), bias, "relu"), (out, [y[0]], "identity")], dtype, device)


def ramp_staircase_error_bound(target, n: int, lo: float = 0.0, hi: float = 1.0, *,
                               width_fraction: float = 0.5) -> float:
    """omega((1 + width_fraction) h / 2), the bound derived in ``ramp_staircase``."""
    n = checks.integer("n", n, low=1)
    theta = checks.number("width_fraction", width_fraction, low=0, low_open=True)
    _knots(n, lo, hi)
    return float(_omega(target)((1 + theta) * (hi - lo) / n / 2))


# ---------------------------------------------------------------------- bumps
def sigmoid_bump(a: float, b: float, steepness: float, *, dtype=F64, device="cpu") -> Network:
    """bump(x) = sigma(s (x - a)) - sigma(s (x - b)), a smooth indicator of [a, b] (Nielsen 2015, ch. 4).

    |bump(x) - 1[a <= x <= b]| <= 2 sigma(-s dist(x, {a, b})): inside, 1 - bump =
    sigma(-s (x - a)) + sigma(s (x - b)); outside, 0 < bump < sigma(-s dist). Network: [1, 2, 1], sigmoid.
    """
    a, b = _increasing((a, b), "a < b")
    s = checks.number("steepness", steepness, low=0, low_open=True)
    return _network([([[s], [s]], [-s * a, -s * b], "sigmoid"), ([[1.0, -1.0]], [0.0], "identity")],
                    dtype, device)


def relu_bump_nd(center: Sequence[float], width: float | Sequence[float], margin: float | None = None,
                 *, dtype=F64, device="cpu") -> Network:
    """A bump on [0, 1]^d made of ReLUs with two hidden layers: 1 on a box, 0 outside a larger one.

        T_i(x_i) = trapezoid(c_i - w_i/2 - m, c_i - w_i/2, c_i + w_i/2, c_i + w_i/2 + m)   (4d ReLUs)
        bump(x)  = ramp(sum_i T_i(x_i) - (d - 1)) = relu(S - d + 1) - relu(S - d)        (2 ReLUs)

    On the inner box every T_i = 1, so S = d and bump = 1; outside the outer box some T_i = 0 and
    the others are <= 1, so S <= d - 1 and bump = 0; in between 0 <= bump <= 1. One hidden layer
    of ridge functions cannot do this: each unit is constant along a hyperplane, so a finite sum
    cannot vanish outside a bounded set in d >= 2 (the second layer's threshold does it). The
    same localisation powers the depth separations of Eldan & Shamir (2016). ``margin`` m
    defaults to a quarter of the smallest width. Network: [d, 4d, 2, 1], relu, relu.
    """
    c = np.asarray(center, dtype=float).reshape(-1)
    d = c.size
    if d < 1 or not np.all(np.isfinite(c)):
        raise ValueError(f"center must be a non-empty list of finite numbers, got {center!r}")
    w = np.broadcast_to(np.asarray(width, dtype=float), (d,)) if np.ndim(width) == 0 else \
        np.asarray(width, dtype=float).reshape(-1)
    if w.size != d or not np.all((w > 0) & np.isfinite(w)):
        raise ValueError(f"width must be > 0, one number or one per coordinate ({d}); got {width!r}")
    m = float(w.min()) / 4 if margin is None else checks.number("margin", margin, low=0, low_open=True)
    edges = np.stack([c - w / 2 - m, c - w / 2, c + w / 2, c + w / 2 + m], axis=1)  # (d, 4)
    w1 = np.zeros((4 * d, d))
    w1[np.arange(4 * d), np.repeat(np.arange(d), 4)] = 1.0  # unit j looks at coordinate j // 4
    trap = np.tile([1.0, -1.0, -1.0, 1.0], d) / m  # trapezoid output weights, both ramps of width m
    w2 = np.stack([trap, trap])  # (2, 4d): two copies of S = sum_i T_i
    return _network([(w1, -edges.reshape(-1), "relu"), (w2, [-(d - 1.0), -float(d)], "relu"),
                     ([[1.0, -1.0]], [0.0], "identity")], dtype, device)
