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


# ---------------------------------------------------------------------- exact counts, formulas and refusals
def _fewest_equal_pieces(eps: float) -> int:
    """The definition: the least n with 1 / (4 n^2) <= eps, by counting up."""
    n = 1
    while 1 / (4 * n * n) > eps:
        n += 1
    return n


def test_interpolant_pieces_is_the_least_n_also_at_rounding_boundaries():
    """interpolant_pieces(eps) is the least n with 1/(4 n^2) <= eps, also for eps at and next to
    1/(4 k^2), where sqrt rounds the closed form ceil(1 / (2 sqrt(eps))) one too high or too low
    (both happen for k < 500: the two correcting loops are needed)."""
    for k in range(1, 500):
        for eps in (1 / (4 * k * k), np.nextafter(1 / (4 * k * k), 0), np.nextafter(1 / (4 * k * k), 1)):
            assert interpolant_pieces(float(eps)) == _fewest_equal_pieces(eps), (k, eps)
    assert interpolant_pieces(1.0) == 1 and interpolant_pieces(0.25) == 1 and interpolant_pieces(0.2499) == 2
    # negative control: the closed form alone is off somewhere in this range
    assert any(max(1, math.ceil(1 / (2 * math.sqrt(e)))) != _fewest_equal_pieces(e)
               for k in range(1, 500) for e in (1 / (4 * k * k), float(np.nextafter(1 / (4 * k * k), 1))))


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_params_lower_bound_is_its_formula(depth):
    """(L + 1) (N_min^2 / 2^(L-1))^(1/(L+1)), N_min = min_pieces(eps) (module docstring); for L = 1 it is 2 N_min."""
    for eps in (0.1, 2.0**-10, 1e-6):
        n = min_pieces(eps)
        expected = (depth + 1) * (n * n / 2 ** (depth - 1)) ** (1 / (depth + 1))
        assert params_lower_bound(eps, depth) == pytest.approx(expected, rel=1e-12)
    assert params_lower_bound(2.0**-10, 1) == pytest.approx(2 * min_pieces(2.0**-10), rel=1e-12)


def test_fewest_parameter_bases_with_one_piece_left_over():
    """N = 1 and N = 2 at depths 2 and 3 leave later layers needing a factor of 1: bases of 1, not an
    empty answer (checked against square_blocks_params of every choice)."""
    assert fewest_parameter_bases(1, 2) == (1, 1)
    assert fewest_parameter_bases(2, 3) == (1, 1, 2)
    for n, depth in [(1, 3), (2, 2), (3, 3), (4, 3)]:
        chosen = fewest_parameter_bases(n, depth)
        best = min(square_blocks_params(b) for b in itertools.product(range(1, n + 1), repeat=depth)
                   if math.prod(b) >= n)
        assert len(chosen) == depth and math.prod(chosen) >= n and square_blocks_params(chosen) == best


def test_tooth_bases_at_the_smallest_counts():
    """m = max(1, ceil(log2 N)) bases of 2: one tooth for N = 1 and N = 2, two for N = 3 and 4."""
    assert [tooth_bases(n) for n in (1, 2, 3, 4, 5)] == [(2,), (2,), (2, 2), (2, 2), (2, 2, 2)]
    assert tooth_bases(2**20) == (2,) * 20


@pytest.mark.parametrize("call, message", [
    (lambda: interpolant_pieces(0.0), r"^eps must be a finite number in \(0, 1\], got 0.0$"),
    (lambda: interpolant_pieces(-0.1), r"^eps must be a finite number in \(0, 1\], got -0.1$"),
    (lambda: interpolant_pieces(1.5), r"^eps must be a finite number in \(0, 1\], got 1.5$"),
    (lambda: min_pieces(1.5), r"^eps must be a finite number in \(0, 1\], got 1.5$"),
    (lambda: params_lower_bound(0.1, 0), r"^depth must be an integer >= 1, got 0$"),
    (lambda: fewest_parameter_bases(0, 2), r"^n_pieces must be an integer in \[1, 1048576\], got 0$"),
    (lambda: fewest_parameter_bases(2**20 + 1, 2), r"^n_pieces must be an integer in \[1, 1048576\], got 1048577$"),
    (lambda: fewest_parameter_bases(4, 0), r"^depth must be an integer in \[1, 64\], got 0$"),
    (lambda: fewest_parameter_bases(4, 65), r"^depth must be an integer in \[1, 64\], got 65$"),
    (lambda: tooth_bases(0), r"^n_pieces must be an integer in \[1, 1048576\], got 0$"),
    (lambda: tooth_bases(2**20 + 1), r"^n_pieces must be an integer in \[1, 1048576\], got 1048577$"),
    (lambda: product_error_bound(-1e-3), r"^square_error must be a finite number >= 0, got -0.001$"),
    (lambda: square_blocks((2**11, 2**10)), r"^the pieces b_1 x ... x b_L would be b_1 2048 x b_2 1024 = 2097152"),
    (lambda: sup_error_to_quadratic(square_blocks((2,)), (1.0, float("nan"), 0.0)),
     r"^coeffs\[1\] must be a finite number, got nan$"),
])
def test_refusals_name_the_argument_the_value_and_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_extreme_allowed_values_pass():
    assert interpolant_pieces(1.0) == min_pieces(1.0) == 1 and product_error_bound(0.0) == 0.0
    assert len(fewest_parameter_bases(4, 64)) == 64 and math.prod(fewest_parameter_bases(2**20, 2)) >= 2**20


