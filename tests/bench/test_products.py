"""approx.bench.products: the products it times are the very products of an engine's step (the
same calls on the same shapes), so its time is a floor under that step; and the descent it times
is the step's update, the same call on tensors of the same shapes and dtype."""
from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.overrides import TorchFunctionMode

from approx.bench.products import descent_call, products_call
from approx.bench.steps import make_step
from approx.network import Network


class _Updates(TorchFunctionMode):
    """Records (function name, the shapes and dtypes of the tensors updated) of every in-place
    foreach update called inside it."""

    def __init__(self):
        super().__init__()
        self.seen: list = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name.startswith("_foreach_") and name.endswith("_"):
            self.seen.append((name, [(tuple(t.shape), t.dtype) for t in args[0]]))
        return func(*args, **(kwargs or {}))


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


@pytest.mark.parametrize("sizes", [[1, 8, 8, 1], [3, 16, 4]])
@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_timed_descent_is_the_steps_update(sizes, engine, dtype):
    net = Network.random(sizes, "relu", seed=0).to(dtype=dtype)
    x = torch.rand(12, sizes[0], dtype=dtype)
    step = make_step(engine, "eager", net, x, torch.sin(x.sum(1, keepdim=True)), 1e-3)
    with _Updates() as in_step:
        step.run()
    with _Updates() as alone:
        descent_call(sizes, dtype, torch.device("cpu"))()
    assert alone.seen == in_step.seen and len(alone.seen) == 1  # one foreach call over every W_l, b_l
    with _Updates() as fewer:  # control: one layer fewer updates other tensors
        descent_call(sizes[:-1], dtype, torch.device("cpu"))()
    assert fewer.seen != in_step.seen


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match=r"need >= 2 positive sizes and batch >= 1; got \[4\], 8"):
        products_call([4], 8, torch.float32, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"need >= 2 positive sizes; got \[4\]"):
        descent_call([4], torch.float32, torch.device("cpu"))
