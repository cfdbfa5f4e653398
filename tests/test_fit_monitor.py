"""approx.fit_monitor, alone: a scripted stepper's losses are judged, logged, rolled back and frozen."""
from __future__ import annotations

import math

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
