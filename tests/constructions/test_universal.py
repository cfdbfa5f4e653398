"""approx.constructions.universal: every construction meets its theorem's bound, exactly where exact.

Thresholds (each from the docstring it tests):
  interpolant   |g - f| <= h^2/8 max|f''| (C^2 targets), and g == numpy.interp to 1e-12
  staircase     sup|g - f| <= staircase_error_bound(f, n, s)  for every n and steepness s
  ramp stair    sup|g - f| <= omega((1 + theta) h / 2)
  ramp, hat,    exactly 0 left of the support (bit for bit: every ReLU is 0 there) and equal to
  trapezoid     the piecewise-linear corner function to float rounding elsewhere
  nd bump       1 on the inner box, 0 outside the outer box
The only slack is float64 rounding (1e-12, far below every bound tested), and every test has a
negative control that fails.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import expit

from approx import autograd, backprop, metrics, targets
from approx.constructions import (
    interpolant_error_bound, ramp_staircase, ramp_staircase_error_bound, relu_bump_nd, relu_hat,
    relu_interpolant, relu_ramp, relu_trapezoid, sigmoid_bump, sigmoid_staircase,
    staircase_error_bound,
)
from approx.network import Layer, Network
from rounding import forward_error_bound

ONE_D = ["sin1", "sin3", "gaussian", "square", "abs", "triangle", "step", "weierstrass"]
SMOOTH = ["sin1", "sin3", "gaussian", "square", "weierstrass"]
ROUND = 1e-12  # float64 rounding of sums of O(1e3) terms; far below every bound tested
EPS = np.finfo(float).eps


def _eval(net: Network, x: torch.Tensor) -> np.ndarray:
    return net(x).detach().reshape(-1).numpy()


@pytest.fixture(scope="module")
def fine():
    return metrics.grid(20_001)  # (20001, 1) on [0, 1]


# ---------------------------------------------------------------------- interpolant
@pytest.mark.parametrize("name", ONE_D)
def test_interpolant_equals_numpy_interp_everywhere(name):
    t = targets.get(name)
    x = torch.linspace(-0.5, 1.5, 40_001, dtype=torch.float64).unsqueeze(1)  # also outside [0, 1]
    rng = np.random.default_rng(0)
    for knots in (np.linspace(0, 1, 2), np.linspace(0, 1, 8), np.linspace(0, 1, 65),
                  np.sort(np.concatenate([[0.0, 1.0], rng.uniform(0, 1, 30)]))):
        net = relu_interpolant(t, knots)
        assert net.sizes == [1, knots.size, 1]  # n + 1 ReLUs for n + 1 knots
        values = t(torch.as_tensor(knots)).numpy()
        ref = np.interp(x.numpy().ravel(), knots, values)
        assert np.max(np.abs(_eval(net, x) - ref)) <= 1e-12


def test_interpolant_rounding_on_many_knots():
    # With 1025 knots g(x) = f(x_0) + sum_i c_i relu(x - x_i) adds up to 1025 terms c_i (x - x_i);
    # float64 rounding of that sum is at most ~ n eps sum_i |c_i| |x - x_i|. For the smooth targets
    # this is < 1e-12; weierstrass has slopes ~ 2e2 that nearly cancel, so its threshold is the
    # rounding bound itself (about 1e-11), reported rather than hidden.
    x = torch.linspace(0, 1, 4_001, dtype=torch.float64).unsqueeze(1)
    knots = np.linspace(0, 1, 1025)
    for name in ONE_D:
        t = targets.get(name)
        net = relu_interpolant(t, knots)
        values = t(torch.as_tensor(knots)).numpy()
        deviation = np.max(np.abs(_eval(net, x) - np.interp(x.numpy().ravel(), knots, values)))
        c = net.layers[1].weight.reshape(-1).numpy()
        rounding = knots.size * EPS * (abs(values[0]) + np.sum(np.abs(c)))
        assert deviation <= max(1e-12, rounding), (name, deviation, rounding)
        if name != "weierstrass":
            assert deviation <= 1e-12


@pytest.mark.parametrize("name", SMOOTH)
def test_interpolant_error_within_h2_over_8(name, fine):
    t = targets.get(name)
    for n in (1, 2, 5, 16, 64, 256):
        knots = np.linspace(0, 1, n + 1)
        err = metrics.sup_error(relu_interpolant(t, knots), t, fine)
        # threshold: the theorem's h^2/8 max|f''| (+ rounding)
        assert err <= (1 / n) ** 2 / 8 * t.max_f2 + ROUND
        assert interpolant_error_bound(t, knots) == pytest.approx((1 / n) ** 2 / 8 * t.max_f2)


def test_interpolant_bound_is_tight_for_the_square(fine):
    # x^2 meets h^2/8 max|f''| = h^2/4 at the middle of every cell: a quarter of it fails.
    t = targets.get("square")
    for n in (4, 10, 16, 50):  # 2n divides 20000: the fine grid holds every cell's midpoint
        err = metrics.sup_error(relu_interpolant(t, np.linspace(0, 1, n + 1)), t, fine)
        assert err == pytest.approx((1 / n) ** 2 / 4, rel=1e-9)
        assert err > (1 / (2 * n)) ** 2 / 8 * t.max_f2  # negative control: the bound with h/2


# ---------------------------------------------------------------------- staircases
STEEPNESS = {"fixed": lambda n: 50.0, "linear": lambda n: 20.0 * n, "quadratic": lambda n: 10.0 * n * n}


@pytest.mark.parametrize("name", ONE_D)
def test_staircase_within_its_bound_for_every_n(name):
    t = targets.get(name)
    x = metrics.grid(10_001)  # >= 39 points per cell up to n = 256
    for n in (1, 2, 3, 8, 21, 64, 256):
        for rule in STEEPNESS.values():
            s = rule(n)
            err = metrics.sup_error(sigmoid_staircase(t, n, s), t, x)
            # threshold: the rigorous bound derived in staircase_error_bound's docstring
            assert err <= staircase_error_bound(t, n, s) + ROUND, (n, s)


def test_staircase_bound_negative_controls(fine):
    # (1) the bound evaluated with h halved (4n knots' worth) fails somewhere, for each target
    #     with a finite modulus: the staircase really needs the spacing it is given.
    for name in ["sin1", "gaussian", "square", "abs", "triangle"]:
        t = targets.get(name)
        failures = [n for n in (8, 32, 128)
                    if metrics.sup_error(sigmoid_staircase(t, n, 10.0 * n * n), t, fine)
                    > staircase_error_bound(t, 2 * n, 10.0 * n * n)]
        assert failures, name
    # (2) one step with the wrong sign breaks the bound
    t, n, s = targets.get("sin1"), 32, 10.0 * 32 * 32
    net = sigmoid_staircase(t, n, s)
    w2 = net.layers[1].weight.clone()
    w2[0, 5] = -w2[0, 5]
    bad = Network([net.layers[0], Layer(w2, net.layers[1].bias, "identity")])
    assert metrics.sup_error(bad, t, fine) > staircase_error_bound(t, n, s)


def test_staircase_structure_and_limit():
    t = targets.get("sin1")
    net = sigmoid_staircase(t, 10, 1e4)
    assert net.sizes == [1, 10, 1] and net.activations == ["sigmoid", "identity"]
    # As s -> inf the bound tends to omega(h/2) (and for s h -> 0 it blows up).
    assert staircase_error_bound(t, 10, 1e9) == pytest.approx(float(t.omega(0.05)), rel=1e-6)
    bounds = [staircase_error_bound(t, 10, s) for s in (1e3, 1e2, 1e1, 1e0)]
    assert bounds == sorted(bounds) and bounds[-1] > 5 * float(t.omega(0.1))
    # thresholds sit midway between the knots x_i = i / 10
    thresholds = -net.layers[0].bias / net.layers[0].weight.reshape(-1)
    assert torch.allclose(thresholds, torch.arange(10, dtype=torch.float64) / 10 + 0.05)


@pytest.mark.parametrize("name", ONE_D)
def test_ramp_staircase_within_its_bound(name):
    t = targets.get(name)
    x = metrics.grid(10_001)
    for n in (1, 2, 7, 32, 128):
        for theta in (0.1, 0.5, 1.0):
            net = ramp_staircase(t, n, width_fraction=theta)
            assert net.sizes == [1, 2 * n, 1] and net.activations == ["relu", "identity"]
            err = metrics.sup_error(net, t, x)
            # threshold: omega((1 + theta) h / 2), the ramps' exact 0/1 leave no tail term
            assert err <= ramp_staircase_error_bound(t, n, width_fraction=theta) + ROUND


def test_ramp_staircase_with_full_ramps_is_the_interpolant(fine):
    for name in ONE_D:
        t = targets.get(name)
        for n in (3, 16):
            a = _eval(ramp_staircase(t, n, width_fraction=1.0), fine)
            b = _eval(relu_interpolant(t, np.linspace(0, 1, n + 1)), fine)
            assert np.max(np.abs(a - b)) <= ROUND
    # negative control: narrower ramps are a different function
    t = targets.get("sin1")
    assert np.max(np.abs(_eval(ramp_staircase(t, 8), fine)
                         - _eval(relu_interpolant(t, np.linspace(0, 1, 9)), fine))) > 0.01


# ---------------------------------------------------------------------- ramps, hats, trapezoids
def _corners(x: np.ndarray, xs, ys) -> np.ndarray:
    return np.interp(x, xs, ys)


def test_ramp_is_exactly_zero_and_one_outside():
    x = torch.linspace(-1, 2, 30_001, dtype=torch.float64).unsqueeze(1)
    xs = x.numpy().ravel()
    for a, b in [(0.1, 0.3), (-0.5, 0.75), (0.2, 0.2000001)]:
        g = _eval(relu_ramp(a, b), x)
        assert np.all(g[xs <= a] == 0.0)  # both ReLUs are exactly 0: bit-for-bit zero
        # right of b: (x - a) - (x - b) == b - a up to one rounding in each subtraction
        one_tol = 4 * EPS * (np.abs(xs) + abs(a) + abs(b)) / (b - a)
        right = xs >= b
        assert np.all(np.abs(g[right] - 1.0) <= one_tol[right])
        assert np.max(np.abs(g - _corners(xs, [a, b], [0.0, 1.0]))) <= np.max(one_tol)
        # negative control: strictly inside (a, b) the value differs from 1 by more than that
        inside = (xs > a) & (xs < b - (b - a) / 10)
        if inside.any():
            assert np.all(np.abs(g[inside] - 1.0) > one_tol[inside])


def test_hat_and_trapezoid_supports_and_peaks():
    x = torch.linspace(-1, 2, 30_001, dtype=torch.float64).unsqueeze(1)
    xs = x.numpy().ravel()
    a, b, c, d = 0.1, 0.35, 0.6, 0.9
    tol = 8 * EPS * 3 / 0.25  # rounding of the ReLU sum, scaled by the largest slope 1/0.25
    hat = _eval(relu_hat(a, b, c), x)
    assert np.all(hat[xs <= a] == 0.0) and np.all(np.abs(hat[xs >= c]) <= tol)
    assert _eval(relu_hat(a, b, c), torch.tensor([[b]], dtype=torch.float64))[0] == pytest.approx(1.0, abs=tol)
    assert np.max(np.abs(hat - _corners(xs, [a, b, c], [0, 1, 0]))) <= tol
    assert relu_hat(a, b, c).sizes == [1, 3, 1]
    trap = _eval(relu_trapezoid(a, b, c, d), x)
    assert np.all(trap[xs <= a] == 0.0) and np.all(np.abs(trap[xs >= d]) <= tol)
    plateau = (xs >= b) & (xs <= c)
    assert np.all(np.abs(trap[plateau] - 1) <= tol)
    assert np.max(np.abs(trap - _corners(xs, [a, b, c, d], [0, 1, 1, 0]))) <= tol
    assert relu_trapezoid(a, b, c, d).sizes == [1, 4, 1]
    # b == c gives the hat; negative control: a hat is not a trapezoid with a plateau
    assert np.max(np.abs(_eval(relu_trapezoid(a, b, b, c), x) - hat)) <= tol
    assert np.max(np.abs(trap - _corners(xs, [a, b, d], [0, 1, 0]))) > 0.1


def test_sigmoid_bump_within_its_tail_bound():
    a, b = 0.3, 0.6
    x = metrics.grid(10_001)
    xs = x.numpy().ravel()
    indicator = ((xs >= a) & (xs <= b)).astype(float)
    dist = np.minimum(np.abs(xs - a), np.abs(xs - b))
    for s in (10.0, 100.0, 1e4):
        g = _eval(sigmoid_bump(a, b, s), x)
        bound = 2 * expit(-s * dist)  # 2 sigma(-s dist)
        assert np.all(np.abs(g - indicator) <= bound + ROUND)
        assert np.any(np.abs(g - indicator) > bound / 4)  # negative control: a quarter fails


@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_nd_bump_is_one_on_its_box_and_zero_outside(d):
    rng = np.random.default_rng(d)
    center, width, margin = rng.uniform(0.4, 0.6, d), 0.3, 0.05
    net = relu_bump_nd(center, width, margin)
    assert net.sizes == [d, 4 * d, 2, 1] and net.activations == ["relu", "relu", "identity"]
    x = torch.as_tensor(rng.uniform(-0.2, 1.2, (20_000, d)))
    g = _eval(net, x)
    dev = np.abs(x.numpy() - center)  # (n, d)
    inner = np.all(dev <= width / 2, axis=1)
    outer = np.any(dev >= width / 2 + margin, axis=1)
    inner_x = torch.as_tensor(center + rng.uniform(-width / 2, width / 2, (2_000, d)))
    assert np.all(np.abs(_eval(net, inner_x) - 1) <= ROUND)
    assert np.all(np.abs(g[inner] - 1) <= ROUND)
    assert np.all(np.abs(g[outer]) <= ROUND) and outer.any()
    assert np.all((g >= -ROUND) & (g <= 1 + ROUND))
    # between the boxes: ramp(sum_i T_i - (d - 1)), with T_i the trapezoids, in closed form
    trap = np.clip(np.minimum((width / 2 + margin - dev) / margin, 1.0), 0.0, 1.0)  # (n, d)
    assert np.max(np.abs(g - np.clip(trap.sum(1) - (d - 1), 0, 1))) <= ROUND
    # negative control: a single hidden layer (S itself, unthresholded) is not local
    if d > 1:
        assert np.max(np.abs(trap.sum(1)[outer] - (d - 1))) > 0.5


# ---------------------------------------------------------------------- engines, devices, dtypes
def _constructions():
    t = targets.get("sin3")
    return {
        "staircase": sigmoid_staircase(t, 12, 300.0),
        "ramp_staircase": ramp_staircase(t, 12),
        "interpolant": relu_interpolant(t, np.linspace(0, 1, 13)),
        "ramp": relu_ramp(0.2, 0.7),
        "hat": relu_hat(0.2, 0.4, 0.7),
        "trapezoid": relu_trapezoid(0.1, 0.3, 0.5, 0.9),
        "sigmoid_bump": sigmoid_bump(0.3, 0.6, 40.0),
        "bump_nd": relu_bump_nd([0.5, 0.45, 0.55], 0.3),
    }


@pytest.mark.parametrize("name", list(_constructions()))
def test_engines_and_module_evaluate_identically(name):
    net = _constructions()[name]
    d = net.sizes[0]
    x = torch.rand(257, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    g = net(x)  # (257, 1)
    module = net.to_module()
    # nn.Linear and addmm may order the sums differently: within twice the rounding bound
    # (tests/rounding.py), which steep staircases make far larger than 1e-15 absolute
    bound = 2 * forward_error_bound(net, x)  # (257, 1)
    assert bool(((module(x) - g).abs() <= bound).all())
    # The hand-written engine's forward values: with one point and y = 0, the MSE loss is g(x)^2
    # and its gradient with respect to the output bias is 2 g(x).
    zero = torch.zeros(1, 1, dtype=torch.float64)
    for i in range(0, 257, 16):
        loss, grads = backprop.loss_and_grad(net, x[i:i + 1], zero)
        # (a batch of one may take another BLAS kernel than 257 rows: the rounding bound)
        assert abs(grads[-1].item() / 2 - g[i, 0].item()) <= bound[i, 0].item()
        assert loss == pytest.approx((grads[-1].item() / 2) ** 2, rel=1e-12)
    # On the whole batch the two engines agree on the loss and on every gradient.
    y = torch.cos(x.sum(1, keepdim=True))
    lb, gb = backprop.loss_and_grad(net, x, y)
    la, ga = autograd.loss_and_grad(net, x, y)
    assert lb == pytest.approx(la, rel=1e-12) == pytest.approx((g - y).square().mean().item(), rel=1e-12)
    for a, b in zip(gb, ga):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)


def test_constructions_on_device_and_in_float32(device):
    t = targets.get("sin1")
    builders = [lambda **kw: sigmoid_staircase(t, 8, 100.0, **kw),
                lambda **kw: relu_interpolant(t, np.linspace(0, 1, 9), **kw),
                lambda **kw: ramp_staircase(t, 8, **kw),
                lambda **kw: relu_bump_nd([0.5, 0.5], 0.4, **kw)]
    for build in builders:
        ref = build()  # float64 on the CPU
        x = torch.rand(64, ref.sizes[0], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        net = build(device=device)
        assert net.device.type == device
        assert torch.allclose(net(x.to(device)).cpu(), ref(x), rtol=1e-12, atol=1e-14)
        net32 = build(dtype=torch.float32, device=device)
        assert net32.dtype == torch.float32 and net32.device.type == device
        assert torch.allclose(net32(x.to(device, torch.float32)).cpu().double(), ref(x), atol=1e-5)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, message", [
    (lambda: sigmoid_staircase(torch.sin, 0, 10.0), "n must be an integer >= 1, got 0"),
    (lambda: sigmoid_staircase(torch.sin, 2.5, 10.0), "got 2.5"),
    (lambda: sigmoid_staircase(torch.sin, 4, 0.0), "steepness must be a finite number > 0, got 0.0"),
    (lambda: sigmoid_staircase(torch.sin, 4, -3.0), "got -3.0"),
    (lambda: sigmoid_staircase(torch.sin, 4, math.inf), "got inf"),
    (lambda: sigmoid_staircase(torch.sin, 4, 10.0, lo=1.0, hi=0.0), "lo < hi"),
    (lambda: relu_interpolant(torch.sin, [0.0, 0.5, 0.5, 1.0]), "strictly increasing"),
    (lambda: relu_interpolant(torch.sin, [0.0, 1.0, 0.5]), "strictly increasing"),
    (lambda: relu_interpolant(torch.sin, [0.5]), "at least 2 knots"),
    (lambda: relu_ramp(0.5, 0.2), r"a < b.*\(0.5, 0.2\)"),
    (lambda: relu_ramp(0.5, 0.5), "a < b"),
    (lambda: relu_hat(0.1, 0.8, 0.5), "a < b < c"),
    (lambda: relu_trapezoid(0.1, 0.6, 0.5, 0.9), "b <= c"),
    (lambda: relu_trapezoid(0.3, 0.2, 0.5, 0.9), "a < b"),
    (lambda: ramp_staircase(torch.sin, 4, width_fraction=1.5), "width_fraction must lie in"),
    (lambda: ramp_staircase(torch.sin, -1), "got -1"),
    (lambda: sigmoid_bump(0.6, 0.3, 10.0), "a < b"),
    (lambda: relu_bump_nd([], 0.3), "center"),
    (lambda: relu_bump_nd([0.5, 0.5], -0.1), "width must be > 0"),
    (lambda: relu_bump_nd([0.5, 0.5], [0.1, 0.2, 0.3]), "one per coordinate"),
    (lambda: staircase_error_bound(targets.get("gaussian_nd"), 4, 10.0), "modulus of continuity"),
    (lambda: interpolant_error_bound(targets.get("abs"), [0, 1]), "C\\^2"),
    (lambda: sigmoid_staircase(lambda x: x[:2], 4, 10.0), "5 knots to 5 finite values"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------- bounds, defaults and arguments (mutation tests)
def _lipschitz(L=1.0):
    """A target known only through its modulus omega(u) = L u (no values needed for the bounds)."""
    return type("Lipschitz", (), {"omega": staticmethod(lambda u: L * np.asarray(u, dtype=float))})()


def test_staircase_error_bound_is_its_formula_on_any_interval():
    """staircase_error_bound = omega(h/2) + max_{0<=u<=h/2} sigma(-s u) omega(u) + omega(h) sum_{j=1..2n-2}
    sigma(-s j h/2), evaluated here independently (the max on a dense grid, from below) for omega(u) = u,
    on [1, 2] (h = 0.5) and [-1, 3] (h = 2), with s h of order 1, where every term matters. The docstring's
    grid bound of the max may exceed the max by its grid ratio (1e12)^(1/4000) - 1 < 0.7%."""
    for n, s, lo, hi in [(2, 1.0, 1.0, 2.0), (3, 2.0, -1.0, 3.0), (5, 20.0, 1.0, 2.0)]:
        h = (hi - lo) / n
        u = np.linspace(0, h / 2, 200_001)
        near = np.max(expit(-s * u) * u)
        tail = h * sum(expit(-s * j * h / 2) for j in range(1, 2 * n - 1))
        formula = h / 2 + near + tail
        bound = staircase_error_bound(_lipschitz(), n, s, lo, hi)
        assert formula <= bound <= formula + 0.007 * near, (n, s, lo, hi)
        # negative control: the window is narrower than the smallest tail term, so a term too many
        # or too few (or a tail at the wrong spacing) falls outside it
        assert 0.007 * near < h * expit(-s * (2 * n - 2) * h / 2) or n == 5


def test_staircase_error_bound_covers_tiny_distances_for_a_rough_modulus():
    """The near term bounds sigma(-s u) omega(u) for every u in [0, h/2], including u below the
    grid's first point h 1e-12, which matters for a Hoelder modulus u^0.01 and a very steep s = 1e15
    (sigma(-s u) is ~1/2 only for u < 1e-15, where omega is still ~0.7)."""
    holder = type("Holder", (), {"omega": staticmethod(lambda u: np.asarray(u, dtype=float) ** 0.01)})()
    n, s = 4, 1e15
    h = 1 / n
    u = np.geomspace(1e-30, h / 2, 20_001)
    worst = np.max(expit(-s * u) * holder.omega(u))
    bound = staircase_error_bound(holder, n, s)
    assert bound >= holder.omega(h / 2) + worst
    # negative control: the worst point lies below h 1e-12; from there up the product is negligible
    above = u >= h * 1e-12
    assert np.max(expit(-s * u[above]) * holder.omega(u[above])) < 1e-100 < worst


def test_ramp_staircase_error_bound_is_omega_of_one_plus_theta_h_over_2_with_its_defaults():
    """omega((1 + width_fraction) h / 2) with h = (hi - lo) / n; the defaults are [0, 1] and 1/2."""
    t = targets.get("abs")  # omega(u) = u
    assert ramp_staircase_error_bound(t, 4) == pytest.approx(1.5 * 0.25 / 2, rel=1e-15)
    assert ramp_staircase_error_bound(t, 4, lo=1.0, hi=3.0, width_fraction=0.2) == pytest.approx(1.2 * 0.5 / 2, rel=1e-15)
    assert ramp_staircase_error_bound(t, 4, 0.0, 1.0, width_fraction=0.5) == ramp_staircase_error_bound(t, 4)


def test_ramp_staircase_kinks_sit_at_the_ramp_ends_on_any_interval():
    """Ramp i spans [t_i - w/2, t_i + w/2], t_i = x_i - h/2, w = width_fraction h: 2n kinks, here on
    [-1, 3] with n = 4 (h = 1); with width_fraction = 1 the ends are the knots themselves, bit for bit."""
    t = targets.get("sin1")
    net = ramp_staircase(t, 4, lo=-1.0, hi=3.0, width_fraction=0.5)
    mids = np.array([-0.5, 0.5, 1.5, 2.5])
    expected = np.sort(np.concatenate([mids - 0.25, mids + 0.25]))
    np.testing.assert_allclose(np.sort(-net.layers[0].bias.numpy()), expected, rtol=0, atol=1e-15)
    for lo, hi, n in [(0.0, 1.0, 10), (-0.3, 0.7, 7)]:
        knots = np.linspace(lo, hi, n + 1)
        ends = -ramp_staircase(t, n, lo=lo, hi=hi, width_fraction=1.0).layers[0].bias.numpy()  # (2n,)
        assert np.array_equal(ends[0::2], knots[:-1]) and np.array_equal(ends[1::2], knots[1:])
    # negative control: the midpoints -+ h/2 are not all the knots bit for bit
    knots = np.linspace(0.0, 1.0, 11)
    assert not np.array_equal((knots[:-1] + knots[1:]) / 2 - 0.05, knots[:-1])


def test_constructions_read_values_and_points_of_any_shape():
    """f may return a column (m, 1); knots, center and width may come as rows or columns: each is
    flattened, so the network is the same as from flat input."""
    t = targets.get("sin3")
    flat = sigmoid_staircase(t, 6, 50.0)
    column = sigmoid_staircase(lambda x: t(x)[:, None], 6, 50.0)
    assert all(torch.equal(a, b) for a, b in zip(flat.parameters(), column.parameters()))
    knots = np.linspace(0, 1, 7)
    flat = relu_interpolant(t, knots)
    for shaped in (knots[None, :], knots[:, None]):
        assert all(torch.equal(a, b) for a, b in zip(flat.parameters(), relu_interpolant(t, shaped).parameters()))
        assert interpolant_error_bound(t, shaped) == interpolant_error_bound(t, knots)
    flat = relu_bump_nd([0.4, 0.6], [0.2, 0.3], 0.05)
    row = relu_bump_nd(np.array([[0.4, 0.6]]), np.array([[0.2, 0.3]]), 0.05)
    assert all(torch.equal(a, b) for a, b in zip(flat.parameters(), row.parameters()))


def test_values_of_f_are_read_in_float64():
    """f may return float32: its values are cast to float64 before the differences are taken, so the
    interpolant of 1e-8 and 1 (a difference float32 would round to 1) still ends at 1 + 1e-8."""
    f = lambda x: torch.where(x < 0.5, 1e-8, 1 + 1e-8).to(torch.float32)  # float32: 1e-8 and 1.0
    y = f(torch.tensor([0.0, 1.0], dtype=torch.float64)).double()
    net = relu_interpolant(f, [0.0, 1.0])
    assert _eval(net, torch.tensor([[0.0], [1.0]], dtype=torch.float64)).tolist() == pytest.approx(y.tolist(), abs=1e-15)


def test_per_coordinate_widths_and_the_default_margin():
    """width may be one number per coordinate; the margin defaults to a quarter of the smallest width."""
    center, width = [0.4, 0.6], [0.2, 0.4]
    default = relu_bump_nd(center, width)
    assert all(torch.equal(a, b) for a, b in zip(default.parameters(), relu_bump_nd(center, width, 0.05).parameters()))
    probe = torch.tensor([[0.4 + 0.09, 0.6 + 0.19],     # inside the inner box (half-widths 0.1, 0.2)
                          [0.4 + 0.16, 0.6],            # beyond 0.1 + margin 0.05 in the first coordinate
                          [0.4, 0.6 + 0.26]], dtype=torch.float64)  # beyond 0.2 + 0.05 in the second
    np.testing.assert_allclose(_eval(default, probe), [1.0, 0.0, 0.0], atol=ROUND)
    # negative control: a margin of 0.1 reaches the second probe
    assert _eval(relu_bump_nd(center, width, 0.1), probe)[1] > 0.3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_piece_is_built_in_the_requested_dtype(dtype):
    for net in (relu_ramp(0.2, 0.7, dtype=dtype), relu_hat(0.2, 0.4, 0.7, dtype=dtype),
                relu_trapezoid(0.1, 0.3, 0.5, 0.9, dtype=dtype), sigmoid_bump(0.3, 0.6, 40.0, dtype=dtype)):
        assert all(p.dtype == dtype for p in net.parameters())


def test_a_target_without_omega_or_max_f2_attributes_is_refused_by_the_bounds():
    """A plain function (no attributes at all) gets the same ValueError as a target whose attribute is None."""
    with pytest.raises(ValueError, match="needs a modulus of continuity"):
        staircase_error_bound(torch.sin, 4, 10.0)
    with pytest.raises(ValueError, match="needs a modulus of continuity"):
        ramp_staircase_error_bound(torch.sin, 4)
    with pytest.raises(ValueError, match=r"needs a C\^2 target with max_f2"):
        interpolant_error_bound(torch.sin, [0.0, 1.0])


@pytest.mark.parametrize("call, message", [
    (lambda: staircase_error_bound(targets.get("abs"), 0, 10.0), r"^n must be an integer >= 1, got 0$"),
    (lambda: staircase_error_bound(targets.get("abs"), 4, 0.0), r"^steepness must be a finite number > 0, got 0.0$"),
    (lambda: staircase_error_bound(targets.get("abs"), 4, -1.0), r"^steepness must be a finite number > 0, got -1.0$"),
    (lambda: staircase_error_bound(targets.get("abs"), 4, 10.0, 0.5, 0.5), r"^need finite lo < hi, got lo=0.5, hi=0.5$"),
    (lambda: sigmoid_staircase(torch.sin, 4, 10.0, lo=0.5, hi=0.5), r"^need finite lo < hi, got lo=0.5, hi=0.5$"),
    (lambda: ramp_staircase(torch.sin, 0), r"^n must be an integer >= 1, got 0$"),
    (lambda: ramp_staircase(torch.sin, 4, width_fraction=0.0), r"^width_fraction must be a finite number > 0, got 0.0$"),
    (lambda: ramp_staircase(torch.sin, 4, width_fraction=-0.5), r"^width_fraction must be a finite number > 0, got -0.5$"),
    (lambda: ramp_staircase_error_bound(targets.get("abs"), 0), r"^n must be an integer >= 1, got 0$"),
    (lambda: ramp_staircase_error_bound(targets.get("abs"), 4, width_fraction=0.0),
     r"^width_fraction must be a finite number > 0, got 0.0$"),
    (lambda: ramp_staircase_error_bound(targets.get("abs"), 4, width_fraction=-0.5),
     r"^width_fraction must be a finite number > 0, got -0.5$"),
    (lambda: sigmoid_bump(0.3, 0.6, 0.0), r"^steepness must be a finite number > 0, got 0.0$"),
    (lambda: sigmoid_bump(0.3, 0.6, -2.0), r"^steepness must be a finite number > 0, got -2.0$"),
    (lambda: relu_bump_nd([0.5, 0.5], 0.3, 0.0), r"^margin must be a finite number > 0, got 0.0$"),
    (lambda: relu_bump_nd([0.5, 0.5], 0.3, -0.1), r"^margin must be a finite number > 0, got -0.1$"),
    (lambda: relu_bump_nd([0.5, 0.5], [0.3, 0.0]), r"^width must be > 0, one number or one per coordinate \(2\)"),
    (lambda: relu_ramp(0.5, 0.2), r"^need finite a < b in strictly increasing order, got \(0.5, 0.2\)$"),
    (lambda: relu_hat(0.1, 0.8, 0.5), r"^need finite a < b < c in strictly increasing order, got \(0.1, 0.8, 0.5\)$"),
    (lambda: relu_trapezoid(0.3, 0.2, 0.5, 0.9), r"^need finite a < b in strictly increasing order, got \(0.3, 0.2\)$"),
    (lambda: relu_trapezoid(0.1, 0.2, 0.5, 0.4), r"^need finite c < d in strictly increasing order, got \(0.5, 0.4\)$"),
    (lambda: sigmoid_bump(0.6, 0.3, 10.0), r"^need finite a < b in strictly increasing order, got \(0.6, 0.3\)$"),
    (lambda: relu_interpolant(torch.sin, [0.0, 1.0, 0.5]), r"^need finite knots in strictly increasing order"),
    (lambda: interpolant_error_bound(targets.get("square"), [0.0, 1.0, 0.5]),
     r"^need finite knots in strictly increasing order"),
])
def test_bad_input_names_the_argument_the_value_and_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_least_positive_steepness_is_accepted():
    """steepness is any s > 0: a gentle s = 0.5 is a valid (if loose) bump and staircase bound."""
    assert sigmoid_bump(0.3, 0.6, 0.5).sizes == [1, 2, 1]
    assert np.isfinite(staircase_error_bound(targets.get("abs"), 4, 0.5))
