"""experiments/depth_separation/online.py: Adam on a fresh batch every step. It is fit's Adam when
the batch never changes; its logged loss is an unbiased estimate of the population error (a
frozen network's within 4 standard errors of a 200,000-point estimate, where one reused batch is
not); a member that diverges is frozen at the step before and the others train on."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from approx.network import Network
from approx.train import fit
from experiments.depth_separation.online import online_adam
from experiments.depth_separation.parts import _radial_sample


def _radial_stream(d: int, batch: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return lambda t: _radial_sample(0.2, d, batch, gen)


def _ensemble(d: int = 3, width: int = 6, seeds=(0, 1)) -> Network:
    return Network.random([d, width, width, 1], "relu", seed=list(seeds), dtype=torch.float64)


def test_with_one_batch_every_step_it_is_fits_full_batch_adam():
    # the same (x, y) every step: L_t is fit's full training loss at theta_t, and Adam's steps agree
    x, y = _radial_sample(0.2, 3, 40, torch.Generator().manual_seed(5))
    net, lrs = _ensemble(), [1e-2, 3e-3]
    ours, history = online_adam(net, lambda t: (x, y), 25, lrs, log_every=1)
    theirs, reference = fit(net, (x, y), engine="autograd", loss="mse", optimizer="adam", lr=lrs, steps=25,
                            log_every=1, seed=0)
    for e in range(2):
        mine = history[history["member"] == e]["loss"].to_numpy()
        np.testing.assert_allclose(mine, reference[reference["member"] == e]["loss"].to_numpy(), rtol=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    assert set(history[history["step"] == 25]["status"]) == {"completed"}
    # negative control: fresh batches give another trajectory
    _, fresh = online_adam(net, _radial_stream(3, 40, 5), 25, lrs, log_every=1)
    assert not np.allclose(fresh["loss"].to_numpy(), history["loss"].to_numpy(), rtol=1e-3)


def test_the_logged_loss_of_a_frozen_network_estimates_its_population_error():
    # lr = 1e-12: theta barely moves, so the window mean over steps 1..200 is the mean squared
    # error of one network on 200 x 64 fresh points. Its expectation is the population error; by
    # the central limit theorem it lies within 4 standard errors of it but with probability 6e-5
    d, batch, steps = 4, 64, 200
    net = _ensemble(d, 8, seeds=(3,))
    _, history = online_adam(net, _radial_stream(d, batch, 11), steps, [1e-12], log_every=steps)
    logged = history[history["step"] == steps]["loss"].item()
    x, y = _radial_sample(0.2, d, 200_000, torch.Generator().manual_seed(12))
    sq = (net(x) - y).square().reshape(-1)
    population, se_pop = sq.mean().item(), sq.std().item() / math.sqrt(len(sq))
    se_logged = sq.std().item() / math.sqrt(steps * batch)
    assert abs(logged - population) <= 4 * math.hypot(se_logged, se_pop)
    # negative control: one batch of 64 points reused every step is no estimate at this precision
    x1, y1 = _radial_sample(0.2, d, batch, torch.Generator().manual_seed(13))
    _, reused = online_adam(net, lambda t: (x1, y1), steps, [1e-12], log_every=steps)
    assert abs(reused[reused["step"] == steps]["loss"].item() - population) > 4 * math.hypot(se_logged, se_pop)


def test_sample_is_called_once_per_step_and_the_logs_fall_on_the_grid():
    calls = []

    def sample(t):
        calls.append(t)
        return _radial_sample(0.2, 2, 8, torch.Generator().manual_seed(t))

    _, history = online_adam(_ensemble(2, 4), sample, 10, [1e-2, 1e-2], log_every=4)
    assert calls == list(range(11))  # steps + 1 fresh batches: one more after the last update
    assert sorted(set(history["step"])) == [0, 4, 8, 10]
    assert history.groupby("member").size().tolist() == [4, 4]
    assert list(history.columns) == ["step", "member", "loss", "status"]


def test_a_diverged_member_is_frozen_at_the_step_before_and_the_others_train_on():
    net = _ensemble(3, 6)
    trained, history = online_adam(net, _radial_stream(3, 32, 1), 40, [1e6, 1e-2], log_every=10)
    blown, sane = history[history["member"] == 0], history[history["member"] == 1]
    assert blown["status"].iloc[-1] == "diverged" and blown["step"].iloc[-1] < 40
    assert sane["status"].iloc[-1] == "completed" and sane["step"].iloc[-1] == 40
    assert all(torch.isfinite(p).all() for p in trained.member(0).parameters())  # the step before
    # negative control: the sane rate alone never diverges
    _, calm = online_adam(net, _radial_stream(3, 32, 1), 40, [1e-2, 1e-2], log_every=10)
    assert "diverged" not in set(calm["status"])


@pytest.mark.parametrize("kwargs,message", [({"steps": 0}, "steps and log_every must be integers >= 1"),
                                            ({"log_every": 0}, "steps and log_every must be integers >= 1"),
                                            ({"divergence_factor": 0.5}, "divergence_factor must be a number >= 1")])
def test_bad_arguments_are_refused(kwargs, message):
    args = {"steps": 5, "log_every": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        online_adam(_ensemble(), _radial_stream(3, 8, 0), args.pop("steps"), [1e-2, 1e-2], **args)
    with pytest.raises(ValueError, match="online_adam trains an ensemble"):
        online_adam(Network.random([3, 4, 1]), _radial_stream(3, 8, 0), 5, [1e-2], log_every=1)
