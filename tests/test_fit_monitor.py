"""approx.fit_monitor, alone: a scripted stepper's losses are judged, logged, rolled back and frozen."""
from __future__ import annotations

import math

import pytest
import torch

from approx.fit_monitor import Monitor
from approx.fit_options import FitOptions
from approx.network import Network
from approx.train import _train

NAN = math.nan


class Scripted:
    """A stepper whose loss at step t is losses[t] (one value per member) and whose own verdicts
    at step t are verdicts.get(t, {}); it records what the monitor asks of it. Its
    "parameters" are the name of the step they belong to."""

    mini_batch = False
    columns = ("own",)

    def __init__(self, losses: list[list[float]], verdicts: dict[int, dict[int, str]] | None = None):
        self.losses, self.verdicts, self.t = losses, verdicts or {}, 0
        self.params = ["p0"] * len(losses[0])
        self.restored, self.frozen = [], []

    def evaluate(self, t):
        self.t = t
        return torch.tensor(self.losses[t], dtype=torch.float64)

    def stops(self):
        return self.verdicts.get(self.t, {})

    def network(self):
        return None

    def values(self, members):
        return [[f"own{e}@{self.t}"] for e in members]

    def snapshot(self):
        return list(self.params)

    def restore(self, members, snapshot):
        self.restored.append((self.t, sorted(members), [snapshot[e] for e in sorted(members)]))
        for e in members:
            self.params[e] = snapshot[e]

    def freeze(self, running):
        self.frozen.append((self.t, list(running)))

    def update(self, t):
        self.params = [f"p{t + 1}" if self.frozen == [] or self.frozen[-1][1][e] else p
                       for e, p in enumerate(self.params)]

    def result(self):
        return self.params


def _run(losses, verdicts=None, **options):
    net = Network.random([1, 1], "identity", ensemble=len(losses[0]))
    y = torch.zeros(4, 1, dtype=torch.float64)  # L(0) = 0: the reference is the start's loss
    stepper = Scripted(losses, verdicts)
    options = FitOptions(steps=len(losses) - 1, **options)
    params, history = _train(stepper, Monitor(net, y, options, None, stepper.columns), options.steps)
    return stepper, params, history


def test_a_nan_is_rolled_back_to_the_last_check_and_frozen():
    # member 0 turns NaN at step 3; checks every 2 steps (and at the last): 0, 2, 4, 5. The
    # NaN is seen at step 4, and member 0 goes back to the parameters of the check at step 2
    losses = [[1.0, 1.0], [0.9, 0.9], [0.8, 0.8], [NAN, 0.7], [NAN, 0.6], [NAN, 0.5]]
    stepper, params, history = _run(losses, check_every=2, log_every=100)
    assert stepper.restored == [(4, [0], ["p2"])]
    assert stepper.frozen == [(4, [False, True])]
    assert params == ["p2", "p5"]
    assert list(history.columns) == ["step", "member", "loss", "status", "time_s", "own"]
    rows = history[["step", "member", "status", "own"]].values.tolist()
    assert rows == [[0, 0, "running", "own0@0"], [0, 1, "running", "own1@0"],
                    [4, 0, "diverged", "own0@4"], [5, 1, "completed", "own1@5"]]
    # negative control: checked at every step, the NaN is caught at step 3, one step sooner
    # (theta_2 is still the last fine point: the loss at theta_3 is the NaN)
    stepper, params, history = _run(losses, check_every=1, log_every=100)
    assert stepper.restored == [(3, [0], ["p2"])] and params == ["p2", "p5"]
    assert history.step[history.status == "diverged"].tolist() == [3]


