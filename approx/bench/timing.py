"""Timing one operation honestly: a median and an interquartile range over repeated blocks.

A *sample* is the mean time of one call over a block of ``number`` back-to-back calls; blocks
are sized so that about ten of them fill ``min_run_time_s`` (a call longer than that gets
``min_samples`` blocks of one call each). The reported time is the median sample, the spread
its interquartile range (IQR = q75 - q25), both in milliseconds.

CPU: every block runs through ``torch.utils.benchmark.Timer`` with ``num_threads`` set
explicitly, so the thread count is a recorded setting, never the process's accident. That bounds
torch's own pool only; ``cpu_per_wall`` records what the blocks really used: the process's CPU
time (every thread, ``time.process_time``) per second of wall clock, 1.0 for a call that keeps
one core busy. A library with its own pool (XLA, the JAX peer) shows above 1 unless the row is
held to its cores (``approx.bench.cores``).
CUDA: kernels run asynchronously, so a wall clock would time the launches; blocks are
delimited by ``torch.cuda.Event``s recorded on the device's current stream and read after one
synchronisation, which times what the GPU did (and, for launch-bound steps, the gaps in which
it waited for the host, which is the honest cost of such a step). The caller warms up first.

Several quantities of one row (the step, the forward pass, the gradient) are timed by
``time_calls`` in alternating rounds, one block of each per round, so that a slow spell of a
shared machine lands on all of them alike and their differences (reverse = gradient - forward)
do not take it for a property of the algorithm.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils import benchmark

from ..device import synchronize

__all__ = ["Timing", "time_call", "time_calls", "time_once"]

N_BLOCKS = 10  # samples aimed for within min_run_time_s


@dataclass(frozen=True)
class Timing:
    """Median and interquartile range of the per-call time, over n_samples blocks."""

    median_ms: float
    iqr_ms: float
    n_samples: int
    calls_per_sample: int
    cpu_per_wall: float = math.nan  # CPU seconds per wall-clock second in the blocks (CPU only)

    @classmethod
    def from_samples(cls, samples_s: list[float], number: int, cpu_per_wall: float = math.nan) -> "Timing":
        q25, q50, q75 = np.percentile(np.asarray(samples_s) * 1e3, [25, 50, 75])
        return cls(float(q50), float(q75 - q25), len(samples_s), number, cpu_per_wall)

    def per_step(self, steps: int) -> "Timing":
        """This timing of a call that takes ``steps`` steps (lax.scan, a compiled scan), per step."""
        return Timing(self.median_ms / steps, self.iqr_ms / steps, self.n_samples, self.calls_per_sample * steps,
                      self.cpu_per_wall)


def plan_blocks(estimate_s: float, min_run_time_s: float, min_samples: int) -> tuple[int, int]:
    """(n_blocks, calls per block) so that ~N_BLOCKS blocks fill min_run_time_s."""
    estimate_s = max(estimate_s, 1e-7)
    number = max(1, round(min_run_time_s / (N_BLOCKS * estimate_s)))
    if number > 1:
        return N_BLOCKS, number
    return max(min_samples, min(N_BLOCKS, math.ceil(min_run_time_s / estimate_s))), 1


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
    return time_calls([fn], device, threads=threads, min_run_time_s=min_run_time_s,
                      min_samples=min_samples, estimates_s=[estimate_s])[0]


def time_calls(
    fns: Sequence[Callable[[], object]],
    device: torch.device,
    *,
    threads: int,
    min_run_time_s: float = 0.2,
    min_samples: int = 5,
    estimates_s: Sequence[float | None] | None = None,
) -> list[Timing]:
    """``time_call`` of each of ``fns``, their blocks interleaved: one block of each per round.

    Each function gets its own block size (about ``min_run_time_s`` of calls in all) and its own
    Timing; rounds go on until every function has its samples.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if min_samples < 1 or min_run_time_s <= 0:
        raise ValueError(f"need min_samples >= 1 and min_run_time_s > 0; got {min_samples}, {min_run_time_s}")
    estimates_s = list(estimates_s) if estimates_s is not None else [None] * len(fns)
    if len(estimates_s) != len(fns) or not fns:
        raise ValueError(f"need one estimate per function; got {len(estimates_s)} for {len(fns)}")
    if device.type == "cuda":
        with torch.cuda.device(device):
            estimates = [time_once(fn, device) / 1e3 if e is None else e for fn, e in zip(fns, estimates_s)]
            return _sample(_cuda_blocks(fns, device), estimates, min_run_time_s, min_samples)
    timers = [benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads) for fn in fns]
    estimates = [t.timeit(1).median if e is None else e for t, e in zip(timers, estimates_s)]
    return _sample(_cpu_blocks(timers), estimates, min_run_time_s, min_samples)


# plans [(n_blocks, number)] -> (samples in s per function, CPU s per wall s per function)
Blocks = Callable[[list[tuple[int, int]]], tuple[list[list[float]], list[float]]]


def _sample(blocks: Blocks, estimates_s: list[float], min_run_time_s: float, min_samples: int) -> list[Timing]:
    """Plan blocks from the estimates and run them; if a function's single estimating call was far
    slower than its calls turn out to be (a hiccup), plan again from the measured medians."""
    for _ in range(2):
        plans = [plan_blocks(e, min_run_time_s, min_samples) for e in estimates_s]
        samples, cpu_per_wall = blocks(plans)
        estimates_s = [float(np.median(s)) for s in samples]
        if all(n * number * e >= 0.5 * min_run_time_s for (n, number), e in zip(plans, estimates_s)):
            break
    return [Timing.from_samples(s, number, c) for s, (_, number), c in zip(samples, plans, cpu_per_wall)]


def _rounds(plans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """(function index, calls) of each block, round by round: one block of each function per round."""
    for r in range(max(n for n, _ in plans)):
        for i, (n_blocks, number) in enumerate(plans):
            if r < n_blocks:
                yield i, number


def _cpu_blocks(timers: list[benchmark.Timer]) -> Blocks:
    def blocks(plans: list[tuple[int, int]]) -> tuple[list[list[float]], list[float]]:
        samples: list[list[float]] = [[] for _ in plans]
        cpu_s, wall_s = [0.0] * len(plans), [0.0] * len(plans)
        for i, number in _rounds(plans):
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            samples[i].append(timers[i].timeit(number).median)
            cpu_s[i] += time.process_time() - cpu_start
            wall_s[i] += time.perf_counter() - wall_start
        return samples, [c / w for c, w in zip(cpu_s, wall_s)]

    return blocks


def _cuda_blocks(fns: Sequence[Callable[[], object]], device: torch.device) -> Blocks:
    def blocks(plans: list[tuple[int, int]]) -> tuple[list[list[float]], list[float]]:
        marks: list[tuple[int, int, torch.cuda.Event, torch.cuda.Event]] = []
        for i, number in _rounds(plans):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(number):
                fns[i]()
            end.record()
            marks.append((i, number, start, end))
        torch.cuda.synchronize(device)
        samples: list[list[float]] = [[] for _ in plans]
        for i, number, start, end in marks:
            samples[i].append(start.elapsed_time(end) / 1e3 / number)
        return samples, [math.nan] * len(plans)  # the host's CPU time says nothing of the GPU's

    return blocks
