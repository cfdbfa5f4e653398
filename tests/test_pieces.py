"""approx.pieces: exact breakpoints of 1-D ReLU networks, checked without trusting the counter.

A list of breakpoints b_1 < ... < b_{p-1} of f on [lo, hi] is exactly right iff
  (1) f is affine on every piece [b_i, b_{i+1}] (no breakpoint is missing), and
  (2) the slope of f differs on the two sides of every b_i (no breakpoint is spurious).
Both are checked by evaluating the network itself, with negative controls (a dropped and a
moved breakpoint must fail). A dense-sampling estimate is compared as well: it can miss pieces
shorter than the grid spacing, so it must never exceed the exact count and must equal it when
every piece is longer than 10 grid cells.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from approx import Layer, Network
from approx.constructions.depth import sawtooth
from approx.pieces import METHODS, breakpoints, count_pieces, count_regions, max_regions

EPS = np.finfo(np.float64).eps


LO, HI = -2.0, 2.0


def f(net: Network, x) -> np.ndarray:
    x = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(-1, 1)
    return net(x).reshape(-1).numpy()


def net_from(layers) -> Network:
    """A single float64 network from [(W rows, b, activation)]."""
    return Network([Layer(torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), a)
                    for w, b, a in layers])


def random_networks(n: int = 200) -> list[Network]:
    """Mixed depths (1-5 hidden layers), widths (1-12), inits and scales, all seeded."""
    rng = np.random.default_rng(0)
    nets = []
    for i in range(n):
        depth, width = int(rng.integers(1, 6)), int(rng.integers(1, 13))
        init = ["standard", "standard", "he"][i % 3]  # he: zero biases, all kinks coincide at 0
        nets.append(Network.random([1] + [width] * depth + [1], "relu", seed=i, init=init,
                                   init_scale=float(rng.choice([1.0, 2.0, 4.0]))))
    return nets


def affine_violation(net, lo, hi, bps) -> float:
    """Largest |f(x) - linear interpolation of f between the piece ends|, relative to |f|."""
    ends = np.concatenate([[lo], bps, [hi]])
    a, b = ends[:-1, None], ends[1:, None]
    t = np.linspace(0.05, 0.95, 7)[None, :]  # interior fractions of each piece
    x = a + t * (b - a)  # (n_pieces, 7)
    fa, fb = f(net, ends[:-1])[:, None], f(net, ends[1:])[:, None]
    fx = f(net, x).reshape(x.shape)
    scale = 1.0 + np.abs(np.concatenate([fa, fb])).max()
    return float(np.abs(fx - (fa + t * (fb - fa))).max() / scale)


def slope_jumps(net, lo, hi, bps) -> np.ndarray:
    """|slope right - slope left| at each breakpoint, in units of its rounding error."""
    ends = np.concatenate([[lo], bps, [hi]])
    gaps = np.diff(ends)
    delta = 0.25 * np.minimum(gaps[:-1], gaps[1:])  # stay inside the two neighbouring pieces
    left, mid, right = f(net, bps - delta), f(net, bps), f(net, bps + delta)
    jump = np.abs((right - mid) - (mid - left)) / delta
    rounding = 16 * EPS * (np.abs(left) + np.abs(mid) + np.abs(right) + 1.0) / delta
    return jump / rounding


def sampled_pieces(net, lo, hi, n_grid=20_001):
    """Pieces seen on a grid: maximal runs of >= 2 consecutive cells with equal secant slope."""
    x = np.linspace(lo, hi, n_grid)
    y = f(net, x)
    h = x[1] - x[0]
    s = np.diff(y) / h  # (n_grid - 1,) secant slopes
    tol = 1e-7 * (1.0 + np.abs(s).max())
    same = np.abs(np.diff(s)) <= tol  # cell i and i + 1 share a slope
    runs = int(same[0]) + int(np.sum(same[1:] & ~same[:-1]))
    return runs, h


@pytest.mark.parametrize("method", METHODS)
def test_hand_made_networks(method):
    # relu(x) - relu(x - 1): slopes 0, 1, 0 -> breakpoints {0, 1}, zero-slope pieces at both ends
    ramp = net_from([([[1.0], [1.0]], [0.0, -1.0], "relu"), ([[1.0, -1.0]], [0.0], "identity")])
    np.testing.assert_allclose(breakpoints(ramp, -1, 2, method=method), [0.0, 1.0], atol=1e-15)
    assert count_pieces(ramp, -1, 2, method=method) == 3
    # relu(x) - relu(-x) = x: two activation regions, one piece
    line = net_from([([[1.0], [-1.0]], [0.0, 0.0], "relu"), ([[1.0, -1.0]], [0.0], "identity")])
    assert count_regions(line, -1, 1, method=method) == 2 and count_pieces(line, -1, 1, method=method) == 1
    assert breakpoints(line, -1, 1, method=method).size == 0
    # three units with the same kink at 0.3 (coincident breakpoints): one breakpoint
    same = net_from([([[1.0], [2.0], [0.5]], [-0.3, -0.6, -0.15], "relu"), ([[1.0, 1.0, 1.0]], [0.0], "identity")])
    np.testing.assert_allclose(breakpoints(same, 0, 1, method=method), [0.3], atol=1e-12)
    # a second-layer unit crossing 0 exactly at a first-layer kink (t(x) - 1 = 0 at x = 1/2)
    deep = net_from([([[1.0], [1.0]], [0.0, -0.5], "relu"), ([[2.0, -4.0]], [-1.0], "relu"),
                     ([[1.0]], [0.0], "identity")])
    assert count_pieces(deep, 0, 1, method=method) == 1  # relu(t(x) - 1) = 0 on [0, 1]
    # a dead network: constant output, one piece
    dead = net_from([([[1.0]], [-5.0], "relu"), ([[3.0]], [0.7], "identity")])
    assert count_pieces(dead, 0, 1, method=method) == 1 and count_regions(dead, 0, 1, method=method) == 1
    # ramp activation: clamp(2x, 0, 1) has kinks at 0 and 1/2
    clamp = net_from([([[2.0]], [0.0], "ramp"), ([[1.0]], [0.0], "identity")])
    np.testing.assert_allclose(breakpoints(clamp, -1, 1, method=method), [0.0, 0.5], atol=1e-15)


@pytest.mark.parametrize("k", range(1, 13))
def test_sawtooth_has_2_to_the_k_pieces(k):
    # Telgarsky: t^k has exactly 2^k pieces, with kinks at j / 2^k
    net = sawtooth(k)
    assert count_pieces(net, 0, 1) == 2 ** k == count_regions(net, 0, 1)
    np.testing.assert_allclose(breakpoints(net, 0, 1), np.arange(1, 2 ** k) / 2 ** k, atol=1e-13)


def test_random_networks_exact_and_within_bound():
    n_equal = 0
    for net in random_networks(200):
        bps = breakpoints(net, LO, HI)
        assert np.all(np.diff(bps) > 0) and (bps.size == 0 or (bps[0] > LO and bps[-1] < HI))
        # (1) affine on every piece: a missing breakpoint would bend a piece
        assert affine_violation(net, LO, HI, bps) < 1e-10, net
        # (2) the slope really changes at every breakpoint (far above rounding)
        if bps.size:
            assert slope_jumps(net, LO, HI, bps).min() > 100, net
        # the theorem's bound: L hidden layers of width m give <= (m + 1)^L <= (2m)^L regions
        n_hidden, m = net.depth - 1, max(net.sizes[1:-1])
        assert bps.size + 1 <= count_regions(net, LO, HI) <= max_regions(net) <= (2 * m) ** n_hidden
        # dense sampling: never more than exact; equal when every piece spans >= 10 grid cells
        n_sampled, h = sampled_pieces(net, LO, HI)
        assert n_sampled <= bps.size + 1, net
        if np.diff(np.concatenate([[LO], bps, [HI]])).min() > 10 * h:
            assert n_sampled == bps.size + 1, net
            n_equal += 1
    assert n_equal >= 100  # the equality case is exercised on most networks, not vacuously


def test_sweep_and_refine_agree():
    # two algorithms for the last hidden layer: a kink sweep (auto) and full refinement
    for net in random_networks(200):
        fast, full = breakpoints(net, LO, HI), breakpoints(net, LO, HI, method="refine")
        assert fast.shape == full.shape and np.allclose(fast, full, rtol=0, atol=1e-12), net
        assert count_regions(net, LO, HI) == count_regions(net, LO, HI, method="refine")


def test_negative_controls_fail():
    net = Network.random([1, 8, 8, 1], "relu", seed=3)
    bps = breakpoints(net, LO, HI)
    assert bps.size >= 4
    assert affine_violation(net, LO, HI, bps) < 1e-10
    # a dropped breakpoint leaves a bent piece
    assert affine_violation(net, LO, HI, np.delete(bps, bps.size // 2)) > 1e-6
    # a moved breakpoint (a third of the way to its neighbour) has the same slope on both sides
    moved = bps.copy()
    i = bps.size // 2
    moved[i] += (moved[i + 1] - moved[i]) / 3
    assert slope_jumps(net, LO, HI, moved)[i] < 100
    # the sampling estimate sees the difference when one breakpoint is dropped
    n_sampled, _ = sampled_pieces(net, LO, HI)
    assert n_sampled != bps.size


def test_homogeneous_networks_have_one_kink_at_zero():
    # zero biases make f positively homogeneous: f(x) = a x for x > 0 and b x for x < 0
    for seed in range(20):
        net = Network.random([1, 6, 6, 6, 1], "relu", seed=seed, init="he")
        a, b = f(net, [1.0])[0], -f(net, [-1.0])[0]
        expected = [0.0] if abs(a - b) > 1e-12 else []
        np.testing.assert_allclose(breakpoints(net, -1, 1), expected, atol=0)


def test_ensembles_count_per_member():
    nets = Network.random([1, 5, 5, 1], "relu", seed=0, ensemble=4)
    counts = count_pieces(nets, LO, HI)
    assert counts.shape == (4,)
    assert list(counts) == [count_pieces(m, LO, HI) for m in nets.unstack()]
    assert all(np.array_equal(b, breakpoints(m, LO, HI)) for b, m in zip(breakpoints(nets, LO, HI), nets.unstack()))
    assert list(count_regions(nets, LO, HI)) == [count_regions(m, LO, HI) for m in nets.unstack()]


def test_float32_networks_are_counted_in_float64():
    net = sawtooth(6, dtype=torch.float32)
    assert count_pieces(net, 0, 1) == 64


@pytest.mark.parametrize("net, lo, hi, match", [
    (Network.random([1, 4, 1], "tanh"), 0, 1, "tanh"),
    (Network.random([1, 4, 1], "sigmoid"), 0, 1, "sigmoid"),
    (Network.random([2, 4, 1], "relu"), 0, 1, "R\\^2"),
    (Network.random([1, 4, 3], "relu"), 0, 1, "R\\^3"),
    (Network.random([1, 4, 1], "relu"), 1, 0, "lo < hi"),
    (Network.random([1, 4, 1], "relu"), 0, float("inf"), "lo < hi"),
])
def test_bad_input_raises(net, lo, hi, match):
    with pytest.raises(ValueError, match=match):
        count_pieces(net, lo, hi)
    with pytest.raises(ValueError, match=match):
        breakpoints(net, lo, hi)


def test_bad_method_raises():
    with pytest.raises(ValueError, match="method 'exact'"):
        count_pieces(sawtooth(2), method="exact")


def test_cuda_networks_are_counted(device):
    net = sawtooth(8).to(device)
    assert count_pieces(net, 0, 1) == 256


def test_max_regions_counts_two_kinks_per_ramp_unit():
    # one ramp unit z = 2x - 0.5 crosses both kink levels (0 at x = 0.25, 1 at x = 0.75): three
    # regions, more than the one-kink bound m + 1 = 2 allows, and no more than max_regions
    d = torch.float64
    net = Network.from_parameters([torch.tensor([[2.0]], dtype=d), torch.tensor([-0.5], dtype=d),
                                   torch.tensor([[1.0]], dtype=d), torch.tensor([0.0], dtype=d)],
                                  ["ramp", "identity"])
    for method in METHODS:
        assert count_regions(net, method=method) == 3 > 1 + 1
        np.testing.assert_allclose(breakpoints(net, method=method), [0.25, 0.75], rtol=0, atol=1e-12)
    assert max_regions(net) == 3
    # random ramp networks (two ramp layers, and ramp then relu) stay within the bound
    for activations, bound in ((["ramp", "ramp", "identity"], 9 * 7), (["ramp", "relu", "identity"], 9 * 4)):
        for seed in range(5):
            net = Network.random([1, 4, 3, 1], activations, seed=seed)
            assert max_regions(net) == bound
            for method in METHODS:
                assert count_regions(net, -3.0, 3.0, method=method) <= bound


@pytest.mark.parametrize("method", METHODS)
def test_a_merged_cluster_of_breakpoints_reports_its_first_point(method):
    # two relu kinks 4e-4 apart, closer than tol * (hi - lo) = 1e-3: counted once, at the first
    d = torch.float64
    net = Network.from_parameters([torch.tensor([[1.0], [1.0]], dtype=d), torch.tensor([-0.3, -0.3004], dtype=d),
                                   torch.tensor([[1.0, 1.0]], dtype=d), torch.tensor([0.0], dtype=d)],
                                  ["relu", "identity"])
    found = breakpoints(net, tol=1e-3, method=method)
    np.testing.assert_allclose(found, [0.3], rtol=0, atol=1e-12)
    assert count_pieces(net, tol=1e-3, method=method) == 2


def test_max_regions_counts_the_kinks_of_a_relu_or_ramp_output_layer():
    # relu(x - 0.5) alone, an output layer with no hidden layer: two regions on [0, 1], split at
    # 0.5. A bound over the hidden layers only (the empty product, 1) would be broken by it; a
    # linear output still gives a factor 1, so Telgarsky's prod (m_l + 1) is unchanged
    d = torch.float64
    relu_out = Network.from_parameters([torch.tensor([[1.0]], dtype=d), torch.tensor([-0.5], dtype=d)], ["relu"])
    ramp_out = Network.from_parameters([torch.tensor([[2.0]], dtype=d), torch.tensor([-0.5], dtype=d)], ["ramp"])
    for method in METHODS:
        assert count_regions(relu_out, method=method) == 2 == max_regions(relu_out)
        assert count_regions(ramp_out, method=method) == 3 == max_regions(ramp_out)
    assert max_regions(Network.random([1, 3, 1], "relu")) == 4  # negative control: linear output, 3 + 1


def mixed_networks(n: int = 60) -> list[Network]:
    """Seeded networks of 1-3 hidden layers mixing relu, ramp and identity, with a linear, relu
    or ramp output: the activations the counter handles, in every order."""
    rng = np.random.default_rng(1)
    nets = []
    for i in range(n):
        depth = int(rng.integers(1, 4))
        hidden = [str(a) for a in rng.choice(["relu", "ramp", "identity"], size=depth)]
        output = ["identity", "relu", "ramp"][i % 3]
        widths = [int(w) for w in rng.integers(1, 7, size=depth)]
        nets.append(Network.random([1] + widths + [1], hidden + [output], seed=i, init_scale=2.0))
    return nets


@pytest.mark.parametrize("method", METHODS)
def test_ramp_and_mixed_networks_are_exact(method):
    """Breakpoints of networks mixing ramp, relu and identity layers are exactly right, checked on
    the network itself: f is affine between them, and its slope really changes at each one."""
    n_ramp_kinks = 0
    for net in mixed_networks():
        bps = breakpoints(net, LO, HI, method=method)
        assert affine_violation(net, LO, HI, bps) < 1e-10, net
        if bps.size:
            assert slope_jumps(net, LO, HI, bps).min() > 100, net
        assert bps.size + 1 <= count_regions(net, LO, HI, method=method) <= max_regions(net)
        n_ramp_kinks += bps.size * ("ramp" in net.activations[:-1])
    assert n_ramp_kinks >= 20  # ramp hidden layers do bend the functions checked


@pytest.mark.parametrize("method", METHODS)
def test_a_unit_turning_on_at_an_earlier_layers_kink(method):
    """relu(z) where z = (x - 1/2) / 2 is built by a second layer from two first-layer units that
    both kink at 1/2: z reaches 0 exactly at an inherited point, so the kink of relu(z) is found
    from the unit's slope on each side of that point (it rises with slope 1/2 < 1), not as a
    crossing inside a piece."""
    net = net_from([([[1.0], [-1.0]], [-0.5, 0.5], "relu"), ([[0.5, -0.5]], [0.0], "relu"),
                    ([[1.0]], [0.0], "identity")])
    np.testing.assert_allclose(breakpoints(net, 0, 1, method=method), [0.5], rtol=0, atol=1e-15)
    # its mirror image falls to 0 there and stays off
    mirror = net_from([([[1.0], [-1.0]], [-0.5, 0.5], "relu"), ([[-0.5, 0.5]], [0.0], "relu"),
                       ([[1.0]], [0.0], "identity")])
    np.testing.assert_allclose(breakpoints(mirror, 0, 1, method=method), [0.5], rtol=0, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_a_relu_output_after_a_relu_layer_is_exact(method):
    """A relu output layer bends the function where its input crosses 0: the fast sweep, which
    assumes a linear output, must not be used for it."""
    for seed in range(10):
        net = Network.random([1, 4, 1], ["relu", "relu"], seed=seed, init_scale=2.0)
        bps = breakpoints(net, LO, HI, method=method)
        assert affine_violation(net, LO, HI, bps) < 1e-10, (seed, net)


@pytest.mark.parametrize("method", METHODS)
def test_cancelling_units_of_different_weights_give_one_piece(method):
    """2 relu(x) - relu(-2x) ... with output weights (1, -2) on relu(2x), relu(-x): the slope is
    2 on both sides of 0, so f = 2x is one piece although both units kink at 0."""
    net = net_from([([[2.0], [-1.0]], [0.0, 0.0], "relu"), ([[1.0, -2.0]], [0.0], "identity")])
    assert count_pieces(net, -1, 1, method=method) == 1 and count_regions(net, -1, 1, method=method) == 2
    # negative control: output weights (1, -1) give slopes 1 and 2, a kink at 0
    bent = net_from([([[2.0], [-1.0]], [0.0, 0.0], "relu"), ([[1.0, -1.0]], [0.0], "identity")])
    assert count_pieces(bent, -1, 1, method=method) == 2


@pytest.mark.parametrize("method", METHODS)
def test_slope_tolerance_is_relative_to_the_slopes(method):
    """Output weights (0.1, 0.2, -0.3) K on relu(x), relu(x), relu(-x): the slopes 0.3 K on both
    sides of 0 differ only by rounding (0.1 + 0.2 != 0.3 in float64). Scaling by K = 2^(+-20) is
    exact in floating point, so the count cannot change with K: one piece, two regions."""
    for k in (1.0, 2.0 ** 20, 2.0 ** -20):
        net = net_from([([[1.0], [1.0], [-1.0]], [0.0, 0.0, 0.0], "relu"),
                        ([[0.1 * k, 0.2 * k, -0.3 * k]], [0.0], "identity")])
        assert count_pieces(net, -1, 1, method=method) == 1, k
        assert count_regions(net, -1, 1, method=method) == 2, k


@pytest.mark.parametrize("method", METHODS)
def test_merging_distance_is_relative_to_the_interval(method):
    """tol is a fraction of hi - lo: kinks 4e-3 apart merge on [0, 10] with tol = 1e-3 (closer
    than 1e-2), and do not on [0, 1] (farther than 1e-3)."""
    d = torch.float64
    net = Network.from_parameters([torch.tensor([[1.0], [1.0]], dtype=d), torch.tensor([-0.3, -0.304], dtype=d),
                                   torch.tensor([[1.0, 1.0]], dtype=d), torch.tensor([0.0], dtype=d)],
                                  ["relu", "identity"])
    assert count_pieces(net, 0, 10, tol=1e-3, method=method) == 2
    assert count_pieces(net, 0, 1, tol=1e-3, method=method) == 3


@pytest.mark.parametrize("method", METHODS)
def test_merging_is_strict_and_ends_are_not_breakpoints(method):
    """Points are merged when *closer* than tol * (hi - lo) (2^-10 here, exact in binary): kinks
    exactly 2^-10 apart, or exactly 2^-10 from an end, all count; a kink closer than that to lo
    or hi is absorbed by the end, for relu and for ramp layers (refined point by point)."""
    gap, d = 2.0 ** -10, torch.float64

    def relus(*kinks):
        return Network.from_parameters([torch.tensor([[1.0]] * len(kinks), dtype=d), torch.tensor([-k for k in kinks], dtype=d),
                                        torch.tensor([[1.0] * len(kinks)], dtype=d), torch.tensor([0.0], dtype=d)],
                                       ["relu", "identity"])

    np.testing.assert_array_equal(breakpoints(relus(0.5, 0.5 + gap), 0, 1, tol=gap, method=method), [0.5, 0.5 + gap])
    np.testing.assert_array_equal(breakpoints(relus(gap, 1 - gap), 0, 1, tol=gap, method=method), [gap, 1 - gap])
    assert breakpoints(relus(gap / 2), 0, 1, tol=gap, method=method).size == 0
    assert breakpoints(relus(1 - gap / 2), 0, 1, tol=gap, method=method).size == 0
    # a ramp unit clamp(x - c) kinks at c and c + 1, each within gap / 2 of an end of [1/2, 3/2 + gap]
    c = 0.5 + gap / 2
    ramp = Network.from_parameters([torch.tensor([[1.0]], dtype=d), torch.tensor([-c], dtype=d),
                                    torch.tensor([[1.0]], dtype=d), torch.tensor([0.0], dtype=d)], ["ramp", "identity"])
    assert breakpoints(ramp, 0.5, 1.5 + gap, tol=gap, method=method).size == 0
    np.testing.assert_allclose(breakpoints(ramp, 0.0, 2.0, tol=gap, method=method), [c, c + 1], rtol=0, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_a_ramp_crossing_its_upper_level_inside_a_piece(method):
    """clamp(3x - 1) on [0, 1]: z = -1 at lo, a distance 2 below the upper level 1, so the piece
    [0, 1] crosses both levels: kinks at 1/3 (z = 0) and 2/3 (z = 1)."""
    net = net_from([([[3.0]], [-1.0], "ramp"), ([[1.0]], [0.0], "identity")])
    np.testing.assert_allclose(breakpoints(net, 0, 1, method=method), [1 / 3, 2 / 3], rtol=0, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_results_are_float64_and_int_with_the_documented_defaults(method):
    """breakpoints is a float64 array even when empty and lo, hi are ints; a single network's
    counts are ints; the default interval is [0, 1] (a kink at 1.5 is outside it)."""
    line = net_from([([[2.0]], [0.5], "identity")])
    assert breakpoints(line, 0, 1, method=method).dtype == np.float64
    kink = net_from([([[1.0]], [-1.5], "relu"), ([[1.0]], [0.0], "identity")])
    assert breakpoints(kink, method=method).size == 0
    assert count_pieces(kink, method=method) == 1 and count_regions(kink, method=method) == 1
    assert isinstance(count_regions(kink, method=method), int) and isinstance(count_pieces(kink, method=method), int)
    assert count_pieces(kink, 0, 2, method=method) == 2  # negative control: [0, 2] holds the kink


def test_bad_input_names_the_bad_value_and_what_is_allowed():
    """A wrong type or an empty interval is rejected with a message naming it."""
    with pytest.raises(ValueError, match="got str"):
        count_pieces("relu")
    with pytest.raises(ValueError, match="lo < hi"):
        count_regions(sawtooth(2), 0.5, 0.5)
    with pytest.raises(ValueError, match="allowed: auto, refine"):
        breakpoints(sawtooth(2), method="fast")
    with pytest.raises(ValueError, match=r"\(relu, identity, ramp\)"):
        count_pieces(Network.random([1, 2, 1], "tanh"))
