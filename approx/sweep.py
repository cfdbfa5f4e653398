"""Sweeps: many configurations, trained as a handful of ensembles.

    configs = [{"sizes": (1, w, 1), "activation": "relu", "seed": s, "lr": lr}
               for w in (8, 16, 32) for s in range(10) for lr in (0.01, 0.1)]
    results = sweep(configs, (x, y), engine="backprop", steps=2000)   # 60 networks, 3 fit calls

A configuration is a dict or a dataclass. Its fields fall in three kinds:

    architecture  sizes (required), activation ("relu"), init ("standard"), init_scale (1.0)
    per member    seed (network initialisation and mini-batch order, 0), lr (learning rate;
                  none for lbfgs and lm)
    training      any other field of ``approx.fit_options.FitOptions`` (optimizer, steps, ...)

Configurations that agree on architecture and training options are one *group*: their networks
are drawn one by one (``Network.random`` with the member's seed), stacked into one ensemble and
trained by one ``fit`` call, each member with its own seed and rate. Any other field is a
*label* (a width, a target name, ...): it is copied to the output and may choose the data, but
never splits a group. Because an ensemble equals its members trained one at a time (to
rounding, tests/test_train.py), ``sweep`` returns what ``fit_one`` would give for every
configuration, in a fraction of the time.

Data: one pair (x, y) for every configuration, or a callable config -> (x, y); members whose
data differ get their own data set inside the ensemble ((E, n, d) tensors; same n needed).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from .device import resolve_device
from .network import Network
from .fit_options import DEFAULT_LR
from .fit_options import FIELDS as FIT_FIELDS
from .train import BASE_COLUMNS, fit

__all__ = ["sweep", "fit_one", "group", "ARCHITECTURE", "MEMBER_FIELDS", "TRAINING_FIELDS"]

ARCHITECTURE = {"sizes": None, "activation": "relu", "init": "standard", "init_scale": 1.0}
MEMBER_FIELDS = ("seed", "lr")
TRAINING_FIELDS = tuple(f for f in FIT_FIELDS if f not in MEMBER_FIELDS)  # approx.fit_options.FitOptions

Config = Mapping[str, Any] | Any  # a dict or a dataclass instance
Data = tuple[Tensor, Tensor] | Callable[[dict], tuple[Tensor, Tensor]]


def as_dict(config: Config) -> dict:
    """A configuration as a plain dict (dataclass fields, or the mapping itself)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return dict(config)
    raise ValueError(f"a configuration must be a dict or a dataclass, got {type(config).__name__}")


def _hashable(value):
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, Tensor):
        return ("tensor", tuple(value.flatten().tolist()))
    return value


def _group_key(config: dict, defaults: dict) -> tuple:
    if "sizes" not in config:
        raise ValueError(f"every configuration needs 'sizes' (layer widths); got keys {sorted(config)}")
    arch = tuple(_hashable(config.get(k, default)) for k, default in ARCHITECTURE.items())
    training = {**defaults, **{k: v for k, v in config.items() if k in TRAINING_FIELDS}}
    return arch, _hashable(training)


def group(configs: Sequence[Config], *, max_ensemble: int | None = None, **fit_defaults) -> list[list[int]]:
    """Indices of ``configs`` grouped by architecture and training options, in first-seen order.

    A group larger than ``max_ensemble`` is split into consecutive chunks of at most that size.
    """
    if max_ensemble is not None and (not isinstance(max_ensemble, int) or max_ensemble < 1):
        raise ValueError(f"max_ensemble must be None or an int >= 1, got {max_ensemble!r}")
    unknown = set(fit_defaults) - set(TRAINING_FIELDS) - set(MEMBER_FIELDS)
    if unknown:
        raise ValueError(f"unknown fit options {sorted(unknown)}; allowed: {', '.join(TRAINING_FIELDS)}")
    groups: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(_group_key(as_dict(config), fit_defaults), []).append(i)
    size = max_ensemble or max((len(g) for g in groups.values()), default=1)
    return [g[i:i + size] for g in groups.values() for i in range(0, len(g), size)]


