"""Telgarsky's sawtooth, its shallow twin, Yarotsky's square and the alternating points."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from approx import Network, constructions
from approx.constructions.depth import (
    alternating_error_floor,
    alternating_error_floor_width,
    alternating_points,
    relu_interpolant_1d,
    sawtooth,
    sawtooth_shallow,
    sawtooth_shallow_width,
    square_interpolant_shallow,
    tooth_power,
    yarotsky_square,
    yarotsky_square_error,
)
from approx.pieces import breakpoints, count_pieces
from rounding import forward_error_bound



X = torch.linspace(0, 1, 10_000, dtype=torch.float64).unsqueeze(1)  # (10000, 1)


def test_public_names():
    assert constructions.sawtooth is sawtooth and constructions.yarotsky_square is yarotsky_square


@pytest.mark.parametrize("k", range(1, 13))
def test_sawtooth_is_the_k_fold_tooth(k):
    net = sawtooth(k)
    # exact in float64: every weight and every intermediate value on the grid is a short binary fraction
    assert (net(X) - tooth_power(X, k)).abs().max().item() <= 1e-12
    assert count_pieces(net, 0, 1) == 2 ** k  # Telgarsky: 2^k pieces ...
    assert net.n_params == 6 * k + 1 and net.sizes == [1] + [2] * k + [1]  # ... from O(k) parameters


@pytest.mark.parametrize("k", range(1, 13))
def test_shallow_sawtooth_equals_it_with_2_to_the_k_units(k):
    net = sawtooth_shallow(k)
    assert net.sizes == [1, 2 ** k, 1] and sawtooth_shallow_width(k) == 2 ** k
    assert count_pieces(net, 0, 1) == 2 ** k
    np.testing.assert_allclose(breakpoints(net, 0, 1), np.arange(1, 2 ** k) / 2 ** k, atol=1e-12)
    # One hidden layer sums 2^k terms of size up to 2^(k+1) that cancel to a value in [0, 1], so
    # float64 rounding grows like 4^k eps (measured about 0.5 * 4^k eps: 1.8e-12 at k = 7, 9e-10
    # at k = 12). The threshold is the rounding bound for any summation order (Higham's
    # gamma_{n+2} (|W| |h| + |b|) per layer, tests/rounding.py): tooth_power is exact on the grid.
    err = (net(X) - tooth_power(X, k)).abs()  # (10000, 1)
    assert bool((err <= forward_error_bound(net, X)).all())


def test_shallow_sawtooth_negative_control():
    # one output weight off by 1e-9 (relative) breaks the rounding bound
    net = sawtooth_shallow(5)
    params = net.parameters()
    params[2] = params[2].clone()
    params[2][0, 7] *= 1 + 1e-9
    moved = net.with_parameters(params)
    assert not bool(((moved(X) - tooth_power(X, 5)).abs() <= forward_error_bound(moved, X)).all())


@pytest.mark.parametrize("m", range(1, 9))
def test_yarotsky_square_error_is_exactly_2_to_the_minus_2m_minus_2(m):
    net = yarotsky_square(m)
    bound = yarotsky_square_error(m)
    assert bound == 2.0 ** (-2 * m - 2)
    # worst points: midpoints between the knots j / 2^m, where the interpolant's error is h^2/4
    mid = ((torch.arange(2 ** m, dtype=torch.float64) + 0.5) / 2 ** m).unsqueeze(1)
    np.testing.assert_allclose((net(mid) - mid.square()).numpy(), bound, rtol=0, atol=1e-12)
    # and nowhere larger, nor below x^2 (it interpolates a convex function), on a dense grid
    grid = torch.linspace(0, 1, 100_001, dtype=torch.float64).unsqueeze(1)
    gap = net(grid) - grid.square()  # grid.square() is within u of x^2: add it to the slack
    slack = forward_error_bound(net, grid) + torch.finfo(torch.float64).eps * grid.square()
    assert bool((gap <= bound + slack).all()) and bool((gap >= -slack).all())
    # exact at the knots, 2^m pieces, m hidden layers of width 3
    knots = (torch.arange(2 ** m + 1, dtype=torch.float64) / 2 ** m).unsqueeze(1)
    assert (net(knots) - knots.square()).abs().max().item() <= 1e-15
    assert count_pieces(net, 0, 1) == 2 ** m
    assert net.sizes == [1] + [3] * m + [1] and net.n_params == 12 * m - 2


def test_yarotsky_negative_control():
    # an interpolant with one knot too few misses the bound for m
    m = 5
    coarse = yarotsky_square(m - 1)
    mid = ((torch.arange(2 ** m, dtype=torch.float64) + 0.5) / 2 ** m).unsqueeze(1)
    assert (coarse(mid) - mid.square()).abs().max().item() > 2 * yarotsky_square_error(m)


@pytest.mark.parametrize("n_params", [4, 7, 31, 301, 3001])
def test_shallow_square_interpolant(n_params):
    net = square_interpolant_shallow(n_params)
    n = (n_params - 1) // 3
    assert net.sizes == [1, n, 1] and net.n_params <= n_params
    grid = torch.linspace(0, 1, 20_001, dtype=torch.float64).unsqueeze(1)  # holds every (j + 1/2) / n
    err = (net(grid) - grid.square()).abs().max().item()
    np.testing.assert_allclose(err, 1 / (4 * n * n), rtol=1e-6)  # h^2 / 4 with h = 1/n
    minimax = square_interpolant_shallow(n_params, minimax=True)
    np.testing.assert_allclose((minimax(grid) - grid.square()).abs().max().item(), 1 / (8 * n * n), rtol=1e-6)


def test_depth_beats_width_for_the_square():
    # deep: 12m - 2 parameters for 2^(-2m-2); shallow with the same budget is far worse
    m = 8
    deep = yarotsky_square(m)
    shallow = square_interpolant_shallow(deep.n_params)
    grid = torch.linspace(0, 1, 100_001, dtype=torch.float64).unsqueeze(1)
    err_deep = (deep(grid) - grid.square()).abs().max().item()
    err_shallow = (shallow(grid) - grid.square()).abs().max().item()
    n = (deep.n_params - 1) // 3  # 4m - 1 units: error 1 / (4 n^2) against 4^(-m-1)
    np.testing.assert_allclose(err_shallow / err_deep, 4.0 ** (m + 1) / (4 * n * n), rtol=1e-6)
    assert err_shallow > 50 * err_deep  # and the gap grows like 4^m / m^2


def test_relu_interpolant_1d_is_exact():
    knots = torch.tensor([0.0, 0.1, 0.5, 0.55, 1.0], dtype=torch.float64)
    values = torch.tensor([1.0, -2.0, 0.5, 0.5, 3.0], dtype=torch.float64)
    net = relu_interpolant_1d(knots, values)
    assert (net(knots.unsqueeze(1)).reshape(-1) - values).abs().max().item() <= 1e-14
    np.testing.assert_allclose(breakpoints(net, 0, 1), [0.1, 0.5, 0.55], atol=1e-14)
    with pytest.raises(ValueError, match="increasing"):
        relu_interpolant_1d([0.0, 0.0, 1.0], [0.0, 1.0, 2.0])


@pytest.mark.parametrize("k", [1, 3, 6, 10])
def test_alternating_points_zero_error_deep(k):
    x, y = alternating_points(k)
    assert x.shape == (2 ** k, 1) and set(y.reshape(-1).tolist()) <= {0.0, 1.0}
    assert bool((y[1:] != y[:-1]).all())  # labels alternate
    predicted = (sawtooth(k)(x) >= 0.5).to(y.dtype)
    assert bool((predicted == y).all())  # zero classification error ...
    assert (sawtooth(k)(x) - y).abs().max().item() == 0.0  # ... with margin 1/2
    # negative control: one fewer tooth gets half the points wrong
    if k > 1:
        assert ((sawtooth(k - 1)(x) >= 0.5).to(y.dtype) != y).float().mean().item() >= 0.25


def test_alternating_width_bound():
    # m <= 2^((k - 3)/l - 1): k = 8, one layer -> 16; two layers -> 2^1.5 -> 2; k = 3 -> none
    assert alternating_error_floor_width(8, 1) == 16
    assert alternating_error_floor_width(8, 2) == 2
    assert alternating_error_floor_width(7, 2) == 2
    assert alternating_error_floor_width(3, 1) == 0


def test_alternating_error_floor_holds_for_random_networks():
    # every network's classification error on the alternating points is >= the floor its own
    # piece count implies; Telgarsky's width bound (pieces <= n/8) gives a floor >= 1/6
    k = 7
    x, y = alternating_points(k)
    n_tight = 0
    for seed in range(60):
        net = Network.random([1, 12, 1] if seed % 2 else [1, 6, 6, 1], "relu", seed=seed, init_scale=20.0)
        error = ((net(x) >= 0.5).to(y.dtype) != y).double().mean().item()
        floor = alternating_error_floor(count_pieces(net, 0, 1), k)
        assert error >= floor
        n_tight += error - floor < 0.1
    assert n_tight > 0  # the floor is not vacuous on these networks
    assert alternating_error_floor(2 ** (k - 3), k) >= 1 / 6
    assert alternating_error_floor(2 ** k, k) == 0.0  # the sawtooth's 2^k pieces allow zero error
    # negative control: claiming fewer pieces than the sawtooth has contradicts its zero error
    sawtooth_error = ((sawtooth(k)(x) >= 0.5).to(y.dtype) != y).double().mean().item()
    assert sawtooth_error < alternating_error_floor(2 ** (k - 1), k)


@pytest.mark.parametrize("build, bad", [
    (sawtooth, 0), (sawtooth, -1), (sawtooth, 1.5), (sawtooth, True), (sawtooth_shallow, 0),
    (yarotsky_square, 0), (yarotsky_square, "2"), (alternating_points, 0), (square_interpolant_shallow, 3),
])
def test_bad_input_raises(build, bad):
    with pytest.raises(ValueError, match="must be an integer"):
        build(bad)


def test_constructions_on_device(device):
    net = yarotsky_square(4, device=device)
    x = torch.linspace(0, 1, 101, dtype=torch.float64, device=device).unsqueeze(1)
    assert net.device.type == device and sawtooth(3, device=device)(x).device.type == device
    assert (net(x) - x.square()).abs().max().item() <= yarotsky_square_error(4) + 1e-15


@pytest.mark.parametrize("build, name, low", [
    (tooth_power, "k", 1), (sawtooth, "k", 1), (sawtooth_shallow, "k", 1), (sawtooth_shallow_width, "k", 1),
    (yarotsky_square, "m", 1), (yarotsky_square_error, "m", 1), (alternating_points, "k", 1),
    (square_interpolant_shallow, r"n_params \(4 or more: one unit\)", 4),
    (lambda k: alternating_error_floor_width(k, 1), "k", 1),
    (lambda n_layers: alternating_error_floor_width(4, n_layers), "n_layers", 1),
    (lambda k: alternating_error_floor(1, k), "k", 1),
])
def test_a_count_below_its_least_value_is_named_with_what_is_allowed(build, name, low):
    """Each count is checked, and the error names the argument, the bad value and the least allowed;
    the least allowed value itself is accepted (negative control)."""
    args = (torch.zeros(3, 1, dtype=torch.float64), low - 1) if build is tooth_power else (low - 1,)
    with pytest.raises(ValueError, match=rf"^{name} must be an integer >= {low}, got {low - 1}$"):
        build(*args)
    build(*(args[:-1] + (low,)))


def test_the_least_counts_give_the_bound_formulas():
    """k = 1 is allowed in the floors: two points, so any one-piece function may err on none."""
    assert alternating_error_floor_width(1, 1) == 0  # 2^((1 - 3) - 1) = 1/8: no width qualifies
    assert alternating_error_floor(1, 1) == 0.0      # (2 - 1 - 1) / 4


def test_alternating_error_floor_is_attained_by_a_line():
    """(n - t - 1) / (2n) is tight: a line (t = 1) that crosses 1/2 between points 2 and 3 splits the
    n = 8 alternating labels into runs of 3 and 5, and gets 1 + 2 of them wrong: 3/8 = (8 - 2) / 16."""
    x, y = alternating_points(3)
    line = relu_interpolant_1d([0.0, 1.0], [0.5 - 2.5 / 8, 1.5 - 2.5 / 8])  # f(x) = x + 1/2 - 2.5/8
    assert count_pieces(line, 0, 1) == 1
    error = ((line(x) >= 0.5).to(y.dtype) != y).double().mean().item()
    assert error == alternating_error_floor(1, 3) == 3 / 8
    # negative control: a line crossing between points 3 and 4 (runs of 4 and 4) errs on 4 of 8
    even = relu_interpolant_1d([0.0, 1.0], [0.5 - 3.5 / 8, 1.5 - 3.5 / 8])
    assert ((even(x) >= 0.5).to(y.dtype) != y).double().mean().item() == 0.5 > alternating_error_floor(1, 3)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_alternating_error_floor_refuses_a_piece_count_that_is_not_a_positive_integer(bad):
    with pytest.raises(ValueError, match=rf"^n_pieces must be an integer >= 1, got {bad!r}$"):
        alternating_error_floor(bad, 3)
    assert alternating_error_floor(2.0, 3) == (8 - 2 - 1) / 16  # an integral float is a count


@pytest.mark.parametrize("build", [sawtooth, sawtooth_shallow, yarotsky_square])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constructions_are_built_in_the_requested_dtype(build, dtype):
    """Every weight and bias of the network is in ``dtype`` (3 hidden layers for the deep ones)."""
    net = build(3, dtype=dtype)
    assert all(p.dtype == dtype for p in net.parameters())
    x = torch.linspace(0, 1, 33, dtype=dtype).unsqueeze(1)  # knots of t^3 and f_3: exact in float32 too
    reference = tooth_power(x, 3) if build is not yarotsky_square else x - sum(tooth_power(x, s) / 4 ** s for s in (1, 2, 3))
    assert (net(x) - reference).abs().max().item() <= 4 * torch.finfo(dtype).eps


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interpolants_and_points_in_the_requested_dtype(dtype):
    assert relu_interpolant_1d([0.0, 0.5, 1.0], [0.0, 1.0, 0.0], dtype=dtype).dtype == dtype
    assert square_interpolant_shallow(10, dtype=dtype).dtype == dtype
    assert square_interpolant_shallow(10, minimax=True, dtype=dtype).dtype == dtype
    x, y = alternating_points(3, dtype=dtype)
    assert x.dtype == y.dtype == dtype


def test_yarotsky_output_weights_are_the_formula_exactly_even_below_float32():
    """f_m = S - t^m / 4^m: the output weights are (-2, 4, 1) / (4^m, 4^m, 1) exactly in float64,
    also for m = 80, where 4^-80 = 2^-160 is below float32's smallest subnormal (2^-149)."""
    for m in (3, 80):
        assert yarotsky_square(m).layers[-1].weight.tolist() == [[-2 * 4.0 ** -m, 4 * 4.0 ** -m, 1.0]]
    assert yarotsky_square(80).layers[-2].weight[2].tolist() == [-2 * 4.0 ** -79, 4 * 4.0 ** -79, 1.0]


