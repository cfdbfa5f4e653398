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


# ---------------------------------------------------------------------- m4: rules at their edges
class _Device:
    """A stand-in for a network on some device: all Monitor.__init__ reads of it."""

    def __init__(self, device, ensemble):
        self.device, self.ensemble, self.dtype = torch.device(device), ensemble, torch.float64


@pytest.mark.parametrize("device, ensemble, optimizer, every", [
    ("cuda", 3, "gd", 16), ("cuda", 3, "adam", 16),  # first order, ensemble, CUDA: every 16 steps
    ("cuda", 3, "lm", 1), ("cuda", 3, "lbfgs", 1),   # second order reads its losses anyway
    ("cuda", None, "gd", 1), ("cpu", 3, "gd", 1),     # a single network, or the CPU: every step
])
def test_the_default_check_interval(device, ensemble, optimizer, every):
    # check_every=None: a first-order ensemble on CUDA is checked every 16 steps (one host
    # transfer per 16), everything else at every step; an explicit check_every wins everywhere
    y = torch.zeros(4, 1, dtype=torch.float64)
    assert Monitor(_Device(device, ensemble), y, FitOptions(optimizer=optimizer), None).check_every == every
    # negative control: the chosen interval is not a constant
    assert Monitor(_Device(device, ensemble), y, FitOptions(optimizer=optimizer, check_every=5), None).check_every == 5


def test_a_bad_metric_name_lists_the_taken_names():
    net = Network.random([1, 1], "identity")
    y = torch.zeros(4, 1, dtype=torch.float64)
    taken = "step, member, loss, status, time_s, own"
    with pytest.raises(ValueError, match=f"metric 'loss' must be a callable with a name other than {taken}$"):
        Monitor(net, y, FitOptions(), {"loss": len}, ("own",))
    Monitor(net, y, FitOptions(), {"other": len}, ("own",))  # negative control: a free name is fine