def _network(configs: list[dict], dtype: torch.dtype, device, ensemble: bool) -> Network:
    first = configs[0]
    arch = {k: first.get(k, default) for k, default in ARCHITECTURE.items()}
    seeds = [c.get("seed", 0) for c in configs]
    return Network.random(list(arch["sizes"]), arch["activation"], init=arch["init"],
                          init_scale=arch["init_scale"], dtype=dtype, device=device,
                          seed=seeds if ensemble else seeds[0])


def _data(configs: list[dict], data: Data, ensemble: bool) -> tuple[Tensor, Tensor]:
    if not callable(data):
        return data
    pairs = [data(c) for c in configs]
    if not ensemble:
        return pairs[0]
    out = []
    for part in zip(*pairs):  # xs, then ys
        if all(p is part[0] for p in part):
            out.append(part[0])  # one data set shared by every member: (n, d)
        else:
            shapes = {tuple(p.shape) for p in part}
            if len(shapes) != 1:
                raise ValueError(f"members of one ensemble need data of one shape; got {sorted(shapes)}")
            out.append(torch.stack(part))  # (E, n, d)
    return tuple(out)


def fit_one(config: Config, data: Data, *, dtype: torch.dtype = torch.float64,
            device: str | torch.device = "cpu", metrics=None, **fit_defaults):
    """Train one configuration alone: (trained Network, history). The reference for ``sweep``."""
    c = as_dict(config)
    options = {**fit_defaults, **{k: v for k, v in c.items() if k in TRAINING_FIELDS}}
    for k in MEMBER_FIELDS:
        if k in c:
            options[k] = c[k]
    return fit(_network([c], dtype, resolve_device(device), ensemble=False),
               _data([c], data, ensemble=False), metrics=metrics, **options)


def sweep(
    configs: Sequence[Config],
    data: Data,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    max_ensemble: int | None = None,
    history: bool = False,
    metrics: dict[str, Callable] | None = None,
    **fit_defaults,
) -> pd.DataFrame:
    """Train every configuration, same-shaped ones together; one tidy row per configuration.

    Returns the last history row of every configuration (``history=True``: every logged row),
    with columns config (its index in ``configs``), the configuration's fields (a field whose
    name is also a history column, such as ``loss``, is renamed config_<name>), group (which
    fit call trained it), ensemble_size, then step, loss, status, time_s (of the whole group)
    and the metrics. ``fit_defaults`` are fit keywords shared by every configuration (a
    configuration's own fields win); ``lr`` and ``seed`` here are defaults for members.
    """
    if isinstance(configs, (str, bytes)) or not isinstance(configs, Sequence) or not configs:
        raise ValueError("configs must be a non-empty list of dicts or dataclasses")
    records = [as_dict(c) for c in configs]
    device = resolve_device(device)
    member_defaults = {k: fit_defaults.pop(k) for k in MEMBER_FIELDS if k in fit_defaults}
    frames = []
    for g, indices in enumerate(group(records, max_ensemble=max_ensemble, **fit_defaults)):
        members = [{**member_defaults, **records[i]} for i in indices]
        options = {**fit_defaults, **{k: v for k, v in members[0].items() if k in TRAINING_FIELDS}}
        net = _network(members, dtype, device, ensemble=True)
        rates = [m.get("lr") for m in members]
        if any(lr is not None for lr in rates):  # lbfgs and lm take no rate, and refuse one
            options["lr"] = [DEFAULT_LR if lr is None else lr for lr in rates]
        _, hist = fit(net, _data(members, data, ensemble=True), metrics=metrics,
                      seed=[m.get("seed", 0) for m in members], **options)
        if not history:
            hist = hist.groupby("member", sort=True).tail(1)
        hist = hist.assign(config=[indices[e] for e in hist.member], group=g,
                           ensemble_size=len(indices))
        frames.append(hist.drop(columns="member"))
    result = pd.concat(frames, ignore_index=True).sort_values(["config", "step"], kind="stable")
    fields = pd.DataFrame(records).rename(
        columns=lambda k: f"config_{k}" if k in (*BASE_COLUMNS, "config", "group", "ensemble_size") else k)
    fields["config"] = range(len(records))
    columns = ["config", *[c for c in fields.columns if c != "config"], "group", "ensemble_size",
               *[c for c in result.columns if c not in ("config", "group", "ensemble_size")]]
    return result.merge(fields, on="config", how="left")[columns].reset_index(drop=True)
