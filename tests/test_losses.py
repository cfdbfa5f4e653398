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


def mean_bound(terms: torch.Tensor, ulps_per_term: int) -> float:
    """|fl(mean) - mean| for a mean of n terms each computed within ``ulps_per_term`` ulps of
    their own magnitude, summed in any order (Higham, Lemma 3.1): (k eps + gamma_n) mean|t|."""
    eps = torch.finfo(terms.dtype).eps
    n = terms.numel()
    return (ulps_per_term * eps + n * eps / 2 / (1 - n * eps / 2)) * terms.abs().mean().item()


def test_values_against_definitions():
    # torch's kernels and ours may sum in another order and write the terms differently
    # (logistic: softplus(p) - y p against torch's (1 - y) p + log(1 + e^-p)), so each side is
    # within mean_bound of the exact mean and they differ by at most twice it.
    p, y = draw((7, 2), "mse")
    ours = losses.get("mse").value(p, y, False).item()
    assert abs(ours - F.mse_loss(p, y).item()) <= 2 * mean_bound((p - y).square(), 3)
    assert abs(ours * (1 + 1e-12) - F.mse_loss(p, y).item()) > 2 * mean_bound((p - y).square(), 3)
    p, y = draw((7, 2), "logistic")
    bce = F.binary_cross_entropy_with_logits(p, y).item()
    # a term's parts are up to |p| + softplus(p) in size, each within a few ulps (log1p, exp)
    parts = p.abs() + F.softplus(p)
    ours = losses.get("logistic").value(p, y, False).item()
    assert abs(ours - bce) <= 2 * mean_bound(parts, 8)
    assert abs(ours * (1 + 1e-12) - bce) > 2 * mean_bound(parts, 8)  # control


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
        # a reduction over one axis of (E, ...) and a whole-tensor reduction may sum in another
        # order; the gradients are elementwise, at most three roundings each, but a vector loop
        # and its scalar tail may fuse a multiply-add differently: within 4 eps relative
        parts = p[e].abs() + (y[e].abs() if name == "mse" else F.softplus(p[e]))
        bound = 2 * mean_bound(parts.square() if name == "mse" else parts, 8)
        assert abs(values[e].item() - loss.value(p[e], y[e], False).item()) <= bound
        assert torch.allclose(grads[e], loss.grad(p[e], y[e], False), rtol=4 * torch.finfo(p.dtype).eps, atol=0)


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
    # sigmoid(p) - y cancels where y = 1 and p is large: each side's sigmoid is within 4 ulps of
    # a number <= 1, then divided by n, so they differ by at most 8 eps / n absolute
    n = p.numel()
    atol = 8 * torch.finfo(torch.float64).eps / n
    assert torch.allclose(loss.grad(p, y, False), leaf.grad, rtol=0, atol=atol)
    assert not torch.allclose(loss.grad(p, y, False) + 2 * atol, leaf.grad, rtol=0, atol=atol)  # control
    # before the fix (torch's softplus in the value) they were 2e-9 apart at p = 20.5
    thresholded = torch.nn.functional.softplus(leaf) - y * leaf
    g_thresholded = torch.autograd.grad(thresholded.mean(), leaf)[0]
    assert (g_thresholded - loss.grad(p, y, False)).abs().max() > 1e-10
    parts = p.abs() + torch.nn.functional.softplus(p)
    assert abs(loss.value(p, y, False).item()
               - F.binary_cross_entropy_with_logits(p, y).item()) <= 2 * mean_bound(parts, 8)
