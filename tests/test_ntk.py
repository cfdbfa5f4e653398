"""approx.ntk: H^inf against Monte Carlo and the empirical NTK on two engines (Du et al. 2019)."""
import math

import pytest
import torch

from approx import ntk
from approx.network import Network

N_SE = 5  # Monte Carlo tolerance: 5 standard errors per entry (two-sided p ~ 6e-7 per entry)


def _points():
    """Unit vectors with every kind of angle: random ones, an orthogonal pair, an antipodal pair."""
    x = ntk.unit_sphere(6, 3, seed=3)
    special = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, -1.0]], dtype=torch.float64)
    return torch.cat([x, special])


def _monte_carlo(x, n_samples, seed):
    """Mean and standard error of g(w)_ij = <x_i, x_j> 1{w.x_i > 0} 1{w.x_j > 0}, w ~ N(0, I)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n_samples, x.shape[1], generator=gen, dtype=torch.float64)
    on = (w @ x.T > 0).to(torch.float64)  # (S, n)
    both = on.T @ on / n_samples  # (n, n): estimate of P(w.x_i > 0, w.x_j > 0)
    gram = x @ x.T
    mean = gram * both
    # g takes the values <x_i, x_j> (prob p) and 0, so its variance is gram^2 p (1 - p)
    se = (gram.square() * both * (1 - both) / n_samples).sqrt()
    return mean, se


def _worst_z(estimate, se, formula):
    """Largest |estimate - formula| in standard errors; where se = 0 (a zero <x_i, x_j>, so g = 0
    surely) any difference beyond rounding counts as infinitely many."""
    diff = (estimate - formula).abs()
    z = torch.where(se > 0, diff / se.clamp_min(1e-300), torch.where(diff > 1e-15, math.inf, 0.0))
    return z.max().item()


def test_h_infinity_matches_monte_carlo_within_5_standard_errors():
    x = _points()
    mean, se = _monte_carlo(x, 400_000, seed=0)
    assert _worst_z(mean, se, ntk.h_infinity(x)) < N_SE


@pytest.mark.parametrize("wrong", [
    lambda g: g * (math.pi - torch.arccos(g)) / math.pi,  # forgot the 2 in 2 pi
    lambda g: g * torch.arccos(g) / (2 * math.pi),  # angle between instead of overlap
    lambda g: (math.pi - torch.arccos(g)) / (2 * math.pi),  # dropped the <x_i, x_j> factor
])
def test_negative_control_wrong_kernel_formulas_fail_the_monte_carlo_check(wrong):
    x = _points()
    mean, se = _monte_carlo(x, 400_000, seed=0)
    assert _worst_z(mean, se, wrong((x @ x.T).clamp(-1, 1))) > N_SE


def test_h_infinity_known_values_and_positive_definite():
    x = _points()
    h = ntk.h_infinity(x)
    assert torch.allclose(h.diagonal(), torch.full((10,), 0.5, dtype=torch.float64))  # pi / (2 pi)
    assert h[6, 7].item() == 0.0 and h[8, 9].item() == 0.0  # orthogonal; antipodal
    assert torch.linalg.eigvalsh(ntk.h_infinity(ntk.unit_sphere(20, 5))).min().item() > 0  # lambda_0 > 0


def test_h_infinity_rejects_rows_off_the_sphere():
    x = ntk.unit_sphere(4, 3)
    x[2] *= 1.01
    with pytest.raises(ValueError, match="row 2 has norm 1.01"):
        ntk.h_infinity(x)
    with pytest.raises(ValueError, match="shape \\(n, d\\)"):
        ntk.h_infinity(torch.ones(3))


ARCHITECTURES = [
    ([3, 5, 1], "relu", None, None),
    ([2, 4, 4, 1], ["tanh", "softplus"], None, None),
    ([4, 6, 3, 1], ["sigmoid", "ramp"], 3, None),
    ([3, 8, 1], "relu", 2, ["W1"]),
    ([3, 5, 4, 1], "tanh", None, ["b1", "W3", "b3"]),
]


@pytest.mark.parametrize("sizes, activation, ensemble, trainable", ARCHITECTURES)
def test_backprop_ntk_equals_torch_func_ntk(sizes, activation, ensemble, trainable):
    net = Network.random(sizes, activation, seed=1, ensemble=ensemble)
    x = torch.randn(7, sizes[0], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    mine = ntk.empirical_ntk(net, x, engine="backprop", trainable=trainable)
    ref = ntk.empirical_ntk(net, x, engine="torch.func", trainable=trainable)
    scale = ref.abs().max()
    assert ((mine - ref).abs().max() / scale).item() < 1e-10
    assert ((mine * 1.01 - ref).abs().max() / scale).item() > 1e-10  # negative control


def test_negative_control_summed_gradients_are_not_per_example_gradients():
    """The all-examples gradient outer product is not the NTK: the check can tell them apart."""
    net = Network.random([3, 5, 1], "tanh", seed=0)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    theta = ntk.empirical_ntk(net, x, engine="torch.func")
    summed = theta.sum(0, keepdim=True).expand_as(theta)  # what a shared-parameter pass gives
    assert (summed - theta).abs().max().item() > 1e-3


def test_du_model_ntk_equals_its_closed_form():
    x = ntk.unit_sphere(8, 4, seed=1)
    net = ntk.two_layer_relu(300, 4, seed=5)
    theta = ntk.empirical_ntk(net, x, trainable=ntk.DU_TRAINABLE)
    w, a = net.layers[0].weight, net.layers[1].weight[0]
    on = (x @ w.T > 0).to(torch.float64)  # (n, m)
    closed = (x @ x.T) * ((on * a.square()) @ on.T) / 300  # (1/m) sum_r a_r^2 <x_i,x_j> 1 1
    assert torch.allclose(theta, closed, rtol=1e-12, atol=1e-14)


def test_empirical_ntk_error_matches_monte_carlo_variance():
    """E ||Theta_m - H^inf||_F^2 = (1/m) sum_ij (<x_i,x_j> H_ij - H_ij^2) for the Du model at init.

    Theta_m is a mean of m i.i.d. terms g_r = <x_i,x_j> 1 1 (a_r^2 = 1) with E g = H and
    E g^2 = <x_i,x_j> H, so the mean squared error is exactly that variance over m; averaged over
    40 seeds the measured ratio is within [0.7, 1.4] (about 4 of its standard deviations).
    """
    x = ntk.unit_sphere(8, 4, seed=1)
    h = ntk.h_infinity(x)
    predicted = ((x @ x.T) * h - h.square()).sum().item()
    for m in (64, 1024):
        theta = ntk.empirical_ntk(ntk.two_layer_relu(m, 4, seed=0, ensemble=40), x, trainable=["W1"])
        measured = (theta - h).square().sum(dim=(1, 2)).mean().item()
        assert 0.7 < measured * m / predicted < 1.4
        assert not 0.7 < measured * (2 * m) / predicted < 1.4  # negative control: the wrong m fails


def test_empirical_ntk_rejects_bad_input():
    net = Network.random([2, 3, 2], "relu")
    with pytest.raises(ValueError, match="one output"):
        ntk.empirical_ntk(net, torch.zeros(4, 2, dtype=torch.float64))
    net = Network.random([2, 3, 1], "relu")
    with pytest.raises(ValueError, match="trainable must name some of W1, b1, W2, b2"):
        ntk.empirical_ntk(net, torch.zeros(4, 2, dtype=torch.float64), trainable=["W3"])
    with pytest.raises(ValueError, match="unknown engine"):
        ntk.empirical_ntk(net, torch.zeros(4, 2, dtype=torch.float64), engine="jax")


def test_ntk_on_device(device):
    x = ntk.unit_sphere(5, 3, device=device)
    net = ntk.two_layer_relu(64, 3, device=device)
    theta = ntk.empirical_ntk(net, x, trainable=ntk.DU_TRAINABLE)
    assert theta.device.type == device and ntk.h_infinity(x).device.type == device
    ref = ntk.empirical_ntk(net, x, engine="torch.func", trainable=ntk.DU_TRAINABLE)
    assert torch.allclose(theta, ref, rtol=1e-10, atol=1e-14)


def test_unit_sphere_is_seeded_by_its_own_generator_and_keeps_the_dtype():
    torch.manual_seed(0)
    a = ntk.unit_sphere(5, 3, seed=7)
    torch.manual_seed(1)  # the global generator must not matter
    b = ntk.unit_sphere(5, 3, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, ntk.unit_sphere(5, 3, seed=8))  # negative control: another seed, other points
    assert torch.equal(ntk.unit_sphere(5, 3), ntk.unit_sphere(5, 3, seed=0))  # the default seed is 0
    assert torch.allclose(a.norm(dim=1), torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-15)
    single = ntk.unit_sphere(5, 3, seed=7, dtype=torch.float32)
    assert single.dtype == torch.float32 and torch.equal(single, a.float())


def test_two_layer_relu_seeds_sizes_and_errors():
    torch.manual_seed(0)
    net = ntk.two_layer_relu(1, 1, seed=5)  # the smallest network allowed
    torch.manual_seed(1)  # the global generator must not matter
    again = ntk.two_layer_relu(1, 1, seed=5)
    assert net.sizes == [1, 1, 1] and all(torch.equal(p, q) for p, q in zip(net.parameters(), again.parameters()))
    assert torch.equal(ntk.two_layer_relu(3, 2).layers[0].weight, ntk.two_layer_relu(3, 2, seed=0).layers[0].weight)
    # member e of an ensemble is the single network of seed + e (the docstring's rule)
    ens = ntk.two_layer_relu(4, 3, seed=10, ensemble=3)
    for e in range(3):
        single = ntk.two_layer_relu(4, 3, seed=10 + e)
        assert all(torch.equal(p, q) for p, q in zip(ens.member(e).parameters(), single.parameters()))
    # negative control: another seed gives another network
    assert not torch.equal(ens.member(1).layers[0].weight, ens.member(0).layers[0].weight)
    assert ntk.two_layer_relu(4, 3, dtype=torch.float32).dtype == torch.float32
    for m, d in [(0, 3), (3, 0), (0, 0)]:
        with pytest.raises(ValueError) as err:
            ntk.two_layer_relu(m, d)
        assert str(err.value) == f"need width m >= 1 and input dimension d >= 1; got m={m}, d={d}"


def test_h_infinity_of_antipodal_points_is_finite():
    """<x, -x> = -1 may round below -1; the kernel clamps it, so arccos stays real: H(x, -x) = 0."""
    x = ntk.unit_sphere(20, 3, seed=4)
    h = ntk.h_infinity(torch.cat([x, -x]))
    assert bool(torch.isfinite(h).all())
    assert torch.allclose(torch.diagonal(h, 20), torch.zeros(20, dtype=torch.float64), atol=1e-7)


def test_du_model_output_weights_are_both_signs():
    """a_r is uniform on {-1, +1}: with m = 200 both signs occur, and nothing else; w_r ~ N(0, I)
    is drawn in float64 (its entries are not float32 numbers)."""
    net = ntk.two_layer_relu(200, 3, seed=0)
    assert set(net.layers[1].weight.unique().tolist()) == {-1.0, 1.0}
    w = net.layers[0].weight
    assert bool((w.float().double() != w).any())


def test_ntk_errors_name_the_bad_input():
    net = Network.random([2, 3, 1], "relu")
    with pytest.raises(ValueError, match=r"x must be \(n, 2\), shared by all members; got list"):
        ntk.empirical_ntk(net, [[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"x must be \(n, 2\), shared by all members; got \(2, 4, 2\)"):
        ntk.empirical_ntk(net, torch.zeros(2, 4, 2, dtype=torch.float64))  # one data set per member: no
    with pytest.raises(ValueError, match=r"x must be a float tensor of shape \(n, d\); got list"):
        ntk.h_infinity([[1.0, 0.0]])
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        ntk.h_infinity(torch.ones(3, dtype=torch.float64))
