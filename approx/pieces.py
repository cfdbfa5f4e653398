"""Exact linear pieces of a 1-D ReLU network, computed from its weights (no sampling).

A network f: R -> R whose activations are relu, identity or ramp (= clamp(., 0, 1), itself
piecewise linear) is continuous and piecewise linear. Its pieces are found layer by layer:

    start with the partition {lo, hi} and the input values h_0 = x at its points;
    for each layer l:
        z_l = s_l h_{l-1} W_l^T + b_l at every point of the partition   # (n_points, d_l)
        h_{l-1} is affine on every piece, hence so is each unit's z: it crosses a kink level
        (0 for relu; 0 and 1 for ramp) inside a piece [a, b] iff z(a) and z(b) lie strictly
        on opposite sides, at a + (b - a) * z(a) / (z(a) - z(b));
        add every crossing (its z values by linear interpolation, exact for affine z), merge
        points closer than ``tol * (hi - lo)``, and set h_l = phi_l(z_l) at the points.

After the last layer every unit is affine on every piece of the final partition: these are
the *activation regions* along [lo, hi] (``count_regions``). The realised function can have
fewer pieces: two neighbouring regions with the same slope (dead units, cancelling units,
zero-slope stretches) join into one. ``breakpoints`` returns only the points where the slope
of f really changes, so ``count_pieces = len(breakpoints) + 1`` counts the linear pieces of the
function itself. Slopes are computed exactly per region by forward-mode differentiation at the
region's midpoint (d h_l/dx = mask_l * (s_l W_l d h_{l-1}/dx)), not by difference quotients.
When the last hidden layer is relu and the output linear (``method="auto"``), that layer is
not expanded into a (points x units) table: each kink's slope change s_out v_j |dz_j/dx| is
read off directly, so a one-hidden-layer network of width m costs O(m log m), not O(m^2).

Bounds (Telgarsky 2015, 2016: L layers of width <= m give a (2m)^L-sawtooth): each relu unit
is affine on a piece and so crosses 0 at most once there, hence a network with hidden widths
m_1..m_L has at most prod_l (m_l + 1) <= (2m)^L regions along a line, m = max_l m_l, and
count_pieces <= count_regions. ``max_regions`` returns prod_l (m_l + 1) (with 2 m_l + 1 for
ramp layers, which have two kinks per unit, and 1 for identity layers; a relu or ramp output
layer counts as well).

Tolerances (float64 throughout): a pre-activation counts as *at* a kink level when it is
within ``rtol`` of the magnitude of the terms summed to form it (|s| |h| |W|^T + |b|), so
rounding never creates a crossing; two slopes are equal when they differ by at most ``rtol``
times the magnitude of the products forming them (the same forward pass with |W|). Points
closer than ``tol * (hi - lo)`` are merged, so breakpoints nearer to each other than that
are counted once.
"""
from __future__ import annotations

import numpy as np

from .network import Network

__all__ = ["METHODS", "PIECEWISE_LINEAR", "breakpoints", "count_pieces", "count_regions", "max_regions"]

# Piecewise-linear activations the counter handles, with the levels where their slope changes.
PIECEWISE_LINEAR: dict[str, tuple[float, ...]] = {"relu": (0.0,), "identity": (), "ramp": (0.0, 1.0)}

# "refine" propagates the partition through every layer (memory: points x width per layer);
# "auto" does the same up to the last hidden layer and then sweeps its kinks (see
# _sweep_last_layer), which is exact too and far cheaper for wide last layers.
METHODS = ("auto", "refine")

_Layers = list  # [(W (out, in), b (out,), activation, scale)] as float64 numpy arrays


def breakpoints(net: Network, lo: float = 0.0, hi: float = 1.0, *, tol: float = 1e-9,
                rtol: float = 1e-12, method: str = "auto") -> np.ndarray | list[np.ndarray]:
    """Sorted float64 array of the points in (lo, hi) where the slope of ``net`` changes.

    For an ensemble, a list with one array per member.
    """
    results = [_pieces(layers, lo, hi, tol, rtol, method)[0]
               for layers in _members(net, lo, hi, method)]
    return results if net.ensemble is not None else results[0]


def count_pieces(net: Network, lo: float = 0.0, hi: float = 1.0, *, tol: float = 1e-9,
                 rtol: float = 1e-12, method: str = "auto") -> int | np.ndarray:
    """Number of linear pieces of the function ``net`` on [lo, hi] (len(breakpoints) + 1).

    Neighbouring regions with equal slopes count as one piece. For an ensemble, an int array
    with one count per member.
    """
    counts = [_pieces(layers, lo, hi, tol, rtol, method)[0].size + 1
              for layers in _members(net, lo, hi, method)]
    return np.array(counts) if net.ensemble is not None else counts[0]


