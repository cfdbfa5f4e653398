"""approx.losses: values against their definitions, hand-derived dL/dp against autograd,
per-member reduction for ensembles, stability."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from approx import losses

RTOL = 1e-13  # float64; the hand-derived gradient and autograd differ only by rounding


def draw(shape, loss, seed=0):
    gen = torch.Generator().manual_seed(seed)
    p = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    y = torch.randn(shape, generator=gen, dtype=torch.float64)
    return p, ((y > 0).double() if loss == "logistic" else y)


def test_values_against_definitions():
    p, y = draw((7, 2), "mse")
    assert losses.get("mse").value(p, y, False).item() == pytest.approx(F.mse_loss(p, y).item(), rel=1e-15)
    p, y = draw((7, 2), "logistic")
    bce = F.binary_cross_entropy_with_logits(p, y).item()
    assert losses.get("logistic").value(p, y, False).item() == pytest.approx(bce, rel=1e-14)


@pytest.mark.parametrize("name", losses.names())
@pytest.mark.parametrize("ensemble", [False, True])
def test_gradient_matches_autograd(device, name, ensemble):
    p, y = draw((4, 9, 3) if ensemble else (9, 3), name)
    p, y = p.to(device), y.to(device)
    loss = losses.get(name)
    leaf = p.clone().requires_grad_(True)
    values = loss.value(leaf, y, ensemble)
    assert values.shape == ((4,) if ensemble else ())
    values.sum().backward()  # members share nothing: d(sum)/dp_e = dL_e/dp_e
    g = loss.grad(p, y, ensemble)
    assert g.shape == p.shape
    err = ((g - leaf.grad).abs().max() / leaf.grad.abs().max()).item()
    assert err <= RTOL
    assert (((1.01 * g) - leaf.grad).abs().max() / leaf.grad.abs().max()).item() > RTOL  # control


@pytest.mark.parametrize("name", losses.names())
def test_ensemble_reduces_per_member(name):
    p, y = draw((3, 5, 2), name)
    loss = losses.get(name)
    values = loss.value(p, y, True)
    grads = loss.grad(p, y, True)
    for e in range(3):
        assert values[e].item() == pytest.approx(loss.value(p[e], y[e], False).item(), rel=1e-15)
        assert torch.allclose(grads[e], loss.grad(p[e], y[e], False), rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logistic_stable_at_large_logits(dtype):
    p = torch.tensor([[-1e4], [1e4], [-1e4], [1e4]], dtype=dtype)
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
    loss = losses.get("logistic")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.value(p, y, False)
        g = loss.grad(p, y, False)
    # right answers cost nothing; each wrong one costs |p| = 1e4; mean over 4 entries
    assert value.item() == pytest.approx(2e4 / 4, rel=1e-6)
    assert torch.isfinite(g).all()
    assert g.flatten().tolist() == pytest.approx([0.0, 0.0, -0.25, 0.25])


def test_lookup():
    assert losses.names() == ["mse", "logistic"]
    with pytest.raises(ValueError, match="unknown loss 'hinge'; allowed: mse, logistic"):
        losses.get("hinge")


def test_logistic_gradient_matches_autograd_for_large_logits():
    """Logits above 20 (where torch's softplus switches to p itself): dL/dp stays sigmoid(p) - y."""
    p = torch.tensor([[19.0], [20.5], [25.0], [35.0], [-25.0]], dtype=torch.float64)
    y = torch.tensor([[1.0], [0.0], [1.0], [0.0], [1.0]], dtype=torch.float64)
    loss = losses.get("logistic")
    leaf = p.clone().requires_grad_(True)
    loss.value(leaf, y, False).backward()
    # sigmoid(p) - y cancels where y = 1 and p is large: both sides round to eps * max|g|
    assert torch.allclose(loss.grad(p, y, False), leaf.grad, rtol=0, atol=1e-15 * leaf.grad.abs().max())
    # before the fix (torch's softplus in the value) they were 2e-9 apart at p = 20.5
    thresholded = torch.nn.functional.softplus(leaf) - y * leaf
    g_thresholded = torch.autograd.grad(thresholded.mean(), leaf)[0]
    assert (g_thresholded - loss.grad(p, y, False)).abs().max() > 1e-10
    assert loss.value(p, y, False).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(p, y).item(), rel=1e-15)
