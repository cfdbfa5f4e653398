"""approx.constructions.yarotsky: x^2 at every depth, exactly; the fewest-parameter bases; the lower
bound; xy by polarisation; the exact sup error to a quadratic. Each check has a negative control."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from approx import targets
from approx.constructions.depth import square_interpolant_shallow, yarotsky_square
from approx.constructions.yarotsky import (
    fewest_parameter_bases,
    interpolant_pieces,
    min_pieces,
    params_lower_bound,
    polarised_product,
    product_error_bound,
    square_blocks,
    square_blocks_error,
    square_blocks_params,
    sup_error_to_quadratic,
    tooth_bases,
)
from approx.pieces import count_pieces
from approx.sup_error import sup_error_interval

BASES = [(1,), (2,), (7,), (2, 2), (3, 5), (5, 3, 2), (7, 1, 4), (1, 1, 3), (2,) * 9, (6, 10, 7), (4, 3, 3, 3, 2, 7)]


@pytest.mark.parametrize("bases", BASES, ids=str)
def test_square_blocks_is_the_interpolant_at_n_pieces(bases):
    net = square_blocks(bases)
    n = math.prod(bases)
    err, at = sup_error_to_quadratic(net)
    # theorem: the interpolant of x^2 at spacing h = 1/N has sup error h^2/4, at the cells' midpoints.
    # Rounding: float64 with weights up to 2b and L layers, ~ N u relative (measured <= 6e-11)
    assert err == pytest.approx(square_blocks_error(bases), rel=1e-9)
    assert abs(at * n - round(at * n - 0.5) - 0.5) < 1e-6 or n == 1  # a midpoint (j + 1/2) / N
    knots = torch.arange(n + 1, dtype=torch.float64)[:, None] / n
    assert (net(knots) - knots.square()).abs().max().item() <= 1e-12  # exact at the knots
    assert count_pieces(net, 0, 1) == n  # N pieces: nothing wasted, nothing missing
    assert net.n_params == square_blocks_params(bases)
    assert net.sizes == [1, bases[0], *[b + 1 for b in bases[1:]], 1]


def test_square_blocks_equals_yarotsky_and_the_shallow_interpolant():
    grid = torch.linspace(0, 1, 4097, dtype=torch.float64)[:, None]
    # bases (2,...,2): Yarotsky's f_m, with one parameter-saving difference (no carry in layer 1)
    assert (square_blocks((2,) * 6)(grid) - yarotsky_square(6)(grid)).abs().max().item() <= 1e-13
    assert square_blocks_params((2,) * 6) == yarotsky_square(6).n_params - 5 == 12 * 6 - 7
    # one base N: the one-hidden-layer interpolant, 3N + 1 parameters
    assert (square_blocks((40,))(grid) - square_interpolant_shallow(121)(grid)).abs().max().item() <= 1e-13
    assert square_blocks_params((40,)) == 121
    # negative control: another factorisation of 36 is the same function, 2 x 18 is not 36
    assert (square_blocks((4, 9))(grid) - square_blocks((9, 4))(grid)).abs().max().item() <= 1e-12
    assert (square_blocks((2, 18))(grid) - square_blocks((2, 9))(grid)).abs().max().item() > 1e-4


def test_sup_error_to_quadratic_is_the_certified_sup():
    net = square_blocks((3, 5, 2))
    exact, _ = sup_error_to_quadratic(net)
    lower, upper = sup_error_interval(net, targets.get("square"), rtol=1e-9)  # certified enclosure
    assert lower <= exact * (1 + 1e-12) and exact <= upper * (1 + 1e-12)
    assert exact == pytest.approx(upper, rel=1e-6)
    # another quadratic: 3 * net + 1/4 is 3 times as far from q = 3x^2 + 1/4
    params = net.parameters()
    three = net.with_parameters(params[:-2] + [3 * params[-2], 3 * params[-1]])
    shifted = three.with_parameters(three.parameters()[:-1] + [three.parameters()[-1] + 0.25])
    net_x = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]
    assert (shifted(net_x) - (3 * net(net_x) + 0.25)).abs().max().item() <= 1e-14
    assert sup_error_to_quadratic(shifted, (3.0, 0.0, 0.25))[0] == pytest.approx(3 * exact, rel=1e-9)
    # negative control: one output weight moved by 1e-3 moves the exact sup far beyond rounding
    moved = net.with_parameters(params[:-2] + [params[-2] * (1 + 1e-3), params[-1]])
    assert abs(sup_error_to_quadratic(moved)[0] - exact) > 1e-6


def test_fewest_parameter_bases_is_the_minimum_over_all_bases():
    # brute force over every (b_1..b_(L-1)) with b_j <= N, b_L the least that makes prod >= N (the
    # cost grows with b_L), against the dynamic programme
    for n, depth in itertools.product((2, 5, 12, 30, 64), (1, 2, 3, 4)):
        if n ** (depth - 1) <= 30**3:
            best = min(square_blocks_params(b + (max(1, -(-n // math.prod(b))),))
                       for b in itertools.product(range(1, n + 1), repeat=depth - 1))
            chosen = fewest_parameter_bases(n, depth)
            assert math.prod(chosen) >= n and len(chosen) == depth
            assert square_blocks_params(chosen) == best
    # negative control: the balanced split is not the minimum at depth 3 (a narrow middle layer is)
    assert square_blocks_params((16, 16, 8)) > square_blocks_params(fewest_parameter_bases(2048, 3))
    assert tooth_bases(2048) == (2,) * 11 and tooth_bases(2049) == (2,) * 12


@pytest.mark.parametrize("p", range(1, 31))
def test_pieces_needed(p):
    eps = 2.0**-p
    n = interpolant_pieces(eps)
    assert 1 / (4 * n * n) <= eps and (n == 1 or 1 / (4 * (n - 1) ** 2) > eps)
    m = min_pieces(eps)
    assert 1 / (8 * m * m) <= eps * (1 + 1e-9) and (m == 1 or 1 / (8 * (m - 1) ** 2) > eps)


def _dense_params(widths: tuple[int, ...]) -> int:
    sizes = [1, *widths, 1]
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_params_lower_bound_is_below_every_network_with_enough_pieces(depth):
    # the bound's claim: any hidden widths with prod (m_l + 1) >= N_min have >= bound parameters;
    # checked against the exact minimum over all widths up to N_min
    for p in (4, 7, 10, 13):
        eps = 2.0**-p
        n = min_pieces(eps)
        fewest = min(_dense_params(w) for w in itertools.product(range(1, n + 1), repeat=depth)
                     if math.prod(m + 1 for m in w) >= n)
        assert params_lower_bound(eps, depth) <= fewest
        # and every construction meets it
        assert square_blocks_params(fewest_parameter_bases(interpolant_pieces(eps), depth)) >= params_lower_bound(eps, depth)
    # negative control: a network with too few pieces misses eps (the bound's other half)
    n = min_pieces(2.0**-10)
    assert square_blocks_error((n - 1,)) > 1 / (8 * (n - 1) ** 2) > 2.0**-10


@pytest.mark.parametrize("bases", [(2,), (3, 4), (2, 2, 2, 2)], ids=str)
def test_polarised_product_is_within_three_delta(bases):
    square = square_blocks(bases)
    net = polarised_product(square)
    delta = square_blocks_error(bases)
    n = 301  # 1/300 spacing: not on the dyadic knots, where every error would be 0
    u = torch.linspace(0, 1, n, dtype=torch.float64)
    xy = torch.cartesian_prod(u, u)  # (n^2, 2)
    err = (net(xy)[:, 0] - xy[:, 0] * xy[:, 1]).abs().max().item()
    assert err <= product_error_bound(delta) and err > 0.5 * delta  # the bound is not loose by much
    # the network is the formula, point for point
    s = lambda t: square(t[:, None])[:, 0]  # noqa: E731
    formula = 2 * s((xy[:, 0] + xy[:, 1]) / 2) - s(xy[:, 0]) / 2 - s(xy[:, 1]) / 2
    assert (net(xy)[:, 0] - formula).abs().max().item() <= 1e-13
    assert net.sizes[0] == 2 and net.sizes[1:-1] == [3 * w for w in square.sizes[1:-1]]
    # negative control: a square one base coarser misses the bound for delta
    coarse = polarised_product(square_blocks(bases[:-1] + (max(1, bases[-1] - 1),)))
    assert (coarse(xy)[:, 0] - xy[:, 0] * xy[:, 1]).abs().max().item() > product_error_bound(delta) or bases == (2,)


def test_refusals():
    for call, message in [
        (lambda: square_blocks(()), "bases needs at least one"),
        (lambda: square_blocks((2, 0)), r"every entry of bases must be an integer in \[1,"),
        (lambda: square_blocks((2**11, 2**11)), "pieces b_1 x ... x b_L would be"),
        (lambda: fewest_parameter_bases(0, 2), "n_pieces"),
        (lambda: params_lower_bound(0.0, 2), "eps must be a finite number in"),
        (lambda: params_lower_bound(0.1, 0), "depth"),
        (lambda: polarised_product(polarised_product(square_blocks((2,)))), "needs one network R -> R"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    square_blocks((2, 1)), fewest_parameter_bases(1, 2)  # negative control: allowed values pass