def test_relu_interpolant_reads_knots_given_as_python_floats_in_float64():
    """Knots given as a list are read in float64, so the interpolant is exact at 0.1 and 0.3 (which
    float32 would round by ~1e-9: a slope-10 piece would then miss by ~1e-8)."""
    knots, values = [0.0, 0.1, 0.3, 1.0], [0.0, 1.0, -1.0, 2.0]
    net = relu_interpolant_1d(knots, values)
    at = torch.tensor(knots, dtype=torch.float64).unsqueeze(1)
    assert (net(at)[:, 0] - torch.tensor(values, dtype=torch.float64)).abs().max().item() <= 1e-14
    np.testing.assert_array_equal(breakpoints(net, 0, 1), [0.1, 0.3])


@pytest.mark.parametrize("n_knots, n_values", [(3, 4), (4, 3), (1, 1), (0, 0)])
def test_relu_interpolant_refuses_mismatched_or_too_few_knots(n_knots, n_values):
    with pytest.raises(ValueError, match=rf"^need >= 2 knots and one value per knot, got {n_knots} knots "
                                         rf"and {n_values} values$"):
        relu_interpolant_1d(list(range(n_knots)), [0.0] * n_values)


def test_relu_interpolant_refuses_decreasing_knots_naming_the_first_pair():
    with pytest.raises(ValueError, match=r"^knots must be strictly increasing; got knots\[1\] = 0.6 and "
                                         r"knots\[2\] = 0.5$"):
        relu_interpolant_1d([0.0, 0.6, 0.5], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"; got knots\[0\] = 0.2 and knots\[1\] = 0.2$"):  # a repeated knot
        relu_interpolant_1d([0.2, 0.2, 0.1], [0.0, 1.0, 2.0])
    relu_interpolant_1d([0.0, 0.5, 0.6], [0.0, 1.0, 2.0])  # control: increasing knots are taken


@pytest.mark.parametrize("n_params, n_units", [(8, 2), (9, 2), (10, 3), (302, 100), (303, 100)])
def test_shallow_square_uses_the_whole_units_a_budget_buys(n_params, n_units):
    """n = (n_params - 1) // 3 units for any budget (3 per unit plus the output bias), and the
    interpolant's error 1 / (4 n^2): budgets that are not 1 mod 3 round down to whole units."""
    net = square_interpolant_shallow(n_params)
    assert net.sizes == [1, n_units, 1] and net.n_params <= n_params < net.n_params + 3
    grid = torch.linspace(0, 1, 60_001, dtype=torch.float64).unsqueeze(1)  # holds (j + 1/2) / n for n = 2, 3, 100
    err = (net(grid) - grid.square()).abs().max().item()
    np.testing.assert_allclose(err, 1 / (4 * n_units ** 2), rtol=1e-6)
