"""``loss_and_grad`` for Networks on the hand-written engine, with fused layer nodes.

The graph of a Network's loss has, per layer l, one *affine* node z_l = s_l h_{l-1} W_l^T + b_l
(children h_{l-1}, W_l, b_l) and one *activation* node h_l = phi_l(z_l) (omitted for the
identity), and a *loss* node on top. Each is a composite node with a hand-derived rule
(``rules._affine``, the activation rules, ``rules._loss``), so the reverse pass of
``Node.backward`` (the lemma) runs over 2L + 1 array nodes instead of one node per scalar:

    loss:        B_p = dL/dp                                     (approx.losses)
    activation:  B_z = B_h * phi'(z)                             (approx.activations)
    affine:      dW = s B_z^T h,  db = sum_batch B_z,  B_h = s B_z W

with dL/dx for the data never formed. Memory is handled as autograd handles it: a pre-activation
z that no rule reads is freed as soon as phi(z) is known, and the reverse pass frees each
layer's tensors once it is done with them (``retain_graph=False``). Ensembles of E networks use
batched products, and each member's gradient is that of its own loss (Rumelhart, Hinton &
Williams 1986).
"""
from __future__ import annotations

from torch import Tensor

from .. import activations as _activations
from .. import losses as _losses
from ..network import Network, affine
from .node import Node
from .rules import READS_Y_ONLY

__all__ = ["loss_and_grad"]


def loss_and_grad(
    net: Network, x: Tensor, y: Tensor, loss: str = "mse"
) -> tuple[float | Tensor, list[Tensor]]:
    """(L, [dL/dW1, dL/db1, ...]) for the loss of ``net`` on (x, y), by backpropagation.

    x: (batch, d_0), or (E, batch, d_0) for an ensemble; y: broadcastable to the output.
    Returns a float for a single network, a tensor of E losses for an ensemble; gradients are
    aligned with ``net.parameters()``. Same contract as ``approx.autograd.loss_and_grad``.
    """
    loss_fn = _losses.get(loss)
    first = net.layers[0].weight  # (out, in) or (E, out, in)
    ensemble = first.ndim == 3
    if not (isinstance(x, Tensor) and x.ndim in ((2, 3) if ensemble else (2,))
            and x.shape[-1] == first.shape[-1] and (x.ndim == 2 or x.shape[0] == first.shape[0])):
        net.check_input(x)  # raises the ValueError that explains the expected shapes
    if x.dtype != first.dtype or x.device != first.device:
        raise ValueError(f"x must be {first.dtype} on {first.device} like the network; "
                         f"got {x.dtype} on {x.device}")
    h = Node(x)
    weights = []
    for i, layer in enumerate(net.layers):
        w, b = Node(layer.weight), Node(layer.bias)
        weights.append(w)
        weights.append(b)
        # (batch, out) or (E, batch, out); the data (i = 0) receives no gradient
        h = Node(affine(h.value, layer), (h, w, b), "affine", (layer.scale, i > 0))
        if layer.activation != "identity":
            affine_node = h
            h = Node(_activations.ACTIVATIONS[layer.activation].value(affine_node.value), (h,),
                     "layer_activation", layer.activation)
            if layer.activation in READS_Y_ONLY:
                affine_node.value = None  # z is read by no rule: free it now, as autograd does
    p = h.value
    if not isinstance(y, Tensor) or y.dtype != p.dtype or y.device != p.device:
        raise ValueError(f"y must be a tensor of dtype {p.dtype} on {p.device}; got {_describe(y)}")
    if y.shape != p.shape:
        try:
            y = y.expand_as(p)
        except RuntimeError:
            raise ValueError(
                f"y of shape {tuple(y.shape)} does not match the output {tuple(p.shape)}"
            ) from None
    total = Node(loss_fn.value(p, y, ensemble), (h,), "loss", (loss_fn, y, ensemble))
    value = total.value
    # only the weights' gradients are wanted: free each layer's tensors once they are used
    total.backward(retain_graph=False)
    return (value.item() if not ensemble else value), [node.grad for node in weights]


def _describe(y) -> str:
    if isinstance(y, Tensor):
        return f"{y.dtype} on {y.device}"
    return type(y).__name__
