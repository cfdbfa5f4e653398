"""FitOptions: every choice of ``approx.train.fit`` in one frozen, checked record.

    options = FitOptions(optimizer="adam", lr=1e-3, steps=5000, batch_size=64)
    net, history = fit(net, (x, y), options)              # the same as fit(net, (x, y), optimizer=...)

``fit``'s keyword arguments are these fields, so ``approx.sweep`` reads the training options from
here rather than from fit's signature. Each field is checked when the record is made, with the
wording of ``approx.checks`` (a ValueError naming the field, the bad value and what is allowed),
so a bad value costs no work. What can only be checked against the network and the data (an
lr per member against the ensemble's size, batch_size against the number of points, a seed
list against the members) is checked by ``fit``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

from . import checks
from . import losses as _losses
from . import optim as _optim
from . import schedules as _schedules

__all__ = ["FitOptions", "TRAINING_ENGINES", "DIVERGENCE_FACTOR", "FIELDS", "with_overrides"]

TRAINING_ENGINES = ("backprop", "autograd")  # approx.backprop (hand-written), approx.autograd
DIVERGENCE_FACTOR = 1e4  # the default: a member diverges above this times its reference loss


@dataclass(frozen=True)
class FitOptions:
    """How ``fit`` trains; the rules behind each field are in ``approx.train``'s docstring."""

    engine: str = "backprop"  # TRAINING_ENGINES: who computes the gradients
    loss: str = "mse"  # approx.losses: mse or logistic
    optimizer: str = "gd"  # approx.optim: gd, sgd (momentum, nesterov) or adam (betas, eps)
    lr: float | Sequence[float] | Tensor = 0.1  # one rate, or one per ensemble member (E,)
    steps: int = 1000  # optimizer steps; the loss is judged at steps 0, 1, ..., steps
    batch_size: int | None = None  # None: full-batch gradients; else points per mini-batch
    momentum: float = 0.0  # sgd: heavy-ball coefficient mu in [0, 1)
    nesterov: bool = False  # sgd: Nesterov's variant (needs momentum > 0)
    weight_decay: float = 0.0  # L2 term weight_decay * theta added to every gradient
    betas: tuple[float, float] = (0.9, 0.999)  # adam: decay rates of the two moments
    eps: float = 1e-8  # adam: added to sqrt(v_hat)
    schedule: str | Callable[[int, int], float] = "constant"  # approx.schedules, or (t, steps) -> factor
    target_loss: float | None = None  # a member whose loss reaches it has converged
    time_budget_s: float | None = None  # wall-clock seconds before every member stops
    max_loss: float | None = None  # a member whose loss exceeds it has diverged
    divergence_factor: float | None = DIVERGENCE_FACTOR  # >= 1; diverged above factor x reference
    log_every: int | None = None  # log every log_every steps (None with no log_steps: ~100 rows)
    log_steps: Iterable[int] | None = None  # and/or at these steps, in 0..steps
    seed: int | Sequence[int] = 0  # mini-batch order: member e uses seed + e, or seed[e]
    check_every: int | None = None  # steps between stopping checks (None: 1; 16 for CUDA ensembles)

    def __post_init__(self) -> None:
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.choice("loss", self.loss, _losses.names())
        checks.integer("steps", self.steps, low=0)
        _check_rates(self.lr)
        _optim.make(self.optimizer, momentum=self.momentum, nesterov=self.nesterov,
                    weight_decay=self.weight_decay, betas=self.betas, eps=self.eps)
        _schedules.get(self.schedule)
        if self.log_every is not None:
            checks.integer("log_every", self.log_every, low=1)
        if self.log_steps is not None:
            # a generator would be used up by the check: keep the steps themselves
            object.__setattr__(self, "log_steps", tuple(self.log_steps))
            bad = [s for s in set(self.log_steps) if not _is_int(s) or not 0 <= s <= self.steps]
            if bad:
                raise ValueError(f"log_steps must be ints in 0..{self.steps}; got {sorted(map(str, bad))}")
        if self.check_every is not None:
            checks.integer("check_every", self.check_every, low=1)
        _optional_number("target_loss", self.target_loss)
        _optional_number("max_loss", self.max_loss, positive=True)
        _optional_number("divergence_factor", self.divergence_factor, minimum=1)
        _optional_number("time_budget_s", self.time_budget_s, positive=True)
        if self.batch_size is not None:
            checks.integer("batch_size", self.batch_size, low=1)


FIELDS = tuple(f.name for f in dataclasses.fields(FitOptions))


def with_overrides(options: FitOptions | None, overrides: dict[str, Any]) -> FitOptions:
    """``options`` (default: FitOptions()) with the fields named in ``overrides`` replaced."""
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown fit options {unknown}; allowed: {', '.join(FIELDS)}")
    if options is None:
        return FitOptions(**overrides)
    if not isinstance(options, FitOptions):
        raise ValueError(f"options must be a FitOptions or None, got {type(options).__name__}")
    return dataclasses.replace(options, **overrides) if overrides else options


def _check_rates(lr) -> None:
    """One positive finite rate, or several (one per member; their count is fit's to check)."""
    if isinstance(lr, Real):  # bool included: member_rates refuses it
        _optim.member_rates(lr, None)
    else:
        _optim.member_rates(lr, torch.as_tensor(lr).numel())


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _optional_number(name: str, value, positive: bool = False, minimum: float | None = None) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else " > 0" if positive else ""
        raise ValueError(f"{name} must be None or a finite number{bound}, got {value!r}")
