"""The FLOP model of a training step, checked by hand and against torch's own FLOP counter, and
the measured matrix-product peak."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from approx import autograd, backprop
from approx.bench.flops import matmul_flops, measure_peak, step_flops
from approx.bench.precision import PRECISIONS
from approx.network import Network


def test_step_flops_by_hand():
    # sizes 2 -> 3 -> 1, batch 4, E = 2: sum fan_in fan_out = 2*3 + 3*1 = 9, so 6 * 2 * 4 * 9 = 432
    assert step_flops([2, 3, 1], batch=4, ensemble=2) == 432
    assert step_flops([2, 3, 1], batch=4) == 216
    assert step_flops([2, 3, 2], batch=4, ensemble=2) != 432  # negative control: the output width counts
    assert matmul_flops(3) == 54  # 9 entries x 3 multiply-adds x 2


@pytest.mark.parametrize("engine", [autograd.loss_and_grad, backprop.loss_and_grad], ids=["autograd", "backprop"])
@pytest.mark.parametrize("ensemble", [None, 3])
def test_step_flops_matches_torch_flop_counter(engine, ensemble):
    # torch counts every matrix product the step runs; the model counts 6 per weight and point,
    # and the first layer's dL/dx (2 * E * batch * d_in * width) is the one product never formed
    net = Network.random([2, 5, 7, 1], "tanh", seed=0, ensemble=ensemble)
    x = torch.rand(11, 2, dtype=torch.float64)
    y = torch.rand(11, 1, dtype=torch.float64)
    with FlopCounterMode(display=False) as counter:
        engine(net, x, y)
    e = ensemble or 1
    unformed = 2 * e * 11 * 2 * 5
    if engine is backprop.loss_and_grad and ensemble:
        # the hand-written ensemble path forms the one-output layer's dL/dh = B W, an outer
        # product per member (2 * E * batch * 7 multiply-adds), as a broadcast product, which
        # torch counts as no matrix product (approx.backprop.rules._affine says why)
        unformed += 2 * e * 11 * 7 * 1
    assert counter.get_total_flops() == step_flops(net.sizes, 11, e) - unformed
    assert counter.get_total_flops() != step_flops(net.sizes, 11, e)  # negative control


@pytest.mark.parametrize("bad", [dict(sizes=[3], batch=1), dict(sizes=[2, 0, 1], batch=1), dict(sizes=[2, 1], batch=0)])
def test_step_flops_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive sizes"):
        step_flops(**bad)


def test_peak_is_measured_and_its_accuracy_reported():
    cpu = torch.device("cpu")
    _, peak64, err64 = measure_peak(cpu, PRECISIONS["float64"], 64, threads=1, min_run_time_s=0.01)
    _, peak32, err32 = measure_peak(cpu, PRECISIONS["float32"], 64, threads=1, min_run_time_s=0.01)
    assert peak64 > 0 and peak32 > 0
    assert err64 < 1e-14  # the float64 product against itself: rounding of sums only
    assert 1e-9 < err32 < 1e-5  # float32 rounds the inputs (unit roundoff 6e-8), growing like sqrt(n)


def test_peak_refuses_a_precision_the_device_lacks():
    with pytest.raises(ValueError, match="tf32"):
        measure_peak(torch.device("cpu"), PRECISIONS["tf32"], 16, threads=1, min_run_time_s=0.01)
