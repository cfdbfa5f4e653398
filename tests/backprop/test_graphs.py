"""approx.backprop.graphs: a Network's loss as a graph of scalar nodes and as a graph of tensor
nodes gives autograd's gradients, as the fused path does, on every device."""
from __future__ import annotations

import pytest
import torch

from approx import Network, autograd
from approx.backprop import graphs, loss_and_grad


@pytest.mark.parametrize("activation", ["tanh", "relu", "softplus", "sigmoid", "ramp"])
@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_scalar_graph_tensor_graph_and_fused_path_agree(activation, loss):
    """Three granularities of one graph (one node per weight, per array op, per layer)."""
    net = Network.random([2, 4, 3, 2], activation, seed=4, init="ntk")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    y = (torch.randn(5, 2, generator=gen, dtype=torch.float64) > 0).double()
    ref_value, ref = autograd.loss_and_grad(net, x, y, loss)
    scalar, params = graphs.scalar_loss(net, x, y, loss)
    scalar.backward()
    tensor, nodes = graphs.tensor_loss(net, x, y, loss)
    tensor.backward()
    value, fused = loss_and_grad(net, x, y, loss)
    for grads in (graphs.to_tensors(params, net.parameters()), [n.grad for n in nodes], fused):
        for g, r in zip(grads, ref):
            assert g.shape == r.shape and torch.allclose(g, r, rtol=1e-10, atol=1e-14)
    assert scalar.value == pytest.approx(ref_value, rel=1e-12) == value
    # the scalar graph has four edges per weight (a product and a sum) plus the neurons'
    assert graphs.count_edges(scalar) >= 4 * 5 * (2 * 4 + 4 * 3 + 3 * 2)


@pytest.mark.parametrize("build", [graphs.scalar_loss, graphs.tensor_loss])
def test_bad_inputs_are_refused_with_their_full_message(build):
    net = Network.random([3, 4, 2], seed=0)  # widths chosen so that no two of 5, 3, 4, 2 coincide
    x, y = torch.zeros(5, 3, dtype=torch.float64), torch.zeros(5, 2, dtype=torch.float64)
    ensemble = Network.random([3, 4, 2], seed=0, ensemble=2)
    for args, message in [
        ((ensemble, x, y), "graphs are built for single networks; use net.member(e) on an ensemble"),
        ((net, x, y, "hinge"), "unknown loss 'hinge'; allowed: mse, logistic"),
        ((net, x, y[:, :1]), "y must have shape (5, 2)"),
        ((net, x, y.tolist()), "y must have shape (5, 2)"),  # not a tensor
    ]:
        with pytest.raises(ValueError) as err:
            build(*args)
        assert str(err.value) == message
    build(net, x, y)  # negative control: the right shapes are accepted


def test_graphs_apply_every_layer_scale_and_default_to_mse():
    """h = phi(s x W^T + b) for any fixed scale s, 2.0 included (the NTK scale 1/sqrt(fan_in) is
    not the only one a user sets), and the loss is "mse" unless named, as in every engine."""
    base = Network.random([2, 3, 1], "tanh", seed=1)
    net = Network.from_parameters(base.parameters(), base.activations, scales=[2.0, 0.5])
    gen = torch.Generator().manual_seed(2)
    x, y = (torch.randn(4, d, generator=gen, dtype=torch.float64) for d in (2, 1))
    ref_value, ref = autograd.loss_and_grad(net, x, y, "mse")
    scalar, params = graphs.scalar_loss(net, x, y)
    scalar.backward()
    tensor, nodes = graphs.tensor_loss(net, x, y)
    tensor.backward()
    assert scalar.value == pytest.approx(ref_value, rel=1e-12)
    assert tensor.value.item() == pytest.approx(ref_value, rel=1e-12)
    for grads in (graphs.to_tensors(params, net.parameters()), [n.grad for n in nodes]):
        assert all(torch.allclose(g, r, rtol=1e-10, atol=1e-14) for g, r in zip(grads, ref))
    # negative control: the same weights with scale 1 give another loss
    unscaled = Network.from_parameters(base.parameters(), base.activations)
    assert autograd.loss_and_grad(unscaled, x, y, "mse")[0] != pytest.approx(ref_value, rel=1e-6)


@pytest.mark.parametrize("build", [graphs.scalar_loss, graphs.tensor_loss])
def test_gradients_land_on_the_parameters_device_and_dtype(device, build):
    """Both graphs give autograd's gradients on each parameter's device and in its dtype (the
    scalar graph's through to_tensors, as fused does)."""
    net = Network.random([2, 3, 1], "tanh", seed=0, device=device)
    x = torch.randn(4, 2, dtype=torch.float64, device=device)
    y = torch.randn(4, 1, dtype=torch.float64, device=device)
    root, leaves = build(net, x, y)
    root.backward()
    if build is graphs.scalar_loss:
        grads = graphs.to_tensors(leaves, net.parameters())
    else:
        grads = [n.grad for n in leaves]
    _, ref = autograd.loss_and_grad(net, x, y)
    for g, r in zip(grads, ref):
        assert g.device == r.device and g.dtype == r.dtype and torch.allclose(g, r, rtol=1e-10, atol=1e-14)
