"""Yarotsky's (2017) depth-width trade-off: the parameters x^2 and xy need at each depth, built exactly.

    approx run yarotsky                  # default preset -> results/yarotsky.{csv,png,pdf,json}
    approx run yarotsky --preset smoke   # seconds on CPU; what the tests run

Yarotsky (2017), "Error bounds for approximations with deep ReLU networks", Neural Networks 94:
x^2 on [0, 1] to sup error eps costs O(log(1/eps)) parameters with depth O(log(1/eps)), against
O(eps^(-1/2)) with one hidden layer, and at any fixed depth L a number of weights that grows as
a power of 1/eps (his Theorem 6, of the order eps^(-1/(2L)), stated up to constants). For
eps = 2^-p this study builds, for each fixed depth L in ``depths`` and for Yarotsky's depth
log2 N, the network (approx.constructions.yarotsky.square_blocks) that interpolates x^2 at
N + 1 equispaced knots with N = ceil(1 / (2 sqrt eps)), one hidden layer per factor b_j of
N' = b_1 ... b_L >= N:

    depth 1          the interpolant itself, N units, 3N + 1 parameters (construction interpolant)
    depth L          the bases with the fewest parameters (exact dynamic programme; blocks)
    depth log2 N     bases 2, ..., 2: Yarotsky's f_m = x - sum t^s / 4^s, 12m - 7 (yarotsky)

Parameters are weights plus biases of the dense layers, zeros included (nonzero_params counts
the others). Every sup error of x^2 is exact: the networks are piecewise linear, so
approx.constructions.yarotsky.sup_error_to_quadratic reads it off their breakpoints
(approx.pieces). xy on [0, 1]^2 is 2 s((x + y)/2) - s(x)/2 - s(y)/2 with s the square to eps/3
(polarisation; error <= 3 delta by the triangle inequality), checked on a grid (a lower bound on
its sup, so a check, not an exact value). Each row also holds the lower bound
(L + 1)(N_min^2 / 2^(L-1))^(1/(L+1)), N_min = ceil(1/sqrt(8 eps)), that no dense ReLU network of
depth L with fewer parameters can beat (from the piece count prod (m_l + 1) and the h^2/8 a piece
of length h costs).

The points are computed here; the Config is in config.py, the fits in analysis.py, the figure in
figure.py and the text in text.py.
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from approx.constructions.yarotsky import (
    fewest_parameter_bases,
    interpolant_pieces,
    params_lower_bound,
    polarised_product,
    product_error_bound,
    square_blocks,
    square_blocks_error,
    sup_error_to_quadratic,
    tooth_bases,
)
from approx.network import Network
from approx.pieces import count_pieces

from .analysis import TARGETS, deep_fit, depth_rates, shallow_rate
from .config import PRESETS, Config
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "TARGETS", "points", "run_point", "run", "plot", "describe", "shallow_rate",
           "depth_rates", "deep_fit", "constructions"]

_CHUNK = 2**22  # numbers in one hidden activation while xy is checked on its grid


def points(cfg: Config) -> list[dict]:
    return ([{"target": "square", "eps_exponent": p} for p in cfg.eps_exponents]
            + [{"target": "xy", "eps_exponent": p} for p in cfg.xy_eps_exponents])


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    target, p = point["target"], int(point["eps_exponent"])
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    eps = 2.0**-p
    square_eps = eps if target == "square" else eps / 3  # xy: 3 delta <= eps
    rows = []
    for construction, bases in constructions(interpolant_pieces(square_eps), cfg.depths):
        square = square_blocks(bases)
        row = {"target": target, "construction": construction, "depth": len(bases), "eps_exponent": p,
               "eps_target": eps, "bases": "x".join(map(str, bases)), "n_pieces": math.prod(bases)}
        if target == "square":
            net, (err, _) = square, sup_error_to_quadratic(square)
            row.update(sup_error=err, error_kind="exact", error_bound=square_blocks_error(bases),
                       pieces=count_pieces(net, 0, 1))
        else:
            net = polarised_product(square)
            row.update(sup_error=_grid_error(net, cfg.xy_grid), error_kind="grid",
                       error_bound=product_error_bound(square_blocks_error(bases)), pieces=math.nan)
        row.update(widths="-".join(map(str, net.sizes[1:-1])), params=net.n_params,
                   nonzero_params=sum(int((t != 0).sum()) for t in net.parameters()),
                   params_lower_bound=params_lower_bound(eps, len(bases)))
        rows.append(row)
    return pd.DataFrame(rows)


def constructions(n_pieces: int, depths) -> list[tuple[str, tuple[int, ...]]]:
    """(name, bases) of every network built for N = ``n_pieces``: one per fixed depth, and Yarotsky's."""
    out = [("interpolant" if depth == 1 else "blocks", fewest_parameter_bases(n_pieces, depth)) for depth in depths]
    return out + [("yarotsky", tooth_bases(n_pieces))]


def _grid_error(net: Network, n: int) -> float:
    """max |net(x, y) - xy| over the n x n grid u_i = (i + g) / n, g = (sqrt 5 - 1)/2, in chunks.

    The offset is irrational, so no grid point is a knot j / N of the square networks (on an even
    grid k / 300 every point is one when 600 divides N, and the error there is 0).
    """
    u = (torch.arange(n, dtype=torch.float64) + (math.sqrt(5) - 1) / 2) / n  # (n,) in (0, 1)
    xy = torch.cartesian_prod(u, u)  # (n^2, 2)
    chunk = max(1, _CHUNK // max(net.sizes))
    worst = 0.0
    for start in range(0, xy.shape[0], chunk):
        part = xy[start:start + chunk]
        worst = max(worst, (net(part)[:, 0] - part[:, 0] * part[:, 1]).abs().max().item())
    return worst


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)

