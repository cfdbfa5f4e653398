"""The timed training steps do what they claim: one gradient-descent step of the right engine,
in place, in every mode, on every device; and a captured CUDA graph replays the eager step."""
from __future__ import annotations

import pytest
import torch

from approx import autograd
from approx.bench import steps as steps_module
from approx.bench.graphs import capture
from approx.bench.steps import make_step, member_rows
from approx.network import Network

LR = 0.25


def _problem(device: str, dtype=torch.float64, ensemble=None):
    net = Network.random([3, 8, 8, 1], "tanh", seed=1, dtype=dtype, device=device, ensemble=ensemble)
    gen = torch.Generator().manual_seed(2)
    x = (torch.rand(16, 3, generator=gen, dtype=torch.float64) * 2 - 1).to(device, dtype)
    y = torch.sin(x.sum(dim=1, keepdim=True))
    return net, x, y


def _expected(net: Network, x, y, lr: float) -> torch.Tensor:
    """theta - lr * g with g from torch.autograd: the (E, P) matrix one GD step must give."""
    _, grads = autograd.loss_and_grad(net, x, y)
    stacked = net.ensemble is not None
    return member_rows(net.parameters(), stacked) - lr * member_rows(grads, stacked)


@pytest.mark.parametrize("engine, mode, ensemble", [
    ("backprop", "eager", None), ("autograd", "eager", None), ("module", "eager", None),
    ("backprop", "eager", 3), ("autograd", "eager", 3), ("backprop", "loop", 3), ("autograd", "loop", 3),
])
def test_one_step_is_gradient_descent(device, engine, mode, ensemble):
    net, x, y = _problem(device, ensemble=ensemble)
    expected = _expected(net, x, y, LR)
    step = make_step(engine, mode, net.clone(), x, y, LR)
    step.run()
    got = step.read()
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-14)
    # negative control: a step with a gradient 1.01 times too large fails the same comparison
    wrong = member_rows(net.parameters(), ensemble is not None) + 1.01 * (expected - member_rows(net.parameters(), ensemble is not None))
    assert not torch.allclose(wrong, expected, rtol=1e-12, atol=1e-14)


def test_set_lr_write_and_read(device):
    net, x, y = _problem(device)
    step = make_step("backprop", "eager", net.clone(), x, y, LR)
    start = step.read()
    step.run()
    assert not torch.equal(step.read(), start)
    step.write(start)
    assert torch.equal(step.read(), start)
    step.set_lr(2 * LR)
    step.run()
    assert torch.allclose(step.read(), _expected(net, x, y, 2 * LR), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="rows"):
        step.write(torch.cat([start, start]))


def test_forward_is_the_loss_without_gradients():
    net, x, y = _problem("cpu")
    for engine in ("backprop", "autograd", "module"):
        loss = make_step(engine, "eager", net.clone(), x, y, LR).forward()
        assert not loss.requires_grad and loss.grad_fn is None  # nothing recorded
        assert loss.item() == pytest.approx(autograd.loss_and_grad(net, x, y)[0], rel=1e-12)


@pytest.mark.parametrize("engine", ["backprop", "autograd", "module"])
def test_gradient_is_the_step_without_its_update(device, engine):
    # what reverse / forward times: the engine's gradient, with the parameters left as they are
    net, x, y = _problem(device)
    step = make_step(engine, "eager", net.clone(), x, y, LR)
    start = step.read()
    grads = step.gradient()
    assert torch.equal(step.read(), start)
    if engine == "module":  # backward() leaves the gradients in .grad, in the step's tensors' order
        grads = [t.grad for t in step.blocks[0]]
    _, expected = autograd.loss_and_grad(net, x, y)
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-14)
    # negative control: the whole step does move the parameters, by -LR times that gradient
    step.run()
    assert not torch.equal(step.read(), start)
    assert torch.allclose(step.read(), start - LR * member_rows(expected, False), rtol=1e-12, atol=1e-14)