class _Clock:
    """A fake time.perf_counter, moved by hand."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_time_s_and_the_time_budget_read_the_elapsed_time(monkeypatch):
    # each step takes 0.25 s on a fake clock that starts far from 0; time_budget_s=1.0 stops the
    # run at the first step where the elapsed time is >= 1.0 (exactly 1.0 after 4 steps), with
    # status time_budget; time_s is the elapsed time since the monitor started
    clock = _Clock()
    monkeypatch.setattr("approx.fit_monitor.time.perf_counter", clock)

    class Timed(Scripted):
        def update(self, t):
            super().update(t)
            clock.now += 0.25

    losses = [[1.0]] * 11
    stepper = Timed(losses)
    net = Network.random([1, 1], "identity", ensemble=1)
    options = FitOptions(steps=10, log_every=1, time_budget_s=1.0)
    _, history = _train(stepper, Monitor(net, torch.zeros(4, 1, dtype=torch.float64), options, None,
                                         stepper.columns), options.steps)
    assert history.step.tolist() == [0, 1, 2, 3, 4]
    assert history.time_s.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert history.status.tolist() == ["running"] * 4 + ["time_budget"]
    # negative control: without the budget the same clock runs all 10 steps
    clock.now, stepper = 1000.0, Timed(losses)
    options = FitOptions(steps=10, log_every=1)
    _, history = _train(stepper, Monitor(net, torch.zeros(4, 1, dtype=torch.float64), options, None,
                                         stepper.columns), options.steps)
    assert history.status.tolist()[-1] == "completed" and len(history) == 11


@pytest.mark.parametrize("single", [True, False], ids=["single", "ensemble"])
def test_a_batch_loss_below_the_target_between_logs_does_not_converge(single):
    # mini-batches: the target is judged on the full loss, computed at logged steps only. Member
    # 0's batch loss drops below the target at the unlogged step 2 while its full loss does not:
    # it runs on, and converges at the logged step 5 where its full loss reaches the target
    def pick(rows):
        return [[r[0]] for r in rows] if single else rows
    batch = pick([[1.0, 1.0], [0.9, 0.9], [0.01, 0.8], [0.7, 0.7], [0.6, 0.6], [0.5, 0.5]])
    full = pick([[1.0, 1.0], [0.9, 0.9], [0.8, 0.8], [0.7, 0.7], [0.6, 0.6], [0.05, 0.5]])
    stepper = ScriptedMiniBatch(batch, full, single=single)
    _, history = _run_scripted(stepper, 1 if single else 2, divergence_factor=None, target_loss=0.1)
    member0 = history[history.member == 0][["step", "status"]].values.tolist()
    assert member0 == [[0, "running"], [5, "converged"]]
    # negative control: full-batch (the batch loss is the full loss) converges at step 2
    stepper = ScriptedMiniBatch(batch, single=single)
    _, history = _run_scripted(stepper, 1 if single else 2, divergence_factor=None, target_loss=0.1)
    assert history[history.member == 0][["step", "status"]].values.tolist()[-1] == [2, "converged"]


def test_a_stopped_members_repeated_verdict_is_ignored():
    # a stepper may keep reporting "stalled" for a member it froze: the monitor stops a member
    # once, and does not freeze, log or check again for a member that is no longer running
    losses = [[1.0, 1.0]] * 6
    verdicts = {2: {0: "stalled"}, 3: {0: "stalled"}, 4: {0: "stalled"}}
    stepper, params, history = _run(losses, verdicts, check_every=100, log_every=100)
    assert stepper.frozen == [(2, [False, True])]
    assert history[["step", "member", "status"]].values.tolist() == [
        [0, 0, "running"], [0, 1, "running"], [2, 0, "stalled"], [5, 1, "completed"]]
    assert params == ["p2", "p5"]
    # negative control: a verdict on the running member 1 at step 4 does stop it
    verdicts[4] = {0: "stalled", 1: "stalled"}
    stepper, _, _ = _run(losses, verdicts, check_every=100, log_every=100)
    assert stepper.frozen == [(2, [False, True]), (4, [False, False])]


def test_a_stepper_without_columns_is_not_asked_for_values():
    # the stepper's own columns are read only where it has some (first-order steppers have none)
    class NoColumns(Scripted):
        columns = ()

        def values(self, members):
            raise AssertionError("values() asked of a stepper without columns")

    stepper = NoColumns([[1.0], [0.9], [0.8]])
    net = Network.random([1, 1], "identity", ensemble=1)
    options = FitOptions(steps=2, log_every=1)
    _, history = _train(stepper, Monitor(net, torch.zeros(4, 1, dtype=torch.float64), options, None, ()), 2)
    assert list(history.columns) == ["step", "member", "loss", "status", "time_s"] and len(history) == 3
    # negative control: a stepper with columns is asked (and this one fails)
    stepper = NoColumns([[1.0], [0.9], [0.8]])
    with pytest.raises(AssertionError, match="values"):
        _train(stepper, Monitor(net, torch.zeros(4, 1, dtype=torch.float64), options, None, ("own",)), 2)


def test_a_zero_start_gives_a_growth_threshold_of_factor_times_tiny():
    # approx.train: the growth threshold is factor * max(L(theta_0), L(0), tiny). With a zero
    # start and zero targets it is 10 * tiny (about 2.2e-307), not 0: a subnormal loss of 1e-310
    # is not divergence
    batch = [[0.0], [1e-310], [1e-310]]
    stepper = ScriptedMiniBatch(batch, single=True)
    _, history = _run_scripted(stepper, 1, divergence_factor=10.0)
    assert list(history.status) == ["running", "completed"]
    # negative control: a loss above 10 * tiny is
    stepper = ScriptedMiniBatch([[0.0], [1e-300], [1e-300]], single=True)
    assert list(_run_scripted(stepper, 1, divergence_factor=10.0)[1].status) == ["running", "diverged"]


@pytest.mark.parametrize("single", [True, False], ids=["single", "ensemble"])
@pytest.mark.parametrize("which", ["batch", "full"])
def test_a_loss_equal_to_max_loss_is_fine(single, which):
    # "fine" is loss <= max_loss (approx.train's docstring): at the logged step 5 the batch
    # loss or the full loss equals max_loss = 50 exactly, and the run completes
    def pick(rows):
        return [[r[0]] for r in rows] if single else rows

    def run(edge):
        batch = [[1.0, 1.0]] * 5 + [[edge, edge] if which == "batch" else [0.5, 0.5]]
        full = [[1.0, 1.0]] * 5 + [[edge, edge] if which == "full" else [0.5, 0.5]]
        stepper = ScriptedMiniBatch(pick(batch), pick(full), single=single)
        return _run_scripted(stepper, 1 if single else 2, divergence_factor=None, max_loss=50.0)[1]
    assert set(run(50.0).status) == {"running", "completed"}
    # negative control: one ulp above max_loss diverges
    assert set(run(math.nextafter(50.0, math.inf)).status) == {"running", "diverged"}


def test_a_nan_batch_loss_at_a_logged_step_diverges_even_where_the_full_loss_is_fine():
    # ensemble, mini-batches: at the logged step 5 member 0's batch loss is NaN and its full loss
    # fine; either bad loss is divergence (the full loss adds to the batch rule, never replaces it)
    batch = [[1.0, 1.0]] * 5 + [[NAN, 0.5]]
    full = [[1.0, 1.0]] * 5 + [[0.5, 0.5]]
    stepper = ScriptedMiniBatch(batch, full)
    _, history = _run_scripted(stepper, 2, divergence_factor=None)
    assert history.status.tolist()[-2:] == ["diverged", "completed"]
    # negative control: a fine batch loss there completes
    stepper = ScriptedMiniBatch([[1.0, 1.0]] * 5 + [[0.5, 0.5]], full)
    assert set(_run_scripted(stepper, 2, divergence_factor=None)[1].status) == {"running", "completed"}


def test_the_default_log_grid_has_about_100_rows():
    # neither log_every nor log_steps: every max(1, steps // 100) steps (integer division)
    from approx.fit_monitor import _log_rule
    assert [t for t in range(6) if _log_rule(5, None, None)(t)] == [0, 1, 2, 3, 4, 5]
    assert [t for t in range(11) if _log_rule(250, None, None)(t)] == [0, 2, 4, 6, 8, 10]
    # negative control: an explicit log_every is used as given
    assert [t for t in range(11) if _log_rule(250, 5, None)(t)] == [0, 5, 10]
