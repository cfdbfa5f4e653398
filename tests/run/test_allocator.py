"""approx.run.allocator: glibc keeps a step's freed tensors in the process.

The check counts minor page faults (getrusage), not time: allocating and freeing a 4 MiB tensor
again and again faults its 1,024 pages in every time when glibc gives the block back to the OS
(its thresholds set low: the negative control), and not at all once the thresholds keep it.
"""
from __future__ import annotations

import os
import resource

import pytest
import torch

from approx.run import allocator

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="the C library is not glibc")


def _faults_per_allocation(rounds: int = 20) -> float:
    for _ in range(10):  # warm up: the heap grows to hold the block in its first few rounds
        torch.empty(2**20).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        torch.empty(2**20).fill_(1.0)  # 4 MiB, every page written, then freed
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds


@glibc
def test_kept_memory_is_not_faulted_in_again_and_low_thresholds_are_the_control(monkeypatch):
    monkeypatch.setattr(allocator, "_SET", {})
    monkeypatch.setattr(os, "environ", dict(os.environ))
    try:
        # negative control: 128 KiB thresholds (glibc's starting values, fixed): every 4 MiB
        # block is an mmap of its own, handed back when freed
        assert allocator.keep_freed_memory(128 * 1024, 128 * 1024)
        assert _faults_per_allocation() > 500  # of 1,024 pages
        assert allocator.keep_freed_memory()
        assert _faults_per_allocation() < 5
        assert allocator.settings() == {"mmap_threshold": allocator.MMAP_THRESHOLD,
                                        "trim_threshold": allocator.TRIM_THRESHOLD}
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(allocator.TRIM_THRESHOLD)  # for workers
    finally:
        allocator.keep_freed_memory()  # the CLI's settings for the rest of the session


@glibc
def test_bad_thresholds_are_named_with_the_allowed_range():
    with pytest.raises(ValueError, match=r"trim_threshold must be an int of bytes in \[0, 2\*\*31\); got -1"):
        allocator.keep_freed_memory(trim_threshold=-1)
    with pytest.raises(ValueError, match=r"mmap_threshold must be an int of bytes in \[0, 2\*\*31\); got 2147483648"):
        allocator.keep_freed_memory(mmap_threshold=2**31)
    with pytest.raises(ValueError, match=r"got True"):
        allocator.keep_freed_memory(mmap_threshold=True)
    assert allocator.keep_freed_memory()  # control: the defaults are taken


def test_off_glibc_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    monkeypatch.setattr(allocator, "_SET", {})
    assert allocator.keep_freed_memory() is False
    assert allocator.settings() is None
