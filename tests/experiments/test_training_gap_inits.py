"""experiments/training_gap/inits.py: where each init puts the units' kinks or centres, that the
output layer is shared, and that an unknown init is refused in one line."""
from __future__ import annotations

import pytest
import torch

from experiments._shallow import shallow_ensemble
from experiments.training_gap.inits import INITS, initial_ensemble, unit_centres

WIDE = 4096  # units per network: fractions below are binomial, standard deviation <= 0.008


def _inside(init: str, activation: str = "relu") -> float:
    """The fraction of units whose kink or centre lies in [0, 1], over two networks of WIDE units."""
    c = unit_centres(initial_ensemble(init, WIDE, activation, [0, 1], steepness=20.0, mean_field=True))
    return ((c >= 0) & (c <= 1)).double().mean().item()


def test_where_each_init_puts_the_units():
    """steep: 1/2 - b/(2W) is in [0, 1] iff |b| <= |W|, probability 1/2 for W, b ~ U(-1, 1);
    standard: -b/w in [0, 1] iff sign(b) = -sign(w) and |b| <= |w|, probability 1/4; he: b = 0,
    every kink at 0; the data-aware inits: every unit inside (5 standard deviations: 0.04)."""
    assert _inside("steep") == pytest.approx(0.5, abs=0.04)
    assert _inside("standard") == pytest.approx(0.25, abs=0.04)
    he = initial_ensemble("he", 64, "relu", [0], steepness=20.0, mean_field=True)
    assert (unit_centres(he) == 0).all()
    for init in ("uniform_knots", "even_knots"):
        assert _inside(init) == 1.0 and _inside(init, "tanh") == 1.0
    # negative control: the check that passes for the data-aware inits fails for the steep one
    assert _inside("steep") < 0.6


def test_knots_are_spread_with_both_signs_and_the_steepness():
    net = initial_ensemble("even_knots", 8, "relu", [0, 1], steepness=20.0, mean_field=True)
    midpoints = (torch.arange(8, dtype=torch.float64) + 0.5) / 8
    assert torch.allclose(unit_centres(net), midpoints.expand(2, 8), rtol=0, atol=1e-15)
    w = net.layers[0].weight
    assert (w.abs() == 20.0).all() and not torch.equal(w[0], w[1])  # seeds differ in the signs
    uniform = unit_centres(initial_ensemble("uniform_knots", WIDE, "tanh", [3], steepness=5.0, mean_field=True))
    assert uniform.mean().item() == pytest.approx(0.5, abs=0.03)  # U(0, 1): mean 1/2, sd 0.0045
    slopes = initial_ensemble("uniform_knots", WIDE, "tanh", [3], steepness=5.0, mean_field=True).layers[0].weight
    assert (slopes > 0).double().mean().item() == pytest.approx(0.5, abs=0.04)
    assert not torch.allclose(unit_centres(initial_ensemble("uniform_knots", 8, "relu", [0], steepness=1.0,
                                                            mean_field=True)), midpoints)  # control: not even


def test_every_init_shares_the_output_layer_and_steep_is_the_shallow_init():
    seeds = [0, 4]
    base = shallow_ensemble(1, 16, "tanh", seeds, init_steepness=20.0, scale_relu=True, mean_field=True)
    for init in INITS:
        net = initial_ensemble(init, 16, "tanh", seeds, steepness=20.0, mean_field=True, dtype=torch.float32)
        last = net.layers[1]
        assert net.dtype == torch.float32 and net.ensemble == 2
        assert torch.equal(last.weight, base.layers[1].weight.float()) and last.scale == 1 / 16
    steep = initial_ensemble("steep", 16, "tanh", seeds, steepness=20.0, mean_field=True)
    assert torch.equal(steep.layers[0].weight, base.layers[0].weight)
    knots = initial_ensemble("even_knots", 16, "tanh", seeds, steepness=20.0, mean_field=True)
    assert not torch.equal(knots.layers[0].weight, base.layers[0].weight)  # control: another first layer


def test_an_unknown_init_is_refused():
    with pytest.raises(ValueError, match="unknown init 'xavier'; allowed: steep, standard, he, uniform_knots, "
                                         "even_knots"):
        initial_ensemble("xavier", 4, "relu", [0], steepness=1.0, mean_field=True)
