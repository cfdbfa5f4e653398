"""approx.fit_options: fit's keyword arguments are FitOptions' fields, checked when the record is made."""
from __future__ import annotations

import dataclasses
import inspect
import re

import pytest
import torch

from approx.fit_options import FIELDS, FitOptions, with_overrides
from approx.network import Network
from approx.sweep import MEMBER_FIELDS, TRAINING_FIELDS
from approx.train import fit


def _data(n=32):
    x = torch.linspace(-1, 1, n, dtype=torch.float64)[:, None]  # (n, 1)
    return x, torch.sin(3 * x)


def _net():
    return Network.random([1, 8, 1], "tanh", seed=0, ensemble=2)


def test_options_and_keywords_give_the_same_run():
    kwargs = dict(optimizer="sgd", momentum=0.9, batch_size=8, lr=[0.02, 0.05], steps=40, log_every=10, seed=3)
    by_keywords = fit(_net(), _data(), **kwargs)
    by_options = fit(_net(), _data(), FitOptions(**kwargs))
    # a record with some fields, and the rest as keywords that replace the record's
    mixed = fit(_net(), _data(), FitOptions(optimizer="sgd", momentum=0.9, steps=7),
                **{k: v for k, v in kwargs.items() if k not in ("optimizer", "momentum")})
    for net, history in (by_options, mixed):
        assert history.drop(columns="time_s").equals(by_keywords[1].drop(columns="time_s"))
        assert all(torch.equal(p, q) for p, q in zip(net.parameters(), by_keywords[0].parameters()))
    # negative control: one option changed (the batch seed) changes the run
    other = fit(_net(), _data(), FitOptions(**{**kwargs, "seed": 4}))[1]
    assert not other.loss.equals(by_keywords[1].loss)


def test_sweep_reads_its_training_fields_from_the_options():
    # every option is a training field (it splits sweep groups) or a member's own (seed, lr)
    assert set(TRAINING_FIELDS) | set(MEMBER_FIELDS) == set(FIELDS)
    assert not set(TRAINING_FIELDS) & set(MEMBER_FIELDS) and "metrics" not in FIELDS


def test_every_field_is_typed_and_commented():
    source = inspect.getsource(FitOptions).splitlines()
    for field in dataclasses.fields(FitOptions):
        line = next(l for l in source if l.strip().startswith(f"{field.name}: "))
        assert field.type and "  # " in line, field.name


