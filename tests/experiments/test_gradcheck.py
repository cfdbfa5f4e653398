"""experiments/gradcheck: smoke preset, the kink shift, negative controls, the CLI."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from approx import Network
from approx.network import affine
from experiments import gradcheck
from cli_support import run_smoke

SMOKE = gradcheck.Config(**gradcheck.PRESETS["smoke"])


@pytest.fixture(scope="module")
def smoke():
    return gradcheck.run(SMOKE)


def test_smoke_runs_passes_plots_and_describes(smoke, tmp_path):
    arch = smoke[smoke.panel == "architecture"]
    traj = smoke[smoke.panel == "trajectory"]
    assert len(arch) == SMOKE.n_architectures and len(traj) == SMOKE.trajectory_steps + 1
    assert (arch.err_autograd <= gradcheck.AUTOGRAD_TOLERANCE).all() and arch.pass_autograd.all()
    assert (arch.err_fd <= SMOKE.fd_tolerance).all() and arch.pass_fd.all()
    assert (arch.err_fd_control > SMOKE.fd_tolerance).all()  # 1.01 * g is caught every time
    assert (traj.loss_rel_diff <= gradcheck.TRAJECTORY_TOLERANCE).all()
    assert arch.depth.between(1, SMOKE.max_depth).all() and arch.input_dim.between(1, 10).all()
    gradcheck.plot(smoke, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = gradcheck.describe(smoke)
    assert f"{len(arch)}/{len(arch)} within the 1e-10 bound" in text
    assert f"{arch.err_autograd.max():.2g}" in text


def test_default_preset_covers_depths_widths_inputs_activations_and_losses():
    """300+ architectures, depth 1-6, widths to 64, input dimension 1-10 (draws checked cheaply)."""
    cfg = gradcheck.Config()
    import random
    draws = [gradcheck._draw_architecture(random.Random(f"{cfg.seed}-{i}"), cfg)
             for i in range(cfg.n_architectures)]
    assert cfg.n_architectures >= 300
    assert {len(d["sizes"]) - 1 for d in draws} == set(range(1, 7))
    assert max(max(d["sizes"][1:-1], default=0) for d in draws) == 64
    assert {d["sizes"][0] for d in draws} == set(range(1, 11))
    assert {d["activation"] for d in draws} >= {"identity", "relu", "sigmoid", "tanh", "softplus", "ramp", "mixed"}
    assert any(d["ensemble"] and d["per_member"] for d in draws) and any(d["ensemble"] and not d["per_member"] for d in draws)
    assert {d["loss"] for d in draws} == {"mse", "logistic"}


def test_a_wrong_engine_fails_the_check(monkeypatch):
    """Negative control: gradients off by 1% are flagged against autograd and finite differences."""
    real = gradcheck.backprop.loss_and_grad

    def off_by_one_percent(*args, **kwargs):
        value, grads = real(*args, **kwargs)
        return value, [1.01 * g for g in grads]

    monkeypatch.setattr(gradcheck.backprop, "loss_and_grad", off_by_one_percent)
    df = gradcheck.run(replace(SMOKE, n_architectures=3, trajectory_steps=2))
    arch = df[df.panel == "architecture"]
    assert not arch.pass_autograd.any() and not arch.pass_fd.any()


@pytest.mark.parametrize("ensemble", [None, 3])
def test_kink_shift_clears_every_pre_activation(ensemble):
    net = Network.random([2, 16, 16, 1], ["relu", "ramp"], seed=0, init="he", ensemble=ensemble)
    # he init has zero biases: a dead first layer for a point puts the next layer exactly at 0
    x = torch.zeros(4, 2, dtype=torch.float64)
    margin = 1e-4
    shifted, n_shifted = gradcheck._shift_off_kinks(net, x, margin)
    assert n_shifted > 0
    h = x
    for layer, old in zip(shifted.layers, net.layers):
        z = affine(h, layer)
        for kink in gradcheck.KINKS.get(layer.activation, ()):
            assert (z - kink).abs().min() >= margin
        assert torch.equal(layer.weight, old.weight)  # only biases move
        assert (layer.bias - old.bias).abs().max() <= 1.0 + 2 * margin
        h = gradcheck.activations.get(layer.activation).value(z)


def test_smallest_clearing_shift():
    assert gradcheck._smallest_clearing_shift([0.5, -0.3], (0.0,), 1e-3) == 0.0  # nothing near
    s = gradcheck._smallest_clearing_shift([0.0, 1e-5], (0.0,), 1e-3)
    assert all(abs(v + s) >= 2e-3 * (1 - 1e-9) for v in (0.0, 1e-5)) and abs(s) < 2.1e-3
    s = gradcheck._smallest_clearing_shift([0.99995, 0.5], (0.0, 1.0), 1e-3)
    assert abs(0.99995 + s - 1.0) >= 2e-3 * (1 - 1e-9) and abs(s) < 2.1e-3


def test_config_rejects_bad_values():
    for bad in ({"n_architectures": 0}, {"ensemble_fraction": 1.5}, {"fd_step": 0.0},
                {"trajectory_activation": "gelu"}):
        with pytest.raises(ValueError):
            gradcheck.Config(**bad)


def test_cli_smoke_writes_results(tmp_path):
    df = run_smoke("gradcheck", tmp_path)
    assert (df.loc[df.panel == "architecture", "pass_autograd"]).all()
