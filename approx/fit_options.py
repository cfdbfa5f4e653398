"""FitOptions: every choice of ``approx.train.fit`` in one frozen, checked record.

    options = FitOptions(optimizer="adam", lr=1e-3, steps=5000, batch_size=64)
    net, history = fit(net, (x, y), options)              # the same as fit(net, (x, y), optimizer=...)

``fit``'s keyword arguments are these fields, so ``approx.sweep`` reads the training options from
here rather than from fit's signature. Each field is checked when the record is made, with the
wording of ``approx.checks`` (a ValueError naming the field, the bad value and what is allowed),
so a bad value costs no work. What can only be checked against the network and the data (an
lr per member against the ensemble's size, batch_size against the number of points, a seed
list against the members) is checked by ``fit``.

Each optimizer reads its own fields: lr, batch_size, momentum, nesterov, weight_decay, betas,
eps and schedule are for the first-order ones (gd, sgd, adam); damping, max_damping and
max_jacobian_bytes for lm; memory, c1, c2 and max_evaluations for lbfgs. A field set to
anything but its default for an optimizer that does not read it is refused rather than
ignored, and so is lm with a loss other than mse. ``compile`` (approx.compiled_step) applies to
the first-order optimizers: "auto" runs lbfgs and lm eagerly, and "on" with them is refused.
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
from .compiled_step import COMPILE_CHOICES

__all__ = ["FitOptions", "TRAINING_ENGINES", "OPTIMIZERS", "SECOND_ORDER", "DIVERGENCE_FACTOR",
           "DEFAULT_LR", "FIELDS", "with_overrides"]

TRAINING_ENGINES = ("backprop", "autograd")  # approx.backprop (hand-written), approx.autograd
SECOND_ORDER = ("lbfgs", "lm")  # approx.lbfgs, approx.levenberg_marquardt
OPTIMIZERS = (*_optim.names(), *SECOND_ORDER)  # gd, sgd, adam (approx.optim), lbfgs, lm
DIVERGENCE_FACTOR = 1e4  # the default: a member diverges above this times its reference loss
DEFAULT_LR = 0.1  # the first-order optimizers' rate where lr is None


@dataclass(frozen=True)
class FitOptions:
    """How ``fit`` trains; the rules behind each field are in ``approx.train``'s docstring."""

    engine: str = "backprop"  # TRAINING_ENGINES: who computes the gradients
    loss: str = "mse"  # approx.losses: mse or logistic
    optimizer: str = "gd"  # OPTIMIZERS: gd, sgd (momentum, nesterov), adam (betas, eps), lbfgs, lm
    lr: float | Sequence[float] | Tensor | None = None  # one rate, or one per member (E,); None: DEFAULT_LR
    steps: int = 1000  # optimizer steps (lbfgs, lm: iterations); the loss is judged at 0, 1, ..., steps
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
    check_every: int | None = None  # steps between stopping checks (None: 1; 16 for first-order CUDA ensembles)
    damping: float = 1e-3  # lm: the initial lambda, relative to D^2 = diag(J^T J) at the start
    max_damping: float = 1e16  # lm: a member whose lambda exceeds it has stalled
    max_jacobian_bytes: int | None = None  # lm: refuse a larger Jacobian (None: a share of free memory)
    memory: int = 10  # lbfgs: the number of (s, y) pairs kept
    c1: float = 1e-4  # lbfgs: sufficient-decrease constant of the strong Wolfe conditions
    c2: float = 0.9  # lbfgs: curvature constant, c1 < c2 < 1
    max_evaluations: int = 25  # lbfgs: loss_and_grad calls allowed per line search
    compile: str = "off"  # COMPILE_CHOICES: compile gd/sgd/adam's whole step ("auto": where it pays)

    def __post_init__(self) -> None:
        checks.choice("engine", self.engine, TRAINING_ENGINES)
        checks.choice("loss", self.loss, _losses.names())
        checks.integer("steps", self.steps, low=0)
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        _refuse_others_fields(self)
        if self.optimizer == "lm" and self.loss != "mse":
            raise ValueError(f"optimizer 'lm' fits the mse loss only, got loss {self.loss!r}")
        if self.lr is not None:
            _check_rates(self.lr)
        if self.optimizer not in SECOND_ORDER:
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
        checks.number("damping", self.damping, low=0, low_open=True)
        checks.number("max_damping", self.max_damping, low=self.damping, low_open=True)
        if self.max_jacobian_bytes is not None:
            checks.integer("max_jacobian_bytes", self.max_jacobian_bytes, low=1)
        checks.integer("memory", self.memory, low=1, high=10_000)
        checks.number("c1", self.c1, low=0, high=1, low_open=True, high_open=True)
        checks.number("c2", self.c2, low=self.c1, high=1, low_open=True, high_open=True)
        checks.integer("max_evaluations", self.max_evaluations, low=1, high=10_000)
        checks.choice("compile", self.compile, COMPILE_CHOICES)
        if self.compile == "on" and self.optimizer in SECOND_ORDER:
            raise ValueError(f"compile='on' compiles the first-order steps (gd, sgd, adam), not optimizer "
                             f"{self.optimizer!r}; use compile='off' or 'auto' (which runs it eagerly)")


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


# Which optimizers read a field (named as in messages); every other field is read by all.
# Among the first-order ones, approx.optim.make says which reads what (momentum: sgd only).
_FIRST_ORDER = (tuple(_optim.names()), "the first-order optimizers (" + ", ".join(_optim.names()) + ")")
_READERS = {
    **{name: _FIRST_ORDER for name in ("lr", "batch_size", "momentum", "nesterov", "weight_decay",
                                       "betas", "eps", "schedule")},
    **{name: (("lm",), "optimizer 'lm'") for name in ("damping", "max_damping", "max_jacobian_bytes")},
    **{name: (("lbfgs",), "optimizer 'lbfgs'") for name in ("memory", "c1", "c2", "max_evaluations")},
}


def _refuse_others_fields(options: FitOptions) -> None:
    """A field that the chosen optimizer does not read must keep its default."""
    for field in dataclasses.fields(options):
        readers, label = _READERS.get(field.name, ((options.optimizer,), ""))
        value = getattr(options, field.name)
        if options.optimizer not in readers and not _same(value, field.default):
            raise ValueError(f"{field.name}={value!r} does not apply to optimizer {options.optimizer!r}; "
                             f"it is for {label}")


def _same(value, default) -> bool:
    """value == default (0 counts as 0.0), for values that may also be tensors or callables."""
    if value is default:
        return True
    if isinstance(value, Tensor) or callable(value) or isinstance(value, bool) != isinstance(default, bool):
        return False
    return value == default


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