def test_polarised_product_refusals_name_what_is_wrong():
    """One input and one output, no ensemble, at least one hidden layer: each refusal says which."""
    from approx.network import Layer, Network
    two_out = Network.random([1, 3, 2], "relu", seed=0)
    with pytest.raises(ValueError, match=r"^polarised_product needs one network R -> R, got sizes \[1, 3, 2\]$"):
        polarised_product(two_out)
    ensemble = Network.random([1, 3, 1], "relu", seed=[0, 1, 2])
    with pytest.raises(ValueError, match=r"got sizes \[1, 3, 1\] and an ensemble of 3$"):
        polarised_product(ensemble)
    linear = Network([Layer(torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), "identity")])
    with pytest.raises(ValueError, match=r"^polarised_product needs a network with at least one hidden layer$"):
        polarised_product(linear)


def test_polarised_product_keeps_each_layers_scale():
    """A square network whose layers have a fixed scale (h = phi(scale x W^T + b), as in the NTK
    parametrisation) gives 2 s((x + y)/2) - s(x)/2 - s(y)/2 too: every layer keeps its scale."""
    from approx.network import Layer, Network
    square = square_blocks((3, 2))
    scaled = Network([Layer(layer.weight / 2, layer.bias, layer.activation, 2.0) for layer in square.layers])
    u = torch.linspace(0, 1, 41, dtype=torch.float64)
    xy = torch.cartesian_prod(u, u)  # (1681, 2)
    s = lambda t: scaled(t[:, None])[:, 0]  # noqa: E731
    formula = 2 * s((xy[:, 0] + xy[:, 1]) / 2) - s(xy[:, 0]) / 2 - s(xy[:, 1]) / 2
    assert (polarised_product(scaled)(xy)[:, 0] - formula).abs().max().item() <= 1e-13
    assert [layer.scale for layer in polarised_product(scaled).layers] == [2.0] * 3


def test_sup_error_to_a_general_quadratic_on_another_interval_is_the_dense_maximum():
    """For q = 2x^2 - x + 0.3 on [-1, 2] (b != 0, lo != 0, hi != 1) the exact sup equals the maximum
    over a dense grid to within the grid's reach (spacing 3e-6: a*(3e-6)^2 = 2e-11), and is attained
    at the point returned; a float32 network is read too. The net is q's interpolant at 13 knots, so
    the sup a h^2/4 = 1/32 sits inside every piece, where e' = 0, and the pieces reach beyond 1."""
    from approx.constructions.depth import relu_interpolant_1d
    a, b, c = 2.0, -1.0, 0.3
    knots = np.linspace(-1, 2, 13)
    net = relu_interpolant_1d(knots, (a * knots + b) * knots + c)
    grid = torch.linspace(-1, 2, 1_000_001, dtype=torch.float64)[:, None]
    dense = (net(grid)[:, 0] - (a * grid[:, 0] ** 2 + b * grid[:, 0] + c)).abs()
    err, at = sup_error_to_quadratic(net, (a, b, c), -1.0, 2.0)
    # the grid's values carry rounding (a 13-term sum with terms below 60, and q): 32 eps * 60 <
    # 1e-12; with AVX2 kernels the grid's maximum came out 8e-16 above the exact sup
    assert dense.max().item() - 1e-12 <= err <= dense.max().item() + 1e-10
    value = net(torch.tensor([[at]], dtype=torch.float64)).item()
    assert abs(value - (a * at * at + b * at + c)) == pytest.approx(err, abs=1e-12)
    err32, _ = sup_error_to_quadratic(net.to(dtype=torch.float32), (a, b, c), -1.0, 2.0)
    assert err32 == pytest.approx(err, rel=1e-5)
    # negative control: without the knots in (1, 2) (one chord from 1 to 2) the sup is a h^2/4 = 0.5
    coarse = np.append(knots[knots <= 1], 2.0)
    chord = relu_interpolant_1d(coarse, (a * coarse + b) * coarse + c)
    assert sup_error_to_quadratic(chord, (a, b, c), -1.0, 2.0)[0] == pytest.approx(0.5, rel=1e-9) and 0.5 > 10 * err


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_square_blocks_in_the_requested_dtype(dtype):
    assert all(p.dtype == dtype for p in square_blocks((3, 2), dtype=dtype).parameters())


def test_sup_error_ignores_a_stationary_point_outside_its_piece():
    """e = q - net on a piece is a quadratic whose stationary point x* may lie outside the piece; it is
    then no candidate. Here net interpolates x^2 at 0 and 0.9 (sup 0.9^2/4 = 0.2025 at 0.45) and
    rises with slope 0.2 on [0.9, 1], whose x* = 0.1 lies far left of it, where the line is 0.64
    below x^2: counting it would report 0.64."""
    from approx.constructions.depth import relu_interpolant_1d
    net = relu_interpolant_1d([0.0, 0.9, 1.0], [0.0, 0.81, 0.83])
    err, at = sup_error_to_quadratic(net)
    assert err == pytest.approx(0.2025, rel=1e-12) and at == pytest.approx(0.45, rel=1e-12)
    grid = torch.linspace(0, 1, 100_001, dtype=torch.float64)[:, None]
    assert (net(grid) - grid.square()).abs().max().item() == pytest.approx(err, rel=1e-9)
    # negative control: the extended line of the last piece at x* = 0.1 is 0.64 from x^2
    assert abs(0.81 + 0.2 * (0.1 - 0.9) - 0.1**2) == pytest.approx(0.64, rel=1e-12)
