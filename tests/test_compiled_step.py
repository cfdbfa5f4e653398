"""Compiled first-order steps (approx.compiled_step): the eager trajectory, compiled.

The threshold 1e-12 (float64, parameters and logged losses): the compiled step runs the same
operations as the eager one, fused, so the two part only by rounding (inductor's kernels may sum
in another order, or use a fused multiply-add), a few ulps per step that GD and Adam in their
stable regime do not amplify over 20 steps; measured: ~1e-15. Every comparison has a negative
control: the same fit with the rate changed by one part in 10^6 lands far above 1e-12.

Each test compiles (seconds each): the networks are tiny and the fits short.
"""
from __future__ import annotations

import time

import pandas as pd
import pytest
import torch
import torch._dynamo.utils

from approx import compiled_step
from approx.compiled_step import should_compile
from approx.fit_options import FitOptions
from approx.network import Network
from approx.train import fit
from compile_support import with_a_graph_break

TOL = 1e-12  # float64; see the module docstring


def _data(n=16, dtype=torch.float64, device="cpu"):
    x = torch.linspace(-1, 1, n, dtype=dtype, device=device)[:, None]  # (n, 1)
    return x, torch.sin(3 * x)


def _gap(a: Network, b: Network) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def _both(net, data, **kw):
    """(eager, compiled) fits of the same network: each (trained net, history)."""
    return fit(net, data, compile="off", **kw), fit(net, data, compile="on", **kw)


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
@pytest.mark.parametrize("ensemble", [None, 3])
def test_compiled_fit_equals_the_eager_fit(engine, optimizer, ensemble):
    net = Network.random([1, 5, 5, 1], "tanh", seed=1, ensemble=ensemble)
    lr = 0.05 if optimizer == "gd" else 0.01
    kw = dict(engine=engine, optimizer=optimizer, lr=lr, steps=20, log_every=1)
    (eager, h_eager), (compiled, h_compiled) = _both(net, _data(), **kw)
    assert h_compiled.attrs["compiled"] and not h_eager.attrs["compiled"]
    assert h_eager.attrs["compile_s"] == 0.0
    assert h_eager.loss.iloc[-1] < h_eager.loss.iloc[0]  # it trained
    assert _gap(eager, compiled) < TOL
    assert (h_eager.loss - h_compiled.loss).abs().max() < TOL
    # negative control: a rate off by one part in 10^6 moves the parameters far more than TOL
    moved, _ = fit(net, _data(), compile="on", **{**kw, "lr": lr * (1 + 1e-6)})
    assert _gap(eager, moved) > 1e3 * TOL


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_a_compiled_float32_fit_stays_within_float32_rounding_of_the_float64_fit(engine):
    """Compiled float32 steps use the rational tanh, and under autograd its gradient rule
    (1 - y)(1 + y) (approx.activations._CompiledTanh, traced inside the compiled graph).
    Bound: 8 float32 eps on every parameter after 20 GD steps: rounding the start to float32
    moves parameters of size <= 2.5 by <= 1.25 eps, and each stable step adds a few ulps of its
    update (measured: 1.2 eps). Control: a rate off by 1e-4 lands far outside."""
    net = Network.random([1, 5, 5, 1], "tanh", seed=1, ensemble=3)
    x, y = _data()
    kw = dict(engine=engine, lr=0.05, steps=20)
    reference, _ = fit(net, (x, y), compile="off", **kw)
    net32, data32 = net.to(dtype=torch.float32), (x.float(), y.float())
    compiled, history = fit(net32, data32, compile="on", **kw)
    assert history.attrs["compiled"] and compiled.dtype == torch.float32
    eps = torch.finfo(torch.float32).eps
    assert _gap(compiled.to(dtype=torch.float64), reference) <= 8 * eps
    moved, _ = fit(net32, data32, compile="on", **{**kw, "lr": 0.05 * (1 + 1e-4)})
    assert _gap(moved.to(dtype=torch.float64), reference) > 100 * eps


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_a_compiled_fit_of_the_logistic_loss_equals_the_eager_fit(engine):
    # the step passes its loss on to the engine (mse is the engines' default: not a test of it)
    net = Network.random([1, 5, 1], "tanh", seed=8, ensemble=2)
    x = torch.linspace(-1, 1, 16, dtype=torch.float64)[:, None]
    labels = (torch.sin(3 * x) > 0).to(torch.float64)  # in {0, 1}
    kw = dict(engine=engine, loss="logistic", lr=0.1, steps=10, log_every=1)
    (eager, h_eager), (compiled, h_compiled) = _both(net, (x, labels), **kw)
    assert h_compiled.attrs["compiled"] and _gap(eager, compiled) < TOL
    assert (h_eager.loss - h_compiled.loss).abs().max() < TOL
    # the control: the same fit on the squared error is far away
    (mse, _), _ = _both(net, (x, labels), **{**kw, "loss": "mse"})
    assert _gap(eager, mse) > 1e3 * TOL


