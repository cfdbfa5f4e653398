"""Timing: sample planning, thread settings, and that a known delay is measured as at least itself."""
from __future__ import annotations

import itertools
import math
import time

import pytest
import torch

from approx.bench.timing import N_BLOCKS, Timing, plan_blocks, time_call, time_calls, time_once
from approx.device import threads as cpu_threads


def test_plan_blocks_fills_the_run_time_and_keeps_enough_samples():
    assert plan_blocks(1e-4, 0.2, 5) == (N_BLOCKS, 200)  # 10 blocks of 200 calls of 0.1 ms
    assert plan_blocks(0.3, 0.2, 5) == (5, 1)  # a call longer than the run time: min_samples calls
    assert plan_blocks(0.05, 0.2, 5) == (5, 1)  # 4 calls fill 0.2 s; still 5 samples
    assert plan_blocks(0.01, 0.2, 5) == (N_BLOCKS, 2)


def test_timing_median_and_iqr():
    t = Timing.from_samples([0.001, 0.002, 0.003, 0.004, 0.005], number=1)
    assert t.median_ms == pytest.approx(3.0)
    assert t.iqr_ms == pytest.approx(2.0)  # q75 - q25 = 4 - 2 ms
    assert t.n_samples == 5


def test_a_sleep_is_timed_as_at_least_its_length():
    # time.sleep never returns early, so the median cannot be below the delay; an untimed
    # call (negative control) is far below it
    delay_ms = 3.0
    slept = time_call(lambda: time.sleep(delay_ms / 1e3), torch.device("cpu"), threads=1, min_run_time_s=0.02)
    idle = time_call(lambda: None, torch.device("cpu"), threads=1, min_run_time_s=0.02)
    assert slept.median_ms >= delay_ms
    assert idle.median_ms < delay_ms
    assert slept.n_samples >= 5 and slept.iqr_ms >= 0


def test_cpu_per_wall_tells_a_busy_call_from_a_waiting_one():
    # a call that keeps one thread busy uses about one CPU second per wall-clock second (at most
    # 1: Python threads hold the GIL, and nothing else runs here; some above for the timer's own
    # bookkeeping); a sleep uses almost none, a few percent for the timer (the control: a ratio
    # that were always 1 would fail)
    def busy():
        end = time.perf_counter() + 2e-3
        while time.perf_counter() < end:
            pass

    cpu = torch.device("cpu")
    busy_t, sleep_t = time_calls([busy, lambda: time.sleep(2e-3)], cpu, threads=1, min_run_time_s=0.05)
    assert 0.25 <= busy_t.cpu_per_wall <= 1.1  # wide below: a loaded machine may take the core away
    assert sleep_t.cpu_per_wall < 0.2
    assert math.isnan(Timing.from_samples([0.001], 1).cpu_per_wall)  # not measured: NaN, never a guess


def test_a_call_of_k_steps_is_reported_per_step():
    t = Timing(8.0, 2.0, 10, 3, 0.99).per_step(4)
    assert (t.median_ms, t.iqr_ms, t.n_samples, t.calls_per_sample, t.cpu_per_wall) == (2.0, 0.5, 10, 12, 0.99)


def test_time_once_and_cpu_threads_restore():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
        assert time_once(lambda: time.sleep(0.001), torch.device("cpu")) >= 1.0
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kwargs, match", [(dict(threads=0), "threads"), (dict(threads=1, min_samples=0), "min_samples")])
def test_time_call_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        time_call(lambda: None, torch.device("cpu"), **kwargs)


def test_time_calls_alternates_blocks_and_times_each_call_by_itself():
    # two sleeps timed together: each is at least its own delay and the shorter stays below the
    # longer (a timer that mixed them up, or summed them, would fail one of the two checks)
    calls: list[str] = []
    long = lambda: (calls.append("long"), time.sleep(2e-3))  # noqa: E731
    short = lambda: (calls.append("short"), time.sleep(2e-4))  # noqa: E731
    t_long, t_short = time_calls([long, short], torch.device("cpu"), threads=1, min_run_time_s=0.04)
    assert t_long.median_ms >= 2.0 and 0.2 <= t_short.median_ms < 2.0
    assert t_short.calls_per_sample > t_long.calls_per_sample  # blocks sized per function
    # after the two estimating calls the blocks alternate, one of each per round
    runs = [name for name, _ in itertools.groupby(calls[2:])]
    assert runs[:4] == ["long", "short", "long", "short"]
    with pytest.raises(ValueError, match="one estimate per function"):
        time_calls([long, short], torch.device("cpu"), threads=1, estimates_s=[None])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_events_time_the_kernels():
    # a product of two 2048 x 2048 matrices takes tens of microseconds at least; a block of
    # four is timed as about four times one (within a factor of 2 either way: the GPU is ours)
    device = torch.device("cuda")
    a = torch.randn(2048, 2048, device=device)
    one = lambda: a @ a  # noqa: E731
    four = lambda: [a @ a for _ in range(4)]  # noqa: E731
    time_once(one, device)
    t1 = time_call(one, device, threads=1, min_run_time_s=0.05)
    t4 = time_call(four, device, threads=1, min_run_time_s=0.05)
    assert t1.median_ms > 0.005
    assert 2.0 < t4.median_ms / t1.median_ms < 8.0


def test_a_misleading_estimate_is_corrected():
    # told that a ~0.05 ms call takes 50 ms, the first plan would time it for a fraction of a
    # millisecond; the timer notices and fills min_run_time_s after all
    calls = []
    timing = time_call(lambda: calls.append(time.sleep(5e-5)), torch.device("cpu"), threads=1,
                       min_run_time_s=0.05, estimate_s=0.05)
    assert timing.n_samples * timing.calls_per_sample * timing.median_ms / 1e3 >= 0.025
    assert len(calls) > 5 * 1 + 10  # the second plan ran blocks of several calls
