"""Exceptional values in the hand-written engine: scalar (float) and tensor nodes follow IEEE 754
as torch does, forward and backward, and never raise (the rule in approx/backprop/node.py)."""
from __future__ import annotations

import math

import pytest
import torch

from approx.backprop import Node
from approx.backprop import scalar

INF, NAN = math.inf, math.nan

# (name, f, inputs): f takes Nodes or torch tensors alike
CASES = [
    ("1/x at 0", lambda x: 1 / x, [0.0]),
    ("1/x at -0", lambda x: 1 / x, [-0.0]),
    ("x/y at 0/0", lambda x, y: x / y, [0.0, 0.0]),
    ("x/y at 3/0", lambda x, y: x / y, [3.0, 0.0]),
    ("exp overflow", lambda x: x.exp(), [1000.0]),
    ("exp underflow", lambda x: x.exp(), [-1000.0]),
    ("log at 0", lambda x: x.log(), [0.0]),
    ("log below 0", lambda x: x.log(), [-1.0]),
    ("log at inf", lambda x: x.log(), [INF]),
    ("x^-1 at 0", lambda x: x ** -1, [0.0]),
    ("x^2 overflow", lambda x: x ** 2, [1e200]),
    ("x^(1/3) below 0", lambda x: x ** (1 / 3), [-8.0]),
    ("2^x overflow", lambda x: 2 ** x, [2000.0]),
    ("x*x overflow", lambda x: x * x, [1e200]),
    ("x^y at 0^-1", lambda x, y: x ** y, [0.0, -1.0]),
    ("x^y at 0^2", lambda x, y: x ** y, [0.0, 2.0]),
    ("x^y at -8^(1/3)", lambda x, y: x ** y, [-8.0, 1 / 3]),
    ("x^y overflow", lambda x, y: x ** y, [10.0, 400.0]),
    ("nan in, nan out", lambda x: (x * 2).exp() + 1, [NAN]),
    ("inf - inf", lambda x: x.exp() - x.exp(), [1000.0]),
]


def _torch(f, inputs):
    """Value and gradients by PyTorch itself, in float64: the reference."""
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
    out = f(*leaves)
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    return out.detach(), [torch.zeros((), dtype=torch.float64) if g is None else g for g in grads]


def _ours(f, inputs, kind):
    leaves = [Node(float(v) if kind == "scalar" else torch.tensor(v, dtype=torch.float64))
              for v in inputs]
    out = f(*leaves)
    out.backward()
    as_tensor = lambda v: torch.as_tensor(v, dtype=torch.float64)  # noqa: E731
    return as_tensor(out.value), [as_tensor(0.0 if n.grad is None else n.grad) for n in leaves]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to rounding, with inf equal only to an inf of its sign and nan only to nan."""
    try:
        torch.testing.assert_close(a, b, rtol=1e-13, atol=0, equal_nan=True)
        return True
    except AssertionError:
        return False


@pytest.mark.parametrize("kind", ["scalar", "tensor"])
@pytest.mark.parametrize("name, f, inputs", CASES, ids=[c[0] for c in CASES])
def test_exceptional_values_match_torch_forward_and_backward(name, f, inputs, kind):
    value, grads = _ours(f, inputs, kind)
    ref_value, ref_grads = _torch(f, inputs)
    assert _same(value, ref_value), f"{name}: value {value} against torch's {ref_value}"
    for g, r in zip(grads, ref_grads):
        assert _same(g, r), f"{name}: gradient {g} against torch's {r}"


def test_the_comparison_tells_inf_nan_and_signs_apart():
    # negative control of _same: each pair differs in the way an engine bug would make it differ
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    assert _same(t(INF), t(INF)) and _same(t(NAN), t(NAN)) and _same(t(1.0), t(1.0 + 1e-15))
    for a, b in ((INF, -INF), (INF, NAN), (NAN, 0.0), (INF, 1e308), (1.0, 1.0 + 1e-10)):
        assert not _same(t(a), t(b))


def test_python_floats_alone_would_raise_where_the_helpers_do_not():
    # why the helpers exist: these raise (or go complex) with plain Python floats
    with pytest.raises(ZeroDivisionError):
        1.0 / 0.0  # noqa: B018
    with pytest.raises(OverflowError):
        math.exp(1000.0)
    with pytest.raises(OverflowError):
        1e200 ** 2  # noqa: B018
    assert isinstance((-8.0) ** (1 / 3), complex)
    assert scalar.divide(1.0, 0.0) == INF and scalar.divide(-1.0, 0.0) == -INF
    assert math.isnan(scalar.divide(0.0, 0.0)) and scalar.divide(1.0, -0.0) == -INF
    assert scalar.exp(1000.0) == INF and scalar.power(1e200, 2) == INF
    assert math.isnan(scalar.power(-8.0, 1 / 3)) and scalar.power(0.0, -1.0) == INF
    assert scalar.log(0.0) == -INF and math.isnan(scalar.log(-1.0))
    # ordinary values take the plain float path, bit for bit
    assert scalar.divide(1.0, 3.0) == 1.0 / 3.0 and scalar.power(1.1, 2.5) == 1.1 ** 2.5
    assert scalar.exp(0.3) == math.exp(0.3) and scalar.log(0.3) == math.log(0.3)


def test_the_ieee_fallback_keeps_float64_operands():
    """Where Python raises, divide and power give torch's float64 result for the very operands given:
    values that float32 would round (to 0, or below the overflow threshold) keep their meaning."""
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    # a tiny numerator is not zero: 1e-50 / 0 = inf (float32 would make it 0 / 0 = nan)
    assert scalar.divide(1e-50, 0.0) == INF and scalar.divide(-1e-50, 0.0) == -INF
    # a tiny negative exponent of 0 is not -0: 0^(-1e-50) = inf (0^(-0) would be 1)
    assert scalar.power(0.0, -1e-50) == INF
    # just above the overflow threshold: Python raises, and float64 says inf (the float32 base,
    # rounded down, would give a finite 1.79e308)
    base = math.exp(math.log(torch.finfo(torch.float64).max) / 1000.0)
    with pytest.raises(OverflowError):
        math.pow(base, 1000.0)
    assert scalar.power(base, 1000.0) == torch.pow(t(base), t(1000.0)).item() == INF
    # negative control: the float32 operands give other results
    assert torch.pow(torch.tensor(base), t(1000.0)).item() < INF
    assert math.isnan(torch.div(torch.tensor(1e-50), t(0.0)).item())
    assert torch.pow(t(0.0), torch.tensor(-1e-50)).item() == 1.0