def test_compile_seconds_add_up_over_the_groups_of_a_step_and_the_process():
    # members in groups of 2 and 1: two shapes, two compiles in one step's first call; the step's
    # compile_s is their sum, and so is the process's count, and both are within the call's time
    from approx import optim

    net = Network.random([1, 9, 1], "tanh", seed=9, ensemble=3)  # a width no other test compiles
    compiled_step.clear_cache()
    step = compiled_step.CompiledStep(net, optim.make("gd"), 0.1, "backprop", "mse", members_per_call=2)
    before, start = compiled_step.compile_seconds(), time.perf_counter()
    step(net.parameters(), {}, *_data(), 1.0)
    wall = time.perf_counter() - start
    assert compiled_step.compiled_count() == 2
    assert step.compile_s == pytest.approx(compiled_step.compile_seconds() - before, rel=1e-12)
    assert 0 < step.compile_s <= wall
    # the control: a second step of the same shapes finds both compiled, and adds nothing
    again, before = compiled_step.CompiledStep(net, optim.make("gd"), 0.1, "backprop", "mse",
                                               members_per_call=2), compiled_step.compile_seconds()
    again(net.parameters(), {}, *_data(), 1.0)
    assert again.compile_s == 0.0 and compiled_step.compile_seconds() == before


def test_a_cached_step_costs_no_compile_and_the_history_says_so():
    net = Network.random([1, 3, 1], "tanh", seed=0)
    kw = dict(lr=0.1, steps=5, compile="on")
    _, first = fit(net, _data(), **kw)
    _, second = fit(net, _data(), **{**kw, "lr": 0.2})  # another rate: the same graph
    compiled_step.clear_cache()
    _, third = fit(net, _data(), **kw)
    assert second.attrs == {"compiled": True, "compile_s": 0.0}
    # negative control: with the cache cleared the same fit compiles (and takes time) again
    assert third.attrs["compiled"] and third.attrs["compile_s"] > 0.0


def test_mini_batches_schedules_and_a_diverging_member_follow_the_eager_path():
    # per-member rates, one of them far too large: that member diverges, is rolled back and
    # frozen while the others train on (approx.train's docstring); mini-batches and a cosine
    # schedule; the compiled step must take every member where the eager step takes it.
    net = Network.random([1, 4, 1], "tanh", seed=2, ensemble=3)
    kw = dict(optimizer="adam", lr=[0.01, 0.02, 1e6], steps=20, batch_size=8, schedule="cosine",
              weight_decay=1e-3, seed=5, log_every=1, divergence_factor=10.0)
    (eager, h_eager), (compiled, h_compiled) = _both(net, _data(), **kw)
    assert set(h_eager.status) >= {"diverged", "completed"}
    assert list(h_eager.status) == list(h_compiled.status)
    assert _gap(eager, compiled) < TOL
    # negative control: the same fit with the rates off by one part in 10^6
    moved, _ = fit(net, _data(), compile="on", **{**kw, "lr": [0.01 * (1 + 1e-6), 0.02, 1e6]})
    assert _gap(eager, moved) > 1e3 * TOL


