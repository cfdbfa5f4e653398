"""fit: both engines give one trajectory; stopping rules, statuses, logging, repeatability, checks.

Ensembles: E networks trained as one batched computation equal the same E trained one by one.
In float64 the batched products (baddbmm) and the single ones (addmm) sum in different orders,
so members agree to rounding, not bit for bit: 1e-12 relative after tens of steps in the
stable regime of GD (see the 1,000-step cross-check on the edge of stability).
"""
from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import torch

from approx import lbfgs, levenberg_marquardt
from approx.lbfgs import lbfgs_fit
from approx.levenberg_marquardt import lm_fit
from approx.members import flatten
from approx.network import Network
from approx.train import STATUSES, fit


def _data(n=64, dtype=torch.float64):
    x = torch.linspace(-1, 1, n, dtype=dtype)[:, None]  # (n, 1)
    return x, torch.sin(3 * x)


def _rel(a: pd.Series, b: pd.Series) -> float:
    return ((a.to_numpy() - b.to_numpy()) / b.to_numpy()).__abs__().max()


def _net(seed=0, sizes=(1, 16, 16, 1), activation="tanh", **kw):
    return Network.random(list(sizes), activation, seed=seed, **kw)


# ---------------------------------------------------------------------- the cross-check
def test_backprop_and_autograd_give_one_trajectory_over_1000_gd_steps():
    # The strongest cross-check of the project: two engines, one loop, 1,000 full-batch GD steps
    # in float64, the loss at every step within 1e-9 relative. The rate 0.05 keeps GD in its
    # stable regime (eta below 2 / sharpness); at the edge of stability (Cohen et al. 2021) GD
    # amplifies rounding differences exponentially and no two summation orders stay together.
    data = _data()
    _, by_hand = fit(_net(), data, engine="backprop", lr=0.05, steps=1000, log_every=1)
    _, by_torch = fit(_net(), data, engine="autograd", lr=0.05, steps=1000, log_every=1)
    assert list(by_hand.step) == list(range(1001))
    assert by_torch.loss.iloc[-1] < 0.1 * by_torch.loss.iloc[0]  # it did train
    assert _rel(by_hand.loss, by_torch.loss) < 1e-9
    # negative control: a rate changed by one part in 10^6 moves the trajectory far above 1e-9
    _, nudged = fit(_net(), data, engine="backprop", lr=0.05 * (1 + 1e-6), steps=1000, log_every=1)
    assert _rel(nudged.loss, by_torch.loss) > 1e-8


@pytest.mark.parametrize("optimizer, options", [
    ("sgd", {"momentum": 0.9, "batch_size": 16}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adam", {"batch_size": 20}),
])
def test_engines_agree_for_sgd_and_adam(optimizer, options):
    data = _data()
    runs = [fit(_net(), data, engine=e, optimizer=optimizer, lr=0.01, steps=200, log_every=10,
                **options) for e in ("backprop", "autograd")]
    (net_a, hist_a), (net_b, hist_b) = runs
    assert len(hist_a) == len(hist_b) == 21
    assert _rel(hist_a.loss, hist_b.loss) < 1e-9
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        assert torch.allclose(p, q, rtol=1e-9, atol=1e-12)


def test_logistic_loss_trains_on_both_engines_and_is_stable_at_huge_logits():
    x, _ = _data()
    y = (x > 0.1).to(x.dtype)  # (n, 1) labels in {0, 1}
    huge = _net(sizes=(1, 8, 1), init_scale=1e4)  # logits of order 1e4
    _, hist = fit(huge, (x, y), engine="backprop", loss="logistic", lr=1e-6, steps=3)
    p = huge(x)
    exact = (torch.clamp(p, min=0) - y * p + torch.log1p(torch.exp(-p.abs()))).mean()  # softplus(p) - y p
    assert math.isfinite(hist.loss.iloc[0]) and hist.loss.iloc[0] == pytest.approx(exact.item(), rel=1e-12)
    assert set(hist.status) <= {"running", "completed"}
    runs = [fit(_net(), (x, y), engine=e, loss="logistic", lr=0.5, steps=300, log_every=50)[1]
            for e in ("backprop", "autograd")]
    assert runs[0].loss.iloc[-1] < 0.5 * runs[0].loss.iloc[0]
    assert _rel(runs[0].loss, runs[1].loss) < 1e-9


# ---------------------------------------------------------------------- history and stopping
def test_history_columns_logging_and_metrics():
    data = _data()
    metrics = {"w_norm": lambda net: net.layers[0].weight.norm().item(),
               "out_at_0": lambda net: net(torch.zeros(1, 1, dtype=torch.float64))[0, 0]}
    net, hist = fit(_net(), data, engine="autograd", steps=25, log_every=10, metrics=metrics)
    assert list(hist.columns) == ["step", "member", "loss", "status", "time_s", "w_norm", "out_at_0"]
    assert list(hist.step) == [0, 10, 20, 25] and set(hist.member) == {0}
    assert list(hist.status) == ["running"] * 3 + ["completed"]
    assert hist.w_norm.iloc[-1] == pytest.approx(net.layers[0].weight.norm().item(), rel=1e-15)
    assert hist.time_s.is_monotonic_increasing
    _, chosen = fit(_net(), data, engine="autograd", steps=25, log_steps=[3, 7])
    assert list(chosen.step) == [0, 3, 7, 25]
    default = fit(_net(), data, engine="backprop", steps=300)[1]
    assert len(default) == 101  # about 100 rows by default: every 3rd step here


def test_target_loss_converges_and_freezes():
    data = _data()
    _, full = fit(_net(), data, engine="backprop", lr=0.05, steps=400, log_every=1)
    target = full.loss.iloc[150]  # reached for the first time at step 150 (loss decreases)
    assert (full.loss.iloc[:150] > target).all()
    net, hist = fit(_net(), data, engine="backprop", lr=0.05, steps=400, log_every=100,
                    target_loss=target)
    assert list(hist.step) == [0, 100, 150] and hist.status.iloc[-1] == "converged"
    assert hist.loss.iloc[-1] <= target
    # the returned network is the one at step 150
    again, _ = fit(_net(), data, engine="backprop", lr=0.05, steps=150, log_every=150)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), again.parameters()))


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_divergence_is_recorded_not_raised(engine):
    data = _data()
    net, hist = fit(_net(), data, engine=engine, lr=50.0, steps=500, log_every=100)
    assert hist.status.iloc[-1] == "diverged" and hist.step.iloc[-1] < 500
    reference = max(hist.loss.iloc[0], data[1].square().mean().item())
    assert not hist.loss.iloc[-1] <= 1e4 * reference  # NaN, inf or above the growth threshold
    assert all(torch.isfinite(p).all() for p in net.parameters())  # frozen at finite parameters
    # max_loss: a bound on the loss also counts as divergence (here the start is above it)
    _, bounded = fit(_net(), data, engine=engine, lr=0.05, steps=50, max_loss=1e-3)
    assert list(bounded.status) == ["diverged"] and list(bounded.step) == [0]
    # negative control: the same run with a sane rate completes
    _, sane = fit(_net(), data, engine=engine, lr=0.05, steps=50)
    assert sane.status.iloc[-1] == "completed"


