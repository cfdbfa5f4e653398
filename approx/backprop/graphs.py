"""A Network's loss written out as a graph of Nodes, at the two granularities of the notes.

``scalar_loss``: one float node per input, weight and bias, and per product and partial sum, so
the graph is the picture in the notes, u_j = phi(sum_i w_ji u_i + b_j), and its number of edges
M grows with the network's edges (each weight w_ji adds a product node and a sum node: four
graph edges). ``tensor_loss``: one tensor node per array operation (matmul, transpose, scale,
add, activation, loss). Both are built from the public operators of ``Node`` only, so they
exercise the general engine; ``loss_and_grad`` (fused layer nodes) must agree with both.
Used by tests and by ``experiments/backprop_cost.py`` (O(M) reverse pass).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..network import Network
from .node import Node, topological_order

__all__ = ["scalar_loss", "tensor_loss", "to_tensors", "count_edges"]


def _check(net: Network, x: Tensor, y: Tensor, loss: str) -> None:
    if net.ensemble is not None:
        raise ValueError("graphs are built for single networks; use net.member(e) on an ensemble")
    if loss not in ("mse", "logistic"):
        raise ValueError(f"unknown loss {loss!r}; allowed: mse, logistic")
    net.check_input(x)
    if not isinstance(y, Tensor) or y.shape != (x.shape[0], net.sizes[-1]):
        raise ValueError(f"y must have shape {(x.shape[0], net.sizes[-1])}")


def scalar_loss(net: Network, x: Tensor, y: Tensor, loss: str = "mse") -> tuple[Node, list[list]]:
    """(loss node, parameters) with float nodes throughout; parameters mirror net.parameters()
    as nested lists of Nodes ([[W1 rows], [b1], ...]); ``to_tensors`` reads their grads."""
    _check(net, x, y, loss)
    params: list[list] = []
    layers = []
    for layer in net.layers:
        w = [[Node(v) for v in row] for row in layer.weight.tolist()]  # (out, in)
        b = [Node(v) for v in layer.bias.tolist()]  # (out,)
        params += [w, b]
        layers.append((w, b, layer.scale, layer.activation))
    terms = []
    for x_row, y_row in zip(x.tolist(), y.tolist()):
        h = [Node(v) for v in x_row]
        for w, b, scale, activation in layers:
            h = [_neuron(w_j, h, b_j, scale).activation(activation) for w_j, b_j in zip(w, b)]
        for p, target in zip(h, y_row):
            terms.append((p - target) ** 2 if loss == "mse" else p.softplus() - target * p)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total / len(terms), params


def _neuron(w_j: list[Node], h: list[Node], b_j: Node, scale: float) -> Node:
    """z_j = s * sum_i w_ji h_i + b_j as a chain of products and sums (the notes' picture)."""
    acc = w_j[0] * h[0]
    for w, u in zip(w_j[1:], h[1:]):
        acc = acc + w * u
    if scale != 1.0:
        acc = acc * scale
    return acc + b_j


def to_tensors(params: list[list], like: list[Tensor]) -> list[Tensor]:
    """The .grad of nested lists of float Nodes as tensors shaped and typed like ``like``."""
    def grads(nested):
        return [grads(n) for n in nested] if isinstance(nested, list) else nested.grad
    return [torch.tensor(grads(p), dtype=t.dtype, device=t.device) for p, t in zip(params, like)]


def tensor_loss(net: Network, x: Tensor, y: Tensor, loss: str = "mse") -> tuple[Node, list[Node]]:
    """(loss node, parameter nodes aligned with net.parameters()), one node per array op."""
    _check(net, x, y, loss)
    params = []
    h = Node(x)  # (batch, in)
    for layer in net.layers:
        w, b = Node(layer.weight), Node(layer.bias)
        params += [w, b]
        z = h @ w.T  # (batch, out)
        if layer.scale != 1.0:
            z = z * layer.scale
        h = (z + b).activation(layer.activation)
    p = h
    if loss == "mse":
        return ((p - Node(y)) ** 2).mean(), params
    return (p.softplus() - Node(y) * p).mean(), params


def count_edges(root: Node) -> int:
    """M: the number of edges (child links) in the graph that ``root`` depends on."""
    return sum(len(node.children) for node in topological_order(root))
