"""The monitor of ``approx.train.fit``: per member, the stopping checks, the log and the rollback.

At a check step the monitor reads each running member's loss and decides, by the rules of
``approx.train``'s docstring:

    diverged     the loss is not <= its threshold (NaN, inf, above max_loss, or above
                 divergence_factor times the member's reference): the member is rolled back to
                 its parameters at the last check, where its loss was fine, and frozen
    converged    the loss reached target_loss: frozen where it is
    completed    the last step; time_budget when the wall clock ran out first

and it logs one row per logged member (step, member, loss, status, time_s, the stepper's own
columns, the metrics). It never moves parameters itself: it asks the stepper (the optimizer's
half of the loop, ``approx.train``) to restore and freeze members, so one monitor serves every
optimizer.

A second-order stepper also reports verdicts of its own at theta_t (``stops``): "diverged"
where its Jacobian or gradient is not finite at a finite loss, "stalled" where it can lower the
loss no further (lm: damping above max_damping; lbfgs: a line search without sufficient
decrease, or a zero gradient). Such a member is frozen where it is: its loss there is fine, so
there is nothing to roll back. Precedence: diverged, then converged, then stalled.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterable

import pandas as pd
import torch
from torch import Tensor

from . import losses as _losses
from .fit_options import SECOND_ORDER, FitOptions
from .network import Network

__all__ = ["Monitor", "STATUSES", "BASE_COLUMNS"]

STATUSES = ("running", "completed", "converged", "diverged", "stalled", "time_budget")
BASE_COLUMNS = ("step", "member", "loss", "status", "time_s")


class Monitor:
    """Checks, log and rollback for one fit of ``net`` (a single network or an ensemble of E).

    y: the training targets, (n, d_L) or (E, n, d_L); they set the reference L(0) of the
    divergence rule. columns: the stepper's own history columns, logged before the metrics.
    """

    def __init__(self, net: Network, y: Tensor, options: FitOptions,
                 metrics: dict[str, Callable[[Network], float | Tensor]] | None,
                 columns: tuple[str, ...] = ()):
        self.ensemble = net.ensemble
        self.n_members = net.ensemble or 1
        self.options = options
        self.columns = columns
        self.metrics = dict(metrics or {})
        for name, fn in self.metrics.items():
            taken = (*BASE_COLUMNS, *columns)
            if name in taken or not callable(fn):
                raise ValueError(f"metric {name!r} must be a callable with a name other than {', '.join(taken)}")
        self.is_log_step = _log_rule(options.steps, options.log_every, options.log_steps)
        self.check_every = options.check_every
        if self.check_every is None:
            # a second-order iteration reads its losses on the host anyway: checking is free
            first_order_on_cuda = net.device.type == "cuda" and options.optimizer not in SECOND_ORDER
            self.check_every = 16 if net.ensemble and first_order_on_cuda else 1

        # "fine" means loss <= upper (false for NaN and inf). ``upper`` is a float until step 0
        # has given the divergence reference; then a float or (E,) on the device.
        max_loss = options.max_loss
        self.ceiling = min(math.inf if max_loss is None else float(max_loss), torch.finfo(net.dtype).max)
        self.upper = self.ceiling
        self.zero_loss = _losses.get(options.loss).value(torch.zeros_like(y), y, y.ndim == 3)  # L(0): () or (E,)
        self.target = -math.inf if options.target_loss is None else float(options.target_loss)

        self.running = [True] * self.n_members
        self.last_good = None  # the stepper's snapshot at the last check where every running member was fine
        self.rows: list[list] = []
        self.start = time.perf_counter()

    # ------------------------------------------------------------------ the loop asks
    def out_of_time(self) -> bool:
        budget = self.options.time_budget_s
        return budget is not None and time.perf_counter() - self.start >= budget

    def due(self, t: int, final: bool) -> bool:
        """Whether step t is checked: the last step, a logged step, or every check_every."""
        return final or self.is_log_step(t) or t % self.check_every == 0

    @property
    def all_stopped(self) -> bool:
        return not any(self.running)

    def check(self, t: int, final: bool, value: float | Tensor, stepper, own: dict[int, str]) -> None:
        """Judge the running members' loss ``value`` at step t, log, roll back and freeze.

        value: the stepper's loss at theta_t, a float (single network) or (E,) on the device;
        with mini-batches a batch loss, which can flag divergence, while the target and the
        logged loss are judged on the full training loss, computed at logged steps.
        own: the stepper's own verdicts at theta_t, member -> "diverged" or "stalled".
        """
        if self.last_good is None:
            self.last_good = stepper.snapshot()  # step 0: the start
        log = final or self.is_log_step(t)
        full = value
        if stepper.mini_batch and log:
            full = stepper.full_loss()
        if t == 0 and self.options.divergence_factor is not None:  # step 0 is always logged
            self.upper = _growth_threshold(full, self.zero_loss, self.options.divergence_factor, self.ceiling)
        judged = full if not stepper.mini_batch or log else None
        diverged, converged = _judge(value, judged, self.upper, self.target, self.running)
        broken = {e for e, s in own.items() if s == "diverged" and self.running[e]} - diverged
        converged -= broken
        stalled = {e for e, s in own.items() if s == "stalled" and self.running[e]} - diverged - broken - converged
        stopped = diverged | broken | converged | stalled
        if log or stopped:
            if stepper.mini_batch and not log:
                full = stepper.full_loss()
            members = [e for e in range(self.n_members) if self.running[e] and (log or e in stopped)]
            final_status = "completed" if t == self.options.steps else "time_budget"
            statuses = {e: "diverged" if e in diverged or e in broken else "converged" if e in converged
                        else "stalled" if e in stalled else final_status if final else "running"
                        for e in members}
            self._log(t, members, statuses, full, stepper)
        if diverged:  # roll those members back to their last parameters with a fine loss
            stepper.restore(diverged, self.last_good)
        for e in stopped:
            self.running[e] = False
        if stopped:
            stepper.freeze(self.running)
        self.last_good = stepper.snapshot()

    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=[*BASE_COLUMNS, *self.columns, *self.metrics])

    # ------------------------------------------------------------------ its parts
    def _log(self, t: int, members: list[int], statuses: dict[int, str], full, stepper) -> None:
        elapsed = time.perf_counter() - self.start
        losses = full.tolist() if isinstance(full, Tensor) else [float(full)]
        own = stepper.values(members) if self.columns else [[] for _ in members]  # per member
        values = {}
        current = stepper.network()
        for name, fn in self.metrics.items():
            v = fn(current)
            values[name] = v.detach().flatten().tolist() if isinstance(v, Tensor) else [float(v)] * self.n_members
            if len(values[name]) != self.n_members:
                raise ValueError(f"metric {name!r} gave {len(values[name])} values; need a float or "
                                 f"one value per member ({self.n_members})")
        for e, extra in zip(members, own):
            self.rows.append([t, e, losses[e], statuses[e], elapsed, *extra, *(values[m][e] for m in self.metrics)])


def _growth_threshold(start, zero_loss: Tensor, factor: float, ceiling: float):
    """min(ceiling, factor * max(start, zero_loss, tiny)) per member (approx.train's docstring).

    ``start`` is the full loss at step 0: a float (single network) or (E,) on the device, and
    so is the result. Whatever it gives for a NaN or inf start does not matter: that member
    is judged diverged at step 0, since NaN and inf are never <= a threshold <= ``ceiling``.
    """
    tiny = torch.finfo(zero_loss.dtype).tiny
    if isinstance(start, Tensor):
        reference = torch.maximum(start, zero_loss).clamp(min=tiny)  # (E,)
        return (reference * factor).clamp(max=ceiling)
    return min(max(start, float(zero_loss), tiny) * factor, ceiling)


def _judge(value, full, upper, target: float, running: list[bool]) -> tuple[set, set]:
    """(diverged, converged): running members whose loss is not <= upper, or is <= target.

    ``upper`` is a float or (E,) on the device (one threshold per member). ``value`` is the
    step's loss (a float, or (E,) on the device); ``full`` is the full
    training loss (``value`` itself for full-batch training), or None where only divergence is
    judged. "not <= upper" catches NaN and inf as well as large losses.
    """
    if isinstance(value, Tensor):
        bad = ~(value <= upper)
        if full is not None and full is not value:
            bad |= ~(full <= upper)
        hit = (full <= target) & ~bad if full is not None else torch.zeros_like(bad)
        flags = torch.stack([bad, hit])  # (2, E); one transfer to the host, only if needed
        if not flags.any():
            return set(), set()
        bad_list, hit_list = flags.tolist()
    else:
        bad_list = [not (value <= upper) or (full is not None and not (full <= upper))]
        hit_list = [full is not None and full <= target and not bad_list[0]]
    diverged = {e for e, b in enumerate(bad_list) if b and running[e]}
    converged = {e for e, h in enumerate(hit_list) if h and running[e]}
    return diverged, converged


def _log_rule(steps: int, log_every: int | None, log_steps: Iterable[int] | None) -> Callable[[int], bool]:
    """Whether step t is logged: every log_every steps (default about 100 rows), the listed
    steps, and step 0."""
    if log_every is None and log_steps is None:
        log_every = max(1, steps // 100)
    chosen = set(log_steps or ())
    chosen.add(0)
    if log_every is None:
        return chosen.__contains__
    return lambda t: t % log_every == 0 or t in chosen
