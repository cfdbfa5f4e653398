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
