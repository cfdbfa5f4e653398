"""approx.Network: shapes, initialisation schemes, seeds, ensembles, forward, nn.Module round trip."""
from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from approx import Network, activations
from approx.network import INITS, Layer, ScaledLinear, member_seeds
from rounding import forward_error_bound


def test_shapes_and_parameter_order():
    net = Network.random([3, 5, 4, 2], "tanh", seed=0)
    assert net.sizes == [3, 5, 4, 2] and net.depth == 3 and net.ensemble is None
    assert net.activations == ["tanh", "tanh", "identity"]  # the output layer is linear
    shapes = [tuple(p.shape) for p in net.parameters()]
    assert shapes == [(5, 3), (5,), (4, 5), (4,), (2, 4), (2,)]
    assert net.n_params == 5 * 3 + 5 + 4 * 5 + 4 + 2 * 4 + 2
    assert net(torch.zeros(7, 3, dtype=torch.float64)).shape == (7, 2)


def test_activation_per_layer_or_per_hidden_layer():
    assert Network.random([1, 2, 2, 1], ["relu", "tanh"]).activations == ["relu", "tanh", "identity"]
    assert Network.random([1, 2, 1], ["relu", "sigmoid"]).activations == ["relu", "sigmoid"]
    with pytest.raises(ValueError, match="one activation per layer"):
        Network.random([1, 2, 2, 1], ["relu"])


def test_ensemble_shapes_and_members_equal_single_draws():
    ens = Network.random([2, 6, 1], "relu", seed=10, ensemble=4)
    assert ens.ensemble == 4
    assert [tuple(p.shape) for p in ens.parameters()] == [(4, 6, 2), (4, 6), (4, 1, 6), (4, 1)]
    for e, member in enumerate(ens.unstack()):
        single = Network.random([2, 6, 1], "relu", seed=10 + e)
        assert all(torch.equal(a, b) for a, b in zip(member.parameters(), single.parameters()))
    listed = Network.random([2, 6, 1], "relu", seed=[10, 11, 12, 13])
    assert all(torch.equal(a, b) for a, b in zip(listed.parameters(), ens.parameters()))


def test_member_seeds_one_rule():
    # one int s: member e gets s + e (a single network s); a list: one int per member
    assert member_seeds(7, None) == [7] and member_seeds(7, 3) == [7, 8, 9]
    assert member_seeds([4, 2], None) == [4, 2] == member_seeds((4, 2), 2)
    assert member_seeds([5], 1) == [5]
    # refused: floats (once truncated), bools, an empty list, a list of the wrong length
    for seed, ensemble, message in [([1.5, 2.0], None, "non-empty list of ints"),
                                    (True, None, "seed must be an int"),
                                    ([], None, "non-empty list of ints"),
                                    ([1, 2], 3, "seed lists 2 seeds for 3 member"),
                                    ([1, 2, 3], 1, "seed lists 3 seeds for 1 member")]:
        with pytest.raises(ValueError, match=message):
            member_seeds(seed, ensemble)


@pytest.mark.parametrize("shared", [True, False])
def test_ensemble_forward_equals_members_one_by_one(shared):
    ens = Network.random([3, 8, 8, 2], "softplus", seed=0, ensemble=5, init="ntk")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*(() if shared else (5,)), 9, 3, generator=gen, dtype=torch.float64)
    out = ens(x)
    assert out.shape == (5, 9, 2)
    for e, member in enumerate(ens.unstack()):
        ref = member(x if shared else x[e])
        assert (out[e] - ref).abs().max().item() <= 1e-12 * max(ref.abs().max().item(), 1.0)


def test_stack_inverts_unstack():
    ens = Network.random([2, 3, 1], "ramp", seed=1, ensemble=3)
    again = Network.stack(ens.unstack())
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), ens.parameters()))


def test_same_seed_same_network_other_seed_other_network():
    a, b = Network.random([2, 4, 1], seed=3), Network.random([2, 4, 1], seed=3)
    c = Network.random([2, 4, 1], seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.parameters()[0], c.parameters()[0])