def test_a_gradient_scaled_by_1_01_is_caught(monkeypatch):
    # the comparison above can fail: swap in an engine whose gradient is 1.01 times too large
    net, x, y = _problem("cpu")
    expected = _expected(net, x, y, LR)
    wrong = lambda *a: (lambda loss, grads: (loss, [1.01 * g for g in grads]))(*autograd.loss_and_grad(*a))  # noqa: E731
    monkeypatch.setitem(steps_module._LOSS_AND_GRAD, "backprop", wrong)
    step = make_step("backprop", "eager", net.clone(), x, y, LR)
    step.run()
    assert not torch.allclose(step.read(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("engine, mode, ensemble, match", [
    ("numpy", "eager", None, "unknown engine"), ("backprop", "jit", None, "unknown step mode"),
    ("module", "eager", 2, "module engine trains one network"), ("module", "loop", None, "module engine"),
    ("backprop", "compile", None, "compiles the module engine"), ("autograd", "loop", None, "needs an ensemble"),
    ("module", "compiled-step", None, "compiles backprop's or autograd's step"),
    ("module", "compiled-scan", None, "compiles backprop's or autograd's step"),
])
def test_make_step_rejects_what_it_cannot_do(engine, mode, ensemble, match):
    net, x, y = _problem("cpu", ensemble=ensemble)
    with pytest.raises(ValueError, match=match):
        make_step(engine, mode, net, x, y, LR)


def test_capture_needs_cuda():
    net, x, y = _problem("cpu")
    with pytest.raises(ValueError, match="CUDA"):
        capture(make_step("backprop", "eager", net, x, y, LR), torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_cuda_graph_replay_equals_the_eager_step(engine):
    # float32, one network as an ensemble of one (no host synchronisation in the step); the
    # replayed graph runs the same kernels on the same data, so three steps agree to 1e-6
    device = torch.device("cuda")
    net, x, y = _problem("cuda", dtype=torch.float32, ensemble=1)
    eager = make_step(engine, "eager", net.clone(), x, y, LR)
    graphed_eager = make_step(engine, "eager", net.clone(), x, y, LR)
    start = eager.read()
    graphed, capture_ms = capture(graphed_eager, device)
    assert capture_ms > 0
    graphed.write(start)  # the warm-up before capture moved the parameters; start again
    for _ in range(3):
        eager.run()
        graphed.run()
    torch.cuda.synchronize()
    assert not torch.allclose(eager.read(), start)  # the steps did move
    assert torch.allclose(graphed.read(), eager.read(), rtol=1e-6, atol=1e-6)
    graphed.set_lr(0.0)  # the rate is a tensor the graph reads at replay
    before = graphed.read()
    graphed.run()
    torch.cuda.synchronize()
    assert torch.equal(graphed.read(), before)


def test_the_compiled_step_is_gradient_descent_and_its_rate_can_change():
    """Mode compiled-step (approx.compiled_step, the benchmark's peer cells): the same GD step
    as eager to 1e-12 in float64; set_lr changes the rate (an input of the graph) and write /
    read reset the live parameters, as the benchmark's rel_error check needs."""
    net, x, y = _problem("cpu", ensemble=3)
    step = make_step("backprop", "compiled-step", net.clone(), x, y, LR)
    start = step.read()
    step.run()
    assert torch.allclose(step.read(), _expected(net, x, y, LR), rtol=1e-12, atol=1e-14)
    step.write(start)
    step.set_lr(2 * LR)
    step.run()
    assert torch.allclose(step.read(), _expected(net, x, y, 2 * LR), rtol=1e-12, atol=1e-14)
    assert not torch.allclose(step.read(), _expected(net, x, y, LR), rtol=1e-12, atol=1e-14)  # control


def test_the_compiled_scan_takes_k_gradient_descent_steps_per_run():
    """Mode compiled-scan (approx.compiled_scan): one run() is K GD steps, each as eager to 1e-12
    in float64; a scan of one step is the benchmark's rel_error check. Control: K - 1 steps."""
    net, x, y = _problem("cpu", ensemble=3)
    step = make_step("autograd", "compiled-scan", net.clone(), x, y, LR, steps_per_call=3)
    step.run()
    expected = net.clone()
    for _ in range(3):
        rows = _expected(expected, x, y, LR)
        expected = Network.from_parameters(_unrow(rows, expected), expected.activations, expected.scales)
    assert torch.allclose(step.read(), member_rows(expected.parameters(), True), rtol=1e-12, atol=1e-14)
    one = make_step("autograd", "compiled-scan", net.clone(), x, y, LR, steps_per_call=1)
    one.run()
    assert torch.allclose(one.read(), _expected(net, x, y, LR), rtol=1e-12, atol=1e-14)
    assert not torch.allclose(step.read(), one.read(), rtol=1e-6)  # control: three steps are not one


def _unrow(rows: torch.Tensor, like: Network) -> list[torch.Tensor]:
    """An (E, P) matrix back into [W1, b1, ...] shaped as ``like``'s (stacked) parameters."""
    out, offset = [], 0
    for p in like.parameters():
        size = p[0].numel()
        out.append(rows[:, offset:offset + size].reshape(p.shape))
        offset += size
    return out
