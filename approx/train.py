"""The training loop: ``fit`` trains a Network (or an ensemble of E) on either engine.

    net, history = fit(net, (x, y), engine="backprop", optimizer="gd", lr=0.1, steps=1000)

One loop serves every engine and optimizer: at step t = 0, 1, ..., steps the engine returns the
loss L(theta_t) and its gradient, the optimizer (``approx.optim``) turns them into theta_{t+1}
with rate eta * schedule(t) (``approx.schedules``). Because both engines feed the same loop,
their trajectories can be compared step by step: in float64 the losses of 1,000 GD steps agree
to 1e-9 relative (tests/test_train.py; ~1e-15 in practice) while GD is stable. At the edge of
stability (eta near 2 / sharpness; Cohen et al. 2021) GD amplifies any rounding difference
exponentially, and two summation orders part ways: that is the dynamics, not an engine bug.

Ensembles: for an ensemble of E networks every member has its own loss, gradient, learning
rate (``lr`` may hold E values), mini-batch stream and stopping status, but the E members run
as one batched computation; the result equals training them one at a time (to rounding).

History: a DataFrame with one row per (logged step, member) and the columns step, member (0
for a single network), loss (the training loss on all the data at theta_step), status, time_s
(wall clock since the start) and one column per metric. Step 0 and each member's last step
are always logged. Statuses:

    running      an intermediate row
    completed    the step budget was used up
    converged    the loss reached ``target_loss``; the member is frozen there
    diverged     the loss was NaN, inf, above ``max_loss``, or above ``divergence_factor``
                 times its reference (below); the member is frozen at its last parameters
                 with a fine loss (the row shows the offending loss), and the others carry
                 on: a sweep never crashes on one bad run
    time_budget  ``time_budget_s`` seconds of wall clock ran out

Divergence by growth: a loss that stays finite can still have blown up (Adam at lr = 1e6 gives
losses of 1e4 to 1e13). Member e diverges when its loss exceeds

    divergence_factor * max(L_e(theta_0), L_e(0), tiny)        (default factor 1e4)

where L_e(theta_0) is its full training loss at step 0 and L_e(0) the loss of predicting 0
everywhere (mean y^2 for mse, log 2 for logistic): the second term sets the targets' scale, so a
run that starts at an exact fit (a construction, L_e(theta_0) = 0) may drift by rounding or
weight decay without counting as blown up; tiny (the dtype's smallest normal number) keeps the
threshold positive when both are 0. Honest runs never come near it: training lowers the loss,
and a mini-batch loss is at most n / batch_size times the full loss of the same parameters.
``divergence_factor=None`` turns the rule off (NaN, inf and ``max_loss`` still count); each
member of an ensemble has its own reference, so an ensemble stops members as single runs would.

Stopping checks read the loss on the host, which on CUDA is a device synchronisation; they run
every ``check_every`` steps (default: every step, except for ensembles on CUDA, every 16) and at
every logged step, so the loop adds little per step. A member frozen between checks is frozen
at the last check at which it was fine.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterable, Sequence

import pandas as pd
import torch
from torch import Tensor

from . import checks
from . import losses as _losses
from . import optim as _optim
from . import schedules as _schedules
from .network import Network, member_seeds

__all__ = ["fit", "ENGINES", "STATUSES", "DIVERGENCE_FACTOR"]

ENGINES = ("backprop", "autograd")
STATUSES = ("running", "completed", "converged", "diverged", "time_budget")
BASE_COLUMNS = ("step", "member", "loss", "status", "time_s")
DIVERGENCE_FACTOR = 1e4  # fit's default: diverged above this times the reference loss


def engine_function(engine: str) -> Callable:
    """``loss_and_grad`` of the engine called ``engine`` ("backprop" or "autograd")."""
    if engine == "autograd":
        from .autograd import loss_and_grad
    elif engine == "backprop":
        from .backprop import loss_and_grad
    else:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    return loss_and_grad


def fit(
    net: Network,
    data: tuple[Tensor, Tensor],
    *,
    engine: str = "backprop",
    loss: str = "mse",
    optimizer: str = "gd",
    lr: float | Sequence[float] | Tensor = 0.1,
    steps: int = 1000,
    batch_size: int | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    schedule: str | Callable[[int, int], float] = "constant",
    target_loss: float | None = None,
    time_budget_s: float | None = None,
    max_loss: float | None = None,
    divergence_factor: float | None = DIVERGENCE_FACTOR,
    log_every: int | None = None,
    log_steps: Iterable[int] | None = None,
    metrics: dict[str, Callable[[Network], float | Tensor]] | None = None,
    seed: int | Sequence[int] = 0,
    check_every: int | None = None,
) -> tuple[Network, pd.DataFrame]:
    """Train ``net`` on ``data`` = (x, y); return the trained Network and the history.

    x is (n, d_0), shared by all members of an ensemble, or (E, n, d_0), one data set per
    member; y is (n, d_L) or (E, n, d_L). Data are moved to the network's device and dtype.

    engine: "backprop" (hand-written) or "autograd". loss: "mse" or "logistic".
    optimizer: "gd", "sgd" (heavy-ball ``momentum``, optionally ``nesterov``) or "adam"
        (``betas``, ``eps``); ``weight_decay`` adds an L2 term to the gradient. See approx.optim.
    lr: one rate, or E rates for an ensemble (member e uses lr[e]); multiplied by
        ``schedule(t, steps)``: "constant", "step", "cosine" or a callable.
    batch_size: None for full-batch gradients; else each step uses batch_size points drawn
        without replacement from a fresh permutation every epoch (the last n % batch_size
        points of a permutation are skipped). Permutations come from a CPU torch.Generator
        seeded with ``seed`` (member e of an ensemble: seed + e, or seed[e] for a list), so
        runs repeat bit for bit and member e sees the batches a single run with its seed sees.
    target_loss / max_loss / divergence_factor / time_budget_s: stopping rules (see the module
        docstring); with mini-batches, target_loss is judged on the full training loss at
        logged steps, and divergence on the mini-batch loss at check steps (and on the full
        loss at logged steps). divergence_factor: None, or a number >= 1 (default 1e4).
    log_every / log_steps: log every log_every steps and/or at the listed steps (default:
        about 100 rows per member); step 0 and the last step are always logged.
    metrics: name -> callable(net) -> float (single network) or tensor (E,) (ensemble),
        evaluated on the current network at every logged step.
    """
    loss_and_grad = engine_function(engine)
    _losses.get(loss)  # an unknown loss name fails here, before any work
    checks.integer("steps", steps, low=0)
    ensemble = net.ensemble
    n_members = ensemble or 1
    x, y = _check_data(net, data)
    n_points = x.shape[-2]
    rate = _optim.member_rates(lr, ensemble, net.dtype, net.device)
    opt = _optim.make(optimizer, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                      betas=betas, eps=eps)
    factor = _schedules.get(schedule)
    constant_rate = schedule == "constant"
    is_log_step = _log_rule(steps, log_every, log_steps)
    if check_every is None:
        check_every = 16 if ensemble and net.device.type == "cuda" else 1
    checks.integer("check_every", check_every, low=1)
    _check_optional_number("target_loss", target_loss)
    _check_optional_number("max_loss", max_loss, positive=True)
    _check_optional_number("divergence_factor", divergence_factor, minimum=1)
    _check_optional_number("time_budget_s", time_budget_s, positive=True)
    metrics = dict(metrics or {})
    for name, fn in metrics.items():
        if name in BASE_COLUMNS or not callable(fn):
            raise ValueError(
                f"metric {name!r} must be a callable with a name other than {', '.join(BASE_COLUMNS)}"
            )
    batches = None
    if batch_size is not None:
        checks.integer("batch_size", batch_size, low=1)
        if batch_size > n_points:
            raise ValueError(f"batch_size={batch_size} exceeds the {n_points} training points")
        batches = _Batches(n_points, batch_size, member_seeds(seed, n_members), net.device,
                           single=ensemble is None)

    # Stopping thresholds: "fine" means loss <= upper (false for NaN and inf). ``upper`` is a
    # float until step 0 has given the divergence reference; then a float or (E,) on the device.
    ceiling = min(math.inf if max_loss is None else float(max_loss), torch.finfo(net.dtype).max)
    upper = ceiling
    zero_loss = _losses.get(loss).value(torch.zeros_like(y), y, y.ndim == 3)  # L(0): () or (E,)
    target = -math.inf if target_loss is None else float(target_loss)

    params = net.parameters()
    last_good = params  # parameters at the last check where every running member was fine
    state = opt.init(params)
    running = [True] * n_members
    keep = None  # (E,) bool on the device: members still training, None while all are
    rows: list[list] = []
    start = time.perf_counter()

    for t in range(steps + 1):
        current = net.with_parameters(params)
        if batches is None:
            value, grads = loss_and_grad(current, x, y, loss)
        else:
            index = batches.next()  # (batch,) or (E, batch)
            value, grads = loss_and_grad(current, *_gather(x, y, index, ensemble), loss)
        out_of_time = time_budget_s is not None and time.perf_counter() - start >= time_budget_s
        final = t == steps or out_of_time
        log = final or is_log_step(t)
        if not (log or t % check_every == 0):
            params = _update(opt, params, grads, rate if constant_rate else rate * factor(t, steps),
                             state, keep)
            continue

        # With mini-batches ``value`` is a batch loss: it can flag divergence, but the target
        # and the logged loss are judged on the full training loss, computed at logged steps.
        full = value
        if batches is not None and log:
            full = loss_and_grad(current, x, y, loss)[0]
        if t == 0 and divergence_factor is not None:  # step 0 is always logged: full is known
            upper = _growth_threshold(full, zero_loss, divergence_factor, ceiling)
        judged = full if batches is None or log else None
        diverged, converged = _judge(value, judged, upper, target, running)
        stopped = diverged | converged
        if log or stopped:
            if batches is not None and not log:
                full = loss_and_grad(current, x, y, loss)[0]
            members = [e for e in range(n_members) if running[e] and (log or e in stopped)]
            elapsed = time.perf_counter() - start
            final_status = "completed" if t == steps else "time_budget"
            statuses = {e: "diverged" if e in diverged else "converged" if e in converged
                        else final_status if final else "running" for e in members}
            rows.extend(_rows(t, members, statuses, full, current, metrics, elapsed, ensemble))
        if diverged:  # roll those members back to their last parameters with a fine loss
            params = _select(diverged, last_good, params, ensemble)
        for e in stopped:
            running[e] = False
        if stopped and ensemble:
            keep = torch.tensor(running, device=net.device)
        last_good = params
        if final or not any(running):
            break
        params = _update(opt, params, grads, rate if constant_rate else rate * factor(t, steps),
                         state, keep)

    history = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *metrics])
    return net.with_parameters(params), history


# ---------------------------------------------------------------------------- the loop's parts
def _update(opt, params, grads, rate, state, keep: Tensor | None) -> list[Tensor]:
    """One optimizer step; members not in ``keep`` keep their parameters."""
    new = opt.step(params, grads, rate, state)
    if keep is None:
        return new
    return [torch.where(keep.view(-1, *([1] * (p.ndim - 1))), q, p) for p, q in zip(params, new)]


def _growth_threshold(start, zero_loss: Tensor, factor: float, ceiling: float):
    """min(ceiling, factor * max(start, zero_loss, tiny)) per member (the module docstring).

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