@pytest.mark.parametrize("kwargs, message", [
    ({"engine": "jax"}, "unknown engine 'jax'; allowed: backprop, autograd"),
    ({"loss": "hinge"}, "unknown loss 'hinge'; allowed: mse, logistic"),
    ({"steps": True}, "steps must be an integer >= 0, got True"),
    ({"lr": -1.0}, "lr must be a finite number > 0, got -1.0"),
    ({"lr": [0.1, float("nan")]}, "every lr must be a finite number > 0"),
    ({"momentum": 0.5}, "momentum=0.5, nesterov=False only apply to optimizer 'sgd'"),
    ({"log_steps": iter([3, 99])}, "log_steps must be ints in 0..10; got ['99']"),
    ({"log_steps": [2.5, True, 4]}, "log_steps must be ints in 0..10; got ['2.5', 'True']"),  # in range, not ints
    ({"check_every": 0}, "check_every must be an integer >= 1, got 0"),
    ({"target_loss": float("nan")}, "target_loss must be None or a finite number, got nan"),
])
def test_bad_values_are_refused_when_the_record_is_made(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        FitOptions(**{"steps": 10, **kwargs})


def test_overrides():
    options = FitOptions(steps=10, log_steps=iter([2, 5]))
    assert options.log_steps == (2, 5)  # a generator is kept as its steps, not used up
    assert with_overrides(options, {"steps": 20}) == dataclasses.replace(options, steps=20)
    assert with_overrides(None, {}) == FitOptions()
    with pytest.raises(ValueError, match=r"unknown fit options \['stepz'\]; allowed: engine, loss"):
        with_overrides(options, {"stepz": 3})
    with pytest.raises(ValueError, match=r"unknown fit options \['stepz'\]"):
        fit(_net(), _data(), stepz=3)
    with pytest.raises(ValueError, match="options must be a FitOptions or None, got dict"):
        fit(_net(), _data(), {"steps": 3})
    # overriding re-checks the record
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        with_overrides(options, {"steps": -1})


def _refused(message, **kwargs):
    """FitOptions(**kwargs) raises a ValueError whose message contains ``message`` verbatim."""
    with pytest.raises(ValueError, match=re.escape(message)):
        FitOptions(**kwargs)


# Each rule: the options around the field, the field, the allowed values at both ends, and the
# first values outside with the message that names the field and the allowed range.
_BOUNDS = [
    # lm: lambda may grow up to max_damping, which must exceed the initial damping (open end)
    ({"optimizer": "lm", "damping": 0.5}, "max_damping", [0.5000001, 1e300],
     [(0.5, "max_damping must be a finite number > 0.5, got 0.5"),
      (0.1, "max_damping must be a finite number > 0.5, got 0.1")]),
    ({"optimizer": "lm"}, "max_jacobian_bytes", [1, 2**40],
     [(0, "max_jacobian_bytes must be an integer >= 1, got 0")]),
    # lbfgs: memory and max_evaluations in [1, 10000], both ends closed
    ({"optimizer": "lbfgs"}, "memory", [1, 10_000],
     [(0, "memory must be an integer in [1, 10000], got 0"),
      (10_001, "memory must be an integer in [1, 10000], got 10001")]),
    ({"optimizer": "lbfgs"}, "max_evaluations", [1, 10_000],
     [(0, "max_evaluations must be an integer in [1, 10000], got 0"),
      (10_001, "max_evaluations must be an integer in [1, 10000], got 10001")]),
    # lbfgs: 0 < c1 < c2 < 1 (Nocedal & Wright, Numerical Optimization, 2006, eq. 3.7); c2 = 0.9999 lets
    # c1 come close to 1
    ({"optimizer": "lbfgs", "c2": 0.9999}, "c1", [1e-300, 0.999],
     [(0, "c1 must be a finite number in (0, 1), got 0"),
      (1, "c1 must be a finite number in (0, 1), got 1"),
      (1.5, "c1 must be a finite number in (0, 1), got 1.5")]),
    # a member diverges above divergence_factor x its reference loss: factor 1 is allowed (closed end)
    ({}, "divergence_factor", [1, 1.0, 1e4],
     [(0.999, "divergence_factor must be None or a finite number >= 1, got 0.999")]),
]


@pytest.mark.parametrize("base, field, allowed, refused", _BOUNDS, ids=[b[1] for b in _BOUNDS])
def test_bounds_of_the_second_order_and_stopping_fields(base, field, allowed, refused):
    """Each bound of approx.checks' wording, open or closed as documented: the values at the
    allowed ends are accepted (the negative control: the check does not refuse everything) and
    the first values outside are refused with a message naming the field and its range."""
    for value in allowed:
        assert getattr(FitOptions(**base, **{field: value}), field) == value
    for value, message in refused:
        _refused(message, **base, **{field: value})


@pytest.mark.parametrize("steps", [0, 1, 10])
def test_log_steps_may_be_0_and_steps_inclusive(steps):
    """log_steps lie in 0..steps, both ends included (the loss is judged at 0, 1, ..., steps)."""
    assert FitOptions(steps=steps, log_steps=[0, steps]).log_steps == (0, steps)
    # negative control: one step outside either end is refused
    for outside in (-1, steps + 1):
        _refused(f"log_steps must be ints in 0..{steps}; got ['{outside}']", steps=steps, log_steps=[outside])


@pytest.mark.parametrize("kwargs, message, fixed", [
    ({"optimizer": "sgd", "nesterov": True}, "nesterov=True needs momentum > 0", {"momentum": 0.5}),
    ({"optimizer": "gd", "nesterov": True}, "momentum=0.0, nesterov=True only apply to optimizer 'sgd'",
     {"optimizer": "sgd", "momentum": 0.5}),
    ({"optimizer": "sgd", "weight_decay": -1e-3}, "weight_decay must be a finite number >= 0, got -0.001",
     {"weight_decay": 0.0}),
    ({"optimizer": "adam", "betas": (1.0, 0.999)}, "Adam betas must lie in [0, 1), got (1.0, 0.999)",
     {"betas": (0.0, 0.0)}),
    ({"optimizer": "adam", "betas": (0.9, 1.0)}, "Adam betas must lie in [0, 1), got (0.9, 1.0)",
     {"betas": (0.999999, 0.999999)}),
    ({"optimizer": "adam", "eps": 0.0}, "Adam eps must be > 0, got 0.0", {"eps": 1e-300}),
])
def test_first_order_fields_are_checked_by_their_optimizer_when_the_record_is_made(kwargs, message, fixed):
    """momentum, nesterov, weight_decay, betas and eps reach approx.optim.make with the record, so
    a value the optimizer refuses costs no training; the same record with the value fixed (at
    the allowed end) is accepted, the negative control."""
    _refused(message, **kwargs)
    FitOptions(**{**kwargs, **fixed})


def test_a_field_another_optimizer_reads_must_keep_its_default():
    """A field set for an optimizer that does not read it is refused, and "set" means anything
    but the default itself: 0 counts as 0.0, but a bool for a number (or a number for a bool)
    and a tensor are never taken for the default (a tensor of several values has no truth value)."""
    for same in ({"nesterov": False}, {"momentum": 0}, {"weight_decay": 0.0}, {"betas": (0.9, 0.999)}):
        FitOptions(optimizer="lbfgs", **same)  # negative control: the defaults pass
    first_order = "it is for the first-order optimizers (gd, sgd, adam)"
    _refused(f"nesterov=0 does not apply to optimizer 'lbfgs'; {first_order}", optimizer="lbfgs", nesterov=0)
    _refused(f"momentum=False does not apply to optimizer 'lm'; {first_order}", optimizer="lm", momentum=False)
    _refused("damping=tensor([0.0010, 0.0010], dtype=torch.float64) does not apply to optimizer 'gd'; "
             "it is for optimizer 'lm'", optimizer="gd", damping=torch.tensor([1e-3, 1e-3], dtype=torch.float64))
    _refused("memory=tensor(10) does not apply to optimizer 'adam'; it is for optimizer 'lbfgs'",
             optimizer="adam", memory=torch.tensor(10))


def test_compile_on_is_for_the_first_order_optimizers():
    """compile is one of off, on, auto; "on" with lbfgs or lm is refused, "auto" runs them eagerly."""
    _refused("unknown compile 'yes'; allowed: off, on, auto", compile="yes")
    for optimizer in ("lbfgs", "lm"):
        _refused(f"compile='on' compiles the first-order steps (gd, sgd, adam), not optimizer '{optimizer}'; "
                 "use compile='off' or 'auto'", optimizer=optimizer, compile="on")
        assert FitOptions(optimizer=optimizer, compile="auto").compile == "auto"  # negative control
    for optimizer in ("gd", "sgd", "adam"):
        assert FitOptions(optimizer=optimizer, compile="on").compile == "on"  # negative control


def test_no_overrides_give_the_record_itself():
    """with_overrides with nothing to replace returns the record it was given, not a re-checked copy."""
    options = FitOptions(steps=10, optimizer="adam")
    assert with_overrides(options, {}) is options
    # negative control: an override gives a new record
    assert with_overrides(options, {"steps": 10}) is not options
