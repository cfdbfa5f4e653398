"""approx.jacobian: per-example Jacobians on both engines against torch.func in float64.

The reference differentiates the whole batch at once, jacrev of theta -> net(x) (shape
(n, out, *theta.shape) per parameter): independent of both engines' per-example construction
(the hand-written engine's per-example copies, the autograd engine's vmap over examples).
Both sides compute each entry as a product of the same few factors through at most 4 layers of
width <= 7, so in float64 they agree to a few ulps of max|J|; 1e-12 relative leaves a margin of
~10^3 and still fails a Jacobian 1% off, a column-major W or a summed batch (negative controls).
"""
from __future__ import annotations

import pytest
import torch
from torch.func import jacrev

import approx
from approx import Network, activations
from approx.jacobian import jacobian, jacobian_bytes, parameter_slices
from approx.network import affine

RTOL = 1e-12
KINKS = {"relu": (0.0,), "ramp": (0.0, 1.0)}  # where the derivative is a convention
KINK_MARGIN = 1e-6  # every pre-activation stays this far from a kink in these tests


def _reference(net: Network, x: torch.Tensor) -> torch.Tensor:
    """(n, out, P) or (E, n, out, P) by jacrev of the whole batch, one member at a time."""
    members = [net] if net.ensemble is None else net.unstack()
    xs = [x] * len(members) if x.ndim == 2 else list(x)
    out = []
    for member, xm in zip(members, xs):
        params = tuple(member.parameters())
        blocks = jacrev(lambda *p: member.with_parameters(p)(xm), argnums=tuple(range(len(params))))(*params)
        out.append(torch.cat([b.flatten(start_dim=2) for b in blocks], dim=-1))
    return out[0] if net.ensemble is None else torch.stack(out)


def _rel(a, b) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def _distance_to_kinks(net: Network, x: torch.Tensor) -> float:
    """The smallest |z - kink| over every pre-activation z of a relu or ramp layer."""
    h, gap = x, float("inf")
    for layer in net.layers:
        z = affine(h, layer)
        for kink in KINKS.get(layer.activation, ()):
            gap = min(gap, (z - kink).abs().min().item())
        h = activations.get(layer.activation).value(z)
    return gap


CASES = [  # (sizes, activation), every activation at depths 1 to 4, one or more outputs
    ([3, 2], "relu"),  # no hidden layer: J is [x (x) I, I]
    ([2, 5, 1], "relu"),
    ([2, 5, 1], "ramp"),
    ([3, 4, 2], "sigmoid"),
    ([1, 6, 6, 1], "tanh"),
    ([2, 4, 5, 3], "softplus"),
    ([3, 5, 4, 6, 2], ["relu", "tanh", "ramp", "identity"]),
    ([2, 7, 7, 7, 1], ["sigmoid", "softplus", "relu"]),
]


@pytest.mark.parametrize("ensemble", [None, 3])
@pytest.mark.parametrize("sizes, activation", CASES)
def test_both_engines_equal_torch_func(sizes, activation, ensemble):
    net = Network.random(sizes, activation, seed=4, ensemble=ensemble)
    x = torch.randn(9, sizes[0], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert _distance_to_kinks(net, x) > KINK_MARGIN  # the comparison is off the kinks
    ref = _reference(net, x)
    lead = () if ensemble is None else (ensemble,)
    assert ref.shape == (*lead, 9, sizes[-1], net.n_params)
    for engine in ("backprop", "autograd"):
        jac = jacobian(net, x, engine=engine)
        assert jac.shape == ref.shape and jac.dtype == torch.float64
        assert _rel(jac, ref) < RTOL, engine
    assert _rel(jacobian(net, x), jacobian(net, x, engine="autograd")) < RTOL


def test_per_member_data_and_ensemble_equals_members():
    net = Network.random([2, 6, 6, 2], "tanh", seed=1, ensemble=3)
    x = torch.randn(3, 8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = _reference(net, x)
    for engine in ("backprop", "autograd"):
        jac = jacobian(net, x, engine=engine)
        assert _rel(jac, ref) < RTOL
        for e in range(3):
            assert _rel(jac[e], jacobian(net.member(e), x[e], engine=engine)) < RTOL


def test_columns_follow_parameters_row_major():
    """A linear layer's Jacobian is known in closed form: df_o/dW_oi = s x_i, df_o/db_o = 1."""
    net = Network.random([3, 2], "relu", seed=0)
    net = Network([approx.Layer(net.layers[0].weight, net.layers[0].bias, "identity", 0.5)])
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    jac = jacobian(net, x)  # (4, 2, 8): columns W[0, 0..2], W[1, 0..2], b[0], b[1]
    w_cols, b_cols = parameter_slices(net)
    assert (w_cols, b_cols) == (slice(0, 6), slice(6, 8))
    expected_w = torch.zeros(4, 2, 2, 3, dtype=torch.float64)
    for o in range(2):
        expected_w[:, o, o, :] = 0.5 * x
    assert torch.equal(jac[:, :, w_cols], expected_w.reshape(4, 2, 6))
    assert torch.equal(jac[:, :, b_cols], torch.eye(2, dtype=torch.float64).expand(4, 2, 2))
    # negative control: W flattened column-major puts the same numbers in other columns
    assert not torch.equal(jac[:, :, w_cols], expected_w.transpose(2, 3).reshape(4, 2, 6))


def test_negative_controls_fail_the_comparison():
    net = Network.random([2, 5, 4, 2], "tanh", seed=2)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ref = _reference(net, x)
    jac = jacobian(net, x)
    assert _rel(jac, ref) < RTOL
    assert _rel(jac * 1.01, ref) > RTOL  # 1% off
    summed = jac.sum(0, keepdim=True).expand_as(jac)  # a shared-parameter (summed) gradient
    assert _rel(summed, ref) > RTOL
    swapped = jac.flip(1)  # outputs in the wrong order
    assert _rel(swapped, ref) > RTOL


def test_on_device(device):
    net = Network.random([2, 8, 8, 2], "tanh", seed=0, ensemble=2, device=device)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(device)
    mine, ref = jacobian(net, x), jacobian(net, x, engine="autograd")
    assert mine.device.type == device and _rel(mine, ref) < RTOL


def test_exported_and_sized():
    assert approx.jacobian is jacobian
    net = Network.random([3, 5, 2], "tanh", ensemble=4, dtype=torch.float32)
    assert jacobian_bytes(net, 10) == 4 * 10 * 2 * net.n_params * 4
    x = torch.zeros(10, 3)
    assert jacobian(net, x).numel() * 4 == jacobian_bytes(net, 10)


def test_rejects_bad_input():
    net = Network.random([2, 3, 1], "tanh")
    x = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown engine 'jax'; allowed: backprop, autograd"):
        jacobian(net, x, engine="jax")
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 2\)"):
        jacobian(net, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must be torch.float64 on cpu"):
        jacobian(net, x.float())
    with pytest.raises(ValueError, match="empty batch"):
        jacobian(net, x[:0])
