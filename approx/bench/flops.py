"""How much arithmetic a training step is, and how much the machine can do: the FLOP model and the
measured matrix-product peak.

FLOP model (as in Kaplan et al. 2020, "Scaling laws", and nanoGPT's MFU): one multiply-add is
2 FLOPs; a layer with a (fan_out x fan_in) weight applied to a batch costs 2 * batch * fan_in *
fan_out in the forward pass and twice that in the backward pass (dL/dW = B^T h and
dL/dh = B W, one product each), so a training step of E networks on ``batch`` points costs

    6 * E * batch * sum_l fan_in_l * fan_out_l   FLOPs.

Biases, activations, the loss and the update are O(batch * width) and are not counted; nor is the
saving of the first layer, whose dL/dx is never formed. The model is therefore a slight
overcount for d_in = 1 and an undercount of the elementwise work that dominates small widths,
which is why small networks show a small fraction of the peak: they are bound by memory
traffic and launches, not arithmetic.

Peak: the FLOP/s of an n x n by n x n product (2 n^3 FLOPs) in the row's dtype, on the same
device, at the same thread count, measured in the same run (``measure_peak``). This is the
machine's own attainable limit, not a datasheet number.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..device import precision as tf32_setting
from .precision import Precision
from .timing import Timing, time_call, time_once

__all__ = ["step_flops", "matmul_flops", "measure_peak"]


def step_flops(sizes: Sequence[int], batch: int, ensemble: int = 1) -> int:
    """6 * ensemble * batch * sum_l sizes[l] * sizes[l + 1]: the matrix products of one step."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1 or batch < 1 or ensemble < 1:
        raise ValueError(f"need >= 2 positive sizes, batch >= 1, ensemble >= 1; got {sizes}, {batch}, {ensemble}")
    return 6 * ensemble * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def matmul_flops(n: int) -> int:
    """2 n^3: n^2 entries, each n multiply-adds."""
    return 2 * n**3


def measure_peak(
    device: torch.device, prec: Precision, n: int, *, threads: int, min_run_time_s: float, seed: int = 0
) -> tuple[Timing, float, float]:
    """(timing, FLOP/s, rel_error) of C = A B for n x n A, B in ``prec``'s peak arithmetic.

    rel_error is ||C - C64||_F / ||C64||_F against the float64 product of the float64 inputs
    A64, B64 that A, B were rounded from, so the peak rows show what the speed costs in
    accuracy (float32, TF32 and bf16 each round the inputs and accumulate differently).
    """
    if device.type not in prec.devices:
        raise ValueError(f"precision {prec.name!r} is for {', '.join(prec.devices)}, not {device.type}")
    gen = torch.Generator(device=device).manual_seed(seed)  # drawn where they are used: no copies
    a64 = torch.randn(n, n, generator=gen, dtype=torch.float64, device=device)
    b64 = torch.randn(n, n, generator=gen, dtype=torch.float64, device=device)
    a, b = a64.to(prec.peak_dtype), b64.to(prec.peak_dtype)
    out = torch.empty(n, n, dtype=prec.peak_dtype, device=device)
    with tf32_setting(prec.tf32):  # no autocast: the bf16 peak multiplies bf16 tensors directly
        product = lambda: torch.mm(a, b, out=out)  # noqa: E731  (preallocated: no allocator in the loop)
        time_once(product, device)  # cuBLAS / MKL handles and workspaces
        timing = time_call(product, device, threads=threads, min_run_time_s=min_run_time_s)
        product()
    exact = a64 @ b64
    rel_error = float(torch.linalg.norm(out.double() - exact) / torch.linalg.norm(exact))
    return timing, matmul_flops(n) / (timing.median_ms / 1e3), rel_error