def test_growth_target_and_the_negative_control():
    # member 0 grows 50-fold (diverged above 10 x its start), member 1 reaches the target
    losses = [[1.0, 1.0], [50.0, 0.5], [50.0, 0.1], [50.0, 0.05]]
    stepper, params, history = _run(losses, divergence_factor=10, target_loss=0.1, log_every=1)
    last = history.groupby("member").tail(1)
    assert list(last.step) == [1, 2] and list(last.status) == ["diverged", "converged"]
    assert params == ["p0", "p2"]
    # negative control: without the growth rule and the target both run to the end
    _, params, history = _run(losses, divergence_factor=None, log_every=1)
    assert list(history.groupby("member").tail(1).status) == ["completed", "completed"]
    assert params == ["p3", "p3"]


def test_a_steppers_own_verdicts_freeze_without_rollback():
    # at step 2 (not a check step: check_every=4) member 0 stalls; member 1's Jacobian is not
    # finite at a loss that reaches the target (diverged wins over converged); member 2 stalls
    # at a loss that reaches it (converged wins over stalled). All stop where they are: their
    # loss there is fine, so nothing is rolled back
    losses = [[1.0, 1.0, 1.0], [0.9, 0.9, 0.9], [0.8, 0.05, 0.05], [0.7, 0.7, 0.7], [0.6, 0.6, 0.6]]
    verdicts = {2: {0: "stalled", 1: "diverged", 2: "stalled"}}
    stepper, params, history = _run(losses, verdicts, check_every=4, log_every=100, target_loss=0.1)
    last = history.groupby("member").tail(1)
    assert list(last.step) == [2, 2, 2] and list(last.status) == ["stalled", "diverged", "converged"]
    assert stepper.restored == [] and params == ["p2", "p2", "p2"]
    # negative control: without verdicts the step is not even checked, and all run to the end
    stepper, params, history = _run(losses, None, check_every=4, log_every=100)
    assert list(history.step) == [0, 0, 0, 4, 4, 4] and params == ["p4"] * 3


class ScriptedMiniBatch(Scripted):
    """A scripted stepper on mini-batches: ``losses`` are the batch losses at each step, ``full``
    the full training losses, given only when the monitor asks (at logged steps and where a
    member stops). ``single``: one network, whose loss is a float, not a tensor (E,)."""

    def __init__(self, losses, full=None, single=False):
        super().__init__(losses)
        self.full, self.single = full, single
        self.mini_batch = full is not None
        self.asked = []

    def evaluate(self, t):
        value = super().evaluate(t)
        return value.item() if self.single else value

    def full_loss(self):
        self.asked.append(self.t)
        value = torch.tensor(self.full[self.t], dtype=torch.float64)
        return value.item() if self.single else value


def _run_scripted(stepper, n_members, **options):
    net = Network.random([1, 1], "identity", ensemble=None if stepper.single else n_members)
    y = torch.zeros(4, 1, dtype=torch.float64)  # L(0) = 0: the reference is the start's loss
    options = FitOptions(steps=len(stepper.losses) - 1, check_every=1, log_every=100, **options)
    params, history = _train(stepper, Monitor(net, y, options, None, stepper.columns), options.steps)
    return params, history


# rule: (member 0's loss at step 3, the options that isolate the rule); its losses are 1.0, 0.9,
# 0.8 before and 0.6, 0.5 after, against a reference of 1.0 (the start; L(0) = 0 here)
MONITOR_RULES = {
    "nan": (NAN, dict(divergence_factor=None)),
    "inf": (math.inf, dict(divergence_factor=None)),
    "above max_loss": (60.0, dict(divergence_factor=None, max_loss=50.0)),
    "growth": (20.0, dict(divergence_factor=10.0)),  # 20 > 10 x max(1.0, 0)
}


