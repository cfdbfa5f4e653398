"""Timing one operation honestly: a median and an interquartile range over repeated blocks.

A *sample* is the mean time of one call over a block of ``number`` back-to-back calls; blocks
are sized so that about ten of them fill ``min_run_time_s`` (a call longer than that gets
``min_samples`` blocks of one call each). The reported time is the median sample, the spread
its interquartile range (IQR = q75 - q25), both in milliseconds.

CPU: every block runs through ``torch.utils.benchmark.Timer`` with ``num_threads`` set
explicitly, so the thread count is a recorded setting, never the process's accident.
CUDA: kernels run asynchronously, so a wall clock would time the launches; blocks are
delimited by ``torch.cuda.Event``s recorded on the device's current stream and read after one
synchronisation, which times what the GPU did (and, for launch-bound steps, the gaps in which
it waited for the host, which is the honest cost of such a step). The caller warms up first.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils import benchmark

from ..device import synchronize

__all__ = ["Timing", "time_call", "time_once", "cpu_threads"]

N_BLOCKS = 10  # samples aimed for within min_run_time_s


@dataclass(frozen=True)
class Timing:
    """Median and interquartile range of the per-call time, over n_samples blocks."""

    median_ms: float
    iqr_ms: float
    n_samples: int
    calls_per_sample: int

    @classmethod
    def from_samples(cls, samples_s: list[float], number: int) -> "Timing":
        q25, q50, q75 = np.percentile(np.asarray(samples_s) * 1e3, [25, 50, 75])
        return cls(float(q50), float(q75 - q25), len(samples_s), number)


def plan_blocks(estimate_s: float, min_run_time_s: float, min_samples: int) -> tuple[int, int]:
    """(n_blocks, calls per block) so that ~N_BLOCKS blocks fill min_run_time_s."""
    estimate_s = max(estimate_s, 1e-7)
    number = max(1, round(min_run_time_s / (N_BLOCKS * estimate_s)))
    if number > 1:
        return N_BLOCKS, number
    return max(min_samples, min(N_BLOCKS, math.ceil(min_run_time_s / estimate_s))), 1


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run the block with torch's intra-op pool at n threads, restoring the old count."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock milliseconds of one call, synchronised on both sides (first-call costs)."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1e3


def time_call(
    fn: Callable[[], object],
    device: torch.device,
    *,
    threads: int,
    min_run_time_s: float = 0.2,
    min_samples: int = 5,
    estimate_s: float | None = None,
) -> Timing:
    """Median and IQR of one call of ``fn`` on ``device`` (CPU: at ``threads`` threads).

    ``fn`` must already be warm (compiled, captured, allocator primed): the caller times the
    first call separately with ``time_once``. ``estimate_s``, the time of one call if known,
    sizes the blocks; otherwise one extra call measures it.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if min_samples < 1 or min_run_time_s <= 0:
        raise ValueError(f"need min_samples >= 1 and min_run_time_s > 0; got {min_samples}, {min_run_time_s}")
    if device.type == "cuda":
        return _time_cuda(fn, device, min_run_time_s, min_samples, estimate_s)
    return _time_cpu(fn, threads, min_run_time_s, min_samples, estimate_s)


def _sample(blocks: Callable[[int, int], list[float]], estimate_s: float, min_run_time_s: float,
            min_samples: int) -> Timing:
    """Plan blocks from the estimate and run them; if one call was far quicker than estimated
    (a hiccup in the single estimating call), plan again from the measured median."""
    for _ in range(2):
        n_blocks, number = plan_blocks(estimate_s, min_run_time_s, min_samples)
        samples = blocks(n_blocks, number)
        estimate_s = float(np.median(samples))
        if n_blocks * number * estimate_s >= 0.5 * min_run_time_s:
            break
    return Timing.from_samples(samples, number)


def _time_cpu(fn, threads: int, min_run_time_s: float, min_samples: int, estimate: float | None) -> Timing:
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    estimate = timer.timeit(1).median if estimate is None else estimate

    def blocks(n_blocks: int, number: int) -> list[float]:
        return [timer.timeit(number).median for _ in range(n_blocks)]

    return _sample(blocks, estimate, min_run_time_s, min_samples)


def _time_cuda(fn, device: torch.device, min_run_time_s: float, min_samples: int, estimate: float | None) -> Timing:
    def blocks(n_blocks: int, number: int) -> list[float]:
        events = [torch.cuda.Event(enable_timing=True) for _ in range(n_blocks + 1)]
        events[0].record()
        for block in range(n_blocks):
            for _ in range(number):
                fn()
            events[block + 1].record()
        torch.cuda.synchronize(device)
        return [a.elapsed_time(b) / 1e3 / number for a, b in zip(events[:-1], events[1:])]

    with torch.cuda.device(device):
        estimate = time_once(fn, device) / 1e3 if estimate is None else estimate
        return _sample(blocks, estimate, min_run_time_s, min_samples)
