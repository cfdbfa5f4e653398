"""Per-example Jacobians of a Network's outputs with respect to all of its parameters.

    J = jacobian(net, x)              # (batch, out, P), or (E, batch, out, P) for an ensemble
    J[i, k, :] = d f_k(x_i) / d theta

theta lists the parameters in the order of ``net.parameters()`` (W1, b1, W2, b2, ...), each
flattened row-major, so column ``parameter_slices(net)[2 * l]`` of J belongs to W_{l+1} and
entry (o, i) of W_{l+1} is column o * fan_in + i of that block. P = ``net.n_params``.

Second-order training (Levenberg-Marquardt, ``approx.levenberg_marquardt``) and the empirical
neural tangent kernel (``approx.ntk``: Theta = J J^T) read this one function. Two engines:

    backprop   the hand-written engine (approx.backprop), by the lemma. The batch becomes an
               ensemble axis: example i runs through its own copy of every parameter (an
               expanded view, shape (batch, ...)), so the gradient of sum_i f_k(x_i) with
               respect to copy i is df_k(x_i)/dtheta. One reverse pass per output k, seeded
               with the unit vector e_k on every example (a vector-Jacobian product), fills the
               k-th row of every example's Jacobian: out reverse passes over one forward graph.
    autograd   torch.func: jacrev of f(theta, x_i) for one example, vmapped over the batch
               (and over the members of an ensemble).

Both give the same numbers to rounding (tests/test_jacobian.py: 1e-12 relative in float64).
Memory: J holds E x batch x out x P numbers; the hand-written engine also materialises one copy
of the weights per example in the forward pass, so its peak is about twice J's size
(``jacobian_bytes`` gives J's).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .network import Network

__all__ = ["jacobian", "jacobian_bytes", "parameter_slices", "JACOBIAN_ENGINES"]

JACOBIAN_ENGINES = ("backprop", "autograd")


def jacobian(net: Network, x: Tensor, *, engine: str = "backprop") -> Tensor:
    """d net(x)_ik / d theta for every example i and output k: (batch, out, P) or (E, batch, out, P).

    net: a Network or an ensemble of E; x: (batch, d_0), or (E, batch, d_0) for one data set
    per member, of the network's dtype and on its device. engine: "backprop" (hand-written,
    by the lemma) or "autograd" (torch.func). Columns follow ``net.parameters()``, each
    flattened row-major (``parameter_slices``).
    """
    if engine not in JACOBIAN_ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(JACOBIAN_ENGINES)}")
    _check_input(net, x)
    if engine == "backprop":
        return _jacobian_backprop(net, x)
    return _jacobian_autograd(net, x)


def parameter_slices(net: Network) -> list[slice]:
    """The columns of J that belong to each tensor of ``net.parameters()``, in that order."""
    slices, start = [], 0
    for layer in net.layers:
        for numel in (layer.fan_out * layer.fan_in, layer.fan_out):
            slices.append(slice(start, start + numel))
            start += numel
    return slices


def jacobian_bytes(net: Network, batch: int) -> int:
    """Bytes of the Jacobian of ``net`` on ``batch`` examples: E x batch x out x P x itemsize."""
    itemsize = torch.empty((), dtype=net.dtype).element_size()
    return (net.ensemble or 1) * batch * net.sizes[-1] * net.n_params * itemsize


def _check_input(net: Network, x: Tensor) -> None:
    net.check_input(x)  # shape: (batch, d_0), or (E, batch, d_0) for an ensemble
    if x.dtype != net.dtype or x.device != net.device:
        raise ValueError(f"x must be {net.dtype} on {net.device} like the network; "
                         f"got {x.dtype} on {x.device}")
    if x.shape[-2] == 0:
        raise ValueError(f"x holds an empty batch (shape {tuple(x.shape)}); need at least 1 point")


def _jacobian_backprop(net: Network, x: Tensor) -> Tensor:
    """J by the hand-written engine: the batch as an ensemble axis, one reverse pass per output.

    With lead = () for a single network or (E,) for an ensemble and n examples, every layer is
    z = s (h @ W^T) + b on Node values h (*lead, n, 1, in), W^T (*lead, n, in, out) and
    b (*lead, n, 1, out): per example a copy of W^T and b (expanded views of the network's
    tensors), whose gradients are that example's rows of J.
    """
    from .backprop import Node  # the engine is imported lazily, like approx.train does

    lead = tuple(net.layers[0].weight.shape[:-2])  # () or (E,)
    n = x.shape[-2]
    copies = (*lead, n)
    h = Node(x.unsqueeze(-2).expand(*copies, 1, x.shape[-1]))  # (*lead, n, 1, d_0)
    leaves: list[Node] = []
    for layer in net.layers:
        w_t = layer.weight.mT.unsqueeze(-3)  # (*lead, 1, in, out)
        b = layer.bias.unsqueeze(-2).unsqueeze(-3)  # (*lead, 1, 1, out)
        w_t = Node(w_t.expand(*copies, *w_t.shape[-2:]))  # (*lead, n, in, out)
        b = Node(b.expand(*copies, 1, b.shape[-1]))  # (*lead, n, 1, out)
        leaves += [w_t, b]
        z = h @ w_t
        if layer.scale != 1.0:
            z = z * layer.scale
        h = z + b
        if layer.activation != "identity":
            h = h.activation(layer.activation)
    n_out = net.sizes[-1]
    jac = x.new_empty(*copies, n_out, net.n_params)  # (*lead, n, out, P)
    columns = parameter_slices(net)
    for k in range(n_out):
        seed = torch.zeros_like(h.value)  # (*lead, n, 1, out): e_k for every example
        seed[..., k] = 1.0
        h.backward(seed)  # the graph is kept, so the next output reuses the forward pass
        for l, leaf in enumerate(leaves):
            g = leaf.grad  # W^T copies: (*lead, n, in, out); b copies: (*lead, n, 1, out)
            if l % 2 == 0:
                g = g.mT  # (*lead, n, out, in), laid out as W
            jac[..., k, columns[l]] = g.reshape(*copies, -1)
    return jac


def _jacobian_autograd(net: Network, x: Tensor) -> Tensor:
    """J by torch.func: jacrev of one example's outputs, vmapped over examples (and members)."""
    from torch.func import jacrev, vmap

    activations, scales = net.activations, net.scales

    def outputs(params: tuple[Tensor, ...], xi: Tensor) -> Tensor:  # xi (d_0,) -> (out,)
        return Network.from_parameters(params, activations, scales)(xi.unsqueeze(0))[0]

    per_example = vmap(jacrev(outputs), in_dims=(None, 0))  # blocks (n, out, *param.shape)
    params = tuple(net.parameters())
    if net.ensemble is None:
        blocks = per_example(params, x)
    else:
        blocks = vmap(per_example, in_dims=(0, 0 if x.ndim == 3 else None))(params, x)
    lead = 3 if net.ensemble is not None else 2  # (E, n, out) or (n, out) before the parameter axes
    return torch.cat([b.flatten(start_dim=lead) for b in blocks], dim=-1)

