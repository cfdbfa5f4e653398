"""No hidden layer: GD -> OPT at the predicted linear rate; max-margin, logistic and random-features references."""
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from approx import linear
from approx.network import Network
from approx.train import fit


def _regression(n=60, d=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    y = x @ torch.randn(d, generator=gen, dtype=torch.float64) + 0.3 + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)
    return x, y


def _theta(net: Network) -> torch.Tensor:
    return torch.cat([net.layers[0].weight.reshape(-1), net.layers[0].bias.reshape(-1)])


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_gd_reaches_lstsq_at_no_slower_than_the_predicted_rate(engine):
    x, y = _regression()
    theta_star = linear.least_squares(x, y)
    rate = linear.gd_rate(x)  # eta = 1 / lambda_max(H), H = (2/n) X^T X
    net = Network.random([x.shape[1], 1], "identity", seed=1)
    gap = {"gap": lambda net: (_theta(net) - theta_star).norm().item()}
    steps = 400
    trained, hist = fit(net, (x, y[:, None]), engine=engine, lr=rate.lr, steps=steps, log_every=1, metrics=gap)
    rel = (_theta(trained) - theta_star).norm().item() / theta_star.norm().item()
    assert rel < 1e-8  # "reaches the lstsq solution" means to 1e-8 relative (float64)
    g = hist.gap.to_numpy()
    # Theorem: ||theta_t - theta*|| <= (1 - eta lambda_min)^t ||theta_0 - theta*||; that is the
    # threshold, with a rounding floor of 1e-13 ||theta*|| once the gap reaches machine precision.
    bound = rate.bound(hist.step.to_numpy()) * g[0] + 1e-13 * theta_star.norm().item()
    assert np.all(g <= bound * (1 + 1e-12))
    # negative control: a rate faster than the theorem's is violated (the slowest mode decays at it)
    assert np.any(g > (rate.bound(hist.step.to_numpy()) ** 1.5) * g[0] + 1e-13 * theta_star.norm().item())


def test_gd_rate_is_attained_asymptotically():
    x, y = _regression(seed=3)
    theta_star = linear.least_squares(x, y)
    rate = linear.gd_rate(x)
    X = linear.design_matrix(x)
    theta = torch.zeros(X.shape[1], dtype=torch.float64)
    gaps = []
    for _ in range(60):
        theta = theta - rate.lr * (2 / X.shape[0]) * X.T @ (X @ theta - y)
        gaps.append((theta - theta_star).norm().item())
    assert gaps[-1] / gaps[-2] == pytest.approx(rate.rate, rel=1e-3)


def test_gd_rate_formula():
    x, _ = _regression()
    X = linear.design_matrix(x)
    eig = np.linalg.eigvalsh((2 / X.shape[0] * X.T @ X).numpy())
    r = linear.gd_rate(x)
    assert (r.lambda_min, r.lambda_max) == pytest.approx((eig[0], eig[-1]), rel=1e-12)
    assert r.lr == pytest.approx(1 / eig[-1]) and r.rate == pytest.approx(1 - eig[0] / eig[-1])
    assert r.condition_number == pytest.approx(eig[-1] / eig[0])
    assert linear.gd_rate(x, lr=2.5 / eig[-1]).rate > 1  # too large a step diverges
    with pytest.raises(ValueError, match="lr must be > 0"):
        linear.gd_rate(x, lr=-1.0)


def test_least_squares_matches_numpy_and_minimum_norm():
    x, y = _regression()
    ref = np.linalg.lstsq(linear.design_matrix(x).numpy(), y.numpy(), rcond=None)[0]
    assert np.allclose(linear.least_squares(x, y).numpy(), ref, rtol=1e-12, atol=1e-12)
    wide = torch.randn(5, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    theta = linear.least_squares(wide, y[:5], bias=False)
    assert torch.allclose(theta, torch.linalg.pinv(wide) @ y[:5], atol=1e-12)
    assert torch.allclose(wide @ theta, y[:5], atol=1e-12)  # interpolates


def test_ridge_solution_solves_the_regularised_normal_equations():
    x, y = _regression()
    X, n, lam = linear.design_matrix(x), x.shape[0], 0.1
    theta = linear.least_squares(x, y, ridge=lam)
    assert torch.allclose((X.T @ X + n * lam * torch.eye(X.shape[1], dtype=torch.float64)) @ theta, X.T @ y, atol=1e-10)
    with pytest.raises(ValueError, match="ridge must be"):
        linear.least_squares(x, y, ridge=-1.0)


def test_linear_network_computes_the_linear_model():
    x, y = _regression()
    theta = linear.least_squares(x, y)
    assert torch.allclose(linear.linear_network(theta, 4)(x)[:, 0], linear.design_matrix(x) @ theta)
    with pytest.raises(ValueError, match="theta must have shape \\(5,\\)"):
        linear.linear_network(theta[:3], 4)


def _separable(n=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    signs = torch.sign(x @ torch.tensor([1.0, -2.0], dtype=torch.float64) + 0.4)
    return x, signs


def test_max_margin_matches_a_generic_qp_solver_and_satisfies_kkt():
    x, signs = _separable()
    direction, margin = linear.max_margin(x, signs)
    G = (signs[:, None] * linear.design_matrix(x)).numpy()
    res = minimize(lambda t: 0.5 * t @ t, np.zeros(3), jac=lambda t: t, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda t: G @ t - 1, "jac": lambda t: G}],
                   options={"ftol": 1e-15, "maxiter": 500})
    assert linear.angle(direction, torch.tensor(res.x)) < 1e-6
    assert margin == pytest.approx(1 / np.linalg.norm(res.x), rel=1e-6)
    scores = G @ direction.numpy() / margin  # = s_i <X_i, theta> for theta = direction / margin
    assert scores.min() == pytest.approx(1.0, abs=1e-10)  # feasible, with active constraints
    # negative control: any other direction has a smaller margin
    other = direction + 0.01 * torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    assert (G @ (other / other.norm()).numpy()).min() < margin


