"""K steps per compiled call (approx.compiled_scan) equal K eager steps.

Threshold 1e-12 in float64, as for approx.compiled_step (tests/test_compiled_step.py): the graph
runs the eager step's operations K times, fused, so the two part only by rounding, a few ulps per
step that GD and Adam at these small rates do not amplify over 8 steps. Each comparison has a
negative control. Each test compiles (seconds).
"""
from __future__ import annotations

import pytest
import torch
import torch._dynamo.utils

from approx import autograd, backprop, compiled_step, optim
from approx.compiled_scan import CompiledScan
from approx.member_groups import CACHE_BYTES, default_members_per_call
from approx.network import Network
from compile_support import with_a_graph_break

TOL = 1e-12
K = 4
ENGINES = {"backprop": backprop.loss_and_grad, "autograd": autograd.loss_and_grad}


def _problem(ensemble=3):
    net = Network.random([1, 6, 6, 1], "tanh", seed=4, ensemble=ensemble, init="ntk")  # scales s != 1
    # not symmetric about 0: with zero biases, an odd net and an odd target, a bias's gradient is 0
    # by symmetry and rounding noise of 1e-19 there, which Adam, normalising it, turns into steps
    # that differ between any two summation orders
    x = torch.linspace(-0.8, 1.2, 24, dtype=torch.float64)[:, None]  # (24, 1)
    return net, x, torch.sin(3 * x)


def _eager(net, x, y, opt, lr, engine, steps, factors=None):
    """(losses (steps, E), parameters) of ``steps`` eager steps: the trajectory the scan must follow."""
    params = [p.clone() for p in net.parameters()]
    state = opt.init(params)
    rate = torch.full((net.ensemble or 1,), lr, dtype=torch.float64)
    losses = []
    for i in range(steps):
        value, grads = ENGINES[engine](Network.from_parameters(params, net.activations, net.scales), x, y, "mse")
        losses.append(torch.as_tensor(value, dtype=torch.float64).reshape(-1))
        params = opt.step(params, grads, rate * (1.0 if factors is None else factors[i]), state)
    return torch.stack(losses), params


def _gap(a, b) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a, b))


@pytest.mark.parametrize("engine, name", [("backprop", "gd"), ("autograd", "adam")])
def test_two_calls_of_k_steps_equal_2k_eager_steps(engine, name):
    # two calls: the second starts where the first ended, Adam's bias corrections at t = K + 1..2K
    net, x, y = _problem()
    opt = optim.make(name)
    scan = CompiledScan(net, opt, 0.05, engine, "mse", K)
    state = opt.init(net.parameters())
    first, params = scan(net.parameters(), state, x, y)
    second, params = scan(params, state, x, y)
    assert first.shape == (K, 3) and scan.compile_s > 0
    losses, expected = _eager(net, x, y, opt, 0.05, engine, 2 * K)
    assert (torch.cat([first, second]) - losses).abs().max().item() < TOL
    assert _gap(params, expected) < TOL
    assert state.get("t", 2 * K) == 2 * K
    # controls: 2K - 1 eager steps, and a rate one part in 10^6 off, are far from the scan
    assert _gap(params, _eager(net, x, y, opt, 0.05, engine, 2 * K - 1)[1]) > 1e3 * TOL
    assert _gap(params, _eager(net, x, y, opt, 0.05 * (1 + 1e-6), engine, 2 * K)[1]) > 1e3 * TOL


def test_a_single_network_a_schedule_and_the_cache():
    net, x, y = _problem(ensemble=None)
    opt = optim.make("sgd", momentum=0.9)
    factors = [1.0, 0.5, 0.25, 0.0]  # the last step must not move anything
    scan = CompiledScan(net, opt, 0.1, "backprop", "mse", K)
    state = opt.init(net.parameters())
    losses, params = scan(net.parameters(), state, x, y, factors)
    assert losses.shape == (K, 1) and [p.shape for p in params] == [p.shape for p in net.parameters()]
    eager_losses, expected = _eager(net, x, y, opt, 0.1, "backprop", K, factors)
    assert (losses - eager_losses).abs().max().item() < TOL and _gap(params, expected) < TOL
    # control: without the schedule the trajectory is another
    assert _gap(params, _eager(net, x, y, opt, 0.1, "backprop", K)[1]) > 1e3 * TOL
    # the same key again compiles nothing; another K is another key
    count = compiled_step.compiled_count()
    again = CompiledScan(net, opt, 0.1, "backprop", "mse", K)
    again(net.parameters(), opt.init(net.parameters()), x, y, factors)
    assert again.compile_s == 0.0 and compiled_step.compiled_count() == count


