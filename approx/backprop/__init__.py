"""The hand-written backpropagation engine: graph nodes, local-derivative rules, reverse pass.

    from approx.backprop import Node, loss_and_grad
    a = Node(2.0); f = a * a + a.tanh()      # a scalar graph on floats
    f.backward(); a.grad                     # df/da = 2a + 1 - tanh(a)^2, by the lemma

``node``: Node and the reverse pass (the lemma in the notes); ``rules``: one local-derivative
rule per op; ``scalar``: activations on Python floats; ``mlp``: ``loss_and_grad`` for Networks
with fused layer nodes (what training uses); ``graphs``: a Network's loss as a scalar graph or a
tensor graph of Nodes. No torch automatic differentiation anywhere in this package.
"""
from .graphs import count_edges, scalar_loss, tensor_loss, to_tensors
from .mlp import loss_and_grad
from .node import Node, topological_order
from .rules import RULES

__all__ = [
    "Node", "loss_and_grad", "topological_order", "RULES",
    "scalar_loss", "tensor_loss", "to_tensors", "count_edges",
]
