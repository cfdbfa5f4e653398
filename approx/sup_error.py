"""An interval that holds the sup error of a 1-D network on [lo, hi]: what a grid misses, bounded.

    lower, upper = sup_error_interval(net, target)      # lower <= sup |net - f| <= upper

A grid maximum of |g - f| is only a lower bound on the sup error: the worst point can lie between
grid points. This module adds, per grid interval, a bound on how far the error can rise there,
so that the pair (grid maximum, bound) encloses the true sup, and refines the grid where the two
are far apart. The theorem behind it:

    Let e = g - f be C^2 on [a, b], h = b - a and |e''| <= M on [a, b]. Then
        max_[a, b] |e| <= max(|e(a)|, |e(b)|) + M h^2 / 8.
    Proof: let |e| be largest at x*. If x* is a or b there is nothing to show. Otherwise x* is
    an interior extremum of e (|e(x*)| > 0 is a maximum of |e|, so e has a local maximum or
    minimum there), so e'(x*) = 0. Let c be the endpoint nearer to x*, |c - x*| <= h/2. By
    Taylor's theorem, e(c) = e(x*) + 0 + e''(xi) (c - x*)^2 / 2 for some xi in [a, b], so
    |e(x*)| <= |e(c)| + M (h/2)^2 / 2 = |e(c)| + M h^2 / 8.
    (The same h^2/8 as the piecewise-linear interpolant's error bound: the slope of e' is at
    most M, and e' vanishes at x*.)

The points are an even grid of ``n_grid`` points, plus, where they exist, the breakpoints of a
piecewise-linear network (``approx.pieces.breakpoints``) and the kinks of a piecewise-linear
target (``Target.kinks``), so that e is C^2 on every interval between neighbouring points. M is
then, per interval, a bound on |g''| plus one on |f''|:

    f: the target's max|f''| (``Target.max_f2``); 0 for a piecewise-linear target, whose kinks
       are points, so f is affine on every interval.
    g, piecewise linear (relu, ramp, identity layers, any depth): 0, since its breakpoints are
       points. With a piecewise-linear target too, e is affine on every interval, the bound
       equals the grid maximum, and the sup error is exact (to the rounding of evaluating e).
    g, one hidden layer of tanh or sigmoid units, g(x) = c + s_out sum_i v_i phi(z_i(x)) with
       z_i(x) = s w_i x + b_i affine: g'' = s_out sum_i v_i (s w_i)^2 phi''(z_i), so on an interval
           |g''| <= |s_out| sum_i |v_i| (s w_i)^2 A(m_i),   m_i = min over the interval of |z_i|
       (0 if z_i changes sign there), with A(m) = sup_{|z| >= m} |phi''(z)|, exact:
           tanh:    tanh'' = -2 tanh z (1 - tanh^2 z) is odd, and |tanh''| rises on [0, z*] and
                    falls after, z* = atanh(1/sqrt 3) (where it is 4 / (3 sqrt 3)), so
                    A(m) = |tanh''(max(m, z*))|;
           sigmoid: sigma(z) = (1 + tanh(z/2)) / 2, so sigma''(z) = tanh''(z/2) / 8 and
                    A(m) = A_tanh(m/2) / 8.
       Units far from their transition on an interval (large m) contribute ~ e^{-2m}: the bound is
       local, so steep units spoil it only where they switch.

Branch and bound: an interval whose bound exceeds the largest error found by more than a
relative ``rtol`` is bisected, its midpoint evaluated and both halves bounded again (each halving
divides h^2/8 by 4, and raises the m of units switching elsewhere), until no interval does or a
budget of points is spent. So lower rises to the sup and upper falls to it: a unit steeper than
the grid resolves (trained weights of 1e6 make a transition narrower than the grid's spacing,
where a plain grid can miss a spike of the error) is found and bounded where it switches.

Rounding is not in the bound: e is evaluated in float64, each value to within a few units in the
last place of |g| + |f|, far below every error measured with it.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .network import Network
from .pieces import PIECEWISE_LINEAR, breakpoints

__all__ = ["sup_error_interval", "evaluation_points", "second_derivative_bound", "SMOOTH_ACTIVATIONS"]

SMOOTH_ACTIVATIONS = ("tanh", "sigmoid")  # one hidden layer of these: the local bound on |g''|
_Z_STAR = math.atanh(1 / math.sqrt(3))  # where |tanh''| is largest: 4 / (3 sqrt 3)
_CELLS = 2**21  # (points x units) numbers per block of the bound on |g''|


def sup_error_interval(net: Network, target, n_grid: int = 16_385, lo: float = 0.0, hi: float = 1.0, *,
                       rtol: float = 1e-3, max_points: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray] | tuple[float, float]:
    """(lower, upper) with lower <= sup_[lo, hi] |net(x) - target(x)| <= upper (module docstring).

    lower is the largest error at the evaluation points (``evaluation_points``), upper adds the
    bound on what lies between them. Where an interval's bound exceeds lower (1 + rtol), it is
    bisected and the halves bounded again (branch and bound), until no interval does or the
    points number ``max_points`` (default 8 n_grid): steep units are then resolved where they
    switch, not everywhere. lower == upper (the sup is exact) for a piecewise-linear network on
    a piecewise-linear target. net: a Network R -> R (or an ensemble), piecewise linear or one
    hidden layer of tanh or sigmoid units with a linear output; target: an
    ``approx.targets.Target`` with kinks or max_f2. For an ensemble, two arrays (E,).
    """
    curvature_f = _target_curvature(target)
    smooth = _check_network(net)
    rtol = float(rtol)
    if not rtol >= 0:
        raise ValueError(f"rtol must be a number >= 0, got {rtol!r}")
    lower, upper = [], []
    members = net.unstack() if net.ensemble is not None else [net]
    for member in members:
        member = member.to(device="cpu", dtype=torch.float64)

        def error(x: np.ndarray) -> np.ndarray:  # |g - f| at the points (N,)
            xt = torch.from_numpy(x)[:, None]
            return (member(xt) - target(xt)).reshape(-1).abs().numpy()

        def curvature(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # bound on |e''| on each [a_j, b_j]
            m2 = np.full(a.size, curvature_f)
            return m2 + second_derivative_bound(member, a, b) if smooth else m2

        x = evaluation_points(member, target, n_grid, lo, hi)  # (N,)
        low, high = _branch_and_bound(x, error, curvature, rtol, max_points or 8 * n_grid)
        lower.append(low)
        upper.append(high)
    if net.ensemble is None:
        return lower[0], upper[0]
    return np.array(lower), np.array(upper)


def _branch_and_bound(x: np.ndarray, error, curvature, rtol: float, max_points: int) -> tuple[float, float]:
    """(max error at the points, max over intervals of the bound), bisecting the intervals whose
    bound exceeds the first by more than rtol (and 1e-15, below which rounding decides)."""
    e = error(x)  # (N,)
    m2 = curvature(x[:-1], x[1:])  # (N - 1,)
    while True:
        bound = np.maximum(e[:-1], e[1:]) + np.square(np.diff(x)) / 8 * m2  # (N - 1,)
        found = float(e.max())
        split = np.flatnonzero(bound > found * (1 + rtol) + 1e-15)
        mid = (x[split] + x[split + 1]) / 2
        splittable = (mid > x[split]) & (mid < x[split + 1])  # not yet at float64's resolution
        split, mid = split[splittable], mid[splittable]
        if split.size == 0 or x.size + split.size > max_points:
            return found, float(bound.max())
        left, right = curvature(x[split], mid), curvature(mid, x[split + 1])
        m2[split] = left
        m2 = np.insert(m2, split + 1, right)
        e = np.insert(e, split + 1, error(mid))
        x = np.insert(x, split + 1, mid)


def evaluation_points(net: Network, target, n_grid: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """The sorted float64 points (N,): an even grid of n_grid points of [lo, hi], the breakpoints
    of a piecewise-linear (single) ``net`` and the kinks of ``target`` inside (lo, hi)."""
    if isinstance(n_grid, bool) or not isinstance(n_grid, int) or n_grid < 2:
        raise ValueError(f"n_grid must be an integer >= 2, got {n_grid!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"need a finite interval lo < hi, got [{lo}, {hi}]")
    parts = [np.linspace(lo, hi, n_grid)]
    if all(a in PIECEWISE_LINEAR for a in net.activations):
        parts.append(np.asarray(breakpoints(net, lo, hi), dtype=np.float64))
    kinks = np.asarray(getattr(target, "kinks", None) or (), dtype=np.float64)
    parts.append(kinks[(kinks > lo) & (kinks < hi)])
    return np.unique(np.concatenate(parts))


def second_derivative_bound(net: Network, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per interval [a_j, b_j], a bound on |g''| for a single network g with one hidden layer of
    tanh or sigmoid units and a linear output (module docstring): (N,) float64."""
    first, last = net.layers
    w = first.scale * first.weight.detach().cpu().double().reshape(-1).numpy()  # (n,) dz_i/dx
    c = first.bias.detach().cpu().double().reshape(-1).numpy()  # (n,)
    v = abs(last.scale) * np.abs(last.weight.detach().cpu().double().reshape(-1).numpy())  # (n,)
    coef = v * w * w  # (n,) |s_out v_i| (s w_i)^2
    out = np.empty(a.size)
    rows = max(1, _CELLS // max(1, w.size))
    for start in range(0, a.size, rows):
        za = a[start:start + rows, None] * w + c  # (k, n)
        zb = b[start:start + rows, None] * w + c
        nearest = np.where(za * zb <= 0, 0.0, np.minimum(np.abs(za), np.abs(zb)))  # (k, n) min |z_i|
        out[start:start + za.shape[0]] = _largest_phi2(first.activation, nearest) @ coef
    return out


def _largest_phi2(activation: str, m: np.ndarray) -> np.ndarray:
    """A(m) = sup over |z| >= m of |phi''(z)|, for tanh and sigmoid (module docstring)."""
    if activation == "sigmoid":
        return _largest_phi2("tanh", m / 2) / 8
    t = np.tanh(np.maximum(m, _Z_STAR))
    return 2 * t * (1 - t * t)


def _target_curvature(target) -> float:
    """A bound on |f''| between evaluation points: 0 for piecewise-linear targets (their kinks
    are points), else max|f''|; a ValueError for a target with neither."""
    if getattr(target, "kinks", None) is not None:
        return 0.0
    max_f2 = getattr(target, "max_f2", None)
    if max_f2 is None:
        raise ValueError(f"a certified sup error needs a C^2 target (max_f2) or a piecewise-linear one "
                         f"(kinks); {getattr(target, 'name', target)!r} has neither")
    return float(max_f2)


def _check_network(net: Network) -> bool:
    """True for one hidden layer of tanh or sigmoid units (the local bound), False for a
    piecewise-linear network; a ValueError for anything else."""
    if not isinstance(net, Network):
        raise ValueError(f"expected an approx.Network, got {type(net).__name__}")
    if net.sizes[0] != 1 or net.sizes[-1] != 1:
        raise ValueError(f"the sup error is certified for networks R -> R; these sizes are {net.sizes}")
    if all(a in PIECEWISE_LINEAR for a in net.activations):
        return False
    if len(net.layers) == 2 and net.activations[0] in SMOOTH_ACTIVATIONS and net.activations[1] == "identity":
        return True
    raise ValueError(f"the sup error is certified for piecewise-linear networks ({', '.join(PIECEWISE_LINEAR)}) "
                     f"and one hidden layer of {' or '.join(SMOOTH_ACTIVATIONS)} with a linear output; "
                     f"got activations {net.activations}")
