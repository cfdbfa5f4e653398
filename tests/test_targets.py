"""approx.targets: every constant computed by formula agrees with a dense numerical estimate.

Thresholds. A difference quotient (f(x+dx) - f(x))/dx equals f'(xi) for some xi (mean value
theorem), so on any grid it is <= sup|f'|; a second difference equals f''(xi) and is <= max|f''|;
the oscillation over a window of width dt is <= omega(dt). So the formulas must bound the
estimates (up to rounding), and where a formula is exact (attained) the estimate on a fine grid
must come within a small relative gap of it (the grid's resolution).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from approx import targets

ONE_D = ["sin1", "sin3", "gaussian", "square", "abs", "triangle", "step", "weierstrass"]
N_GRID = 200_001  # dx = 5e-6: 125 points per period of weierstrass's top term cos(625 pi x)
ROUND = 1e-9  # rounding of difference quotients of O(1e2) values on this grid


@pytest.fixture(scope="module")
def grid():
    x = torch.linspace(0, 1, N_GRID, dtype=torch.float64)
    return x, (x[1] - x[0]).item()


def _modulus(y: np.ndarray, m: int) -> float:
    """max over windows of m + 1 consecutive grid points of (max - min): omega(m dx) on the grid."""
    # Windows cut by the ends are padded by reflection, i.e. with values inside a full window,
    # so they never exceed the oscillation of some full window.
    return float(np.max(ndimage.maximum_filter1d(y, m + 1) - ndimage.minimum_filter1d(y, m + 1)))


def _modulus_direct(y: np.ndarray, m: int) -> float:
    """The same oscillation, by a plain sliding window (reference for _modulus)."""
    windows = np.lib.stride_tricks.sliding_window_view(y, m + 1)
    return float(np.max(windows.max(axis=1) - windows.min(axis=1)))


def test_names_and_unknown_names():
    assert targets.names() == list(targets.NAMES)
    assert targets.get("sin3").name == "sin3" and targets.get("sin", k=3).lipschitz == 6 * math.pi
    with pytest.raises(ValueError, match="unknown target 'cosine'.*allowed: sin, gaussian"):
        targets.get("cosine")
    with pytest.raises(ValueError, match="positive integer frequency"):
        targets.get("sin0")
    with pytest.raises(ValueError, match="bad parameters"):
        targets.get("square", k=2)
    with pytest.raises(ValueError, match="b = 1 mod 4"):
        targets.get("weierstrass", b=3)  # its Lipschitz constant would not be attained
    with pytest.raises(ValueError, match="dimension d"):
        targets.get("ridge_nd", d=0)
    for name in targets.names():
        assert targets.get(name).kind in targets.KINDS


@pytest.mark.parametrize("name", ONE_D)
def test_one_d_constants_match_dense_estimates(name, grid):
    x, dx = grid
    t = targets.get(name)
    y = t(x).numpy()
    assert abs(np.max(np.abs(y)) - t.sup_norm) <= 1e-12  # every sup norm is attained on the grid
    slope = np.abs(np.diff(y)) / dx
    curvature = np.abs(np.diff(y, 2)) / dx**2
    if t.lipschitz is None:
        assert slope.max() > 1e4  # a jump: difference quotients grow like 1/dx
    else:
        assert slope.max() <= t.lipschitz * (1 + ROUND)
        assert slope.max() >= t.lipschitz * (1 - 1e-3)  # attained up to the grid's resolution
    if t.max_f2 is None:
        assert curvature.max() > 1e4  # a kink: second differences grow like 1/dx
    else:
        # each y_i carries a rounding error <= eps |f|, so a second difference <= 4 eps |f| / dx^2
        assert curvature.max() <= t.max_f2 + 4 * np.finfo(float).eps * t.sup_norm / dx**2
        assert curvature.max() >= t.max_f2 * (1 - 1e-3)


EXACT_MODULUS = {"sin1", "sin3", "square", "abs", "triangle", "step"}


@pytest.mark.parametrize("name", ONE_D)
def test_modulus_of_continuity_bounds_the_oscillation(name, grid):
    x, dx = grid
    t = targets.get(name)
    y = t(x).numpy()
    for m in (1, 7, 40, 300, 2_000, 20_000, 120_000):
        measured = _modulus_direct(y, m) if m <= 7 else _modulus(y, m)
        assert measured <= t.omega(m * dx) + 1e-12
        if name in EXACT_MODULUS:  # the formula is the exact modulus, reached on the grid
            assert measured >= t.omega(m * dx) * (1 - 2e-3)


def test_modulus_estimate_agrees_with_plain_window_and_can_fail(grid):
    x, dx = grid
    y = targets.get("sin3")(x).numpy()[:20_000]
    for m in (2, 3, 50, 301):
        assert _modulus(y, m) == pytest.approx(_modulus_direct(y, m), abs=1e-15)
    # negative control: the modulus at half the distance is exceeded (the check can fail)
    t = targets.get("square")
    assert _modulus_direct(t(x).numpy(), 200) > t.omega(100 * dx)


def test_one_d_targets_are_elementwise():
    t = targets.get("gaussian")
    x = torch.rand(5, 3, dtype=torch.float64)
    assert t(x).shape == (5, 3)
    assert torch.equal(t(x)[:, 1], t(x[:, 1]))


@pytest.mark.parametrize("d", [1, 2, 5, 16])
@pytest.mark.parametrize("name", ["gaussian_nd", "ridge_nd", "ball_nd"])
def test_nd_shapes_and_sup_norm(name, d):
    t = targets.get(name, d=d)
    x = torch.rand(100, d, dtype=torch.float64)
    assert t(x).shape == (100, 1) and t.dim == d
    assert t(torch.full((1, d), 0.5, dtype=torch.float64)).item() == t.sup_norm  # attained at c
    assert t(x).abs().max().item() <= t.sup_norm
    with pytest.raises(ValueError, match=f"takes points \\(n, {d}\\)"):
        t(torch.rand(3, d + 1, dtype=torch.float64))


def test_gaussian_nd_constants_in_two_dimensions():
    for width in (0.2, 0.25 * math.sqrt(2), 1.5):  # the gradient's peak inside, then at a corner
        t = targets.get("gaussian_nd", d=2, width=width)
        axis = torch.linspace(0, 1, 501, dtype=torch.float64)
        x = torch.cartesian_prod(axis, axis).requires_grad_(True)
        (grad,) = torch.autograd.grad(t(x).sum(), x)
        norm = grad.norm(dim=1).max().item()
        assert t.lipschitz * (1 - 1e-4) <= norm <= t.lipschitz * (1 + 1e-12)
        hess = torch.autograd.functional.hessian(lambda z: t(z.unsqueeze(0)).sum(),
                                                 torch.tensor([0.5, 0.5], dtype=torch.float64))
        assert torch.linalg.matrix_norm(hess, 2).item() == pytest.approx(t.max_f2, rel=1e-12)


def test_barron_constants_by_monte_carlo():
    # C_{f,B} = E |w|_1 / 2 under the Gaussian's Fourier measure N(0, I / s^2).
    g = torch.Generator().manual_seed(0)
    for d in (1, 4, 16):
        t = targets.get("gaussian_nd", d=d)
        s = 0.25 * math.sqrt(d)
        draws = (torch.randn(50_000, d, generator=g, dtype=torch.float64) / s).abs().sum(1) / 2
        stderr = draws.std().item() / math.sqrt(draws.numel())
        assert abs(draws.mean().item() - t.barron) < 4 * stderr
        # ridge: mass 1/(2K) at +-2 pi nu w_k, so C = sum_k (1/K) 2 pi nu |w_k|_1 / 2
        r = targets.get("ridge_nd", d=d, frequency=2.0)
        w = targets.ridge_directions(d, 3, 0)
        assert r.barron == pytest.approx((2 * math.pi * 2.0 * w.abs().sum(1) / 2).mean().item())
        assert torch.allclose(w.norm(dim=1), torch.ones(3, dtype=torch.float64))
    assert targets.get("ball_nd", d=3).barron == math.inf


def test_ball_holds_about_half_the_cube():
    for d in (2, 8, 16):
        x, y = targets.sample(targets.get("ball_nd", d=d), 20_000, seed=1)
        assert 0.4 < y.mean().item() < 0.6


def test_sample_shapes_noise_seeds_and_grid():
    t = targets.get("sin1")
    x, y = targets.sample(t, 1000, seed=3)
    assert x.shape == (1000, 1) and y.shape == (1000, 1) and x.dtype == torch.float64
    assert torch.equal(y, t(x))
    x2, y2 = targets.sample(t, 1000, seed=3)
    assert torch.equal(x, x2) and not torch.equal(x, targets.sample(t, 1000, seed=4)[0])
    xn, yn = targets.sample(t, 20_000, noise=0.5, seed=0)
    assert (yn - t(xn)).std().item() == pytest.approx(0.5, rel=0.03)
    xg, yg = targets.sample(targets.get("ridge_nd", d=2), 121, grid=True)
    assert xg.shape == (121, 2) and yg.shape == (121, 1) and xg.min() == 0 and xg.max() == 1
    x32, _ = targets.sample(t, 10, dtype=torch.float32)
    assert x32.dtype == torch.float32
    with pytest.raises(ValueError, match="n = m\\^d"):
        targets.sample(targets.get("ridge_nd", d=2), 120, grid=True)
    with pytest.raises(ValueError, match="n >= 1"):
        targets.sample(t, 0)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        targets.sample(t, 10, noise=-1.0)


def test_sample_on_device(device):
    t = targets.get("ridge_nd", d=3)
    x, y = targets.sample(t, 64, seed=0, device=device)
    xc, yc = targets.sample(t, 64, seed=0)
    assert x.device.type == device
    assert torch.allclose(x.cpu(), xc) and torch.allclose(y.cpu(), yc, atol=1e-12)


@pytest.mark.parametrize("name", ONE_D)
def test_kinks_are_where_a_piecewise_linear_target_bends(name):
    """Between its kinks a piecewise-linear target is affine: every second difference on a grid
    that has the kinks among its points is 0 (to rounding); at each kink it is not. A target
    without kinks (None) is not piecewise linear: some second difference is far from 0."""
    t = targets.get(name)
    x = torch.linspace(0, 1, 4001, dtype=torch.float64)  # 0.25, 0.5, 0.75 are grid points
    second = (t(x[2:]) - 2 * t(x[1:-1]) + t(x[:-2])).abs()  # (3999,) centred at x[1:-1]
    if t.kinks is None:
        assert second.max() > 1e-9, name  # the negative control: bent everywhere or jumps
        return
    at_kink = torch.zeros_like(second, dtype=torch.bool)
    for k in t.kinks:
        at_kink |= (x[1:-1] - k).abs() < 1e-12
    assert int(at_kink.sum()) == len(t.kinks)
    assert second[~at_kink].max() <= 1e-12  # rounding of O(1) values
    assert (second[at_kink] > 1e-6).all()  # the slope really changes there