def count_regions(net: Network, lo: float = 0.0, hi: float = 1.0, *, tol: float = 1e-9,
                  rtol: float = 1e-12, method: str = "auto") -> int | np.ndarray:
    """Number of maximal intervals of [lo, hi] on which every unit is affine (activation regions).

    Always >= count_pieces: regions with equal slopes are separate regions but one piece.
    """
    counts = [_pieces(layers, lo, hi, tol, rtol, method)[1]
              for layers in _members(net, lo, hi, method)]
    return np.array(counts) if net.ensemble is not None else counts[0]


def max_regions(net: Network) -> int:
    """prod over layers of (n_kinks * m_l + 1): the most regions a line can cross.

    With only relu hidden layers of width <= m and a linear output this is prod (m_l + 1) <=
    (2m)^L, the bound of Telgarsky (2015, 2016). The output layer counts as every layer does:
    a linear one gives a factor 1, a relu or ramp output adds its own kinks to the regions.
    """
    bound = 1
    for layer in net.layers:
        bound *= len(PIECEWISE_LINEAR.get(layer.activation, (0.0,))) * layer.fan_out + 1
    return bound


# ---------------------------------------------------------------------- internals
def _members(net: Network, lo: float, hi: float, method: str) -> list[_Layers]:
    """Validate the question and return each member's layers as float64 numpy arrays."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    if not isinstance(net, Network):
        raise ValueError(f"expected an approx.Network, got {type(net).__name__}")
    if net.sizes[0] != 1 or net.sizes[-1] != 1:
        raise ValueError(
            f"pieces are counted for networks R -> R; this one maps R^{net.sizes[0]} -> "
            f"R^{net.sizes[-1]} (sizes {net.sizes})"
        )
    bad = [a for a in net.activations if a not in PIECEWISE_LINEAR]
    if bad:
        raise ValueError(
            f"pieces need piecewise-linear activations ({', '.join(PIECEWISE_LINEAR)}); "
            f"this network uses {bad[0]!r}"
        )
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"need a finite interval lo < hi, got [{lo}, {hi}]")
    params = [p.detach().to("cpu").double().numpy() for p in net.parameters()]
    members = []
    for e in range(net.ensemble or 1):
        layers = []
        for l, layer in enumerate(net.layers):
            w, b = params[2 * l], params[2 * l + 1]
            if net.ensemble is not None:
                w, b = w[e], b[e]
            layers.append((w, b, layer.activation, float(layer.scale)))
        members.append(layers)
    return members


def _pieces(layers: _Layers, lo: float, hi: float, tol: float, rtol: float,
            method: str = "auto") -> tuple[np.ndarray, int]:
    """(interior breakpoints of the function, number of activation regions)."""
    x = np.array([lo, hi], dtype=np.float64)  # (n,) the partition's points
    h = x[:, None]  # (n, 1) current layer's values at the points
    min_gap = tol * (hi - lo)
    sweep = (method == "auto" and len(layers) >= 2 and layers[-2][2] == "relu"
             and layers[-1][2] == "identity")
    for w, b, activation, scale in layers[:-2] if sweep else layers:
        z = scale * h @ w.T + b  # (n, out)
        size = abs(scale) * np.abs(h) @ np.abs(w).T + np.abs(b)  # (n, out) magnitude of terms
        for level in PIECEWISE_LINEAR[activation]:
            x, z, size = _refine(x, z, size, level, rtol, min_gap)
        h = _apply(activation, z)
    if sweep:
        return _sweep_last_layer(layers, x, h, rtol, min_gap)
    slopes, slope_size = _slopes(layers, 0.5 * (x[:-1] + x[1:]))  # (n - 1,) each
    jump = np.abs(np.diff(slopes))
    changes = jump > rtol * np.maximum(slope_size[:-1], slope_size[1:])
    return x[1:-1][changes], x.size - 1


def _sweep_last_layer(layers: _Layers, x: np.ndarray, h: np.ndarray, rtol: float,
                      min_gap: float) -> tuple[np.ndarray, int]:
    """Breakpoints when the last hidden layer is relu and the output is linear, in O(n m).

    On a piece [x_i, x_(i+1)] every unit z_j is affine with slope dz_ij, and f = c + s_out *
    sum_j v_j relu(z_j). Crossing the kink of unit j changes the slope of f by
    s_out v_j |dz_ij| (the unit turns on where z rises through 0, off where it falls), and at
    a point x_i inherited from earlier layers the slope changes by (slope at the start of
    piece i) - (slope at the end of piece i - 1), each a direct sum over the units active
    there. So no (points x units) matrix is ever formed for the crossings: for a wide shallow
    network this is the difference between O(m^2) and O(m log m).
    """
    w, b, _, scale = layers[-2]
    v, _, _, out_scale = layers[-1]
    v = out_scale * v[0]  # (m,) output weights
    z = scale * h @ w.T + b  # (n, m) at the points
    size = abs(scale) * np.abs(h) @ np.abs(w).T + np.abs(b)
    _, dh, dh_size = _tangents(layers[:-2], 0.5 * (x[:-1] + x[1:]))  # (n - 1, d) per piece
    dz = scale * dh @ w.T  # (n - 1, m) slope of each unit on each piece
    dz_size = np.abs(v) * (abs(scale) * dh_size @ np.abs(w).T)  # (n - 1, m)
    side = np.sign(z)
    side[np.abs(z) <= rtol * size] = 0
    on_start = (side[:-1] > 0) | ((side[:-1] == 0) & (dz > 0))  # active just right of x_i
    on_end = (side[1:] > 0) | ((side[1:] == 0) & (dz < 0))  # active just left of x_(i+1)
    slope_start, slope_end = (on_start * dz) @ v, (on_end * dz) @ v  # (n - 1,) each
    piece_size = dz_size.sum(1)  # (n - 1,) magnitude of the slope's terms

    cross_piece, cross_unit = np.nonzero(side[:-1] * side[1:] < 0)
    za, zb = z[cross_piece, cross_unit], z[cross_piece + 1, cross_unit]
    x_cross = x[cross_piece] + za / (za - zb) * (x[cross_piece + 1] - x[cross_piece])
    # every candidate point with the slope change it carries and the scale of that change
    points = np.concatenate([x[1:-1], x_cross])
    jumps = np.concatenate([slope_start[1:] - slope_end[:-1],
                            np.abs(dz[cross_piece, cross_unit]) * v[cross_unit]])
    sizes = np.concatenate([np.maximum(piece_size[1:], piece_size[:-1]), piece_size[cross_piece]])
    inside = (points - x[0] >= min_gap) & (x[-1] - points >= min_gap)
    points, jumps, sizes = points[inside], jumps[inside], sizes[inside]
    if points.size == 0:
        return points, 1
    order = np.argsort(points, kind="stable")
    points, jumps, sizes = points[order], jumps[order], sizes[order]
    # merge clusters closer than min_gap: the cluster's slope change is the sum of its members'
    first = np.ones(points.size, dtype=bool)
    first[1:] = np.diff(points) >= min_gap
    starts = np.flatnonzero(first)
    cluster_jump = np.add.reduceat(jumps, starts)
    cluster_size = np.maximum.reduceat(sizes, starts)
    changes = np.abs(cluster_jump) > rtol * cluster_size
    return points[starts][changes], starts.size + 1


def _refine(x: np.ndarray, z: np.ndarray, size: np.ndarray, level: float, rtol: float,
            min_gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the points where some unit's z crosses ``level`` strictly inside a piece."""
    side = np.sign(z - level)  # (n, out)
    side[np.abs(z - level) <= rtol * size] = 0  # within rounding of the level: "at" it
    cross_piece, cross_unit = np.nonzero(side[:-1] * side[1:] < 0)  # pieces i, units j
    if cross_piece.size == 0:
        return x, z, size
    za, zb = z[cross_piece, cross_unit], z[cross_piece + 1, cross_unit]
    t = ((za - level) / (za - zb))[:, None]  # (n_new, 1) fraction along the piece
    x_new = x[cross_piece] + t[:, 0] * (x[cross_piece + 1] - x[cross_piece])
    z_new = z[cross_piece] + t * (z[cross_piece + 1] - z[cross_piece])  # affine: exact
    size_new = np.maximum(size[cross_piece], size[cross_piece + 1])
    z_new[np.arange(cross_piece.size), cross_unit] = level  # the crossing unit sits on its kink
    keep = (x_new - x[0] >= min_gap) & (x[-1] - x_new >= min_gap)
    x = np.concatenate([x, x_new[keep]])
    z = np.concatenate([z, z_new[keep]])
    size = np.concatenate([size, size_new[keep]])
    order = np.argsort(x, kind="stable")
    x, z, size = x[order], z[order], size[order]
    # Merge clusters of points closer than min_gap (coincident kinks of different units),
    # keeping the first point of each cluster; lo and hi are never dropped.
    keep = np.ones(x.size, dtype=bool)
    keep[1:-1] = np.diff(x)[:-1] >= min_gap
    return x[keep], z[keep], size[keep]


def _apply(activation: str, z: np.ndarray) -> np.ndarray:
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "ramp":
        return np.clip(z, 0.0, 1.0)
    return z


def _tangents(layers: _Layers, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, dh/dx, dh/dx computed with |W|) after ``layers`` at the points x: forward mode."""
    h, dh, size = x[:, None], np.ones((x.size, 1)), np.ones((x.size, 1))  # (n, 1) each
    for w, b, activation, scale in layers:
        z = scale * h @ w.T + b  # (n, out)
        if activation == "relu":
            mask = (z > 0).astype(np.float64)
        elif activation == "ramp":
            mask = ((z > 0) & (z < 1)).astype(np.float64)
        else:
            mask = np.ones_like(z)
        dh = mask * (scale * dh @ w.T)
        size = mask * (abs(scale) * size @ np.abs(w).T)
        h = _apply(activation, z)
    return h, dh, size


def _slopes(layers: _Layers, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f'(x), the same derivative computed with |W|) at the points x."""
    _, dh, size = _tangents(layers, x)
    return dh[:, 0], size[:, 0]