def test_max_margin_rejects_non_separable_data_and_bad_labels():
    x, signs = _separable()
    signs[0] = -signs[0]
    x[0] = x[1]
    signs[0] = -signs[1]  # the same point with both labels
    with pytest.raises(ValueError, match="not linearly separable"):
        linear.max_margin(x, signs)
    with pytest.raises(ValueError, match="labels in \\{-1, \\+1\\}"):
        linear.max_margin(x, (signs + 1) / 2)


def test_gd_on_separable_logistic_regression_turns_toward_the_max_margin_direction():
    """Soudry et al. (2018): loss -> 0 and the angle to the max-margin direction -> 0 (like 1/log t)."""
    x, signs = _separable()
    direction, _ = linear.max_margin(x, signs)
    net = Network.random([2, 1], "identity", seed=0)
    angle = {"angle": lambda net: linear.angle(_theta(net), direction)}
    _, hist = fit(net, (x, (signs[:, None] + 1) / 2), loss="logistic", lr=1.0, steps=3000,
                  log_steps=[10, 100, 1000, 3000], metrics=angle)
    rows = hist.set_index("step")
    assert rows.loss[3000] < rows.loss[1000] < rows.loss[100] < rows.loss[10]
    assert rows.loss[3000] < 1e-2
    assert rows.angle[3000] < rows.angle[1000] < rows.angle[100] < 0.2


def test_logistic_optimum_zeroes_the_gradient_and_gd_approaches_it():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(80, 3, generator=gen, dtype=torch.float64)
    y = (torch.rand(80, generator=gen, dtype=torch.float64) < torch.sigmoid(x[:, 0] - x[:, 1])).to(torch.float64)
    theta = linear.logistic_optimum(x, y)
    X = linear.design_matrix(x)
    assert (X.T @ (torch.sigmoid(X @ theta) - y)).norm().item() / 80 < 1e-12
    net, _ = fit(Network.random([3, 1], "identity", seed=0), (x, y[:, None]), loss="logistic", lr=2.0, steps=2000)
    assert (_theta(net) - theta).norm().item() < 1e-6
    with pytest.raises(ValueError, match="separable"):
        linear.logistic_optimum(x, (x[:, 0] > 0).to(torch.float64))


def test_angle_is_accurate_near_zero():
    u = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert linear.angle(u, torch.tensor([1.0, 1e-9], dtype=torch.float64)) == pytest.approx(1e-9, rel=1e-6)
    assert linear.angle(u, -u) == pytest.approx(math.pi)


def test_minimum_norm_fit_equals_pinv_and_ridge_formula():
    gen = torch.Generator().manual_seed(0)
    phi = torch.randn(20, 50, generator=gen, dtype=torch.float64)
    y = torch.randn(20, generator=gen, dtype=torch.float64)
    assert torch.allclose(linear.minimum_norm_fit(phi, y), torch.linalg.pinv(phi) @ y, atol=1e-12)
    v = linear.minimum_norm_fit(phi, y, ridge=0.01)
    ref = torch.linalg.solve(phi.T @ phi + 20 * 0.01 * torch.eye(50, dtype=torch.float64), phi.T @ y)
    assert torch.allclose(v, ref, atol=1e-10)


def test_random_features_kinks_cut_the_cube_and_interpolate_when_wide():
    net = linear.random_features(3, 200, seed=0)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(50, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(50, generator=gen, dtype=torch.float64)
    on = Network([net.layers[0]])(x) > 0  # (n, N)
    split = on.any(0) & (~on).any(0)  # on at some points, off at others: not affine on the data
    assert split.to(torch.float64).mean().item() > 0.9
    fitted = linear.fit_output_layer(net, x, y)
    assert (fitted(x)[:, 0] - y).abs().max().item() < 1e-8  # N = 200 > n = 50: interpolation
    narrow = linear.fit_output_layer(linear.random_features(3, 10, seed=0), x, y)
    assert (narrow(x)[:, 0] - y).abs().max().item() > 0.1  # N < n cannot interpolate noise
    assert torch.equal(fitted.layers[0].weight, net.layers[0].weight)  # the first layer is frozen