def test_per_member_data_in_mini_batches_follow_the_eager_path():
    # each member its own data set, (E, n, d): the compiled step gathers every member's batch
    # from its own rows, as the eager step does
    net = Network.random([1, 4, 1], "tanh", seed=3, ensemble=2)
    x, y = _data()
    data = (torch.stack([x, 0.5 * x]), torch.stack([y, torch.cos(3 * x)]))  # (2, 16, 1)
    kw = dict(optimizer="gd", lr=0.1, steps=10, batch_size=4, seed=1, log_every=1)
    (eager, h_eager), (compiled, h_compiled) = _both(net, data, **kw)
    assert h_compiled.attrs["compiled"]
    assert _gap(eager, compiled) < TOL
    assert (h_eager.loss - h_compiled.loss).abs().max() < TOL
    # negative control: another mini-batch stream (seed) ends elsewhere
    moved, _ = fit(net, data, compile="on", **{**kw, "seed": 2})
    assert _gap(eager, moved) > 1e3 * TOL


@pytest.mark.parametrize("ensemble", [None, 2])
def test_a_compiled_forward_of_a_scaled_one_input_layer_equals_the_eager_one(ensemble):
    # a compiled graph computes a one-input layer as a broadcast product (approx.network.affine),
    # its scale included; a Network's forward may be compiled by a user, single or ensemble.
    # Same operations up to fusion: within TOL. Negative control: the unscaled layer differs.
    from approx.network import Layer
    base = Network.random([1, 4, 1], "tanh", seed=5, ensemble=ensemble)
    first, last = base.layers
    net = Network([Layer(first.weight, first.bias, "tanh", 0.5), last])
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    compiled = torch.compile(lambda t: net(t), fullgraph=True, dynamic=False)(x)
    assert (compiled - net(x)).abs().max() < TOL
    assert (compiled - base(x)).abs().max() > 1e3 * TOL


def test_a_sweep_over_ten_widths_compiles_every_width_and_never_falls_back_to_eager():
    # dynamo keeps one cache per code object and, past recompile_limit (8) shapes, runs eager
    # without a word; each compiled key has a code object of its own, so 10 widths are 10
    # compiled graphs, each used, and the results are the eager ones.
    widths = range(2, 12)
    compiled_step.clear_cache()
    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for w in widths:
        net = Network.random([1, w, 1], "tanh", seed=w)
        (eager, _), (compiled, history) = _both(net, _data(), lr=0.1, steps=3)
        assert history.attrs["compiled"] and history.attrs["compile_s"] > 0
        assert _gap(eager, compiled) < TOL
    assert compiled_step.compiled_count() == len(widths)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs_before == len(widths)


def test_negative_control_one_shared_code_object_stops_compiling_after_the_recompile_limit():
    # What the test above guards against: one function compiled over 10 shapes gets only
    # recompile_limit graphs; the other shapes silently run eager.
    def square(t):
        return t * t + 1

    compiled = torch.compile(square, dynamic=False)
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for n in range(1, 11):
        assert torch.equal(compiled(torch.ones(n)), torch.full((n,), 2.0))
    made = torch._dynamo.utils.counters["stats"]["unique_graphs"] - before
    assert made == torch._dynamo.config.recompile_limit < 10


