"""Zhang et al. (2017), Theorem 1: 2n + d weights memorize any n labels exactly."""
import pytest
import torch

from approx.constructions import memorizer
from approx.constructions.memorize import memorizer_weight_count


def _random_labels(n, d, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (n,), generator=gen).to(torch.float64)
    return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fits_200_random_labels_in_10_dimensions_exactly(seed):
    x, y = _random_labels(200, 10, seed)
    net = memorizer(x, y, seed=seed)
    err = (net(x)[:, 0] - y).abs().max().item()
    assert err < 1e-8  # the threshold for "exactly" in float64


def test_negative_control_perturbed_output_weight_misses_the_labels():
    x, y = _random_labels(200, 10, 0)
    net = memorizer(x, y)
    w = net.layers[1].weight.clone()
    w[0, 100] *= 1 + 1e-6  # one slope change off by one part in a million
    bad = net.with_parameters([net.layers[0].weight, net.layers[0].bias, w, net.layers[1].bias])
    assert (bad(x)[:, 0] - y).abs().max().item() > 1e-8


def test_fits_real_labels_and_other_dtypes_of_labels():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(50, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(50, generator=gen, dtype=torch.float64)
    assert (memorizer(x, y)(x)[:, 0] - y).abs().max().item() < 1e-8
    labels = torch.randint(0, 3, (50,), generator=gen)  # integer labels are cast to x's dtype
    assert (memorizer(x, labels)(x)[:, 0] - labels).abs().max().item() < 1e-8


def test_structure_has_exactly_2n_plus_d_free_weights():
    n, d = 30, 4
    x, y = _random_labels(n, d, 3)
    net = memorizer(x, y)
    w1, b1, w2, b2 = net.parameters()
    assert net.sizes == [d, n, 1] and net.activations == ["relu", "identity"]
    assert torch.equal(w1, w1[:1].expand(n, d))  # every hidden unit reads the same <a, x>
    assert torch.count_nonzero(b2) == 0
    free = w1[0].numel() + b1.numel() + w2.numel()
    assert free == memorizer_weight_count(n, d) == 2 * n + d


def test_thresholds_interleave_the_sorted_projections():
    x, y = _random_labels(40, 6, 4)
    net = memorizer(x, y)
    z = torch.sort(x @ net.layers[0].weight[0]).values
    b = -net.layers[0].bias
    assert torch.all(b[:-1] < b[1:])
    assert torch.all(b < z) and torch.all(z[:-1] < b[1:])  # b_1 < z_1 < b_2 < z_2 < ...


def test_single_point():
    x = torch.tensor([[0.3, -1.0]], dtype=torch.float64)
    y = torch.tensor([2.5], dtype=torch.float64)
    assert memorizer(x, y)(x).item() == pytest.approx(2.5, abs=1e-12)


def test_duplicate_points_are_named():
    x, y = _random_labels(10, 3, 0)
    x[7] = x[2]
    with pytest.raises(ValueError, match=r"points (2 and 7|7 and 2) project to the same value"):
        memorizer(x, y)


def test_a_given_direction_that_ties_two_points_is_rejected():
    x = torch.tensor([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0]], dtype=torch.float64)
    y = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="same value"):
        memorizer(x, y, a=torch.tensor([1.0, 0.0], dtype=torch.float64))
    net = memorizer(x, y + torch.tensor([1.0, -1.0, 3.0], dtype=torch.float64),
                    a=torch.tensor([3.0, 1.0], dtype=torch.float64))
    assert torch.allclose(net(x)[:, 0], torch.tensor([1.0, -1.0, 3.0], dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize(
    "x, y, match",
    [
        (torch.zeros(5), torch.zeros(5), "shape \\(n, d\\)"),
        (torch.zeros(5, 2, dtype=torch.float64), torch.zeros(4), "shape \\(5,\\)"),
        (torch.zeros(5, 2, dtype=torch.float64), torch.zeros(5, 1), "shape \\(5,\\)"),
        (torch.zeros(5, 2, dtype=torch.int64), torch.zeros(5), "float dtype"),
    ],
)
def test_bad_shapes_raise(x, y, match):
    with pytest.raises(ValueError, match=match):
        memorizer(x, y)


def test_bad_direction_shape_raises():
    x, y = _random_labels(5, 3, 0)
    with pytest.raises(ValueError, match="a must be a tensor of shape \\(3,\\)"):
        memorizer(x, y, a=torch.ones(2, dtype=torch.float64))


def test_runs_on_device(device):
    x, y = _random_labels(64, 5, 1)
    x, y = x.to(device), y.to(device)
    net = memorizer(x, y)
    assert net.device.type == device
    assert (net(x)[:, 0] - y).abs().max().item() < 1e-8
