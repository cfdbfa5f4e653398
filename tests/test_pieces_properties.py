"""Property tests (hypothesis) of approx.pieces on random small networks of every piecewise-linear
activation: relu, ramp and identity layers in any mixture, any depth 1-3, widths 1-6, an output
that may itself be relu or ramp, on a random interval.

For every drawn network:
  * count_pieces <= count_regions <= max_regions (Telgarsky 2015, 2016: a unit is affine on a
    region and crosses each of its kink levels at most once there, so hidden widths m_l give at
    most prod_l (k_l m_l + 1) regions along a line, k_l = 1 kink for relu, 2 for ramp, 0 for
    identity; the output layer's kinks count too, which hypothesis showed ``max_regions`` once
    left out: a relu output on one identity unit made 2 regions against a bound of 1);
  * the exact count against dense sampling (20,001 points): sampling never sees more pieces than
    there are, and sees exactly as many when every piece spans >= 10 grid cells and every slope
    change is far above the sampling tolerance (otherwise a piece may hide between grid points,
    or two pieces look alike);
  * the two algorithms ("auto", which sweeps a relu last hidden layer, and "refine") agree.
The examples per property are those of the profile in tests/conftest.py (derandomized in CI).
Negative controls: a counter one piece short fails the sampling comparison, and a max_regions
that counts one kink per ramp unit (where a ramp has two, at 0 and 1) is broken by a network
hypothesis finds.
"""
from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from approx import pieces
from approx.network import Network
from approx.pieces import PIECEWISE_LINEAR, breakpoints, count_pieces, count_regions, max_regions

N_GRID = 20_001
SAMPLING_RTOL = 1e-7  # two secant slopes are "equal" within this times the largest slope


@st.composite
def small_networks(draw) -> tuple[Network, float, float]:
    """(net, lo, hi): a seeded random R -> R network of relu / ramp / identity layers."""
    depth = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 6), min_size=depth, max_size=depth))
    hidden = draw(st.lists(st.sampled_from(sorted(PIECEWISE_LINEAR)), min_size=depth, max_size=depth))
    output = draw(st.sampled_from(["identity", "identity", "relu", "ramp"]))
    net = Network.random([1, *widths, 1], [*hidden, output], seed=draw(st.integers(0, 2**31 - 1)),
                         init=draw(st.sampled_from(["standard", "he"])),  # he: zero biases, kinks at 0
                         init_scale=draw(st.sampled_from([1.0, 2.0, 4.0])))
    lo = draw(st.sampled_from([-2.0, -1.0, 0.0]))
    return net, lo, lo + draw(st.sampled_from([1.0, 2.0, 4.0]))


def values(net: Network, x: np.ndarray) -> np.ndarray:
    return net(torch.as_tensor(x, dtype=torch.float64).reshape(-1, 1)).reshape(-1).numpy()


def sampled_pieces(net: Network, lo: float, hi: float) -> tuple[int, float, float]:
    """(pieces seen on the grid: maximal runs of >= 2 cells with equal secant slope, the grid
    step h, the slope tolerance)."""
    x = np.linspace(lo, hi, N_GRID)
    h = x[1] - x[0]
    s = np.diff(values(net, x)) / h  # (N_GRID - 1,) secant slopes
    tol = SAMPLING_RTOL * (1.0 + np.abs(s).max())
    same = np.abs(np.diff(s)) <= tol  # cell i and i + 1 share a slope
    return int(same[0]) + int(np.sum(same[1:] & ~same[:-1])), h, tol


def piece_slopes(net: Network, ends: np.ndarray) -> np.ndarray:
    """The slope of each exact piece [ends_i, ends_(i+1)], from two points inside it."""
    a, b = ends[:-1], ends[1:]
    left, right = a + 0.25 * (b - a), a + 0.75 * (b - a)
    return (values(net, right) - values(net, left)) / (right - left)


def sampling_disagrees(net: Network, lo: float, hi: float, n_pieces: int) -> bool:
    """Whether dense sampling contradicts ``n_pieces``: it sees more, or, where every piece is
    long and every slope change large enough to be seen, a different number."""
    seen, h, tol = sampled_pieces(net, lo, hi)
    if seen > n_pieces:
        return True
    ends = np.concatenate([[lo], breakpoints(net, lo, hi), [hi]])
    resolvable = np.diff(ends).min() > 10 * h and (
        ends.size == 2 or np.abs(np.diff(piece_slopes(net, ends))).min() > 100 * tol)
    return resolvable and seen != n_pieces


@given(small_networks())
def test_pieces_are_within_regions_and_the_regions_within_max_regions(case):
    net, lo, hi = case
    assert count_pieces(net, lo, hi) <= count_regions(net, lo, hi) <= max_regions(net)


@given(small_networks())
def test_the_exact_count_agrees_with_dense_sampling(case):
    net, lo, hi = case
    assert not sampling_disagrees(net, lo, hi, count_pieces(net, lo, hi))


@given(small_networks())
def test_auto_and_refine_agree(case):
    net, lo, hi = case
    fast, full = breakpoints(net, lo, hi), breakpoints(net, lo, hi, method="refine")
    assert fast.shape == full.shape and np.allclose(fast, full, rtol=0, atol=1e-12)
    assert count_regions(net, lo, hi) == count_regions(net, lo, hi, method="refine")


# ------------------------------------------------------------------ negative controls
def test_a_count_one_piece_short_or_long_fails_the_sampling_check():
    net = Network.random([1, 8, 8, 1], ["relu", "ramp"], seed=3)
    n = count_pieces(net, -2.0, 2.0)
    assert n >= 4 and not sampling_disagrees(net, -2.0, 2.0, n)
    assert sampling_disagrees(net, -2.0, 2.0, n - 1) and sampling_disagrees(net, -2.0, 2.0, n + 1)


def test_a_max_regions_with_one_kink_per_ramp_unit_is_broken_by_a_drawn_network():
    def one_kink_per_unit(net: Network) -> int:
        bound = 1
        for layer in net.layers:
            bound *= (layer.activation != "identity") * layer.fan_out + 1
        return bound

    # find stops at the first network that breaks the wrong bound; 500 examples at most
    found = find(small_networks(), lambda case: count_regions(*case) > one_kink_per_unit(case[0]),
                 settings=settings(settings.default, max_examples=500,
                                   suppress_health_check=list(HealthCheck)))
    net = found[0]
    assert "ramp" in net.activations and count_regions(*found) <= max_regions(net)
    assert pieces.max_regions is max_regions  # the real bound was not replaced
