"""approx.bench.products: the products it times are the very products of an engine's step (the
same calls on the same shapes), so its time is a floor under that step."""
from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.overrides import TorchFunctionMode

from approx.bench.products import products_call
from approx.bench.steps import make_step
from approx.network import Network


class _Products(TorchFunctionMode):
    """Records (function name, operand shapes) of every mm / addmm called inside it."""

    def __init__(self):
        super().__init__()
        self.seen: Counter = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("mm", "addmm"):
            operands = args[1:3] if name == "addmm" else args[:2]
            self.seen[(name, *(tuple(a.shape) for a in operands))] += 1
        return func(*args, **(kwargs or {}))


def _trace(fn) -> Counter:
    with _Products() as mode:
        fn()
    return mode.seen


@pytest.mark.parametrize("sizes", [[1, 8, 8, 1], [3, 16, 4], [2, 5, 6, 7, 1]])
@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_the_timed_products_are_the_engines_products(sizes, engine):
    net = Network.random(sizes, "relu", seed=0)
    x = torch.rand(12, sizes[0], dtype=torch.float64)
    step = make_step(engine, "eager", net, x, torch.sin(x.sum(1, keepdim=True)), 1e-3)
    floor = _trace(products_call(sizes, 12, torch.float64, torch.device("cpu")))
    if engine == "backprop":  # our calls, traced
        assert floor == _trace(step.run)
    else:  # autograd's backward runs in C++, out of the mode's sight: its forward products only
        assert {k: v for k, v in floor.items() if k[0] == "addmm"} == _trace(step.run)
    # control: one layer fewer is another set of products
    assert floor != _trace(products_call(sizes[:-1], 12, torch.float64, torch.device("cpu")))
    assert sum(floor.values()) == 3 * (len(sizes) - 1) - 1  # addmm per layer, mm dW per layer, mm dh but layer 1


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match=r"need >= 2 positive sizes and batch >= 1; got \[4\], 8"):
        products_call([4], 8, torch.float32, torch.device("cpu"))