def test_adam_at_a_huge_rate_is_recorded_as_diverged():
    # Adam at lr = 1e6 moves every parameter by about 1e6 in its first step: the loss jumps from
    # 0.5 to about 1e12 and stays finite, so only the growth rule (loss > 1e4 x reference) can
    # catch it. Before that rule this run was recorded as "completed".
    data = _data()
    net, hist = fit(_net(), data, optimizer="adam", lr=1e6, steps=200)
    assert list(hist.step) == [0, 1] and list(hist.status) == ["running", "diverged"]
    assert 1e4 * 0.5 < hist.loss.iloc[-1] < math.inf  # finite, and far above the start
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), _net().parameters()))  # rolled back
    # negative controls: the rule switched off lets the blown-up run "complete" (what it did
    # before), and a sane rate completes under the default rule
    _, off = fit(_net(), data, optimizer="adam", lr=1e6, steps=200, divergence_factor=None)
    assert off.status.iloc[-1] == "completed" and off.loss.max() > 1e4 * off.loss.iloc[0]
    _, sane = fit(_net(), data, optimizer="adam", lr=1e-2, steps=200)
    assert sane.status.iloc[-1] == "completed"


def test_divergence_factor_sets_the_threshold_relative_to_the_reference_loss():
    # Adam at lr = 1 overshoots: the loss peaks at 128 times its reference max(L(theta_0), L(0))
    # (measured below with the rule off), then comes back down. A factor just above the peak
    # ratio lets the run complete; one just below it stops the run where the peak is.
    data = _data()
    kwargs = dict(optimizer="adam", lr=1.0, steps=100, log_every=1)
    _, free = fit(_net(), data, divergence_factor=None, **kwargs)
    reference = max(free.loss.iloc[0], data[1].square().mean().item())
    peak = free.loss.max() / reference
    assert 10 < peak < 1e4 and free.status.iloc[-1] == "completed"  # the default never trips here
    _, above = fit(_net(), data, divergence_factor=1.01 * peak, **kwargs)
    assert above.status.iloc[-1] == "completed"
    _, below = fit(_net(), data, divergence_factor=peak / 1.01, **kwargs)
    assert below.status.iloc[-1] == "diverged" and below.step.iloc[-1] <= free.loss.idxmax()
    assert below.loss.iloc[-1] > peak / 1.01 * reference


def test_a_run_that_starts_at_an_exact_fit_is_not_diverged_by_drifting():
    # y = 2x + 0.5 is this linear network exactly: L(theta_0) = 0. Weight decay pulls it off the
    # fit, so the loss grows from 0 by far more than any factor, but stays far below the loss of
    # predicting 0 (the reference's second term), which sets the targets' scale.
    net = Network.from_parameters([torch.tensor([[2.0]], dtype=torch.float64),
                                   torch.tensor([0.5], dtype=torch.float64)], ["identity"])
    x = torch.linspace(-1, 1, 64, dtype=torch.float64)[:, None]
    _, hist = fit(net, (x, 2 * x + 0.5), lr=0.1, weight_decay=0.1, steps=50)
    assert hist.loss.iloc[0] == 0 and hist.status.iloc[-1] == "completed"
    # negative control: relative to L(theta_0) alone the drift is a blow-up
    assert hist.loss.max() > 1e4 * max(hist.loss.iloc[0], torch.finfo(torch.float64).tiny)