def _rows(t, members, statuses, full, current: Network, metrics, elapsed, ensemble) -> list[list]:
    losses = full.tolist() if isinstance(full, Tensor) else [float(full)]
    values = {}
    for name, fn in metrics.items():
        v = fn(current)
        values[name] = v.detach().flatten().tolist() if isinstance(v, Tensor) else [float(v)] * (ensemble or 1)
        if len(values[name]) != (ensemble or 1):
            raise ValueError(f"metric {name!r} gave {len(values[name])} values; need a float or "
                             f"one value per member ({ensemble or 1})")
    return [[t, e, losses[e], statuses[e], elapsed, *(values[m][e] for m in metrics)] for e in members]


def _select(members: set, source: list[Tensor], params: list[Tensor], ensemble) -> list[Tensor]:
    """``params`` with the listed members' tensors taken from ``source``."""
    if not ensemble:
        return source
    mask = torch.zeros(ensemble, dtype=torch.bool)
    mask[list(members)] = True
    mask = mask.to(params[0].device)
    return [torch.where(mask.view(-1, *([1] * (p.ndim - 1))), s, p) for s, p in zip(source, params)]


class _Batches:
    """Mini-batch indices: per member a seeded CPU generator draws one permutation per epoch."""

    def __init__(self, n_points: int, batch_size: int, seeds: list[int], device: torch.device,
                 single: bool):
        self.n_points, self.batch_size, self.device, self.single = n_points, batch_size, device, single
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.per_epoch = n_points // batch_size
        self.position = self.per_epoch  # start with a fresh epoch

    def next(self) -> Tensor:
        if self.position == self.per_epoch:
            used = self.per_epoch * self.batch_size
            perms = torch.stack([torch.randperm(self.n_points, generator=g)[:used]
                                 for g in self.generators])  # (members, used)
            # one transfer per epoch; then each step is a view
            self.block = perms.view(len(self.generators), self.per_epoch, self.batch_size).to(self.device)
            self.position = 0
        index = self.block[:, self.position]  # (members, batch)
        self.position += 1
        return index[0] if self.single else index


