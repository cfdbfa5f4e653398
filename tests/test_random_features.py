"""approx.random_features: the least-squares output layer on a frozen random hidden layer."""
from __future__ import annotations

import pytest
import torch

from approx.network import Layer, Network
from approx.random_features import fit_output_layer


def _hidden(d: int, n_units: int, activation: str = "sigmoid", seed: int = 0) -> Network:
    g = torch.Generator().manual_seed(seed)
    w = 4 * torch.randn(n_units, d, generator=g, dtype=torch.float64)
    b = torch.randn(n_units, generator=g, dtype=torch.float64)
    return Network([Layer(w, b, activation), Layer(torch.zeros(1, n_units, dtype=torch.float64),
                                                   torch.zeros(1, dtype=torch.float64), "identity")])


def test_a_target_in_the_span_is_recovered_exactly():
    # y = sum_i a_i h_i(x) + c lies in the span of the features: least squares returns it, to
    # the rounding of a well-posed solve (n = 500 points >> N + 1 = 9 unknowns)
    net = _hidden(3, 8)
    x = torch.rand(500, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = torch.arange(1.0, 9.0, dtype=torch.float64)[None, :]
    truth = Network([net.layers[0], Layer(a, torch.tensor([0.5], dtype=torch.float64), "identity")])
    fitted = fit_output_layer(net, x, truth(x))
    assert torch.allclose(fitted.layers[1].weight, a, atol=1e-6)
    assert (fitted(x) - truth(x)).abs().max().item() < 1e-9
    assert fitted.layers[0] is net.layers[0]  # the hidden layer is not touched
    # negative control: a target outside the span (a sharper ridge) keeps a clear residual
    outside = torch.cos(20 * x[:, :1])
    assert (fit_output_layer(net, x, outside)(x) - outside).square().mean().item() > 1e-3


def test_the_fit_is_the_least_squares_optimum():
    # the residual is orthogonal to every feature and to the constant (normal equations)
    net = _hidden(2, 16, "relu")
    x = torch.rand(300, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = torch.sin(3 * x.sum(1, keepdim=True))
    r = fit_output_layer(net, x, y)(x) - y  # (n, 1)
    hidden = Network([net.layers[0]])(x)
    design = torch.cat([hidden, torch.ones(300, 1, dtype=torch.float64)], 1)
    assert (design.T @ r).abs().max().item() < 1e-8 * design.abs().sum().item()
    # negative control: a perturbed output layer is not orthogonal
    fitted = fit_output_layer(net, x, y)
    moved = Network([fitted.layers[0], Layer(fitted.layers[1].weight * 1.01, fitted.layers[1].bias, "identity")])
    assert (design.T @ (moved(x) - y)).abs().max().item() > 1e-6


def test_bad_inputs_are_refused():
    net = _hidden(2, 4)
    with pytest.raises(ValueError, match="same n"):
        fit_output_layer(net, torch.zeros(5, 2, dtype=torch.float64), torch.zeros(4, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="one-hidden-layer"):
        fit_output_layer(Network([net.layers[0]]), torch.zeros(5, 2), torch.zeros(5, 1))