def test_each_ensemble_member_is_judged_against_its_own_reference():
    # Two copies of one network; member 1's targets are 1000 times member 0's, so its reference
    # loss is 1e6 times larger. Adam at lr = 1 raises member 0's loss 128-fold (above the factor
    # 100) but barely moves member 1's: one diverges, the other completes, as single runs do.
    x, y = _data()
    kwargs = dict(optimizer="adam", lr=1.0, steps=100, log_every=10, divergence_factor=100)
    targets = [y, 1000 * y]
    _, together = fit(Network.stack([_net()] * 2), (x, torch.stack(targets)), **kwargs)
    alone = [fit(_net(), (x, t), **kwargs)[1] for t in targets]
    assert [h.status.iloc[-1] for h in alone] == ["diverged", "completed"]
    assert [together[together.member == e].status.iloc[-1] for e in (0, 1)] == ["diverged", "completed"]
    # negative control: one shared threshold (member 1's) would have let member 0 complete
    reference_1 = max(alone[1].loss.iloc[0], targets[1].square().mean().item())
    assert alone[0].loss.max() < 100 * reference_1


@pytest.mark.parametrize("ensemble", [None, 2])
@pytest.mark.parametrize("check_every, last_fine", [(1, 7), (4, 4)])
def test_nan_minibatch_loss_between_logs_is_caught_and_rolled_back(ensemble, check_every, last_fine):
    # A NaN rate at step 7 makes the parameters NaN from step 8, a step that is
    # checked but not logged (log_every=10). The run must stop there as diverged and return
    # the parameters of the last check at which the loss was fine: those a run of last_fine
    # steps ends with (same batches, same updates), bit for bit.
    data = _data()
    nan_at_7 = lambda t, steps: math.nan if t == 7 else 1.0  # noqa: E731
    kwargs = dict(optimizer="sgd", momentum=0.9, batch_size=16, lr=0.05, log_every=10)
    net, hist = fit(_net(ensemble=ensemble), data, steps=30, schedule=nan_at_7,
                    check_every=check_every, **kwargs)
    assert set(hist.step) == {0, 8} and set(hist.status[hist.step == 8]) == {"diverged"}
    assert hist.loss[hist.step == 8].isna().all()  # what the check at step 8 saw
    assert all(torch.isfinite(p).all() for p in net.parameters())

    def same(steps):
        reference, _ = fit(_net(ensemble=ensemble), data, steps=steps, **kwargs)
        return all(torch.equal(p, q) for p, q in zip(net.parameters(), reference.parameters()))
    assert same(last_fine)
    # negative control: the comparison tells neighbouring steps apart
    assert not same(last_fine - 1) and not same(last_fine + 1)


@pytest.mark.parametrize("ensemble", [None, 2])
def test_an_infinite_loss_counts_as_divergence_and_rolls_back(ensemble):
    # A rate multiplied by 1e200 at step 3 sends a linear network's weight to about 1e199:
    # finite parameters, but the squared error overflows to exactly inf at step 4. With the
    # growth rule and max_loss off, only the "not finite" rule can stop the run.
    def linear():
        return Network.random([1, 1], "identity", seed=0, ensemble=ensemble)
    data = _data()
    kwargs = dict(lr=0.1, steps=20, log_every=100, divergence_factor=None)
    net, hist = fit(linear(), data, schedule=lambda t, s: 1e200 if t == 3 else 1.0, **kwargs)
    assert set(hist.step) == {0, 4} and set(hist.status[hist.step == 4]) == {"diverged"}
    assert (hist.loss[hist.step == 4] == math.inf).all()
    at_3, _ = fit(linear(), data, **{**kwargs, "steps": 3})
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), at_3.parameters()))
    # negative control: a factor of 1e100 gives a huge but finite loss, which these rules accept
    _, finite = fit(linear(), data, schedule=lambda t, s: 1e100 if t == 3 else 1.0, **kwargs)
    assert set(finite.status) == {"running", "completed"} and finite.loss.max() > 1e190


def test_time_budget_stops_the_run():
    _, hist = fit(_net(), _data(), engine="autograd", steps=10_000, time_budget_s=1e-9)
    assert list(hist.step) == [0] and list(hist.status) == ["time_budget"]


def test_seeded_runs_repeat_bit_for_bit():
    data = _data()
    kwargs = dict(engine="backprop", optimizer="sgd", momentum=0.9, batch_size=8, lr=0.05,
                  steps=100, log_every=10, seed=7)
    runs = [fit(_net(seed=3), data, **kwargs) for _ in range(2)]
    (net_a, hist_a), (net_b, hist_b) = runs
    assert hist_a.drop(columns="time_s").equals(hist_b.drop(columns="time_s"))
    assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))
    # negative control: another batch seed gives another trajectory
    _, other = fit(_net(seed=3), data, **{**kwargs, "seed": 8})
    assert not other.loss.equals(hist_a.loss)


def test_input_is_not_modified():
    net = _net()
    before = [p.clone() for p in net.parameters()]
    fit(net, _data(), engine="autograd", optimizer="adam", steps=5)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


