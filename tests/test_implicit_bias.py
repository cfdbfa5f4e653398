"""approx.implicit_bias: GD on separable logistic regression grows like w_hat log t with a bounded residual
(Soudry et al. 2018, Theorem 3), and the growth statistic can tell a wrong w_hat or non-separable data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from approx import implicit_bias as ib
from approx import linear

RECORD = sorted({0} | {10 ** k for k in range(6)} | {int(t) for t in np.geomspace(1, 1e5, 40)})


def _wide_margin_problem(separable: bool = True):
    """20 points in 2-D: two clouds at +-(2, 1) and one point of each class near the boundary.

    The two near points are the support vectors; every other point's margin is over twice theirs
    (theta >= 2 below), so the non-support terms, ~ t^-theta in the gradient, die out within a few
    decades and the asymptotic regime is reached well before t = 1e5.
    """
    gen = np.random.default_rng(0)
    s = np.repeat([1.0, -1.0], 10)
    x = s[:, None] * np.array([2.0, 1.0]) + 0.4 * gen.standard_normal((20, 2))
    x[0], x[10] = (0.5, 0.3), (-0.5, -0.2)
    if not separable:
        s[[0, 10]] *= -1  # one point of each cloud on the wrong side: no separating direction
    X = linear.design_matrix(torch.tensor(x)).numpy()
    return x, X, s


def _run(X, s):
    return ib.logistic_gd(X, s, np.zeros(X.shape[1]), lr=0.5 * ib.max_lr(X), record=RECORD)


def test_residual_to_w_hat_log_t_stops_growing():
    """Theorem 3: rho(t) = theta(t) - w_hat log t is bounded, so its growth per decade of t tends to 0,
    while w_hat log t grows by ||w_hat|| ln 10 per decade. Threshold: the last decade's growth below 1%
    of that (a w_hat 10% off would level at 10%, the negative controls below)."""
    x, X, s = _wide_margin_problem()
    direction, margin = linear.max_margin(torch.tensor(x), torch.tensor(s))
    w_hat = direction.numpy() / margin
    steps, thetas, losses = _run(X, s)
    margins = np.sort((s[:, None] * X) @ w_hat)  # 1 on the support vectors
    assert margins[2] >= 2  # theta, the smallest margin off the support vectors
    assert np.all(np.diff(losses) <= 1e-15)  # GD below 2/beta on a smooth convex loss never goes up
    growth = ib.growth_per_decade(steps, ib.residual(steps, thetas, w_hat), np.linalg.norm(w_hat))
    assert abs(growth[10 ** 5]) < 0.01
    # the angle to the max-margin direction shrinks: below 0.05 rad by t = 1e5
    assert linear.angle(torch.tensor(thetas[-1]), direction) < 0.05
    # negative controls: w_hat scaled by 0.9 or 1.1 leaves a residual growing like 0.1 ||w_hat|| log t
    for wrong in (0.9, 1.1):
        bad = ib.growth_per_decade(steps, ib.residual(steps, thetas, wrong * w_hat), np.linalg.norm(w_hat))
        assert abs(bad[10 ** 5]) > 0.05


def test_non_separable_data_fail_the_same_statistic():
    # the iterates converge to the finite minimiser, so theta - w log t grows like ||w|| log t for any w
    _, X, s = _wide_margin_problem(separable=False)
    w = np.array([2.0, 1.0, 0.0])
    steps, thetas, _ = _run(X, s)
    growth = ib.growth_per_decade(steps, ib.residual(steps, thetas, w), np.linalg.norm(w))
    assert growth[10 ** 5] > 0.9  # close to 1: no part of w log t is tracked


def test_residual_and_growth_on_a_known_path():
    steps = np.array([1, 10, 100])
    w_hat = np.array([1.0, 0.0])
    thetas = np.stack([w_hat * np.log(t) + np.array([3.0, 0.0]) for t in steps])  # rho = (3, 0) exactly
    assert np.allclose(ib.residual(steps, thetas, w_hat), 3.0)
    assert ib.growth_per_decade(steps, ib.residual(steps, thetas, w_hat), 1.0) == pytest.approx({10: 0, 100: 0})
    # a w_hat twice too small: the residual grows by ||w_hat|| / 2 ln 10 per decade, half of w_hat log t's
    half = ib.growth_per_decade(steps, ib.residual(steps, thetas, w_hat / 2), 1.0)
    assert half[100] == pytest.approx(0.5, abs=1e-12)


def test_step_above_soudry_condition_and_bad_signs_are_refused():
    _, X, s = _wide_margin_problem()
    with pytest.raises(ValueError, match="lr must be"):
        ib.logistic_gd(X, s, np.zeros(3), lr=ib.max_lr(X), record=[1])
    with pytest.raises(ValueError, match="signs"):
        ib.logistic_gd(X, np.zeros_like(s), np.zeros(3), lr=0.1, record=[1])
    ib.logistic_gd(X, s, np.zeros(3), lr=0.99 * ib.max_lr(X), record=[1])  # control: just below passes
