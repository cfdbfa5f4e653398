"""approx.autograd.loss_and_grad: the reference engine, checked independently of approx's own
code paths (nn.Module + torch losses, central finite differences, members one by one)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from approx import Network, autograd


def data(net, batch=8, seed=0, binary=False, per_member=False):
    gen = torch.Generator().manual_seed(seed)
    lead = (net.ensemble,) if per_member else ()
    x = torch.randn(*lead, batch, net.sizes[0], generator=gen, dtype=torch.float64)
    y = torch.randn(batch, net.sizes[-1], generator=gen, dtype=torch.float64)
    y = (y > 0).double() if binary else y
    return x.to(net.device), y.to(net.device)


@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_matches_nn_module_and_torch_losses(device, loss):
    net = Network.random([3, 6, 6, 2], "tanh", seed=0, device=device, init="ntk")
    x, y = data(net, binary=loss == "logistic")
    value, grads = autograd.loss_and_grad(net, x, y, loss)
    module = net.to_module()
    criterion = F.mse_loss if loss == "mse" else F.binary_cross_entropy_with_logits
    ref = criterion(module(x), y)
    ref.backward()
    ref_grads = [p.grad for m in module if hasattr(m, "weight") for p in (m.weight, m.bias)]
    assert isinstance(value, float) and value == pytest.approx(ref.item(), rel=1e-13)
    for g, r in zip(grads, ref_grads):
        assert g.shape == r.shape and torch.allclose(g, r, rtol=1e-12, atol=1e-15)


def test_returns_detached_gradients_and_leaves_the_network_alone():
    net = Network.random([2, 4, 1], "relu", seed=0)
    before = [p.clone() for p in net.parameters()]
    _, grads = autograd.loss_and_grad(net, *data(net))
    assert all(not g.requires_grad and g.grad_fn is None for g in grads)
    assert all(not p.requires_grad for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("per_member", [False, True])
def test_ensemble_equals_members_one_by_one(per_member):
    ens = Network.random([2, 5, 5, 1], "sigmoid", seed=1, ensemble=3)
    x, y = data(ens, per_member=per_member)
    values, grads = autograd.loss_and_grad(ens, x, y)
    assert values.shape == (3,)
    for e, member in enumerate(ens.unstack()):
        v, g = autograd.loss_and_grad(member, x[e] if per_member else x, y)
        assert abs(values[e].item() - v) <= 1e-12 * abs(v)
        for a, b in zip(grads, g):
            assert torch.allclose(a[e], b, rtol=1e-12, atol=1e-15)


def test_central_finite_differences_with_negative_control():
    """Central differences with h = 1e-6 have error O(h^2) + O(eps/h) ~ 1e-10 relative on this
    smooth network, so a 1e-6 threshold accepts the gradient and rejects it scaled by 1.01."""
    net = Network.random([2, 5, 1], "softplus", seed=3)
    x, y = data(net, batch=6)
    _, grads = autograd.loss_and_grad(net, x, y)
    params = net.parameters()
    h = 1e-6
    for k, (p, g) in enumerate(zip(params, grads)):
        numeric = torch.empty_like(p)
        for i in range(p.numel()):
            shifted = []
            for sign in (1, -1):
                q = p.clone()
                q.view(-1)[i] += sign * h
                shifted.append(autograd.loss_and_grad(net.with_parameters(params[:k] + [q] + params[k + 1:]), x, y)[0])
            numeric.view(-1)[i] = (shifted[0] - shifted[1]) / (2 * h)
        scale = numeric.abs().max().item()
        assert (g - numeric).abs().max().item() <= 1e-6 * scale
        assert (1.01 * g - numeric).abs().max().item() > 1e-6 * scale


def test_unknown_loss():
    net = Network.random([1, 2, 1], seed=0)
    with pytest.raises(ValueError, match="unknown loss"):
        autograd.loss_and_grad(net, *data(net), loss="l2")
