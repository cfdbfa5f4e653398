"""``loss_and_grad`` for Networks on the hand-written engine, with fused layer nodes.

The graph of a Network's loss has, per layer l, one *affine* node z_l = s_l h_{l-1} W_l^T + b_l
(children h_{l-1}, W_l, b_l) and one *activation* node h_l = phi_l(z_l) (omitted for the
identity), and a *loss* node on top. Each is a composite node with a hand-derived rule
(``rules._affine``, the activation rules, ``rules._loss``), so the reverse pass of
``Node.backward`` (the lemma) runs over 2L + 1 array nodes instead of one node per scalar:

    loss:        B_p = dL/dp                                     (approx.losses)
    activation:  B_z = B_h * phi'(z)                             (approx.activations)
    affine:      dW = s B_z^T h,  db = sum_batch B_z,  B_h = s B_z W

with dL/dx for the data never formed. Memory is handled more tightly than autograd handles it:
a pre-activation z that no rule reads is overwritten by phi(z) (in place), the activation rule
writes phi' over phi(z) once the layer above has read it, and the reverse pass frees each
layer's tensors once it is done with them (``retain_graph=False``). So a step allocates one
tensor of the activations' size per layer forward and one backward, where autograd allocates
two and two: on the CPU every fresh tensor of a few MB is paged in anew (a page fault per
4 KB), which is what made the ensemble path slower than autograd's at E = 1024. Ensembles of E
networks use batched products, and each member's gradient is that of its own loss (Rumelhart,
Hinton & Williams 1986).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import activations as _activations
from .. import losses as _losses
from ..engine_inputs import check_batch
from ..network import Network, affine
from .node import Node, reverse_pass

__all__ = ["loss_and_grad"]

# phi in place, for the activations whose rule reads y = phi(z) only (rules.READS_Y_ONLY): the
# same kernels as approx.activations' phi, so the same values bit for bit
_IN_PLACE = {
    "relu": torch.relu_,
    "sigmoid": torch.sigmoid_,
    "tanh": torch.tanh_,
    "ramp": lambda z: z.clamp_(0.0, 1.0),
}


def loss_and_grad(
    net: Network, x: Tensor, y: Tensor, loss: str = "mse"
) -> tuple[float | Tensor, list[Tensor]]:
    """(L, [dL/dW1, dL/db1, ...]) for the loss of ``net`` on (x, y), by backpropagation.

    x: (batch, d_0), or (E, batch, d_0) for an ensemble; y: broadcastable to the output; both
    of the network's dtype and device, checked by ``approx.engine_inputs.check_batch``.
    Returns a float for a single network, a tensor of E losses for an ensemble; gradients are
    aligned with ``net.parameters()``. Same contract as ``approx.autograd.loss_and_grad``.
    """
    loss_fn = _losses.get(loss)
    y = check_batch(net, x, y)  # y: like the output, (batch, d_L) or (E, batch, d_L)
    ensemble = net.layers[0].weight.ndim == 3
    h = Node(x)
    weights = []
    made = [h]  # every node, each after its children: reversed, the reverse pass's order
    for i, layer in enumerate(net.layers):
        w, b = Node(layer.weight), Node(layer.bias)
        weights.append(w)
        weights.append(b)
        # (batch, out) or (E, batch, out); the data (i = 0) receives no gradient
        h = Node(affine(h.value, layer), (h, w, b), "affine", (layer.scale, i > 0))
        made += (w, b, h)
        if layer.activation != "identity":
            affine_node = h
            # z is read by no rule: phi(z) takes its place (eager; a compiled graph has no use for
            # in-place ops, and its tanh is approx.activations' own: see that module)
            if layer.activation in _IN_PLACE and not torch.compiler.is_compiling():
                phi = _IN_PLACE[layer.activation](affine_node.value)
                affine_node.value = None
            else:
                phi = _activations.ACTIVATIONS[layer.activation].value(affine_node.value)
            h = Node(phi, (h,), "layer_activation", layer.activation)
            made.append(h)
    p = h.value
    total = Node(loss_fn.value(p, y, ensemble), (h,), "loss", (loss_fn, y, ensemble))
    made.append(total)
    value = total.value
    # only the weights' gradients are wanted: free each layer's tensors once they are used, and
    # let the graph hold the last ones alone (a reference kept here would keep an activation
    # alive to the end, and the next layer's message could not reuse its memory)
    phi = p = None
    # the graph is a chain of layers whose order is known: the reverse pass of total.backward
    # without its depth-first search (2-3 us of a 55 us step of [1, 16, 16, 1] on one CPU thread)
    made.reverse()
    reverse_pass(made, retain_graph=False)
    made = None
    return (value.item() if not ensemble else value), [node.grad for node in weights]
