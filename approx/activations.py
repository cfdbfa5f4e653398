"""Activation functions, each with its derivative, written to be numerically stable.

The universal approximation theorem of Cybenko (1989) and Hornik, Stinchcombe & White (1989)
asks for a *sigmoidal* activation: sigma(x) -> 0 as x -> -inf and sigma(x) -> 1 as x -> +inf.
ReLU is not sigmoidal, but "put two together" and it is:

    ramp(x) = relu(x) - relu(x - 1) = clamp(x, 0, 1)

is 0 left of 0, 1 right of 1 and linear in between, so every theorem stated for sigmoidal
units also holds for networks of ReLUs (with twice the units).

Each activation is a pair (value, derivative) registered in one table, ``ACTIVATIONS``. The
derivative takes the input ``x`` and the already computed output ``y`` so that sigmoid and tanh
can reuse y (sigma' = y (1 - y), tanh' = (1 - y)(1 + y) = 1 - y^2) instead of recomputing
exponentials.

Conventions at kinks are ours, the same on every device and torch version: relu'(0) = 0,
ramp'(x) = 1 on the open interval (0, 1) only (0 at both kinks), and softplus'(x) = 1 exactly
above torch's threshold x > 20, where softplus returns x itself (sigmoid(x) would differ from it
by up to 2e-9). torch's own derivative at a kink is not stable across builds: clamp's gradient
at x = 0 and 1 is 0 on the CPU with torch 2.11 and 2.14 but 1 with 2.13, and 1 on CUDA. So the
hand-written engine and autograd agree everywhere off the kinks, and at the kinks wherever
torch happens to use our convention.

Compiled tanh: inside a compiled graph (``torch.compiler.is_compiling()``, as in
``fit(compile="on")``) a float32 tanh is evaluated as the rational function that Eigen and XLA
use (``rational_tanh``), which the compiler fuses into a few multiply-adds and one division per
element; torch's own tanh kernel (SLEEF) is about three times slower there, and it is the
largest single cost of a compiled step of small tanh networks on the CPU (experiments/benchmark,
peer preset). Its error is at most 4 float32 ulps of tanh (tests/test_activations.py measures
it on 2e6 points), against 1 for torch.tanh. A compiled float64 tanh is Cody & Waite's
(``cody_waite_tanh``: a rational function below ln(3)/2, one exponential above), within 2.5
float64 ulps, which inductor fuses too, where its own float64 tanh kernel (SLEEF) was 1.7 times
slower on an Intel Xeon. Eager steps use torch.tanh. Under autograd both have tanh's gradient,
(1 - y)(1 + y) at the computed y (``_CompiledTanh``), not the derivative of the approximation.

Stability: sigmoid uses torch.sigmoid (no overflow of exp for large |x|); softplus uses
torch's thresholded log1p(e^x), whose derivative is sigmoid(x) up to the threshold; both are
finite and exact to rounding at x = +-1e4 in float32 and float64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

__all__ = ["Activation", "ACTIVATIONS", "get", "names", "rational_tanh", "RATIONAL_TANH_CLAMP", "cody_waite_tanh"]


@dataclass(frozen=True)
class Activation:
    """An elementwise function phi with its derivative phi'(x), given x and y = phi(x)."""

    name: str
    value: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor]  # (x, y) -> phi'(x)
    sigmoidal: bool  # phi(-inf) = 0 and phi(+inf) = 1 (the hypothesis of Cybenko's theorem)

    def __call__(self, x: Tensor) -> Tensor:
        return self.value(x)


def _identity(x: Tensor) -> Tensor:
    return x


def _softplus(x: Tensor) -> Tensor:
    # PyTorch computes log1p(e^x) below a threshold of 20 and returns x above it (where the two
    # agree to rounding), so e^x never overflows; its autograd derivative is sigma(x) up to the
    # threshold (and exactly 1 above it), including x = 0, which a hand-rolled
    # max(x, 0) + log1p(e^{-|x|}) would get wrong (1, not 1/2).
    return torch.nn.functional.softplus(x)


def _ramp(x: Tensor) -> Tensor:
    return torch.clamp(x, 0.0, 1.0)


def _ones_like(x: Tensor, y: Tensor) -> Tensor:
    return torch.ones_like(x)


def _relu_derivative(x: Tensor, y: Tensor) -> Tensor:
    return (x > 0).to(x.dtype)


def _sigmoid_derivative(x: Tensor, y: Tensor) -> Tensor:
    return y * (1 - y)


# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= RATIONAL_TANH_CLAMP, the float32 approximation of Eigen
# (generic_fast_tanh_float, Eigen/src/Core/MathFunctionsImpl.h), which XLA's CPU backend also
# emits for tanh: P of degree 6 and Q of degree 3 in x^2, lowest degree first. Past the clamp
# tanh(x) rounds to +-1 in float32, and P/Q there is within an ulp of it.
RATIONAL_TANH_CLAMP = 7.90531110763549805
_TANH_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
           -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
_TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)


