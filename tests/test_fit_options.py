"""approx.fit_options: fit's keyword arguments are FitOptions' fields, checked when the record is made."""
from __future__ import annotations

import dataclasses
import inspect

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
