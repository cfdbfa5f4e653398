"""A training step captured in a CUDA graph and replayed: the launch overhead taken out.

A small network's eager step is a few dozen kernel launches of a few microseconds of work each,
so the GPU mostly waits for the host. ``torch.cuda.CUDAGraph`` records the kernels of one step
once and replays them with a single launch. Replay reuses the recorded memory: the inputs,
targets, parameters and learning rate must be *static* tensors that the step updates in place,
which is how ``approx.bench.steps`` writes every step, and the step must not synchronise with
the host (a single network's loss as a Python float would), so the benchmark captures the
ensemble form (a single network is an ensemble of one).

The recipe is PyTorch's whole-network capture: warm up on a side stream (so lazy
initialisation, autograd's and cuBLAS's workspaces, happen outside the capture), then capture.
"""
from __future__ import annotations

import time

import torch

from .steps import Step

__all__ = ["capture"]


def capture(step: Step, device: torch.device, n_warmup: int = 3) -> tuple[Step, float]:
    """(a Step that replays one captured ``step.run``, wall-clock capture time in ms)."""
    if device.type != "cuda":
        raise ValueError(f"CUDA graphs need a CUDA device, got {device}")
    with torch.cuda.device(device):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(n_warmup):
                step.run()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.cuda.graph(graph):
            step.run()
        torch.cuda.synchronize()
        capture_ms = (time.perf_counter() - start) * 1e3
    return Step(graph.replay, step.blocks, step.set_lr), capture_ms
