"""approx.linearized: the linearized model's loss curve, exact on models linear in their parameters."""
from __future__ import annotations

import pytest
import torch

from approx import linear
from approx.linearized import linearized_loss
from approx.network import Network
from approx.train import fit

DTYPE = torch.float64


def _least_squares_run(lr_scale: float = 0.5, steps: int = 200):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 3, generator=gen, dtype=DTYPE)
    y = torch.randn(12, 1, generator=gen, dtype=DTYPE)
    net = Network.random([3, 1], "identity", seed=1)
    X = linear.design_matrix(x)  # (n, d + 1): the model is X theta, so J = X and Theta = X X^T
    lr = lr_scale / linear.gd_rate(x).lambda_max
    _, hist = fit(net, (x, y), loss="mse", lr=lr, steps=steps, log_every=1)
    residual = (net(x) - y).reshape(-1)
    return X @ X.T, residual, lr, hist


def test_exact_on_least_squares_where_the_model_is_linear():
    kernel, residual, lr, hist = _least_squares_run()
    predicted = linearized_loss(kernel, residual, lr, hist.step.astype(int))
    measured = torch.tensor(hist.loss.to_list(), dtype=DTYPE)
    # linear in theta: the formula is GD itself, up to rounding over 200 steps (float64)
    assert torch.allclose(predicted, measured, rtol=1e-9, atol=1e-14)
    # negative control: the prediction for a step 1% larger misses by more than that tolerance
    wrong = linearized_loss(kernel, residual, 1.01 * lr, hist.step.astype(int))
    assert not torch.allclose(wrong, measured, rtol=1e-3, atol=1e-14)


def test_one_eigenvalue_decays_at_its_rate():
    # Theta = lambda I: L(t) = (1 - 2 lr lambda / n)^(2t) ||r_0||^2 / n exactly
    n, lam, lr = 4, 3.0, 0.25
    r0 = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=DTYPE)
    got = linearized_loss(lam * torch.eye(n, dtype=DTYPE), r0, lr, [0, 1, 5])
    rho = 1 - 2 * lr * lam / n
    want = torch.tensor([rho ** (2 * t) for t in (0, 1, 5)], dtype=DTYPE) * r0.square().sum() / n
    assert torch.allclose(got, want, rtol=1e-14)


def test_an_ensemble_gives_one_curve_per_member_with_its_own_rate():
    kernel, residual, lr, _ = _least_squares_run(steps=1)
    both = linearized_loss(torch.stack([kernel, kernel]), torch.stack([residual, residual]),
                           torch.tensor([lr, lr / 2]), [0, 10])
    assert both.shape == (2, 2)
    assert torch.allclose(both[0], linearized_loss(kernel, residual, lr, [0, 10]))
    assert torch.allclose(both[1], linearized_loss(kernel, residual, lr / 2, [0, 10]))
    assert both[0, 1] < both[1, 1]  # the larger step is further down at t = 10 (both below 1/lambda_max)


@pytest.mark.parametrize("kernel, residual, lr, steps", [
    (torch.ones(2, 3), torch.ones(2), 0.1, [0]),  # not square
    (torch.eye(2), torch.ones(3), 0.1, [0]),  # residual of the wrong length
    (torch.eye(2), torch.ones(2), 0.0, [0]),  # no step
    (torch.eye(2), torch.ones(2), 0.1, [-1]),  # a negative step
])
def test_bad_input_raises(kernel, residual, lr, steps):
    with pytest.raises(ValueError):
        linearized_loss(kernel, residual, lr, steps)
    # control: the same call with good input passes
    linearized_loss(torch.eye(2), torch.ones(2), 0.1, [0, 1])