def test_members_in_groups_follow_the_same_trajectory_and_the_default_group_fits_the_cache():
    # groups of 2 of E = 3 (a group of 2 and one of 1, each its own graph): every member as eager
    net, x, y = _problem()
    opt = optim.make("gd")
    scan = CompiledScan(net, opt, 0.05, "backprop", "mse", K, members_per_call=2)
    losses, params = scan(net.parameters(), {}, x, y)
    expected_losses, expected = _eager(net, x, y, opt, 0.05, "backprop", K)
    assert (losses - expected_losses).abs().max().item() < TOL and _gap(params, expected) < TOL
    assert _gap(params, _eager(net, x, y, opt, 0.05, "backprop", K - 1)[1]) > 1e3 * TOL  # control
    # groups of one shape share one graph: 4 members in groups of 2 reuse the graph the first group
    # of 2 above compiled, and the second group's view (another storage offset) compiles nothing
    four = Network.stack([*net.unstack(), net.unstack()[0]])
    torch._dynamo.utils.counters.clear()
    count = compiled_step.compiled_count()
    CompiledScan(four, opt, 0.05, "backprop", "mse", K, members_per_call=2)(four.parameters(), {}, x, y)
    assert compiled_step.compiled_count() == count
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 0
    # control: a group size not seen before is a new graph, and dynamo counts it
    CompiledScan(four, opt, 0.05, "backprop", "mse", K, members_per_call=4)(four.parameters(), {}, x, y)
    assert compiled_step.compiled_count() == count + 1
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
    # the default: all members while their activations fit CACHE_BYTES, else a power of two that does
    wide = Network.random([1, 64, 64, 1], "tanh", ensemble=1024, dtype=torch.float32)
    assert default_members_per_call(wide, 64) == 64  # 64 members x 64 points x 64 units x 4 bytes = 1 MiB
    assert 64 * 64 * 64 * 4 == CACHE_BYTES
    assert default_members_per_call(wide.to(dtype=torch.float64), 64) == 32
    assert default_members_per_call(wide, 4) == 1024  # all fit: one group
    assert default_members_per_call(Network.random([1, 64, 1], "tanh"), 10**6) == 1  # a single network
    assert default_members_per_call(Network.random([1, 8, 1], "tanh", ensemble=3), 24) == 3


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_bad_members_per_call_is_refused(bad):
    net, _, _ = _problem()
    with pytest.raises(ValueError, match=f"members_per_call must be an integer >= 1 or None, got {bad!r}"):
        CompiledScan(net, optim.make("gd"), 0.1, "backprop", "mse", K, members_per_call=bad)


def test_the_scans_share_the_caches_limit_and_forget_the_oldest(monkeypatch):
    monkeypatch.setattr(compiled_step, "MAX_COMPILED", 2)
    compiled_step.clear_cache()
    net, x, y = _problem()
    opt = optim.make("gd")
    for k in (1, 2, 3):  # three keys: the steps per call differ
        assert CompiledScan(net, opt, 0.05, "backprop", "mse", k)(net.parameters(), {}, x, y)[0].shape == (k, 3)
    assert compiled_step.compiled_count() == 2  # K = 1, the oldest, made room for K = 3
    newest, oldest = (CompiledScan(net, opt, 0.05, "backprop", "mse", k) for k in (3, 1))
    newest(net.parameters(), {}, x, y)
    oldest(net.parameters(), {}, x, y)
    assert newest.compile_s == 0.0 and oldest.compile_s > 0  # the control: forgotten, compiled again


def test_a_graph_break_in_the_scan_is_an_error_not_a_partial_compile(monkeypatch):
    from approx import train

    real = train.engine_function

    net, x, y = _problem()
    compiled_step.clear_cache()
    monkeypatch.setattr(train, "engine_function", with_a_graph_break(real))
    with pytest.raises(torch._dynamo.exc.Unsupported):
        CompiledScan(net, optim.make("gd"), 0.05, "backprop", "mse", 2)(net.parameters(), {}, x, y)
    monkeypatch.setattr(train, "engine_function", real)  # the control: without the break it compiles
    compiled_step.clear_cache()
    scan = CompiledScan(net, optim.make("gd"), 0.05, "backprop", "mse", 2)
    scan(net.parameters(), {}, x, y)
    assert scan.compile_s > 0


def test_one_step_per_call_is_one_eager_step():
    net, x, y = _problem()
    opt = optim.make("gd")
    losses, params = CompiledScan(net, opt, 0.05, "backprop", "mse", 1)(net.parameters(), {}, x, y)
    eager_losses, expected = _eager(net, x, y, opt, 0.05, "backprop", 1)
    assert losses.shape == (1, 3) and (losses - eager_losses).abs().max().item() < TOL
    assert _gap(params, expected) < TOL
    _, two = _eager(net, x, y, opt, 0.05, "backprop", 2)  # the control: a second step is far away
    assert _gap(params, two) > 1e3 * TOL


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_bad_steps_per_call_is_refused(bad):
    net, _, _ = _problem()
    with pytest.raises(ValueError, match=f"steps_per_call must be an integer >= 1, got {bad!r}"):
        CompiledScan(net, optim.make("gd"), 0.1, "backprop", "mse", bad)


def test_factors_must_be_one_per_step():
    net, x, y = _problem()
    scan = CompiledScan(net, optim.make("gd"), 0.1, "backprop", "mse", K)
    with pytest.raises(ValueError, match=r"factors must hold one value per step \(4\), got 3"):
        scan(net.parameters(), {}, x, y, [1.0, 1.0, 1.0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_on_cuda_the_scan_replays_as_a_cuda_graph_and_equals_eager():
    # mode="reduce-overhead" on CUDA: each replay overwrites the last one's outputs, which the
    # scan clones, so two calls in a row must still chain correctly
    net, x, y = _problem()
    opt = optim.make("adam")
    cuda = net.to(device="cuda")
    scan = CompiledScan(cuda, opt, 0.05, "autograd", "mse", K)
    state = opt.init(cuda.parameters())
    first, params = scan(cuda.parameters(), state, x.cuda(), y.cuda())
    second, params = scan(params, state, x.cuda(), y.cuda())
    losses, expected = _eager(net, x, y, opt, 0.05, "autograd", 2 * K)
    assert (torch.cat([first, second]).cpu() - losses).abs().max().item() < TOL
    assert _gap([p.cpu() for p in params], expected) < TOL
