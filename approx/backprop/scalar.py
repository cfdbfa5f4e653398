"""The activations of ``approx.activations`` on Python floats, for scalar graphs.

A scalar graph has one node per neuron and per weight (the picture in the notes), so its values
are plain floats and every operation must cost what a float operation costs: ``math``, not a
0-dim tensor. Each entry is (value(x), derivative(x, y)) with y = value(x), and follows the same
conventions as the tensor table (and PyTorch) at kinks and extremes:

    relu'(0) = 0,   ramp(x) = clamp(x, 0, 1) with ramp'(x) = 1 on (0, 1) only,
    softplus(x) = x for x > 20 (torch's threshold), log1p(e^x) below; softplus' = 1 above the
    threshold and sigmoid below,
    sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below (no overflow at +-1e4).

Arithmetic. Python's float operations raise where IEEE 754 arithmetic, and so a tensor node,
gives inf or nan: 1.0 / 0.0 (ZeroDivisionError), math.exp(1000.0) and 1e200 ** 2
(OverflowError), math.log(0.0) (ValueError); and (-8.0) ** (1/3) is a complex number. ``divide``,
``power``, ``exp`` and ``log`` give the IEEE result instead, the rule of node.py: they take the
plain float operation and only where Python would raise or go complex compute the same
operation on a 0-dim float64 tensor, so a scalar node's value is then exactly torch's.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

__all__ = ["ACTIVATIONS", "divide", "power", "exp", "log"]


def _as_torch(op: Callable, a: float, b: float) -> float:
    """op on 0-dim float64 tensors: the IEEE 754 result where Python's floats raise."""
    return op(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).item()


def divide(a, b):
    """a / b; for floats x / 0 = +-inf (the sign of x times that of the zero) and 0 / 0 = nan."""
    try:
        return a / b
    except ZeroDivisionError:  # only two Python numbers raise; tensors already give inf or nan
        return _as_torch(torch.div, a, b)


def power(a, b):
    """a ** b; for floats 0 ** -1 = inf, an overflow = +-inf and a negative base with a
    non-integer exponent = nan (never a complex number)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a ** b
    try:
        return math.pow(a, b)  # raises (never goes complex) where the IEEE result is inf or nan
    except (ValueError, OverflowError):
        return _as_torch(torch.pow, float(a), float(b))


def exp(x: float) -> float:
    """e^x, inf where it overflows (x > 709.78)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def log(x: float) -> float:
    """log x: -inf at 0 (either sign), nan below 0 or at nan."""
    return math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


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
