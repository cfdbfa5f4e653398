"""What both engines accept: one check of (net, x, y), before any work, with one error text.

``approx.backprop.loss_and_grad`` (hand-written) and ``approx.autograd.loss_and_grad`` (torch)
both call ``check_batch`` first, so a wrong shape, dtype or device, or an empty batch, gives the
same ValueError from either engine: never a raw torch error from deep inside a product, a NaN
loss (the mean over no points) or a ZeroDivisionError, and neither engine quietly converts what
the other refuses. ``approx.train.fit`` is the lenient entry point: it moves the data to the
network's dtype and device before calling an engine.
"""
from __future__ import annotations

from torch import Tensor

from .network import Network

__all__ = ["check_batch"]


def check_batch(net: Network, x: Tensor, y: Tensor) -> Tensor:
    """y broadcast to the network's output shape, once x and y are checked against ``net``.

    x: (batch, d_0), or (E, batch, d_0) for an ensemble of E, with batch >= 1, of the network's
    dtype and on its device. y: a tensor of the same dtype and device that broadcasts to the
    output, (batch, d_L) or (E, batch, d_L). Anything else raises a ValueError that names the
    bad value and what is allowed.
    """
    first = net.layers[0].weight  # (out, in) or (E, out, in)
    ensemble = first.ndim == 3
    # the common case in a few comparisons (this runs at every training step); the full check,
    # with its message, only when something is off
    if not (isinstance(x, Tensor) and x.ndim in ((2, 3) if ensemble else (2,))
            and x.shape[-1] == first.shape[-1] and (x.ndim == 2 or x.shape[0] == first.shape[0])):
        net.check_input(x)
    if x.dtype != first.dtype or x.device != first.device:
        raise ValueError(f"x must be {first.dtype} on {first.device} like the network; "
                         f"got {x.dtype} on {x.device}")
    if x.shape[-2] == 0:
        raise ValueError(f"x holds an empty batch (shape {tuple(x.shape)}); need at least 1 point")
    if not isinstance(y, Tensor) or y.dtype != first.dtype or y.device != first.device:
        got = f"{y.dtype} on {y.device}" if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y must be a tensor of dtype {first.dtype} on {first.device}; got {got}")
    d_out = net.layers[-1].weight.shape[-2]
    out = (first.shape[0], x.shape[-2], d_out) if ensemble else (x.shape[0], d_out)
    if tuple(y.shape) == out:
        return y
    try:
        return y.expand(out)
    except RuntimeError:
        raise ValueError(f"y of shape {tuple(y.shape)} does not match the output {out}") from None