def test_standard_init_bounds():
    """torch.nn.Linear's default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    net = Network.random([50, 200, 1], seed=0, init="standard")
    for layer in net.layers:
        bound = 1 / math.sqrt(layer.fan_in)
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
        assert layer.weight.abs().max() > 0.95 * bound  # the bound is reached, not a smaller one
        assert layer.scale == 1.0


def test_he_and_ntk_variances():
    """He: W ~ N(0, 2/fan_in); NTK: W ~ N(0, 1) with scale 1/sqrt(fan_in); biases 0.
    With n = 400*400 = 160,000 draws the sample std has relative error ~ 1/sqrt(2n) = 0.0018,
    so 2% is over ten standard errors."""
    he = Network.random([400, 400, 1], seed=0, init="he")
    assert he.layers[0].weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert torch.count_nonzero(he.layers[0].bias) == 0
    ntk = Network.random([400, 400, 1], seed=0, init="ntk")
    assert ntk.layers[0].weight.std().item() == pytest.approx(1.0, rel=0.02)
    assert ntk.scales == [1 / math.sqrt(400), 1 / math.sqrt(400)]
    small = Network.random([400, 400, 1], seed=0, init="ntk", init_scale=0.1)
    assert torch.allclose(small.layers[0].weight, 0.1 * ntk.layers[0].weight, rtol=1e-15, atol=0)


def test_forward_is_the_formula():
    """h_l = phi_l(s_l h_{l-1} W_l^T + b_l), written out by hand."""
    net = Network.random([2, 3, 1], ["sigmoid", "tanh"], seed=0, init="ntk")
    x = torch.tensor([[0.3, -0.7], [1.1, 0.2]], dtype=torch.float64)
    h = x
    for layer in net.layers:
        z = layer.scale * (h @ layer.weight.T) + layer.bias
        h = activations.get(layer.activation).value(z)
    # addmm(b, h, W^T, alpha=s) may fuse or order the products differently from the formula:
    # both are within the rounding bound of the exact value (tests/rounding.py)
    bound = 2 * forward_error_bound(net, x)
    assert bool(((net(x) - h).abs() <= bound).all())
    assert not bool(((net(x) * (1 + 1e-12) - h).abs() <= bound).all())  # control: 1e-12 is seen


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("activation", activations.names())
def test_module_round_trip_is_exact(init, activation):
    net = Network.random([3, 6, 5, 2], activation, seed=2, init=init)
    module = net.to_module()
    assert isinstance(module, nn.Sequential)
    back = Network.from_module(module)
    assert back.activations == net.activations and back.scales == net.scales
    assert all(torch.equal(a, b) for a, b in zip(back.parameters(), net.parameters()))
    x = torch.randn(10, 3, dtype=torch.float64)
    with torch.no_grad():
        out = module(x)
    # nn.Linear and addmm may round differently (rounding bound, tests/rounding.py); the
    # parameters themselves are equal exactly, so back and net run the very same operations
    assert bool(((out - net(x)).abs() <= 2 * forward_error_bound(net, x)).all())
    assert torch.equal(back(x), net(x))


def test_module_round_trip_keeps_hidden_identity_and_scale():
    net = Network.random([2, 4, 4, 1], ["identity", "relu"], seed=0, init="ntk")
    module = net.to_module()
    assert isinstance(module[0], ScaledLinear) and isinstance(module[1], nn.Identity)
    back = Network.from_module(module)
    assert back.activations == ["identity", "relu", "identity"] and back.scales == net.scales


def test_from_module_rejects_unsupported():
    with pytest.raises(ValueError, match="unsupported module"):
        Network.from_module(nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="must follow a Linear"):
        Network.from_module(nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="ensemble"):
        Network.random([1, 2, 1], ensemble=2).to_module()


@pytest.mark.parametrize("ensemble", [None, 2])
def test_a_one_input_layer_applies_its_scale(ensemble):
    """A layer with one input (the first layer of every 1-D study: a matrix product of inner
    dimension 1) applies its scale s as every layer does: the formula, within the rounding bound."""
    base = Network.random([1, 3, 1], "tanh", seed=4, ensemble=ensemble)
    first, last = base.layers
    net = Network([Layer(first.weight, first.bias, "tanh", 0.5), last])
    x = torch.tensor([[0.3], [-0.7], [1.1]], dtype=torch.float64)
    h = x
    for layer in net.layers:
        z = layer.scale * (h @ layer.weight.mT) + layer.bias.unsqueeze(-2)
        h = activations.get(layer.activation).value(z)
    bound = 2 * (forward_error_bound(net, x) if ensemble is None  # per output; an ensemble's per member
                 else torch.stack([forward_error_bound(net.member(e), x) for e in range(ensemble)]))
    assert bool(((net(x) - h).abs() <= bound).all())
    assert not bool(((base(x) - h).abs() <= bound).all())  # control: the unscaled network differs


@pytest.mark.parametrize("ensemble", [None, 3])
def test_an_eager_one_input_layer_is_the_gemm_the_committed_results_rest_on(ensemble):
    """Eagerly, a one-input layer is torch's GEMM, addmm / baddbmm (a compiled step uses a
    broadcast product, approx.network.affine): the same call, so the same bits on any kernel.
    Negative control: another scale gives other values."""
    from approx.network import affine
    net = Network.random([1, 5, 1], "tanh", seed=2, ensemble=ensemble)
    layer = Layer(net.layers[0].weight, net.layers[0].bias, "tanh", 0.7)
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)[:, None]
    if ensemble is None:
        gemm = torch.addmm(layer.bias, x, layer.weight.T, alpha=0.7)
    else:
        gemm = torch.baddbmm(layer.bias.unsqueeze(1), x.expand(ensemble, 9, 1), layer.weight.transpose(1, 2),
                             alpha=0.7)
    assert torch.equal(affine(x, layer), gemm)
    other = Layer(layer.weight, layer.bias, "tanh", 0.5)
    assert not torch.equal(affine(x, other), gemm)


def test_shape_errors_name_the_layer_and_both_shapes():
    """Each construction rule of Network, with its whole message."""
    f64 = dict(dtype=torch.float64)
    w23, b2 = torch.zeros(2, 3, **f64), torch.zeros(2, **f64)
    with pytest.raises(ValueError, match=re.escape(
            "layer 0: weight (2, 3) and bias (2, 1) must be (out, in) and (out,), or (E, out, in) and "
            "(E, out) in every layer")):
        Network([Layer(w23, torch.zeros(2, 1, **f64), "relu")])  # bias of the wrong rank only
    with pytest.raises(ValueError, match=re.escape("layer 0: bias (3,) does not match weight (2, 3)")):
        Network([Layer(w23, torch.zeros(3, **f64), "relu")])  # right rank, wrong length
    w13 = torch.zeros(2, 1, 3, **f64)  # an ensemble of two
    with pytest.raises(ValueError, match=re.escape("layer 1 takes 3 inputs but layer 0 gives 4")):
        Network([Layer(torch.zeros(2, 4, 2, **f64), torch.zeros(2, 4, **f64), "relu"),
                 Layer(w13, torch.zeros(2, 1, **f64), "relu")])
    with pytest.raises(ValueError, match=re.escape("layer 2 takes 3 inputs but layer 1 gives 2")):
        Network([Layer(torch.zeros(5, 1, **f64), torch.zeros(5, **f64), "relu"),
                 Layer(torch.zeros(2, 5, **f64), b2, "relu"), Layer(torch.zeros(1, 3, **f64),
                                                                      torch.zeros(1, **f64), "relu")])
    Network([Layer(w23, b2, "relu")])  # control: consistent shapes are taken


def test_a_layer_off_the_first_layers_dtype_or_device_is_refused_by_name():
    """Every layer's weight and bias must match layer 0's weight: a float32 weight or bias in
    layer 1, or a bias on another device (the meta device stands in for a GPU), is named."""
    w0, b0 = torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    w1, b1 = torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    Network([Layer(w0, b0, "tanh"), Layer(w1, b1, "identity")])  # control: consistent layers are taken
    with pytest.raises(ValueError, match=r"layer 1: .*one float dtype; got weight torch.float32 and bias torch.float64"):
        Network([Layer(w0, b0, "tanh"), Layer(w1.float(), b1, "identity")])
    with pytest.raises(ValueError, match=r"layer 1: .*one float dtype; got weight torch.float64 and bias torch.float32"):
        Network([Layer(w0, b0, "tanh"), Layer(w1, b1.float(), "identity")])
    with pytest.raises(ValueError, match=r"layer 1: .*one device; got weight on cpu and bias on meta"):
        Network([Layer(w0, b0, "tanh"), Layer(w1, b1.to("meta"), "identity")])
    with pytest.raises(ValueError, match=r"layer 1: .*one device; got weight on meta and bias on cpu"):
        Network([Layer(w0, b0, "tanh"), Layer(w1.to("meta"), b1, "identity")])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtypes_and_devices(device, dtype):
    net = Network.random([2, 4, 1], "relu", seed=0, dtype=dtype, device=device)
    assert net.dtype == dtype and net.device.type == device
    out = net(torch.ones(3, 2, dtype=dtype, device=device))
    assert out.dtype == dtype and out.device.type == device
    moved = net.to("cpu", torch.float64)
    ref = Network.random([2, 4, 1], "relu", seed=0)
    # drawn in float64 on the CPU then cast: the same network to the dtype's rounding
    eps = torch.finfo(dtype).eps
    for a, b in zip(moved.parameters(), ref.parameters()):
        assert torch.allclose(a, b, rtol=eps, atol=0)


def test_with_parameters_member_clone():
    ens = Network.random([1, 3, 1], seed=0, ensemble=2)
    m = ens.member(1)
    assert m.ensemble is None and torch.equal(m.parameters()[0], ens.parameters()[0][1])
    c = ens.clone()
    c.parameters()[0].add_(1.0)
    assert not torch.equal(c.parameters()[0], ens.parameters()[0])
    doubled = ens.with_parameters([2 * p for p in ens.parameters()])
    assert torch.equal(doubled.parameters()[1], 2 * ens.parameters()[1])


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="sizes must list"):
        Network.random([3])
    with pytest.raises(ValueError, match="sizes must list"):
        Network.random([3, 0, 1])
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        Network.random([1, 1], init="xavier")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        Network.random([1, 2, 1], "gelu")
    with pytest.raises(ValueError, match="float dtype"):
        Network.random([1, 1], dtype=torch.int64)
    with pytest.raises(ValueError, match="ensemble must be a positive int"):
        Network.random([1, 1], ensemble=0)
    with pytest.raises(ValueError, match="at least one layer"):
        Network([])
    w = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="takes 3 inputs but layer 0 gives 2"):
        Network([Layer(w, torch.zeros(2, dtype=torch.float64), "relu"), Layer(w, torch.zeros(2, dtype=torch.float64), "relu")])
    net = Network.random([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 2\)"):
        net(torch.zeros(4, 3, dtype=torch.float64))
    ens = Network.random([2, 3, 1], seed=0, ensemble=3)
    with pytest.raises(ValueError, match="2 data sets for an ensemble of 3"):
        ens(torch.zeros(2, 4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="member 3 out of range"):
        ens.member(3)


def test_stack_member_and_unstack_errors_name_what_is_allowed():
    single = Network.random([2, 3, 1], seed=0)
    ens = Network.random([2, 3, 1], seed=0, ensemble=3)
    # full messages (fullmatch), so a changed message fails, not only a missing one
    for call, message in [
        (lambda: Network.stack([]), "Network.stack needs at least one network"),
        (lambda: Network.stack([single, ens]), "Network.stack takes single networks, not ensembles"),
        (lambda: single.member(0), "member() needs an ensemble; this is a single network"),
        (lambda: ens.member(3), "member 3 out of range 0..2"),
        (lambda: ens.member(-1), "member -1 out of range 0..2"),
    ]:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == message
    # networks that differ only in widths, or only in activations, do not stack
    other_width = Network.random([2, 4, 1], seed=0)
    other_activation = Network.random([2, 3, 1], "tanh", seed=0)
    for other in (other_width, other_activation):
        with pytest.raises(ValueError, match="^cannot stack networks of different shapes: Network"):
            Network.stack([single, other])
    # negative control: a single network stacks into an ensemble of one, and unstacks to itself
    one = Network.stack([single])
    assert one.ensemble == 1 and torch.equal(one.member(0).layers[0].weight, single.layers[0].weight)
    assert single.unstack() == [single]


def test_to_module_uses_plain_linear_layers_and_omits_only_the_output_identity():
    """Scale 1 gives plain nn.Linear (what torch code expects), other scales ScaledLinear; every
    hidden activation becomes a module, including an identity just before the output layer, and
    only the output layer's identity is left out."""
    net = Network.random([3, 4, 5, 2], ["relu", "identity"], seed=0)
    module = net.to_module()
    assert [type(m) for m in module] == [nn.Linear, nn.ReLU, nn.Linear, nn.Identity, nn.Linear]
    assert Network.from_module(module).activations == ["relu", "identity", "identity"]
    scaled = Network.random([3, 4, 2], "relu", seed=0, init="ntk").to_module()
    assert [type(m) for m in scaled] == [ScaledLinear, nn.ReLU, ScaledLinear]
    assert repr(scaled[0]).endswith(f", scale={scaled[0].scale:.6g})")
    with pytest.raises(ValueError) as err:
        Network.random([1, 2, 1], ensemble=2).to_module()
    assert str(err.value) == "to_module() takes a single network; use member(e) on an ensemble"