@pytest.mark.parametrize("single", [True, False], ids=["single", "ensemble"])
@pytest.mark.parametrize("rule", list(MONITOR_RULES))
def test_each_rule_flags_the_member_at_the_step_it_breaks_it(rule, single):
    bad, options = MONITOR_RULES[rule]
    first = [1.0, 0.9, 0.8, bad, 0.6, 0.5]
    losses = [[v] if single else [v, 0.7] for v in first]
    stepper = ScriptedMiniBatch(losses, single=single)
    params, history = _run_scripted(stepper, 1 if single else 2, **options)
    assert stepper.restored == [(3, [0], ["p2"])]  # back to the last check, where the loss was fine
    assert params[0] == "p2" and (single or params[1] == "p5")
    rows = history[["step", "member", "status"]].values.tolist()
    assert rows[-1 if single else -2] == [3, 0, "diverged"]
    assert single or rows[-1] == [5, 1, "completed"]
    # negative control: the same losses with the loss at step 3 fine run to the end
    fine = ScriptedMiniBatch([[v] if single else [v, 0.7] for v in [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]], single=single)
    params, history = _run_scripted(fine, 1 if single else 2, **options)
    assert fine.restored == [] and set(history.status) == {"running", "completed"}


@pytest.mark.parametrize("single", [True, False], ids=["single", "ensemble"])
def test_a_bad_batch_loss_between_logs_and_a_bad_full_loss_at_a_log_both_diverge(single):
    # steps 0 and 5 are logged (log_every=100, 5 steps). Member 0's batch loss is NaN at step 2,
    # a checked but unlogged step, while its full loss there is fine: the batch loss stops it, and
    # its row shows the full loss, asked for at that step only. Member 1's batches are fine
    # throughout, but its full loss at the logged step 5 is inf: the full loss stops it there.
    def pick(rows):
        return [[r[0]] for r in rows] if single else rows
    batch = pick([[1.0, 1.0], [0.9, 0.9], [NAN, 0.8], [0.7, 0.7], [0.6, 0.6], [0.5, 0.5]])
    full = pick([[1.0, 1.0], [0.9, 0.9], [0.85, 0.8], [0.7, 0.7], [0.6, 0.6], [0.5, math.inf]])
    stepper = ScriptedMiniBatch(batch, full, single=single)
    params, history = _run_scripted(stepper, 1 if single else 2, divergence_factor=None)
    rows = history[["step", "member", "loss", "status"]].values.tolist()
    if single:
        assert rows == [[0, 0, 1.0, "running"], [2, 0, 0.85, "diverged"]] and params == ["p1"]
        assert stepper.asked == [0, 2]
    else:
        assert rows == [[0, 0, 1.0, "running"], [0, 1, 1.0, "running"], [2, 0, 0.85, "diverged"],
                        [5, 1, math.inf, "diverged"]]
        assert stepper.restored == [(2, [0], ["p1"]), (5, [1], ["p4"])] and params == ["p1", "p4"]
        assert stepper.asked == [0, 2, 5]
    # negative control: with every batch loss fine, member 0 runs on (and, single, completes)
    stepper = ScriptedMiniBatch(pick([[v, v] for v in [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]]), full, single=single)
    _, history = _run_scripted(stepper, 1 if single else 2, divergence_factor=None)
    assert history[history.member == 0].status.iloc[-1] == "completed"


def test_a_single_networks_bad_full_loss_at_a_logged_step_diverges():
    # the single-network (float) path of the full-loss rule: batches fine, full loss inf at the
    # logged step 5, which stops the run there and rolls it back to step 4's parameters
    batch = [[v] for v in [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]]
    full = [[v] for v in [1.0, 0.9, 0.8, 0.7, 0.6, math.inf]]
    stepper = ScriptedMiniBatch(batch, full, single=True)
    params, history = _run_scripted(stepper, 1, divergence_factor=None)
    assert list(history.status) == ["running", "diverged"] and list(history.step) == [0, 5]
    assert params == ["p4"] and stepper.asked == [0, 5]
    # negative control: a finite full loss there completes
    stepper = ScriptedMiniBatch(batch, [[v] for v in [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]], single=True)
    assert list(_run_scripted(stepper, 1, divergence_factor=None)[1].status) == ["running", "completed"]