def rational_tanh(x: Tensor) -> Tensor:
    """tanh(x) ~ x P(x^2) / Q(x^2) with x clamped to +-RATIONAL_TANH_CLAMP (Eigen's and XLA's
    float32 tanh): within 4 float32 ulps of tanh, and elementwise arithmetic only, so that a
    compiler fuses it with its neighbours. Any dtype; meant for float32."""
    x = x.clamp(-RATIONAL_TANH_CLAMP, RATIONAL_TANH_CLAMP)
    x2 = x * x
    p = _TANH_P[-1]
    for c in reversed(_TANH_P[:-1]):  # Horner in x^2
        p = p * x2 + c
    q = _TANH_Q[-1]
    for c in reversed(_TANH_Q[:-1]):
        q = q * x2 + c
    return x * p / q


# tanh(f) for f = |x| in float64 (Cody & Waite 1980, ch. 13, coefficients for 49-60 bits):
# f + f g P(g) / Q(g), g = f^2, below ln(3)/2, and (1 - t) / (1 + t), t = e^{-2f}, above it,
# where 1 - t loses nothing (t <= 1/3). P and Q lowest degree first; Q is monic.
_CW_P = (-0.16134119023996228053e4, -0.99225929672236083313e2, -0.96437492777225469787e0)
_CW_Q = (0.48402357071988688686e4, 0.22337720718962312926e4, 0.11274474380534949335e3, 1.0)
_CW_SPLIT = 0.54930614433405484570  # ln(3) / 2


def cody_waite_tanh(x: Tensor) -> Tensor:
    """tanh(x) from Cody & Waite's rational function and one exponential (see _CW_P above),
    both branches evaluated and one kept, so that a compiler fuses it into a few multiply-adds,
    an exp and two divisions per element: within 2.5 float64 ulps of tanh (the test's bound,
    from 1 ulp of exp and the roundings; 1.6 measured), odd, and tanh(+-0) = +-0. Any dtype;
    meant for float64, where inductor's own tanh (SLEEF's tanhd8_u10) took 3.4 ns per element
    against 2.0 for this on an Intel Xeon (one thread; eager torch.tanh, through MKL, 1.2)."""
    # no clamp: past |x| ~ 1e154 g overflows and the rational branch is NaN, but that branch is
    # not the one kept there, and e^{-2f} underflows to 0, so the kept one is exactly 1
    f = x.abs()
    g = f * f
    p = ((_CW_P[2] * g + _CW_P[1]) * g + _CW_P[0]) * g  # g P(g)
    q = ((g + _CW_Q[2]) * g + _CW_Q[1]) * g + _CW_Q[0]
    t = torch.exp(-2 * f)
    magnitude = torch.where(f > _CW_SPLIT, (1 - t) / (1 + t), f + f * (p / q))
    return torch.copysign(magnitude, x)


class _CompiledTanh(torch.autograd.Function):
    """tanh inside a compiled graph: rational_tanh in float32, cody_waite_tanh in float64, both
    arithmetic a compiler fuses with its neighbours. Its backward is g (1 - y)(1 + y) at the
    computed y: the derivative of tanh at its value, as the hand-written engine and JAX's tanh
    rule take it, not the derivative of the approximation that autograd would expand (for x P / Q
    three divisions and some forty products per element, which made a compiled float32 autograd
    step of small tanh networks over twice as slow as the hand-written one on an Intel Xeon).
    |y - tanh(x)| <= k eps |tanh(x)| (k = 4 in float32) bounds the difference from tanh'(x) by
    2 k eps y^2 plus the rounding of the product: 9 float32 eps (tests/test_activations.py)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return rational_tanh(x) if x.dtype == torch.float32 else cody_waite_tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * _tanh_derivative(y, y)


def _tanh(x: Tensor) -> Tensor:
    # compiled float32 and float64: fused arithmetic (module docstring); otherwise torch's kernel
    if x.dtype in (torch.float32, torch.float64) and torch.compiler.is_compiling():
        return _CompiledTanh.apply(x)
    return torch.tanh(x)


def _tanh_derivative(x: Tensor, y: Tensor) -> Tensor:
    # (1 - y)(1 + y), not 1 - y^2: where |y| is near 1 the latter cancels (relative error
    # eps / (1 - y^2): 1e-4 in float32 at x = 5), the former is exact to a few eps
    return (1 - y) * (1 + y)


def _softplus_derivative(x: Tensor, y: Tensor) -> Tensor:
    # above the threshold softplus(x) = x, so its derivative is exactly 1 (as in PyTorch)
    return torch.sigmoid(x).masked_fill_(x > 20, 1.0)


def _ramp_derivative(x: Tensor, y: Tensor) -> Tensor:
    return ((x > 0) & (x < 1)).to(x.dtype)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", _identity, _ones_like, sigmoidal=False),
        Activation("relu", torch.relu, _relu_derivative, sigmoidal=False),
        Activation("sigmoid", torch.sigmoid, _sigmoid_derivative, sigmoidal=True),
        Activation("tanh", _tanh, _tanh_derivative, sigmoidal=False),
        Activation("softplus", _softplus, _softplus_derivative, sigmoidal=False),
        Activation("ramp", _ramp, _ramp_derivative, sigmoidal=True),
    )
}


def names() -> list[str]:
    """The registered activation names, in table order."""
    return list(ACTIVATIONS)


def get(name: str) -> Activation:
    """The activation called ``name``; a ValueError lists the allowed names otherwise."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
