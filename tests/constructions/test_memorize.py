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


def _candidate_directions(d, seed, n_directions):
    """The documented draw: n_directions seeded Gaussian directions, each scaled to unit length."""
    gen = torch.Generator().manual_seed(seed)
    candidates = torch.randn(n_directions, d, generator=gen, dtype=torch.float64)
    return candidates / candidates.norm(dim=1, keepdim=True)


def _smallest_gap(x, a):
    return torch.diff(torch.sort(x @ a).values).min().item()


def test_the_kept_direction_is_the_unit_candidate_with_the_largest_smallest_gap():
    """The rule of the docstring: of the seeded Gaussian directions, each scaled to unit length
    (so that gaps of different directions compare), keep the one whose sorted projections have
    the largest smallest gap. Checked against the rule written out here, for two seeds."""
    x, y = _random_labels(40, 5, 6)
    for seed in (0, 7):
        candidates = _candidate_directions(5, seed, 16)
        gaps = [_smallest_gap(x, c) for c in candidates]
        a = memorizer(x, y, seed=seed).layers[0].weight[0]
        assert torch.allclose(a, candidates[max(range(16), key=gaps.__getitem__)], rtol=0, atol=1e-15)
        assert a.norm().item() == pytest.approx(1.0, abs=1e-15)
        assert _smallest_gap(x, a) == max(gaps)
    # negative control: the rule picks a different direction than the first candidate here
    assert not torch.allclose(memorizer(x, y).layers[0].weight[0], _candidate_directions(5, 0, 16)[0])


def test_default_direction_is_seed_0_of_16_and_ignores_the_global_generator():
    """memorizer(x, y) is memorizer(x, y, seed=0, n_directions=16), whatever the global torch
    generator's state: the directions come from the seed alone, so a call is reproducible."""
    x, y = _random_labels(30, 4, 8)
    torch.manual_seed(123)
    default = memorizer(x, y).layers[0].weight[0]
    torch.manual_seed(456)
    assert torch.equal(default, memorizer(x, y, seed=0, n_directions=16).layers[0].weight[0])
    # negative controls: another seed, or another number of directions, keeps another direction
    assert not torch.equal(default, memorizer(x, y, seed=1).layers[0].weight[0])
    assert not torch.equal(default, memorizer(x, y, n_directions=17).layers[0].weight[0])


def test_one_direction_and_one_dimension_are_allowed():
    """n_directions=1 keeps the only candidate; d = 1 (points on a line) needs no direction search."""
    x, y = _random_labels(20, 3, 9)
    net = memorizer(x, y, n_directions=1)
    assert torch.allclose(net.layers[0].weight[0], _candidate_directions(3, 0, 1)[0], rtol=0, atol=1e-15)
    assert (net(x)[:, 0] - y).abs().max().item() < 1e-8
    line = torch.linspace(-1, 1, 9, dtype=torch.float64)[:, None]  # (9, 1)
    labels = torch.sin(3 * line[:, 0])
    assert (memorizer(line, labels)(line)[:, 0] - labels).abs().max().item() < 1e-12
    single = torch.tensor([[0.5, 1.5, -2.0]], dtype=torch.float64)
    assert memorizer(single, torch.tensor([4.0], dtype=torch.float64), n_directions=1)(single).item() == \
        pytest.approx(4.0, abs=1e-12)


def test_first_threshold_is_one_median_gap_below_the_smallest_projection():
    """b_1 = z_1 - median gap (docstring), so the net is 0 for <a, x> <= b_1 and rises to y_1 at z_1;
    with two points the median gap is their one gap, with one point the gap is taken as 1."""
    for n in (2, 3, 7):
        x, y = _random_labels(n, 2, n)
        net = memorizer(x, y)
        z = torch.sort(x @ net.layers[0].weight[0]).values
        b = -net.layers[0].bias
        assert b[0].item() == pytest.approx((z[0] - torch.diff(z).median()).item(), abs=1e-12)
    x = torch.tensor([[0.3, -1.0]], dtype=torch.float64)
    net = memorizer(x, torch.tensor([2.5], dtype=torch.float64))
    z = (x @ net.layers[0].weight[0]).item()
    assert -net.layers[0].bias.item() == pytest.approx(z - 1.0, abs=1e-12)


def test_two_tied_points_are_named_with_what_is_needed():
    """The smallest case of a tie (n = 2) is caught too; the message says what the construction needs."""
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=torch.float64)
    needs = (r"points (0 and 1|1 and 0) project to the same value .*; the construction needs pairwise distinct "
             r"projections \(distinct points and a direction a that separates them\)")
    with pytest.raises(ValueError, match=needs):
        memorizer(x, torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_works_in_float32_and_casts_a_given_direction_and_labels_to_x_dtype():
    """The network is in x's dtype: float64 labels and a float32 or integer direction are cast to it."""
    x = torch.tensor([[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [-1.0, 3.0]])  # float32
    y = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    net = memorizer(x, y)
    assert net.dtype == torch.float32
    assert (net(x)[:, 0].double() - y).abs().max().item() < 1e-4  # 4 points: float32 keeps the labels
    for a in (torch.tensor([1.0, 0.25]), torch.tensor([3, 1])):
        net = memorizer(x.double(), y, a=a)
        assert net.dtype == torch.float64
        assert (net(x.double())[:, 0] - y).abs().max().item() < 1e-12


@pytest.mark.parametrize(
    "x, y, a, n_directions, message",
    [
        (torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0), None, 16, r"n, d >= 1; got \(0, 3\)"),
        (torch.zeros(4, 0, dtype=torch.float64), torch.zeros(4), None, 16, r"n, d >= 1; got \(4, 0\)"),
        ([[0.0, 1.0]], torch.zeros(1), None, 16, r"n, d >= 1; got list"),
        (torch.eye(2, dtype=torch.float64), torch.zeros(3), None, 16, r"shape \(2,\), one label per point; got \(3,\)"),
        (torch.eye(2, dtype=torch.float64), [0.0, 1.0], None, 16, r"one label per point; got list"),
        (torch.eye(2, dtype=torch.float64), torch.zeros(2), torch.ones(3), 16, r"shape \(2,\); got \(3,\)"),
        (torch.eye(2, dtype=torch.float64), torch.zeros(2), [1.0, 0.0], 16, r"shape \(2,\); got list"),
        (torch.eye(2, dtype=torch.float64), torch.zeros(2), None, 0, r"n_directions must be >= 1; got 0"),
    ],
)
def test_bad_input_names_the_bad_value(x, y, a, n_directions, message):
    with pytest.raises(ValueError, match=message):
        memorizer(x, y, a=a, n_directions=n_directions)


def test_a_given_direction_may_live_on_another_device(device):
    """A direction given on the CPU is moved to x's device (a no-op check on a CPU-only machine)."""
    x, y = _random_labels(16, 3, 2)
    net = memorizer(x.to(device), y.to(device), a=torch.tensor([1.0, 0.3, -0.2], dtype=torch.float64))
    assert net.device.type == device
    assert (net(x.to(device))[:, 0] - y.to(device)).abs().max().item() < 1e-8
