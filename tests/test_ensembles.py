"""Ensembles: E networks trained as one batched computation equal the same E trained one by one.

In float64 the batched products (baddbmm) and the single ones (addmm) sum in different orders,
so members agree to rounding, not bit for bit: 1e-12 relative after tens of steps in the
stable regime of GD (see test_train.py on the edge of stability).
"""
from __future__ import annotations

import pytest
import torch

from approx.network import Network
from approx.train import fit

RTOL = 1e-12
SIZES, ACTIVATION = [1, 16, 1], "tanh"


def _data(n=48):
    x = torch.linspace(-1, 1, n, dtype=torch.float64)[:, None]  # (n, 1)
    return x, torch.sin(3 * x)


def _max_rel(a, b) -> float:
    return max(((p - q).abs().max() / q.abs().max()).item() for p, q in zip(a, b))


def _compare(ensemble_run, single_runs):
    """Largest relative gap of parameters and logged losses between members and single runs."""
    net, hist = ensemble_run
    gaps = []
    for e, (single, single_hist) in enumerate(single_runs):
        gaps.append(_max_rel(net.member(e).parameters(), single.parameters()))
        member_hist = hist[hist.member == e].reset_index(drop=True)
        assert list(member_hist.step) == list(single_hist.step)
        assert list(member_hist.status) == list(single_hist.status)
        gaps.append(((member_hist.loss - single_hist.loss).abs() / single_hist.loss).max())
    return max(gaps)


TRAINING = [
    ("gd", {}),
    ("sgd", {"momentum": 0.9, "batch_size": 12}),
    ("adam", {}),
]


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("optimizer, options", TRAINING)
def test_different_seeds(engine, optimizer, options):
    seeds = [0, 1, 2, 3]
    common = dict(engine=engine, optimizer=optimizer, lr=0.02, steps=60, log_every=20, **options)
    together = fit(Network.random(SIZES, ACTIVATION, seed=seeds), _data(), seed=seeds, **common)
    alone = [fit(Network.random(SIZES, ACTIVATION, seed=s), _data(), seed=s, **common) for s in seeds]
    assert _compare(together, alone) < RTOL
    # negative control: members matched to the wrong single runs differ grossly
    assert _compare(together, alone[::-1]) > 1e-3


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("optimizer, options", TRAINING)
def test_different_learning_rates(engine, optimizer, options):
    rates = [0.005, 0.01, 0.02, 0.04]
    net = Network.random(SIZES, ACTIVATION, seed=5)
    common = dict(engine=engine, optimizer=optimizer, steps=60, log_every=20, seed=3, **options)
    # every member shares the batch seed here, so the rates are the only difference
    together = fit(Network.stack([net] * 4), _data(), lr=rates, **{**common, "seed": [3] * 4})
    alone = [fit(net, _data(), lr=r, **common) for r in rates]
    assert _compare(together, alone) < RTOL
    assert _compare(together, alone[::-1]) > 1e-3


@pytest.mark.parametrize("engine", ["backprop", "autograd"])
@pytest.mark.parametrize("optimizer, options", TRAINING)
def test_different_data(engine, optimizer, options):
    x, _ = _data()
    targets = [torch.sin(k * x) for k in (1, 2, 3)]  # one target function per member
    net = Network.random(SIZES, ACTIVATION, seed=1)
    common = dict(engine=engine, optimizer=optimizer, lr=0.02, steps=60, log_every=20, **options)
    together = fit(Network.stack([net] * 3), (x.expand(3, -1, -1), torch.stack(targets)),
                   seed=[0] * 3, **common)
    alone = [fit(net, (x, y), seed=0, **common) for y in targets]
    assert _compare(together, alone) < RTOL
    assert _compare(together, alone[::-1]) > 1e-3


def test_stopping_per_member_matches_single_runs():
    # member 0 converges early, member 1 diverges, member 2 runs out of steps: each member's
    # rows and final parameters are those of its own single run
    net = Network.random(SIZES, ACTIVATION, seed=2)
    rates = [0.2, 80.0, 0.01]
    common = dict(engine="backprop", steps=100, log_every=50, target_loss=0.165)
    together = fit(Network.stack([net] * 3), _data(), lr=rates, **common)
    alone = [fit(net, _data(), lr=r, **common) for r in rates]
    statuses = [h.status.iloc[-1] for _, h in alone]
    assert statuses == ["converged", "diverged", "completed"]
    net_e, hist_e = together
    assert [hist_e[hist_e.member == e].status.iloc[-1] for e in range(3)] == statuses
    for e, (single, single_hist) in enumerate(alone):
        assert _max_rel(net_e.member(e).parameters(), single.parameters()) < RTOL
        member_hist = hist_e[hist_e.member == e].reset_index(drop=True)
        assert list(member_hist.step) == list(single_hist.step)
        finite = single_hist.loss < 1e300  # the diverged row holds inf (in both runs)
        assert (member_hist.loss[~finite] == single_hist.loss[~finite]).all()
        gap = (member_hist.loss[finite] - single_hist.loss[finite]).abs() / single_hist.loss[finite]
        assert gap.max() < RTOL


def test_ensemble_on_every_device(device):
    x, y = (d.to(device) for d in _data())
    net = Network.random(SIZES, ACTIVATION, seed=[0, 1, 2], device=device)
    trained, hist = fit(net, (x, y), engine="backprop", optimizer="sgd", momentum=0.9,
                        batch_size=12, lr=[0.01, 0.02, 0.04], steps=60, log_every=30)
    assert trained.device.type == device and len(hist) == 9
    on_cpu, cpu_hist = fit(Network.random(SIZES, ACTIVATION, seed=[0, 1, 2]), _data(),
                           engine="backprop", optimizer="sgd", momentum=0.9, batch_size=12,
                           lr=[0.01, 0.02, 0.04], steps=60, log_every=30)
    assert ((hist.loss - cpu_hist.loss).abs() / cpu_hist.loss).max() < 1e-9