def test_the_cache_forgets_its_oldest_key_past_max_compiled(monkeypatch):
    monkeypatch.setattr(compiled_step, "MAX_COMPILED", 2)
    compiled_step.clear_cache()
    fits = {w: fit(Network.random([1, w, 1], "tanh", seed=w), _data(), lr=0.1, steps=2, compile="on")[1]
            for w in (2, 3, 4)}
    assert all(h.attrs["compile_s"] > 0 for h in fits.values())
    assert compiled_step.compiled_count() == 2  # width 2, the oldest, made room for width 4
    again = {w: fit(Network.random([1, w, 1], "tanh", seed=w), _data(), lr=0.1, steps=2, compile="on")[1]
             for w in (4, 2)}
    assert again[4].attrs["compile_s"] == 0.0  # kept: the newest
    assert again[2].attrs["compile_s"] > 0  # forgotten, so compiled again
    assert compiled_step.compiled_count() == 2


def test_a_graph_break_in_the_step_is_an_error_not_a_partial_compile(monkeypatch):
    # fullgraph=True: were the step split into graphs around a break, it would run slower and
    # silently; a loss_and_grad that breaks the graph must stop the fit
    from approx import train

    real = train.engine_function

    net = Network.random([1, 7, 1], "tanh", seed=7)  # a width no other test compiles
    compiled_step.clear_cache()
    monkeypatch.setattr(train, "engine_function", with_a_graph_break(real))
    with pytest.raises(torch._dynamo.exc.Unsupported):
        fit(net, _data(), lr=0.1, steps=2, compile="on")
    # the control: the same fit without the break compiles
    monkeypatch.setattr(train, "engine_function", real)
    compiled_step.clear_cache()
    assert fit(net, _data(), lr=0.1, steps=2, compile="on")[1].attrs["compiled"]


def test_a_fit_under_no_grad_gets_a_step_of_its_own():
    # dynamo guards on grad mode; the key holds it, so a fit under no_grad compiles its own step
    # (with the settings that trace torch.autograd.grad) rather than recompiling the cached one
    net = Network.random([1, 3, 1], "tanh", seed=4)
    kw = dict(engine="autograd", lr=0.1, steps=3, compile="on")
    eager, _ = fit(net, _data(), **{**kw, "compile": "off"})
    fit(net, _data(), **kw)
    count = compiled_step.compiled_count()
    with torch.no_grad():
        compiled, history = fit(net, _data(), **kw)
    assert history.attrs["compiled"] and compiled_step.compiled_count() == count + 1
    assert _gap(eager, compiled) < TOL


def test_a_study_point_records_the_seconds_it_spent_compiling():
    @compiled_step.records_compile_time
    def run_point(choice: str) -> pd.DataFrame:
        _, history = fit(Network.random([1, 2, 1], "tanh", seed=3), _data(), steps=2, compile=choice)
        return pd.DataFrame({"compiled": [history.attrs["compiled"]]})

    compiled_step.clear_cache()
    assert run_point("on").attrs["compile_s"] > 0
    # negative control: an eager point spent nothing compiling
    assert run_point("off").attrs["compile_s"] == 0.0


# ---------------------------------------------------------------------- "auto" and the option
def test_auto_compiles_only_where_the_planned_steps_repay_the_compile():
    # the model: steps * (SAVING_FIXED_S[engine] + SAVING_PER_MAC_S[engine] * E * P * n) > COMPILE_S
    p = 321  # [1, 16, 16, 1]
    for engine in ("backprop", "autograd"):
        # the test suite's fits (hundreds to a few thousand steps, small E) stay eager
        assert not should_compile("auto", "gd", engine, p, None, 64, 1000)
        assert not should_compile("auto", "adam", engine, p, 64, 64, 1000)
        # long fits of large ensembles compile
        assert should_compile("auto", "gd", engine, p, 1024, 64, 5000)
        # "on" and "off" are taken at their word; second-order optimizers are never compiled
        assert should_compile("on", "gd", engine, p, None, 64, 1)
        assert not should_compile("off", "gd", engine, p, 1024, 64, 10**9)
        assert not should_compile("auto", "lbfgs", engine, p, 1024, 64, 10**9)
    # a single network: autograd's step gains from compiling, the hand-written one's does not
    assert should_compile("auto", "adam", "autograd", p, None, 64, 1_000_000)
    assert not should_compile("auto", "adam", "backprop", p, None, 64, 10**9)


