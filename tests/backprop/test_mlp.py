"""approx.backprop.loss_and_grad (fused layer nodes) against approx.autograd (torch.autograd)."""
from __future__ import annotations

import pytest
import torch

from approx import Network, activations, autograd, backprop, losses

# Both engines compute the same sums in a different order: float64 agrees to ~1e-15, and the
# threshold is 1e-10 (relative to the largest gradient entry of each tensor), far above that.
RTOL64 = 1e-10


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def max_rel_err(grads_a, grads_b) -> float:
    assert len(grads_a) == len(grads_b)
    for a, b in zip(grads_a, grads_b):
        assert a.shape == b.shape and a.dtype == b.dtype and a.device == b.device
    return max(rel_err(a, b) for a, b in zip(grads_a, grads_b))


def data(net: Network, batch: int, *, per_member: bool = False, loss: str = "mse", seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    lead = (net.ensemble,) if per_member else ()
    x = torch.randn(*lead, batch, net.sizes[0], generator=gen, dtype=torch.float64)
    y = torch.randn(batch, net.sizes[-1], generator=gen, dtype=torch.float64)
    if loss == "logistic":
        y = (y > 0).double()
    return x.to(net.device, net.dtype), y.to(net.device, net.dtype)


@pytest.mark.parametrize("activation", activations.names())
@pytest.mark.parametrize("loss", losses.names())
@pytest.mark.parametrize("ensemble,per_member", [(None, False), (3, False), (3, True)])
def test_matches_autograd(device, activation, loss, ensemble, per_member):
    net = Network.random([3, 7, 5, 2], activation, seed=1, ensemble=ensemble, device=device)
    x, y = data(net, 11, per_member=per_member, loss=loss)
    value, grads = backprop.loss_and_grad(net, x, y, loss)
    ref_value, ref_grads = autograd.loss_and_grad(net, x, y, loss)
    assert max_rel_err(grads, ref_grads) <= RTOL64
    if ensemble is None:
        assert isinstance(value, float) and value == pytest.approx(ref_value, rel=RTOL64)
    else:
        assert value.shape == (ensemble,) and rel_err(value, ref_value) <= RTOL64
    # negative control: a gradient off by 1% fails the same comparison
    assert max_rel_err([g * 1.01 for g in grads], ref_grads) > RTOL64


@pytest.mark.parametrize("init", ["standard", "he", "ntk"])
@pytest.mark.parametrize("sizes", [[1, 1], [4, 1], [2, 16, 1], [1, 8, 8, 8, 8, 3]])
def test_architectures_and_inits(sizes, init):
    net = Network.random(sizes, ["tanh", "relu", "softplus", "sigmoid", "ramp"][: len(sizes) - 2],
                         seed=3, init=init)
    x, y = data(net, 9)
    _, grads = backprop.loss_and_grad(net, x, y)
    _, ref = autograd.loss_and_grad(net, x, y)
    assert max_rel_err(grads, ref) <= RTOL64


def test_nonlinear_output_layer():
    net = Network.random([2, 6, 1], ["tanh", "sigmoid"], seed=0)
    x, y = data(net, 8, loss="logistic")
    _, grads = backprop.loss_and_grad(net, x, y, "logistic")
    assert max_rel_err(grads, autograd.loss_and_grad(net, x, y, "logistic")[1]) <= RTOL64


@pytest.mark.parametrize("per_member", [False, True])
def test_ensemble_equals_members_one_by_one(per_member):
    net = Network.random([2, 9, 9, 1], "tanh", seed=5, ensemble=4, init="ntk")
    x, y = data(net, 13, per_member=per_member)
    values, grads = backprop.loss_and_grad(net, x, y)
    for e, member in enumerate(net.unstack()):
        value_e, grads_e = backprop.loss_and_grad(member, x[e] if per_member else x, y)
        assert abs(values[e].item() - value_e) <= 1e-12 * abs(value_e)
        assert max_rel_err([g[e] for g in grads], grads_e) <= 1e-12


def test_gradients_do_not_alias_parameters_or_each_other():
    net = Network.random([2, 4, 1], "relu", seed=0)
    x, y = data(net, 5)
    _, grads = backprop.loss_and_grad(net, x, y)
    ptrs = {g.data_ptr() for g in grads} | {p.data_ptr() for p in net.parameters()}
    assert len(ptrs) == 2 * len(grads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float32_and_devices(device, dtype):
    net = Network.random([3, 16, 16, 1], "softplus", seed=2, dtype=dtype, device=device)
    x, y = data(net, 32)
    value, grads = backprop.loss_and_grad(net, x, y)
    ref_value, ref = autograd.loss_and_grad(net, x, y)
    rtol = {torch.float64: RTOL64, torch.float32: 1e-5}[dtype]  # float32 eps ~ 1.2e-7
    assert all(g.dtype == dtype and g.device.type == device for g in grads)
    assert max_rel_err(grads, ref) <= rtol
    assert value == pytest.approx(ref_value, rel=rtol)


def test_bad_input_raises_value_error():
    net = Network.random([2, 4, 1], "relu", seed=0)
    x, y = data(net, 5)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        backprop.loss_and_grad(net, x, y, "l1")
    with pytest.raises(ValueError, match="input must have shape"):
        backprop.loss_and_grad(net, x[:, :1], y)
    with pytest.raises(ValueError, match="does not match the output"):
        backprop.loss_and_grad(net, x, y[:3])
    with pytest.raises(ValueError, match="y must be a tensor"):
        backprop.loss_and_grad(net, x, y.float())
    with pytest.raises(ValueError, match="x must be torch.float64"):
        backprop.loss_and_grad(net, x.float(), y)
    ens = Network.random([2, 4, 1], "relu", seed=0, ensemble=3)
    with pytest.raises(ValueError, match="2 data sets for an ensemble of 3"):
        backprop.loss_and_grad(ens, torch.zeros(2, 5, 2, dtype=torch.float64), y)


@pytest.mark.parametrize("name", activations.names())
def test_fused_activation_messages_equal_the_table(name):
    """The in-place products of the fused path equal B * phi'(x) from approx.activations,
    including at kinks (0, 1), softplus's threshold and the extremes."""
    from approx.backprop.rules import _INTO_MESSAGE

    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(300, generator=gen, dtype=torch.float64) * 4,
                   torch.tensor([0.0, 1.0, -1e-12, 1 + 1e-12, 20.0, 20.5, -1e4, 1e4],
                                dtype=torch.float64)])
    B = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    phi = activations.get(name)
    y = phi.value(x)
    expected = B * phi.derivative(x, y)
    got = _INTO_MESSAGE[name](B.clone(), x, y)
    # Both sides compute phi'(y) in [0, 1] from the same y, in a different order or with a
    # fused multiply-add (sigmoid: y - y*y against y (1 - y); tanh: 1 - y^2 against (1-y)(1+y)),
    # each within 2u + |phi'| 2u of the exact value; then one product with B rounds by u. So
    # |got - expected| <= 2 eps |B| + eps |expected|: relative to B, not to phi', which
    # cancels (tanh' near 1e-7 carries 1e-9 relative error; seen with ATEN_CPU_CAPABILITY=default).
    eps = torch.finfo(torch.float64).eps
    bound = 2 * eps * B.abs() + eps * expected.abs()
    assert bool(((got - expected).abs() <= bound).all())
    assert not bool(((got * (1 + 1e-12) - expected).abs() <= bound).all())  # control


