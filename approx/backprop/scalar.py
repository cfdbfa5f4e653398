"""The activations of ``approx.activations`` on Python floats, for scalar graphs.

A scalar graph has one node per neuron and per weight (the picture in the notes), so its values
are plain floats and every operation must cost what a float operation costs: ``math``, not a
0-dim tensor. Each entry is (value(x), derivative(x, y)) with y = value(x), and follows the same
conventions as the tensor table (and PyTorch) at kinks and extremes:

    relu'(0) = 0,   ramp(x) = clamp(x, 0, 1) with ramp'(x) = 1 on (0, 1) only,
    softplus(x) = x for x > 20 (torch's threshold), log1p(e^x) below; softplus' = 1 above the
    threshold and sigmoid below,
    sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below (no overflow at +-1e4).
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["ACTIVATIONS"]


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus(x: float) -> float:
    return x if x > 20.0 else math.log1p(math.exp(x))


ACTIVATIONS: dict[str, tuple[Callable[[float], float], Callable[[float, float], float]]] = {
    "identity": (lambda x: x, lambda x, y: 1.0),
    "relu": (lambda x: x if x > 0.0 else 0.0, lambda x, y: 1.0 if x > 0.0 else 0.0),
    "sigmoid": (_sigmoid, lambda x, y: y * (1.0 - y)),
    "tanh": (math.tanh, lambda x, y: (1.0 - y) * (1.0 + y)),
    "softplus": (_softplus, lambda x, y: 1.0 if x > 20.0 else _sigmoid(x)),
    "ramp": (lambda x: min(max(x, 0.0), 1.0), lambda x, y: 1.0 if 0.0 < x < 1.0 else 0.0),
}