def test_auto_compiles_only_past_the_models_threshold_a_single_network_counting_one(monkeypatch):
    # constants that are binary fractions, so steps * saving lands on COMPILE_S exactly:
    # saving = 2^-10 + 2^-20 * E * P * n s per step; with E P n = 1024 it is 2^-9, and 10 s
    # takes 5120 steps to repay, where it is a tie: "auto" compiles only when it pays strictly
    monkeypatch.setattr(compiled_step, "COMPILE_S", 10.0)
    monkeypatch.setattr(compiled_step, "SAVING_FIXED_S", {"autograd": 2.0**-10})
    monkeypatch.setattr(compiled_step, "SAVING_PER_MAC_S", {"autograd": 2.0**-20})
    for optimizer in ("gd", "sgd", "adam"):
        for ensemble in (None, 1):  # a single network is one member
            assert not should_compile("auto", optimizer, "autograd", 32, ensemble, 32, 5120)
            assert should_compile("auto", optimizer, "autograd", 32, ensemble, 32, 5121)
        # the control: two members save more per step (2^-10 + 2^-9), and repay 10 s sooner
        assert should_compile("auto", optimizer, "autograd", 32, 2, 32, 4000)
        assert not should_compile("auto", optimizer, "autograd", 32, 1, 32, 4000)
    for optimizer in ("gd", "sgd", "adam"):  # "on" compiles every first-order optimizer
        assert should_compile("on", optimizer, "backprop", 32, None, 32, 1)
    assert not should_compile("on", "lm", "backprop", 32, None, 32, 1)


def test_a_cpu_step_is_not_replayed_as_a_cuda_graph():
    from approx import optim

    step = compiled_step.CompiledStep(Network.random([1, 3, 1], "tanh", seed=0), optim.make("gd"), 0.1,
                                      "backprop", "mse")
    assert step.graphs is False  # on CUDA: True (the gpu test below replays it)


def test_the_first_call_takes_parameters_of_any_strides_and_compiles_once():
    # a weight (3, 1) made as the transpose of a (1, 3) tensor has strides (1, 3); the step
    # copies the first call's inputs into canonical strides, the ones it returns, so the calls
    # that follow (on its outputs) match the first one's graph and nothing compiles again
    from approx import optim
    from approx.backprop import loss_and_grad

    net = Network.random([1, 3, 1], "tanh", seed=6)
    odd = [torch.empty(1, 3, dtype=torch.float64).t() if p.shape == (3, 1) else torch.empty_like(p)
           for p in net.parameters()]
    assert odd[0].stride() == (1, 3)
    for target, p in zip(odd, net.parameters()):
        target.copy_(p)
    x, y = _data()
    compiled_step.clear_cache()
    torch._dynamo.utils.counters.clear()
    step = compiled_step.CompiledStep(net, optim.make("gd"), 0.1, "backprop", "mse")
    params, expected = odd, [p.clone() for p in odd]
    for _ in range(3):
        _, params = step(params, {}, x, y, 1.0)
        grads = loss_and_grad(Network.from_parameters(expected, net.activations, net.scales), x, y)[1]
        expected = [p - 0.1 * g for p, g in zip(expected, grads)]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
    assert max((p - q).abs().max().item() for p, q in zip(params, expected)) < TOL
    # the control: the same step skipping that copy compiles a second graph at the second call
    compiled_step.clear_cache()
    torch._dynamo.utils.counters.clear()
    bare = compiled_step.CompiledStep(net, optim.make("gd"), 0.1, "backprop", "mse")
    bare.first_call = False
    params = odd
    for _ in range(3):
        _, params = bare(params, {}, x, y, 1.0)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 2