@pytest.mark.parametrize("kwargs, message", [
    ({"engine": "jax"}, "unknown engine 'jax'; allowed: backprop, autograd"),
    ({"optimizer": "newton"}, "unknown optimizer 'newton'; allowed: gd, sgd, adam, lbfgs, lm"),
    ({"schedule": "linear"}, "unknown schedule 'linear'"),
    ({"loss": "hinge"}, "unknown loss 'hinge'; allowed: mse, logistic"),
    ({"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
    ({"lr": [0.1, 0.2]}, "lr must be one number"),
    ({"steps": -1}, "steps must be an integer >= 0, got -1"),
    ({"steps": 2.5}, "steps must be an integer >= 0, got 2.5"),
    ({"batch_size": 65}, "batch_size=65 exceeds the 64 training points"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"log_every": 0}, "log_every must be an integer >= 1"),
    ({"log_steps": [5000]}, "log_steps must be ints in 0..1000"),
    ({"max_loss": -1.0}, "max_loss must be None or a finite number > 0"),
    ({"divergence_factor": 0.5}, "divergence_factor must be None or a finite number >= 1, got 0.5"),
    ({"divergence_factor": math.inf}, "divergence_factor must be None or a finite number >= 1"),
    ({"time_budget_s": 0}, "time_budget_s must be None or a finite number > 0"),
    ({"metrics": {"loss": len}}, "metric 'loss' must be a callable"),
    ({"seed": "x", "batch_size": 4}, "seed must be an int"),
    ({"metrics": {"m": lambda net: torch.zeros(3)}}, "metric 'm' gave 3 values; need a float or one value per member (1)"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit(_net(), _data(), **kwargs)


def test_bad_data_shapes_raise_value_error():
    x, y = _data()
    with pytest.raises(ValueError, match="input must have shape"):
        fit(_net(), (x[:, 0], y))
    with pytest.raises(ValueError, match=r"targets y must have shape \(n, 1\)"):
        fit(_net(), (x, y[:, 0]))
    with pytest.raises(ValueError, match="x has 64 points but y has 10"):
        fit(_net(), (x, y[:10]))
    with pytest.raises(ValueError, match="data must be a pair of tensors"):
        fit(_net(), x)
    with pytest.raises(ValueError, match="3 data sets for an ensemble of 2"):
        fit(_net(ensemble=2), (x.expand(3, -1, -1), y))


def test_fit_runs_on_every_device(device):
    data = tuple(d.to(device) for d in _data())
    net = _net().to(device)
    for engine in ("backprop", "autograd"):
        trained, hist = fit(net, data, engine=engine, optimizer="sgd", momentum=0.9,
                            batch_size=16, lr=0.02, steps=50, log_every=25)
        assert trained.device.type == device and hist.status.iloc[-1] == "completed"
    # the same run on the CPU: float64 on another device agrees to rounding
    _, on_cpu = fit(_net(), _data(), engine="autograd", optimizer="sgd", momentum=0.9,
                    batch_size=16, lr=0.02, steps=50, log_every=25)
    assert _rel(hist.loss, on_cpu.loss) < 1e-9


# ---------------------------------------------------------------------- second order
@pytest.mark.parametrize("engine", ["backprop", "autograd"])
def test_fit_with_lm_is_lm_fit(engine):
    # lm_fit is fit(optimizer="lm") with every iteration logged and the divergence rule off;
    # fit's default rule never trips, since LM accepts only steps that lower the loss
    x, y = _data(40)
    net = _net(sizes=(1, 8, 1))
    fitted, hist = fit(net, (x, y), optimizer="lm", engine=engine, steps=30, log_every=1)
    reference, ref_hist = lm_fit(net, x, y, steps=30, engine=engine)
    assert list(hist.columns) == ["step", "member", "loss", "status", "time_s", "damping", "accepted", "jacobians"]
    columns = [c for c in levenberg_marquardt.HISTORY_COLUMNS if c != "time_s"]
    assert hist[columns].equals(ref_hist[columns])
    assert torch.equal(flatten(fitted), flatten(reference))
    assert hist.loss.iloc[-1] < 1e-3 * hist.loss.iloc[0] and hist.status.iloc[-1] == "completed"
    # negative control: another initial damping is another run
    _, other = fit(net, (x, y), optimizer="lm", engine=engine, steps=30, log_every=1, damping=1.0)
    assert not other.loss.equals(hist.loss)


@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_fit_with_lbfgs_is_lbfgs_fit(loss):
    x, y = _data(40)
    y = y if loss == "mse" else (y > 0).to(y.dtype)
    net = _net(sizes=(1, 8, 1))
    fitted, hist = fit(net, (x, y), optimizer="lbfgs", loss=loss, steps=15, log_every=1, memory=5)
    reference, ref_hist = lbfgs_fit(net, x, y, steps=15, loss=loss, memory=5)
    assert list(hist.columns) == ["step", "member", "loss", "status", "time_s", "step_size", "evaluations"]
    columns = [c for c in lbfgs.HISTORY_COLUMNS if c != "time_s"]
    assert hist[columns].equals(ref_hist[columns])
    assert torch.equal(flatten(fitted), flatten(reference))
    assert hist.loss.iloc[-1] < 0.5 * hist.loss.iloc[0]
    # negative control: another memory is another run
    _, other = fit(net, (x, y), optimizer="lbfgs", loss=loss, steps=15, log_every=1, memory=1)
    assert not other.loss.equals(hist.loss)


@pytest.mark.parametrize("optimizer, steps", [("lm", 25), ("lbfgs", 12)])
def test_second_order_ensembles_equal_single_runs(optimizer, steps):
    # to 1e-8, as approx.levenberg_marquardt and approx.lbfgs document: batched and single
    # products round differently, and a nonconvex loss amplifies that over the iterations
    x, y = _data(30)
    targets = torch.stack([y, torch.sin(x), torch.cos(2 * x)])  # (3, n, 1): one target per member
    net = _net(sizes=(1, 6, 1), ensemble=3)
    fitted, hist = fit(net, (x, targets), optimizer=optimizer, steps=steps, log_every=5)
    for e in range(3):
        single, single_hist = fit(net.member(e), (x, targets[e]), optimizer=optimizer, steps=steps, log_every=5)
        mine = hist[hist.member == e]
        assert list(mine.step) == list(single_hist.step) and list(mine.status) == list(single_hist.status)
        assert _rel(mine.loss, single_hist.loss) < 1e-8
        assert (flatten(fitted)[e] - flatten(single)[0]).abs().max().item() < 1e-8
    # negative control: the members' runs differ
    assert (flatten(fitted)[0] - flatten(fitted)[1]).abs().max().item() > 1e-3


def test_second_order_runs_under_fits_monitor():
    x, y = _data(40)
    net = _net(sizes=(1, 8, 1))
    assert "stalled" in STATUSES
    metrics = {"w_norm": lambda n: n.layers[0].weight.norm().item()}
    trained, hist = fit(net, (x, y), optimizer="lm", steps=20, log_every=10, metrics=metrics)
    assert list(hist.step) == [0, 10, 20] and list(hist.status) == ["running", "running", "completed"]
    assert hist.w_norm.iloc[-1] == pytest.approx(trained.layers[0].weight.norm().item(), rel=1e-15)
    _, out_of_time = fit(net, (x, y), optimizer="lm", steps=100, time_budget_s=1e-9)
    assert list(out_of_time.status) == ["time_budget"]
    _, bounded = fit(net, (x, y), optimizer="lbfgs", steps=10, max_loss=1e-3)
    assert list(bounded.status) == ["diverged"] and list(bounded.step) == [0]
    _, reached = fit(net, (x, y), optimizer="lm", steps=100, log_every=100, target_loss=1e-4)
    assert reached.status.iloc[-1] == "converged" and reached.loss.iloc[-1] <= 1e-4 and reached.step.iloc[-1] < 100
    # least squares with a linear network: L-BFGS reaches the minimum to working precision and stalls
    gen = torch.Generator().manual_seed(0)
    xs, ys = torch.randn(50, 4, generator=gen, dtype=torch.float64), torch.randn(50, 2, generator=gen, dtype=torch.float64)
    _, stalled = fit(Network.random([4, 2], "identity", seed=0), (xs, ys), optimizer="lbfgs", steps=200)
    assert stalled.status.iloc[-1] == "stalled" and stalled.step.iloc[-1] < 200
    # negative control: a sane run with no target, budget or bound completes
    _, sane = fit(net, (x, y), optimizer="lbfgs", steps=10)
    assert sane.status.iloc[-1] == "completed"


@pytest.mark.parametrize("kwargs, message", [
    ({"optimizer": "lm", "loss": "logistic"}, "optimizer 'lm' fits the mse loss only, got loss 'logistic'"),
    ({"optimizer": "lm", "batch_size": 16},
     "batch_size=16 does not apply to optimizer 'lm'; it is for the first-order optimizers (gd, sgd, adam)"),
    ({"optimizer": "lbfgs", "batch_size": 16}, "batch_size=16 does not apply to optimizer 'lbfgs'"),
    ({"optimizer": "lbfgs", "lr": 0.5}, "lr=0.5 does not apply to optimizer 'lbfgs'"),
    ({"optimizer": "lm", "schedule": "cosine"}, "schedule='cosine' does not apply to optimizer 'lm'"),
    ({"optimizer": "lm", "momentum": 0.9}, "momentum=0.9 does not apply to optimizer 'lm'"),
    ({"optimizer": "adam", "damping": 0.01}, "damping=0.01 does not apply to optimizer 'adam'; it is for optimizer 'lm'"),
    ({"optimizer": "lm", "memory": 5}, "memory=5 does not apply to optimizer 'lm'; it is for optimizer 'lbfgs'"),
    ({"optimizer": "lm", "damping": 0.0}, "damping must be a finite number > 0, got 0.0"),
    ({"optimizer": "lbfgs", "c2": 1.0}, "c2 must be a finite number in (0.0001, 1), got 1.0"),
])
def test_second_order_refuses_what_it_cannot_use(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        fit(_net(), _data(), **kwargs)
    assert "\n" not in str(caught.value)  # one line


def test_second_order_defaults_are_accepted():
    # negative control for the refusals: each optimizer with only its own options runs
    for kwargs in ({"optimizer": "lm", "damping": 1e-2, "max_damping": 1e12},
                   {"optimizer": "lbfgs", "loss": "logistic", "memory": 3, "weight_decay": 0}):
        _, hist = fit(_net(sizes=(1, 4, 1)), _data(), steps=2, **kwargs)
        assert hist.status.iloc[-1] == "completed"


def test_second_order_fit_on_every_device(device):
    x, y = (d.to(device) for d in _data(30))
    for optimizer in ("lm", "lbfgs"):
        net = _net(sizes=(1, 6, 1), ensemble=2)
        here, hist = fit(net.to(device), (x, y), optimizer=optimizer, steps=8, log_every=1)
        _, on_cpu = fit(net, _data(30), optimizer=optimizer, steps=8, log_every=1)
        assert here.device.type == device and _rel(hist.loss, on_cpu.loss) < 1e-8


# ---------------------------------------------------------------------- ensembles
RTOL = 1e-12
SIZES, ACTIVATION = [1, 16, 1], "tanh"


def _ensemble_data(n=48):
    x = torch.linspace(-1, 1, n, dtype=torch.float64)[:, None]  # (n, 1)
    return x, torch.sin(3 * x)


def _max_rel(a, b) -> float:
    return max(((p - q).abs().max() / q.abs().max()).item() for p, q in zip(a, b))


def _compare(ensemble_run, single_runs):
    """Largest relative gap of parameters and logged losses between members and single runs."""
    net, hist = ensemble_run
    gaps = []
    for e, (single, single_hist) in enumerate(single_runs):
        gaps.append(_max_rel(net.member(e).parameters(), single.parameters()))
        member_hist = hist[hist.member == e].reset_index(drop=True)
        assert list(member_hist.step) == list(single_hist.step)
        assert list(member_hist.status) == list(single_hist.status)
        gaps.append(((member_hist.loss - single_hist.loss).abs() / single_hist.loss).max())
    return max(gaps)


TRAINING = [
    ("gd", {}),
    ("sgd", {"momentum": 0.9, "batch_size": 12}),
    ("adam", {}),
]


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("optimizer, options", TRAINING)
def test_different_seeds(engine, optimizer, options):
    seeds = [0, 1, 2, 3]
    common = dict(engine=engine, optimizer=optimizer, lr=0.02, steps=60, log_every=20, **options)
    together = fit(Network.random(SIZES, ACTIVATION, seed=seeds), _ensemble_data(), seed=seeds, **common)
    alone = [fit(Network.random(SIZES, ACTIVATION, seed=s), _ensemble_data(), seed=s, **common) for s in seeds]
    assert _compare(together, alone) < RTOL
    # negative control: members matched to the wrong single runs differ grossly
    assert _compare(together, alone[::-1]) > 1e-3


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("optimizer, options", TRAINING)
def test_different_learning_rates(engine, optimizer, options):
    rates = [0.005, 0.01, 0.02, 0.04]
    net = Network.random(SIZES, ACTIVATION, seed=5)
    common = dict(engine=engine, optimizer=optimizer, steps=60, log_every=20, seed=3, **options)
    # every member shares the batch seed here, so the rates are the only difference
    together = fit(Network.stack([net] * 4), _ensemble_data(), lr=rates, **{**common, "seed": [3] * 4})
    alone = [fit(net, _ensemble_data(), lr=r, **common) for r in rates]
    assert _compare(together, alone) < RTOL
    assert _compare(together, alone[::-1]) > 1e-3


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("optimizer, options", TRAINING)
def test_different_data(engine, optimizer, options):
    x, _ = _ensemble_data()
    targets = [torch.sin(k * x) for k in (1, 2, 3)]  # one target function per member
    net = Network.random(SIZES, ACTIVATION, seed=1)
    common = dict(engine=engine, optimizer=optimizer, lr=0.02, steps=60, log_every=20, **options)
    together = fit(Network.stack([net] * 3), (x.expand(3, -1, -1), torch.stack(targets)),
                   seed=[0] * 3, **common)
    alone = [fit(net, (x, y), seed=0, **common) for y in targets]
    assert _compare(together, alone) < RTOL
    assert _compare(together, alone[::-1]) > 1e-3


def test_stopping_per_member_matches_single_runs():
    # member 0 converges early, member 1 diverges, member 2 runs out of steps: each member's
    # rows and final parameters are those of its own single run
    net = Network.random(SIZES, ACTIVATION, seed=2)
    rates = [0.2, 80.0, 0.01]
    common = dict(engine="backprop", steps=100, log_every=50, target_loss=0.165)
    together = fit(Network.stack([net] * 3), _ensemble_data(), lr=rates, **common)
    alone = [fit(net, _ensemble_data(), lr=r, **common) for r in rates]
    statuses = [h.status.iloc[-1] for _, h in alone]
    assert statuses == ["converged", "diverged", "completed"]
    net_e, hist_e = together
    assert [hist_e[hist_e.member == e].status.iloc[-1] for e in range(3)] == statuses
    for e, (single, single_hist) in enumerate(alone):
        assert _max_rel(net_e.member(e).parameters(), single.parameters()) < RTOL
        member_hist = hist_e[hist_e.member == e].reset_index(drop=True)
        assert list(member_hist.step) == list(single_hist.step)
        finite = single_hist.loss < 1e300  # the diverged row holds inf (in both runs)
        assert (member_hist.loss[~finite] == single_hist.loss[~finite]).all()
        gap = (member_hist.loss[finite] - single_hist.loss[finite]).abs() / single_hist.loss[finite]
        assert gap.max() < RTOL


def test_ensemble_on_every_device(device):
    x, y = (d.to(device) for d in _ensemble_data())
    net = Network.random(SIZES, ACTIVATION, seed=[0, 1, 2], device=device)
    trained, hist = fit(net, (x, y), engine="backprop", optimizer="sgd", momentum=0.9,
                        batch_size=12, lr=[0.01, 0.02, 0.04], steps=60, log_every=30)
    assert trained.device.type == device and len(hist) == 9
    on_cpu, cpu_hist = fit(Network.random(SIZES, ACTIVATION, seed=[0, 1, 2]), _ensemble_data(),
                           engine="backprop", optimizer="sgd", momentum=0.9, batch_size=12,
                           lr=[0.01, 0.02, 0.04], steps=60, log_every=30)
    assert ((hist.loss - cpu_hist.loss).abs() / cpu_hist.loss).max() < 1e-9


def test_an_int_seed_gives_member_e_the_mini_batches_of_seed_plus_e():
    # one network copied into every member: only the mini-batch stream can tell members apart,
    # and with seed=5 member e must train exactly as a single run with seed 5 + e
    net = _net(sizes=(1, 8, 1))
    kwargs = dict(engine="backprop", optimizer="sgd", batch_size=8, lr=0.05, steps=20, log_every=10)
    trained, _ = fit(Network.stack([net] * 3), _data(), seed=5, **kwargs)
    members = [flatten(trained.member(e)) for e in range(3)]
    for e in range(3):
        single, _ = fit(net, _data(), seed=5 + e, **kwargs)
        torch.testing.assert_close(members[e], flatten(single), rtol=1e-12, atol=1e-12)
    assert (members[0] - members[1]).abs().max() > 1e-6  # the streams differ, so the members do


# ---------------------------------------------------------------------- every divergence rule, one by one
# Each rule of approx.train's docstring, alone (the others switched off where they could fire
# too), for a single network and for an ensemble of 2 in which only member 0 goes wrong. The
# trouble is made by the rate: at step 3 (7 for mini-batches) the schedule multiplies it by
# ``spike``, for member 0 only in the ensemble (a per-member factor (E,), which the loop multiplies
# into the (E,) rates), so theta_(bad) is the first bad point; every step is checked
# (check_every=1) and only steps 0 and 20 are logged, so the bad step is checked but not logged.
# The diverged member must be logged at that step, rolled back to theta_(bad - 1) (the parameters
# a clean run of bad - 1 steps ends with, bit for bit) and frozen; the other trains on to the
# end exactly as in a clean run.
DIVERGENCE_RULES = {
    # rule: (spike, bad step, fit options that isolate the rule, what the diverged row's loss is,
    # given the member's reference max(L(theta_0), L(0)))
    "nan loss": (math.nan, 4, dict(divergence_factor=None), lambda loss, ref: math.isnan(loss)),
    "inf loss": (1e200, 4, dict(divergence_factor=None), lambda loss, ref: loss == math.inf),
    "above max_loss": (1e3, 4, dict(divergence_factor=None, max_loss=50.0),
                       lambda loss, ref: 50.0 < loss < math.inf),
    "growth above divergence_factor": (1e3, 4, dict(divergence_factor=100.0),
                                       lambda loss, ref: 100.0 * ref < loss < math.inf),
    "nan mini-batch loss between logs": (math.nan, 8, dict(optimizer="sgd", batch_size=16, seed=3),
                                         lambda loss, ref: math.isnan(loss)),
}


def _reference(hist: pd.DataFrame) -> float:
    """max(L(theta_0), L(0)) of the growth rule; L(0) = mean y^2 for mse."""
    return max(hist.loss.iloc[0], _data()[1].square().mean().item())


def _spiked_fit(rule: str, ensemble: int | None, steps: int = 20, spike: bool = True, **changes):
    factor, bad, options, _ = DIVERGENCE_RULES[rule]
    at = bad - 1  # the step whose update makes theta_bad

    def schedule(t, total):
        if not spike or t != at:
            return 1.0
        return factor if ensemble is None else torch.tensor([factor, 1.0], dtype=torch.float64)
    net = Network.random([1, 1], "identity", seed=0, ensemble=ensemble)
    lr = 0.1 if ensemble is None else [0.1, 0.1]
    kwargs = dict(lr=lr, steps=steps, log_every=20, check_every=1, schedule=schedule, **options)
    return fit(net, _data(), **{**kwargs, **changes})


def _same(a: Network, b: Network, member: int | None = None) -> bool:
    if member is not None:
        a, b = a.member(member), b.member(member)
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("rule", list(DIVERGENCE_RULES))
def test_each_divergence_rule_stops_rolls_back_and_freezes_a_single_network(rule):
    _, bad, _, offending = DIVERGENCE_RULES[rule]
    net, hist = _spiked_fit(rule, None)
    assert list(hist.step) == [0, bad] and list(hist.status) == ["running", "diverged"]
    assert offending(hist.loss.iloc[-1], _reference(hist))  # the rule under test is what the loss breaks
    clean_before, _ = _spiked_fit(rule, None, steps=bad - 1, spike=False)
    assert _same(net, clean_before)  # rolled back to the last checked, fine parameters
    # negative controls: the comparison tells theta_(bad - 2) apart, and without the spike the
    # run completes
    assert not _same(net, _spiked_fit(rule, None, steps=bad - 2, spike=False)[0])
    assert list(_spiked_fit(rule, None, spike=False)[1].status) == ["running", "completed"]


@pytest.mark.parametrize("rule", list(DIVERGENCE_RULES))
def test_each_divergence_rule_stops_only_the_member_that_broke_it(rule):
    _, bad, _, offending = DIVERGENCE_RULES[rule]
    net, hist = _spiked_fit(rule, 2)
    first, second = hist[hist.member == 0], hist[hist.member == 1]
    assert list(first.step) == [0, bad] and list(first.status) == ["running", "diverged"]
    assert offending(first.loss.iloc[-1], _reference(first))
    assert list(second.step) == [0, 20] and list(second.status) == ["running", "completed"]
    # member 0 went back to theta_(bad - 1); member 1 trained on as in a run without the spike
    assert _same(net, _spiked_fit(rule, 2, steps=bad - 1, spike=False)[0], member=0)
    clean, clean_hist = _spiked_fit(rule, 2, spike=False)
    assert _same(net, clean, member=1)
    assert list(second.loss) == list(clean_hist.loss[clean_hist.member == 1])
    # negative controls: a clean run completes both members; member 0 is not where it was at the
    # end of the clean run, nor is member 1 where the spike stopped member 0
    assert list(clean_hist.status) == ["running", "running", "completed", "completed"]
    assert not _same(net, clean, member=0)
    assert not _same(net, _spiked_fit(rule, 2, steps=bad - 1, spike=False)[0], member=1)


@pytest.mark.parametrize("rule, off", [("above max_loss", dict(max_loss=None)),
                                       ("growth above divergence_factor", dict(divergence_factor=None))])
def test_a_finite_spike_is_caught_only_by_the_rule_under_test(rule, off):
    # negative control of the two finite rules: with the rule switched off, the same spiked run
    # (finite losses throughout) completes, single and ensemble alike
    for ensemble in (None, 2):
        _, hist = _spiked_fit(rule, ensemble, **off)
        assert set(hist.status) == {"running", "completed"} and hist.loss.max() < math.inf


# ---------------------------------------------------------------------- m4: checks and attrs
def test_an_unknown_engine_names_the_allowed_ones():
    from approx.train import engine_function
    with pytest.raises(ValueError, match=r"^unknown engine 'jax'; allowed: backprop, autograd$"):
        engine_function("jax")
    assert callable(engine_function("autograd"))  # negative control: a known engine is found


def test_history_says_whether_the_step_was_compiled(monkeypatch):
    # history.attrs report the stepper's compile facts: an eager stepper (compile="off") says
    # False and 0.0 s; a compiled one says True and its compile time
    _, history = fit(_net(), _data(), steps=2)
    assert history.attrs["compiled"] is False and history.attrs["compile_s"] == 0.0
    # second-order steppers never compile (they have no compile_s): also False and 0.0 s
    for optimizer in ("lm", "lbfgs"):
        _, history = fit(_net(), _data(), optimizer=optimizer, steps=2)
        assert history.attrs["compiled"] is False and history.attrs["compile_s"] == 0.0
    # negative control, without a compiler: a stepper that says it was compiled in 2.5 s
    import approx.train as train
    real = train._stepper

    class Reported:  # the real eager stepper, reporting compile facts
        compiled, compile_s = "a compiled step", 2.5

        def __init__(self, *args):
            self.inner = real(*args)

        def __getattr__(self, name):
            return getattr(self.inner, name)
    monkeypatch.setattr(train, "_stepper", Reported)
    _, history = fit(_net(), _data(), steps=2)
    assert history.attrs["compiled"] is True and history.attrs["compile_s"] == 2.5


def test_per_member_rates_take_the_networks_dtype():
    # an ensemble with one rate per member: the (E,) rates are on the network's dtype, so a
    # float32 fit is not promoted to float64 in its update
    from approx.fit_options import FitOptions
    from approx.train import _stepper
    x, y = _data(dtype=torch.float32)
    net = _net(ensemble=2, dtype=torch.float32)
    rate = _stepper(net, x, y, FitOptions(lr=[0.1, 0.2])).rate
    assert rate.dtype == torch.float32 and rate.device == net.device
    # negative control: a float64 ensemble gets float64 rates
    assert _stepper(_net(ensemble=2), *_data(), FitOptions(lr=[0.1, 0.2])).rate.dtype == torch.float64


def test_bad_data_messages_name_the_shape_wanted_and_got():
    x, y = _data()
    with pytest.raises(ValueError, match=r"^data must be a pair of tensors \(x, y\); got tuple$"):
        fit(_net(), (x, y, y))
    with pytest.raises(ValueError, match=r"^targets y must have shape \(n, 1\); got \(64,\)$"):
        fit(_net(), (x, y[:, 0]))
    with pytest.raises(ValueError, match=r"^targets y must have shape \(n, 1\); got \(64, 2\)$"):
        fit(_net(), (x, y.expand(-1, 2)))
    with pytest.raises(ValueError, match=r"^targets y must have shape \(n, 1\) or \(2, n, 1\); got \(3, 64, 1\)$"):
        fit(_net(ensemble=2), (x, y.expand(3, -1, -1)))
    # negative control: per-member targets (2, n, 1) are fine for an ensemble of 2
    fit(_net(ensemble=2), (x, y.expand(2, -1, -1)), steps=1)


def test_one_point_is_enough_and_data_take_the_networks_dtype():
    # n >= 1: a single training point fits; float32 data for a float64 network are converted
    # first, giving the same history as float64 data of the same values
    x, y = _data()
    _, history = fit(_net(), (x[:1], y[:1]), steps=2, log_every=1)
    assert len(history) == 3
    x32, y32 = _data(dtype=torch.float32)
    _, from32 = fit(_net(), (x32, y32), steps=3, log_every=1)
    _, from64 = fit(_net(), (x32.double(), y32.double()), steps=3, log_every=1)
    assert from32.loss.tolist() == from64.loss.tolist()
    # negative control: no points is an error
    with pytest.raises(ValueError, match="x has 0 points but y has 0; need the same n >= 1"):
        fit(_net(), (x[:0], y[:0]))


def test_data_and_per_member_rates_move_to_the_networks_device(device):
    # CPU data for a network on `device` are moved there, and so are the (E,) rates (on the CPU
    # this holds trivially; the CUDA half of the fixture is the real check)
    from approx.fit_options import FitOptions
    from approx.train import _stepper
    net = _net(ensemble=2).to(device)
    x, y = _data()
    _, history = fit(net, (x, y), lr=[0.1, 0.2], steps=2, log_every=1)
    assert len(history) == 6
    assert _stepper(net, x.to(device), y.to(device), FitOptions(lr=[0.1, 0.2])).rate.device == net.device
    # negative control: data that are not tensors at all are refused, wherever the network is
    with pytest.raises(ValueError, match="data must be a pair of tensors"):
        fit(net, (x.tolist(), y))
