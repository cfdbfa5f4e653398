"""approx.sup_error: the interval (lower, upper) holds the sup error that dense sampling finds.

Thresholds. For a piecewise-linear network on a piecewise-linear target the sup is exact: the
largest error over 2^22 + 1 dense points lies in [exact - L h, exact] (L the Lipschitz constant
of the error, h the dense spacing), and lower == upper. For a smooth network the dense maximum
lies in [lower, upper] by the module's theorem; upper is checked against the dense maximum, not
to be tight. Negative controls: networks whose worst point lies between the coarse grid's
points, where the grid maximum alone (and the bound without the network's curvature) is too low.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from approx import targets
from approx.network import Layer, Network
from approx.sup_error import evaluation_points, sup_error_interval

DENSE = torch.linspace(0, 1, 2**22 + 1, dtype=torch.float64)[:, None]  # h = 2.4e-7
COARSE = 65  # coarse grid: points k/64


def _dense_max(net: Network, target) -> float:
    return max((net(x) - target(x)).abs().max().item() for x in DENSE.split(2**18))


def _grid_max(net: Network, target, n: int) -> float:
    x = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    return (net(x) - target(x)).abs().max().item()


def _net(units: list[tuple[float, float, float]], activation: str, c: float = 0.0) -> Network:
    """c + sum_i v_i phi(w_i x + b_i) from [(w_i, b_i, v_i)]: [1, n, 1], float64."""
    w, b, v = (torch.tensor(col, dtype=torch.float64) for col in zip(*units))
    return Network([Layer(w[:, None], b, activation), Layer(v[None, :], torch.tensor([c], dtype=torch.float64),
                                                            "identity")])


def _abs_with_spike() -> Network:
    """|x - 1/2| (two ReLUs) plus a hat of height 0.5 on [0.30, 0.31], peak at 0.305: the spike
    lies between the coarse grid's points 19/64 = 0.297 and 20/64 = 0.3125."""
    p = 1 / 0.005
    units = [(1.0, -0.5, 1.0), (-1.0, 0.5, 1.0)]
    units += [(1.0, -0.30, 0.5 * p), (1.0, -0.305, -0.5 * 2 * p), (1.0, -0.31, 0.5 * p)]
    return _net(units, "relu")


def test_relu_on_piecewise_linear_targets_is_exact():
    t = targets.get("abs")
    spike = _abs_with_spike()
    lower, upper = sup_error_interval(spike, t, n_grid=COARSE)
    assert lower == upper == pytest.approx(0.5, abs=1e-12)  # the hat's peak, at a breakpoint
    dense = _dense_max(spike, t)
    assert dense <= lower + 1e-12 and dense >= lower - 201 * 2.4e-7  # |e'| <= 1 + 200
    # negative control: the coarse grid alone misses the spike entirely
    assert _grid_max(spike, t, COARSE) < 1e-12
    for seed in range(3):  # random ReLU networks on abs and triangle: exact, as dense sampling finds
        net = Network.random([1, 16, 1], "relu", seed=seed, dtype=torch.float64)
        lipschitz = (net.layers[1].weight.abs() @ net.layers[0].weight.abs()).item() + 4  # |g'| + |f'|
        for name in ("abs", "triangle"):
            target = targets.get(name)
            lower, upper = sup_error_interval(net, target, n_grid=COARSE)
            dense = _dense_max(net, target)
            assert lower == upper
            assert lower - lipschitz * 2.4e-7 <= dense <= lower + 1e-12, (seed, name)


def test_relu_on_smooth_targets_is_bounded_by_the_targets_curvature():
    t = targets.get("sin3")
    for seed in range(3):
        net = Network.random([1, 16, 1], "relu", seed=seed, dtype=torch.float64)
        lower, upper = sup_error_interval(net, t, n_grid=COARSE)
        dense = _dense_max(net, t)
        assert lower <= dense + 1e-12 and dense <= upper
        assert upper - lower <= (1 / 64) ** 2 / 8 * t.max_f2 + 1e-15  # h^2/8 max|f''| at most
    # the breakpoints are among the points: the spike is found, the coarse grid alone is blind to it
    points = evaluation_points(_abs_with_spike(), t, COARSE)
    assert np.isclose(points, 0.305, atol=1e-15).any() and points.size == COARSE + 3  # 0.5 is a grid point


def _steep_bump(activation: str) -> Network:
    """A bump of height 1.93 between the coarse grid's points 19/64 and 20/64 (at 0.305), from two
    steep units; for sigmoid, 2 sigma(2z) - 1 = tanh z."""
    k = 400.0 if activation == "tanh" else 800.0
    scale = 1.0 if activation == "tanh" else 2.0
    return _net([(k, -k * 0.300, scale), (k, -k * 0.310, -scale)], activation)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_smooth_networks_bound_holds_and_the_grid_alone_does_not(activation):
    for name in ("sin3", "square", "abs"):
        t = targets.get(name)
        for seed in range(3):  # steep random units (first layer x 20, spread over [0, 1])
            f, last = Network.random([1, 8, 1], activation, seed=seed, dtype=torch.float64).layers
            net = Network([Layer(20 * f.weight, 20 * f.bias - 10 * f.weight.sum(-1), activation), last])
            lower, upper = sup_error_interval(net, t, n_grid=COARSE)
            dense = _dense_max(net, t)
            assert lower <= dense + 1e-12 and dense <= upper, (name, seed)
    # negative control: the bump's peak lies between grid points. Without refinement (no more
    # points than the grid's) the grid maximum is far too low, and only the bound reaches the peak
    t = targets.get("abs")  # piecewise linear: all the curvature between points is the network's
    bump = _steep_bump(activation)
    dense = _dense_max(bump, t)
    lower, upper = sup_error_interval(bump, t, n_grid=COARSE, max_points=COARSE)
    assert dense > 1.7 and lower < dense - 1 and dense <= upper
    x = torch.from_numpy(evaluation_points(bump, t, COARSE))[:, None]
    assert (bump(x) - t(x)).abs().max().item() == lower  # the plain grid maximum
    # with branch and bound the interval closes on the peak: within rtol, and still around it
    lower, upper = sup_error_interval(bump, t, n_grid=COARSE, rtol=1e-3)
    assert lower <= dense + 1e-12 and dense <= upper <= lower * (1 + 1e-3) + 1e-15


def test_ensembles_give_their_members_intervals():
    net = Network.random([1, 8, 1], "tanh", seed=[3, 4, 5], dtype=torch.float64)
    lower, upper = sup_error_interval(net, targets.get("sin1"), n_grid=257)
    assert lower.shape == upper.shape == (3,)
    for e in range(3):
        assert (lower[e], upper[e]) == sup_error_interval(net.member(e), targets.get("sin1"), n_grid=257)


def test_refusals_name_what_is_allowed():
    relu = Network.random([1, 4, 1], "relu", seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="needs a C\\^2 target .* 'step' has neither"):
        sup_error_interval(relu, targets.get("step"))
    deep = Network.random([1, 4, 4, 1], "tanh", seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="one hidden layer of tanh or sigmoid"):
        sup_error_interval(deep, targets.get("sin1"))
    with pytest.raises(ValueError, match="n_grid must be an integer >= 2"):
        sup_error_interval(relu, targets.get("abs"), n_grid=1)
    # controls: the same calls with an allowed target, network and grid pass
    sup_error_interval(relu, targets.get("abs"), n_grid=2)
    sup_error_interval(Network.random([1, 4, 1], "tanh", seed=0, dtype=torch.float64), targets.get("sin1"))