def test_auto_runs_a_short_fit_eagerly():
    _, history = fit(Network.random([1, 3, 1], "tanh"), _data(), steps=5, compile="auto")
    assert history.attrs == {"compiled": False, "compile_s": 0.0}


def test_bad_compile_values_are_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown compile 'fast'; allowed: off, on, auto"):
        FitOptions(compile="fast")
    with pytest.raises(ValueError, match=r"unknown compile True"):
        FitOptions(compile=True)
    with pytest.raises(ValueError, match=r"compile='on' compiles the first-order steps .* not optimizer 'lbfgs'"):
        FitOptions(optimizer="lbfgs", compile="on")
    # negative control: the allowed values pass, and "auto" runs L-BFGS eagerly
    for choice in ("off", "on", "auto"):
        FitOptions(compile=choice)
    _, history = fit(Network.random([1, 3, 1], "tanh"), _data(), optimizer="lbfgs", steps=2, compile="auto")
    assert not history.attrs["compiled"]


# ---------------------------------------------------------------------- CUDA graphs
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_on_cuda_the_step_replays_as_a_cuda_graph_and_equals_eager(engine):
    # "on" on CUDA compiles with mode="reduce-overhead" (CUDA graphs); each replay overwrites
    # the last one's outputs, which the loop keeps (the monitor's rollback point): a diverging
    # member checks that the rollback still finds them.
    net = Network.random([1, 4, 1], "tanh", seed=2, ensemble=3, device="cuda")
    kw = dict(engine=engine, optimizer="adam", lr=[0.01, 0.02, 1e6], steps=20, log_every=1,
              divergence_factor=10.0)
    (eager, h_eager), (compiled, h_compiled) = _both(net, _data(device="cuda"), **kw)
    assert list(h_eager.status) == list(h_compiled.status)
    assert _gap(eager, compiled) < TOL
    moved, _ = fit(net, _data(device="cuda"), compile="on", **{**kw, "lr": [0.01 * (1 + 1e-6), 0.02, 1e6]})
    assert _gap(eager, moved) > 1e3 * TOL


def test_members_in_groups_take_the_eager_steps():
    # members_per_call=2 of E = 3 (approx.member_groups): a group of 2 and one of 1, each its own
    # graph, with Adam's buffers and per-member data sliced by group; five steps as eager Adam
    from approx import optim
    from approx.backprop import loss_and_grad

    net = Network.random([1, 5, 5, 1], "tanh", seed=3, ensemble=3)
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(3, 12, 1, generator=gen, dtype=torch.float64) * 2 - 1  # (E, n, 1): each member its own
    y = torch.sin(3 * x)
    opt = optim.make("adam")
    step = compiled_step.CompiledStep(net, opt, 0.01, "backprop", "mse", members_per_call=2)
    params, state = net.parameters(), opt.init(net.parameters())
    expected, eager_state = [p.clone() for p in net.parameters()], opt.init(net.parameters())
    rate = torch.full((3,), 0.01, dtype=torch.float64)
    for _ in range(5):
        value, params = step(params, state, x, y, 1.0)
        eager_value, grads = loss_and_grad(Network.from_parameters(expected, net.activations, net.scales), x, y)
        expected = opt.step(expected, grads, rate, eager_state)
        assert (value - eager_value).abs().max().item() < TOL
    assert max((p - q).abs().max().item() for p, q in zip(params, expected)) < TOL
    assert state["t"] == 5
    # control: one step fewer is far away
    fewer = opt.step(expected, loss_and_grad(Network.from_parameters(expected, net.activations, net.scales), x, y)[1],
                     rate, eager_state)
    assert max((p - q).abs().max().item() for p, q in zip(params, fewer)) > 1e3 * TOL
    with pytest.raises(ValueError, match="members_per_call must be an integer >= 1 or None, got 0"):
        compiled_step.CompiledStep(net, opt, 0.01, "backprop", "mse", members_per_call=0)
