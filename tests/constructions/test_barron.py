"""approx.constructions.barron: the network of Barron's proof, checked against its own bound.

Threshold: E ||f - f_n||^2 <= (V/sqrt(n) + V sqrt(p (2 ln 2 - 1)/S))^2 (Maurey's lemma plus the
sigmoid-vs-step term; docstring of approx.constructions.barron), averaged over draws.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from approx import targets
from approx.constructions.barron import barron_sampled, barron_sampled_bound, ridge_variation


@pytest.mark.parametrize("d", [1, 3, 16])
def test_variation_matches_quadrature_and_barron_constant(d):
    t = targets.get("ridge_nd", d=d, frequency=1.3)
    w = t.params["directions"].numpy()
    a = 2 * math.pi * 1.3
    masses = []
    for r in np.abs(w).sum(1) / 2:
        tau = np.linspace(-r, r, 400_001)
        masses.append(np.trapezoid(a * np.abs(np.sin(a * tau)), tau))
    assert ridge_variation(t) == pytest.approx(np.mean(masses), rel=1e-8)
    assert ridge_variation(t) <= 2 * t.barron  # V <= 2 C_{f,B}: int |g'| <= a * 2 r


def test_sampled_network_is_unbiased():
    # The mean of many independent draws converges to f (Maurey: f = E[unit]).
    t = targets.get("ridge_nd", d=4)
    x, y = targets.sample(t, 64, seed=3)
    draws = torch.stack([barron_sampled(t, 64, seed=s)(x) for s in range(300)])  # (300, 64, 1)
    mean, spread = draws.mean(0), draws.std(0) / math.sqrt(300)
    assert ((mean - y).abs() <= 5 * spread + 1e-3).all()
    assert ((mean - y).abs() > 0.02 * spread).any()  # negative control: not trivially exact


@pytest.mark.parametrize("d", [1, 2, 8])
def test_mean_squared_error_within_the_proofs_bound(d):
    t = targets.get("ridge_nd", d=d)
    x, y = targets.sample(t, 4096, seed=1)
    for n in (4, 32, 256):
        mse = np.mean([(barron_sampled(t, n, seed=s)(x) - y).square().mean().item() for s in range(12)])
        assert mse <= barron_sampled_bound(t, n)  # threshold: the expectation bound
        assert mse <= (2 * t.barron) ** 2 / n  # and Barron's (2C)^2/n
    # negative control: the bound without its 1/n (at n = 256, using n = 4's draws) fails
    mse4 = np.mean([(barron_sampled(t, 4, seed=s)(x) - y).square().mean().item() for s in range(12)])
    assert mse4 > barron_sampled_bound(t, 256)


def test_shape_devices_and_bad_input(device):
    t = targets.get("ridge_nd", d=5)
    net = barron_sampled(t, 10, seed=0, device=device)
    assert net.sizes == [5, 10, 1] and net.activations == ["sigmoid", "identity"]
    x = torch.rand(32, 5, dtype=torch.float64)
    ref = barron_sampled(t, 10, seed=0)
    assert torch.allclose(net(x.to(device)).cpu(), ref(x), rtol=1e-12, atol=1e-14)
    assert torch.allclose(ref.to_module()(x), ref(x), rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="ridge_nd target"):
        barron_sampled(targets.get("gaussian_nd", d=2), 4)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        barron_sampled(t, 0)
    with pytest.raises(ValueError, match="steepness must be a finite number > 0"):
        barron_sampled(t, 4, steepness=-1.0)


# ---------------------------------------------------------------------- the bound's formula, defaults, refusals
@pytest.mark.parametrize("steepness", [None, 50.0])
def test_sampled_bound_is_its_formula(steepness):
    """(V / sqrt(n) + V sqrt(p (2 ln 2 - 1) / S))^2 with V = ridge_variation, p = max_k 1 / max_i |w_ki|
    and S = 1000 n by default (module docstring), written out here from the target's directions."""
    t = targets.get("ridge_nd", d=5)
    w = t.params["directions"].double().numpy()  # (K, d)
    n = 40
    s = 1000.0 * n if steepness is None else steepness
    mass = ridge_variation(t)
    density = max(1 / np.abs(row).max() for row in w)
    expected = (mass / math.sqrt(n) + mass * math.sqrt(density * (2 * math.log(2) - 1) / s)) ** 2
    assert barron_sampled_bound(t, n, steepness) == pytest.approx(expected, rel=1e-12)
    # negative control: the rows' maxima differ, so one global max would be another density
    assert 1 / np.abs(w).max() != pytest.approx(density, rel=1e-3)


def test_sampled_network_defaults_seed_0_and_steepness_1000_n():
    """barron_sampled(t, n) is the draw of seed 0 with S = 1000 n: each unit's first-layer row is
    S w_k (up to the sign of its step), so its largest entry is S max_i |w_ki| for one ridge k."""
    t = targets.get("ridge_nd", d=4)
    n = 8
    default = barron_sampled(t, n)
    assert all(torch.equal(a, b) for a, b in zip(default.parameters(), barron_sampled(t, n, seed=0).parameters()))
    w = t.params["directions"].double()  # (K, 4)
    rows = default.layers[0].weight.abs()  # (n, 4)
    for row in rows:
        assert any(torch.allclose(row, 1000.0 * n * wk.abs(), rtol=1e-12) for wk in w)
    steep = barron_sampled(t, n, steepness=50.0).layers[0].weight.abs()
    assert all(any(torch.allclose(row, 50.0 * wk.abs(), rtol=1e-12) for wk in w) for row in steep)
    # negative control: seed 1 draws other units
    assert not torch.equal(default.layers[0].bias, barron_sampled(t, n, seed=1).layers[0].bias)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sampled_network_in_the_requested_dtype(dtype):
    net = barron_sampled(targets.get("ridge_nd", d=3), 6, dtype=dtype)
    assert all(p.dtype == dtype for p in net.parameters())


def test_targets_without_ridge_parameters_are_named():
    """A target without params, or with directions but no frequency, is refused by name."""
    plain = type("Plain", (), {"name": "plain"})()
    half = type("Half", (), {"name": "half", "params": {"directions": torch.ones(2, 3)}})()
    for target, name in [(plain, "plain"), (half, "half"), (targets.get("sin1"), "sin1")]:
        with pytest.raises(ValueError, match=rf"^barron_sampled needs a ridge_nd target \(directions and frequency\); "
                                             rf"got '{name}'$"):
            barron_sampled(target, 4)
        with pytest.raises(ValueError, match="needs a ridge_nd target"):
            barron_sampled_bound(target, 4)


def test_a_refused_target_without_a_name_is_shown_as_itself():
    with pytest.raises(ValueError, match=r"; got <object object at 0x[0-9a-f]+>$"):
        barron_sampled(object(), 4)
