"""sweep: same-shaped configurations train as one ensemble and give their one-at-a-time results."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from approx import Network
from approx.sweep import fit_one, group, sweep
from approx.train import fit

RTOL = 1e-12  # ensembles equal single runs to rounding (see test_train.py)


def _x(n=32):
    return torch.linspace(-1, 1, n, dtype=torch.float64)[:, None]  # (n, 1)


TARGETS = {"sin": lambda x: torch.sin(3 * x), "abs": torch.abs}


@dataclass(frozen=True)
class Point:
    sizes: tuple[int, ...]
    seed: int
    lr: float
    target: str = "sin"  # a label: chooses the data, never splits a group
    activation: str = "tanh"


def _grid():
    return [Point((1, w, 1), s, lr, target) for w in (4, 8) for s in (0, 1)
            for lr in (0.01, 0.05) for target in ("sin", "abs")]


def test_group_by_architecture_and_training_options():
    configs = [{"sizes": (1, w, 1), "seed": s, "lr": lr, "width": w}
               for w in (4, 8, 16) for s in range(10) for lr in (0.01, 0.1)]
    groups = group(configs)
    assert [len(g) for g in groups] == [20, 20, 20]
    assert all(len({configs[i]["width"] for i in g}) == 1 for g in groups)
    assert sorted(i for g in groups for i in g) == list(range(60))
    assert [len(g) for g in group(configs, max_ensemble=8)] == [8, 8, 4] * 3
    # a training option splits a group; so do activation and init; a label does not
    mixed = [{"sizes": (1, 4, 1), "steps": 10}, {"sizes": (1, 4, 1), "steps": 20},
             {"sizes": (1, 4, 1), "activation": "tanh"}, {"sizes": (1, 4, 1), "init": "he"},
             {"sizes": (1, 4, 1), "note": "a"}, {"sizes": [1, 4, 1], "note": "b", "seed": 3}]
    assert group(mixed, steps=10) == [[0, 4, 5], [1], [2], [3]]


def test_sweep_equals_one_at_a_time():
    x = _x()
    data = {name: (x, f(x)) for name, f in TARGETS.items()}

    def data_of(config):
        return data[config["target"]]

    configs = _grid()
    common = dict(engine="backprop", optimizer="sgd", momentum=0.9, batch_size=8, steps=60,
                  log_every=20)
    results = sweep(configs, data_of, **common)
    assert list(results.config) == list(range(len(configs)))
    assert results.group.nunique() == 2 and set(results.ensemble_size) == {8}
    assert list(results.target) == [c.target for c in configs]
    singles = [fit_one(c, data_of, **common)[1].iloc[-1] for c in configs]
    gaps = [abs(r.loss - s.loss) / s.loss for r, s in zip(results.itertuples(), singles)]
    assert max(gaps) < RTOL
    assert all(r.step == s.step == 60 and r.status == s.status == "completed"
               for r, s in zip(results.itertuples(), singles))
    # negative control: the same comparison against another configuration's run fails
    assert max(abs(r.loss - s.loss) / s.loss for r, s in zip(results.itertuples(), singles[1:])) > 1e-3


def test_history_rows_and_metrics():
    x = _x()
    configs = [{"sizes": (1, 4, 1), "activation": "tanh", "seed": s, "lr": 0.05} for s in range(3)]
    rows = sweep(configs, (x, torch.sin(3 * x)), engine="autograd", steps=20, log_every=10,
                 history=True, metrics={"bias": lambda net: net.layers[-1].bias[..., 0]})
    assert list(rows.step) == [0, 10, 20] * 3 and list(rows.config) == [0] * 3 + [1] * 3 + [2] * 3
    single = fit_one(configs[2], (x, torch.sin(3 * x)), engine="autograd", steps=20, log_every=10,
                     metrics={"bias": lambda net: net.layers[-1].bias[0].item()})[1]
    assert torch.allclose(torch.tensor(rows.bias[rows.config == 2].to_numpy()),
                          torch.tensor(single.bias.to_numpy()), rtol=RTOL)


def test_sweep_picks_second_order_optimizers_by_name():
    # configurations without a rate: lm and lbfgs take none (and refuse one)
    x = _x()
    configs = [{"sizes": (1, 6, 1), "activation": "tanh", "seed": s, "optimizer": opt}
               for opt in ("lm", "lbfgs") for s in range(3)]
    results = sweep(configs, (x, torch.sin(3 * x)), steps=10)
    assert results.group.nunique() == 2 and list(results.optimizer) == ["lm"] * 3 + ["lbfgs"] * 3
    singles = [fit_one(c, (x, torch.sin(3 * x)), steps=10)[1].iloc[-1] for c in configs]
    # LM and L-BFGS ensembles equal single runs to 1e-8 (approx.levenberg_marquardt, approx.lbfgs)
    assert max(abs(r.loss - s.loss) / s.loss for r, s in zip(results.itertuples(), singles)) < 1e-8
    # negative control: another configuration's run is far away
    assert max(abs(r.loss - s.loss) / s.loss for r, s in zip(results.itertuples(), singles[1:])) > 1e-3
    with pytest.raises(ValueError, match=r"lr=\[0.1\] does not apply to optimizer 'lm'"):
        sweep([{**configs[0], "lr": 0.1}], (x, x), steps=2)


def test_a_diverging_member_does_not_stop_the_sweep():
    x = _x()
    configs = [{"sizes": (1, 8, 1), "activation": "tanh", "seed": 0, "lr": lr}
               for lr in (0.01, 100.0, 0.05)]
    results = sweep(configs, (x, torch.sin(3 * x)), engine="backprop", steps=200)
    assert list(results.status) == ["completed", "diverged", "completed"]
    assert list(results.step[[0, 2]]) == [200, 200] and results.step[1] < 200


def test_colliding_field_names_are_prefixed():
    x = _x()
    y = (x > 0).to(x.dtype)
    results = sweep([{"sizes": (1, 4, 1), "loss": "logistic", "status": "new"}], (x, y), steps=5,
                    engine="autograd")
    assert results.config_loss[0] == "logistic" and results.config_status[0] == "new"
    assert results.status[0] == "completed" and results.loss[0] > 0


@pytest.mark.parametrize("configs, kwargs, message", [
    ([], {}, "configs must be a non-empty list"),
    ([{"activation": "relu"}], {}, "every configuration needs 'sizes'"),
    ([3], {}, "a configuration must be a dict or a dataclass, got int"),
    ([{"sizes": (1, 2, 1)}], {"max_ensemble": 0}, "max_ensemble must be None or an int >= 1"),
    ([{"sizes": (1, 2, 1)}], {"stepz": 3}, r"unknown fit options \['stepz'\]"),
    ([{"sizes": (1, 2, 1), "lr": -1.0}], {}, "every lr must be a finite number > 0"),
])
def test_bad_input_raises_value_error(configs, kwargs, message):
    x = _x()
    with pytest.raises(ValueError, match=message):
        sweep(configs, (x, x), steps=2, **kwargs)


def test_members_with_different_data_shapes_are_rejected():
    configs = [{"sizes": (1, 2, 1), "n": n} for n in (8, 9)]
    with pytest.raises(ValueError, match="need data of one shape"):
        sweep(configs, lambda c: (_x(c["n"]), _x(c["n"])), steps=2)


def test_sweep_on_every_device(device):
    x = _x()
    configs = [{"sizes": (1, 8, 1), "activation": "tanh", "seed": s, "lr": 0.05} for s in range(3)]
    here = sweep(configs, (x, torch.sin(3 * x)), device=device, engine="backprop", steps=30)
    on_cpu = sweep(configs, (x, torch.sin(3 * x)), engine="backprop", steps=30)
    assert ((here.loss - on_cpu.loss).abs() / on_cpu.loss).max() < 1e-9


def test_fit_one_and_sweep_draw_the_network_the_config_describes():
    """Against Network.random called directly (not through sweep's own helper): a config's
    activation, init and init_scale, the dtype asked for, and seed 0 when the config has none,
    are what the trained network was drawn with; fit_one and a one-member sweep agree with it."""
    x = _x(16).float()
    data = (x, torch.sin(3 * x))
    config = {"sizes": (1, 5, 1), "activation": "tanh", "init": "he", "init_scale": 2.0, "lr": 0.05}
    options = dict(engine="autograd", optimizer="sgd", batch_size=4, steps=3, log_every=3)  # mini-batches: the seed orders them
    references = {}
    for seed in (None, 1):  # None: the config has no seed, so seed 0
        mine = config if seed is None else {**config, "seed": seed}
        net = Network.random([1, 5, 1], "tanh", init="he", init_scale=2.0, dtype=torch.float32, seed=seed or 0)
        reference, history = fit(net, data, lr=0.05, seed=seed or 0, **options)
        trained, _ = fit_one(mine, data, dtype=torch.float32, **options)
        assert trained.dtype == torch.float32 and trained.activations == ["tanh", "identity"]
        assert all(torch.equal(a, b) for a, b in zip(trained.parameters(), reference.parameters()))
        swept = sweep([mine, dict(mine)], data, dtype=torch.float32, **options)
        assert list(swept.loss) == pytest.approx([history.loss.iloc[-1]] * 2, rel=1e-6)
        references[seed] = reference
    # negative control: the two seeds give two networks
    assert not torch.equal(references[None].parameters()[0], references[1].parameters()[0])


def test_a_config_spelling_out_the_defaults_shares_a_group():
    """Leaving out activation, init or init_scale means the default, so a config that writes the
    defaults out is the same architecture and trains in the same ensemble."""
    short = {"sizes": (1, 4, 1)}
    spelled = {"sizes": (1, 4, 1), "activation": "relu", "init": "standard", "init_scale": 1.0}
    assert group([short, spelled]) == [[0, 1]]
    assert group([short, {**spelled, "init": "he"}]) == [[0], [1]]  # negative control


def test_group_sizes_and_options_at_the_limits():
    """max_ensemble = 1 trains every config alone; no configs give no groups; an unknown fit
    option is rejected by group itself, naming it."""
    configs = [{"sizes": (1, 4, 1), "seed": s} for s in range(3)]
    assert group(configs, max_ensemble=1) == [[0], [1], [2]]
    assert group([]) == []
    with pytest.raises(ValueError, match=r"unknown fit options \['stepz'\]"):
        group(configs, stepz=3)


def test_sweep_of_one_config_with_callable_data_and_lr_as_a_default():
    """A single configuration with data from a callable trains as an ensemble of one; an lr given
    to sweep as a keyword is every member's rate (the same as writing it in each config); the
    result keeps no index column of its own."""
    x = _x(16)
    config = {"sizes": (1, 4, 1), "activation": "tanh", "seed": 2}
    one = sweep([config], lambda c: (x, torch.sin(3 * x)), lr=0.05, engine="autograd", steps=3)
    written = sweep([{**config, "lr": 0.05}], (x, torch.sin(3 * x)), engine="autograd", steps=3)
    assert list(one.loss) == list(written.loss)
    assert "index" not in one.columns and list(one.index) == [0]


def test_fields_named_like_result_columns_are_prefixed():
    """Config fields called config, group or ensemble_size are kept as config_<name>, so they
    never overwrite the sweep's own columns."""
    x = _x(8)
    results = sweep([{"sizes": (1, 2, 1), "config": "a", "group": "b", "ensemble_size": "c"}], (x, x), steps=2)
    assert (results.config_config[0], results.config_group[0], results.config_ensemble_size[0]) == ("a", "b", "c")
    assert (results.config[0], results.group[0], results.ensemble_size[0]) == (0, 0, 1)


def test_a_string_is_not_a_list_of_configs():
    x = _x(8)
    with pytest.raises(ValueError, match="configs must be a non-empty list of dicts or dataclasses"):
        sweep("sizes", (x, x), steps=2)