def _gather(x: Tensor, y: Tensor, index: Tensor, ensemble) -> tuple[Tensor, Tensor]:
    """The mini-batch: rows ``index`` ((batch,), or (E, batch) per member) of x and y."""
    if not ensemble:
        return x[index], y[index]
    return tuple(d[index] if d.ndim == 2 else torch.take_along_dim(d, index.unsqueeze(-1), dim=1)
                 for d in (x, y))  # (E, batch, d)


# ---------------------------------------------------------------------------- input checks
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_optional_number(name: str, value, positive: bool = False, minimum: float | None = None) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else " > 0" if positive else ""
        raise ValueError(f"{name} must be None or a finite number{bound}, got {value!r}")


def _check_data(net: Network, data) -> tuple[Tensor, Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2
            and all(isinstance(d, Tensor) for d in data)):
        raise ValueError(f"data must be a pair of tensors (x, y); got {type(data).__name__}")
    x, y = (d.to(device=net.device, dtype=net.dtype) for d in data)
    net.check_input(x)
    ensemble, d_out = net.ensemble, net.sizes[-1]
    ok_ndim = (2, 3) if ensemble else (2,)
    if y.ndim not in ok_ndim or y.shape[-1] != d_out or (y.ndim == 3 and y.shape[0] != ensemble):
        want = f"(n, {d_out})" + (f" or ({ensemble}, n, {d_out})" if ensemble else "")
        raise ValueError(f"targets y must have shape {want}; got {tuple(y.shape)}")
    if x.shape[-2] != y.shape[-2] or x.shape[-2] < 1:
        raise ValueError(f"x has {x.shape[-2]} points but y has {y.shape[-2]}; need the same n >= 1")
    return x, y


def _log_rule(steps: int, log_every: int | None, log_steps: Iterable[int] | None) -> Callable[[int], bool]:
    if log_every is None and log_steps is None:
        log_every = max(1, steps // 100)
    if log_every is not None:
        checks.integer("log_every", log_every, low=1)
    chosen: set[int] = set()
    if log_steps is not None:
        chosen = set(log_steps)
        bad = [s for s in chosen if not _is_int(s) or not 0 <= s <= steps]
        if bad:
            raise ValueError(f"log_steps must be ints in 0..{steps}; got {sorted(map(str, bad))}")
    chosen.add(0)
    if log_every is None:
        return chosen.__contains__
    return lambda t: t % log_every == 0 or t in chosen
