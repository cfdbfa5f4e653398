"""approx: how and why neural networks approximate functions, shown by running code.

    >>> import approx, torch
    >>> net = approx.Network.random([1, 16, 1], "relu", seed=0)
    >>> x = torch.linspace(0, 1, 8, dtype=torch.float64).unsqueeze(1)
    >>> loss, grads = approx.backprop.loss_and_grad(net, x, x.square())

Modules: ``network`` (the shared MLP data structure), ``activations``, ``losses``,
``backprop`` (the hand-written engine), ``autograd`` (the PyTorch engine), ``device``;
``approx.jacobian(net, x)`` gives per-example Jacobians on either engine. ``approx.run`` is the
runner behind the ``approx`` command (it imports none of the maths, and the maths none of it).
Importing approx has no side effects.
"""
from . import activations, autograd, backprop, losses
from .jacobian import jacobian  # the function; ``from approx.jacobian import ...`` still reads its module
from .network import Layer, Network

__all__ = ["Network", "Layer", "activations", "autograd", "backprop", "losses", "jacobian"]
__version__ = "0.1.0"