def test_from_module_reads_a_bare_linear_bias_free_layers_and_stacked_linears():
    """A bare nn.Linear is a one-layer network; a Linear without bias gets zero biases of its
    output size; two Linears in a row are joined by an identity layer."""
    lin = nn.Linear(3, 2, dtype=torch.float64)
    net = Network.from_module(lin)
    assert net.sizes == [3, 2] and net.activations == ["identity"]
    assert torch.equal(net.layers[0].weight, lin.weight) and torch.equal(net.layers[0].bias, lin.bias)
    stacked = nn.Sequential(nn.Linear(3, 4, bias=False, dtype=torch.float64), nn.Linear(4, 2, dtype=torch.float64))
    net = Network.from_module(stacked)
    assert net.sizes == [3, 4, 2] and net.activations == ["identity", "identity"]
    assert torch.equal(net.layers[0].bias, torch.zeros(4, dtype=torch.float64))
    x = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(net(x), stacked(x), rtol=1e-14, atol=1e-14)


def test_from_module_reads_hardtanh_0_1_as_ramp_and_names_what_is_allowed():
    """nn.Hardtanh(0, 1) is the ramp activation whoever built it; any other Hardtanh, a Softplus
    with other constants or an unknown module is rejected with a message naming what is allowed."""
    net = Network.from_module(nn.Sequential(nn.Linear(2, 3), nn.Hardtanh(0.0, 1.0), nn.Linear(3, 1)))
    assert net.activations == ["ramp", "identity"]
    with pytest.raises(ValueError, match="unsupported module Hardtanh"):
        Network.from_module(nn.Sequential(nn.Linear(2, 3), nn.Hardtanh(-1.0, 1.0), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="unsupported module Hardtanh"):
        Network.from_module(nn.Sequential(nn.Linear(2, 3), nn.Hardtanh(0.0, 2.0), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match=r"only Softplus\(beta=1, threshold=20\) is supported, got Softplus"):
        Network.from_module(nn.Sequential(nn.Linear(2, 3), nn.Softplus(beta=2.0), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="allowed: Linear, Identity, ReLU"):
        Network.from_module(nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1)))


def test_repr_names_shape_activations_ensemble_dtype_and_device():
    """repr shows what a network is, with the dtype without its 'torch.' prefix."""
    single = Network.random([1, 2, 1], seed=0, dtype=torch.float32)
    assert repr(single) == ("Network(sizes=[1, 2, 1], activations=['relu', 'identity'], "
                            "dtype=float32, device=cpu)")
    ens = Network.random([1, 2, 1], seed=0, ensemble=3)
    assert repr(ens) == ("Network(sizes=[1, 2, 1], activations=['relu', 'identity'], ensemble=3, "
                         "dtype=float64, device=cpu)")


@pytest.mark.parametrize("init", INITS)
def test_every_init_is_seeded_by_its_own_generator_in_float64(init):
    """Each init draws from its own seeded generator (the global one must not matter), seed 0 by
    default, in float64 whatever the dtype asked for: a float64 network's weights are not float32
    numbers, and the float32 network is the float64 one rounded."""
    torch.manual_seed(0)
    a = Network.random([3, 16, 1], init=init, seed=5)
    torch.manual_seed(1)
    b = Network.random([3, 16, 1], init=init, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    default = Network.random([3, 16, 1], init=init)
    assert all(torch.equal(p, q) for p, q in zip(default.parameters(), Network.random([3, 16, 1], init=init, seed=0).parameters()))
    w, b = a.layers[0].weight, a.layers[0].bias
    assert bool((w.float().double() != w).any())  # drawn in float64, not in float32
    assert init != "standard" or bool((b.float().double() != b).any())  # the only init with random biases
    single = Network.random([3, 16, 1], init=init, seed=5, dtype=torch.float32)
    assert all(torch.equal(p, q.float()) for p, q in zip(single.parameters(), a.parameters()))


def test_activation_count_and_init_errors_name_what_is_allowed():
    with pytest.raises(ValueError) as err:
        Network.random([1, 2, 2, 1], ["relu"])
    assert str(err.value) == "need one activation per layer (3) or per hidden layer (2); got 1"
    with pytest.raises(ValueError, match=f"unknown init 'xavier'; allowed: {', '.join(INITS)}"):
        Network.random([1, 1], init="xavier")


def test_to_with_only_a_dtype_keeps_the_device():
    """net.to(dtype=...) casts every parameter and leaves the network where it is."""
    net = Network.random([2, 3, 1], seed=0)
    single = net.to(dtype=torch.float32)
    assert single.dtype == torch.float32 and single.device == net.device
    assert all(torch.equal(p, q.float()) for p, q in zip(single.parameters(), net.parameters()))


def test_input_checks_and_construction_errors_in_full():
    """Each error says what was wrong and what is allowed: an input of the wrong kind or shape (a
    single network takes (batch, d) only), a parameter list that does not fit the activations, no
    layers, an ensemble size that is not a positive int."""
    single = Network.random([2, 3, 1], seed=0)
    ens = Network.random([2, 3, 1], seed=0, ensemble=3)
    d = torch.float64
    for call, message in [
        (lambda: single([[1.0, 2.0]]), "input must have shape (batch, 2); got list"),
        (lambda: single(torch.zeros(3, 4, 2, dtype=d)), "input must have shape (batch, 2); got (3, 4, 2)"),
        (lambda: ens(torch.zeros(4, 3, dtype=d)), "input must have shape (batch, 2) or (3, batch, 2); got (4, 3)"),
        (lambda: Network([]), "a Network needs at least one layer; got none"),
        (lambda: Network.from_parameters([torch.zeros(1, 1, dtype=d)] * 4, ["relu"]),
         "need [W1, b1, ...] for 1 layers, got 4 tensors"),
        (lambda: Network.from_parameters([torch.zeros(1, 1, dtype=d)] * 3, ["relu"]),
         "need [W1, b1, ...] for 1 layers, got 3 tensors"),
        (lambda: member_seeds(0, 2.5), "ensemble must be a positive int or None, got 2.5"),
    ]:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == message
    assert single(torch.zeros(4, 2, dtype=d)).shape == (4, 1)  # negative control: the right shape runs


def test_init_scale_multiplies_weights_and_biases():
    """init_scale c draws the network of scale 1 and multiplies every weight and bias by c."""
    one = Network.random([2, 5, 1], init="standard", seed=3)
    two = Network.random([2, 5, 1], init="standard", seed=3, init_scale=2.0)
    assert all(torch.equal(q, 2.0 * p) for p, q in zip(one.parameters(), two.parameters()))