def test_in_place_activations_equal_the_table_bit_for_bit():
    """The forward pass overwrites z by phi(z) only for activations whose rule reads phi(z)
    alone, and computes the very same values as approx.activations (the same kernels)."""
    from approx.backprop.mlp import _IN_PLACE
    from approx.backprop.rules import READS_Y_ONLY

    assert set(_IN_PLACE) <= READS_Y_ONLY
    assert "softplus" not in _IN_PLACE  # its rule reads z: it must not be overwritten
    z = torch.cat([torch.randn(200, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3,
                   torch.tensor([0.0, 1.0, -0.0, 40.0, -40.0], dtype=torch.float64)])
    for name, phi_ in _IN_PLACE.items():
        expected = activations.get(name).value(z)
        got = phi_(z.clone())
        assert torch.equal(got, expected), name
        assert not torch.equal(phi_(z.clone() * 1.5), expected), name  # control


@pytest.mark.parametrize("activation", ["tanh", "relu", "softplus"])
@pytest.mark.parametrize("sizes", [[1, 6, 6, 1], [1, 5, 1], [2, 4, 3]])
def test_ensemble_end_layouts_match_autograd(sizes, activation):
    """Ensembles with one input (dW^T = x^T B as one product) and one output (dh = B * W, a
    broadcast outer product), NTK scaling (s != 1), shared and per-member data, against
    torch.autograd in float64; and neither the data nor the parameters are written over by
    the in-place forward and reverse passes."""
    net = Network.random(sizes, activation, seed=4, ensemble=5, init="ntk")
    for per_member in (False, True):
        x, y = data(net, 12, per_member=per_member)
        before = [t.clone() for t in (x, y, *net.parameters())]
        _, grads = backprop.loss_and_grad(net, x, y)
        _, ref = autograd.loss_and_grad(net, x, y)
        assert max_rel_err(grads, ref) <= RTOL64
        assert all(g.is_contiguous() for g in grads)
        assert all(torch.equal(a, b) for a, b in zip(before, (x, y, *net.parameters())))
        assert max_rel_err([g * 1.01 for g in grads], ref) > RTOL64  # control
    before[0].tanh_()  # control: the unchanged-inputs check sees an in-place write
    assert not torch.equal(before[0], x)
