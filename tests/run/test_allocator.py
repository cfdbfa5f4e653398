"""approx.run.allocator: glibc keeps a step's freed tensors in the process.

The check counts minor page faults (getrusage), not time: allocating and freeing a 4 MiB tensor
again and again faults its 1,024 pages in every time when glibc gives the block back to the OS
(its thresholds set low: the negative control), and not at all once the thresholds keep it.
Each count runs in a fresh process, whose heap holds nothing yet.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from approx.run import allocator

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="the C library is not glibc")


def _huge_pages_always() -> bool:
    """Transparent huge pages for every mapping: then a 4 MiB block faults in as two 2 MiB pages
    and the count below cannot tell kept memory from returned memory."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


_PROBE = """
import resource, sys, torch
from approx.run import allocator
assert allocator.keep_freed_memory(int(sys.argv[1]), int(sys.argv[2]))
for _ in range(10):  # warm up: the heap grows to hold the block in its first few rounds
    torch.empty(2**20).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.empty(2**20).fill_(1.0)  # 4 MiB, every page written, then freed
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def _faults_per_allocation(mmap_threshold: int, trim_threshold: int) -> float:
    """Minor page faults per 4 MiB allocation in a fresh process with these thresholds (a fresh
    one: a heap that already holds free blocks serves them whatever the thresholds say)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # none inherited
    out = subprocess.run([sys.executable, "-c", _PROBE, str(mmap_threshold), str(trim_threshold)],
                         capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


@glibc
@pytest.mark.skipif(_huge_pages_always(), reason="transparent huge pages are always on: faults count 2 MiB pages")
def test_kept_memory_is_not_faulted_in_again_and_low_thresholds_are_the_control(monkeypatch):
    # negative control: 128 KiB thresholds (glibc's starting values, fixed): every 4 MiB block
    # is an mmap of its own, handed back when freed, and its 1,024 pages fault in again
    assert _faults_per_allocation(128 * 1024, 128 * 1024) > 500
    assert _faults_per_allocation(allocator.MMAP_THRESHOLD, allocator.TRIM_THRESHOLD) < 5
    monkeypatch.setattr(allocator, "_SET", {})
    monkeypatch.setattr(os, "environ", dict(os.environ))
    assert allocator.keep_freed_memory()
    assert allocator.settings() == {"mmap_threshold": allocator.MMAP_THRESHOLD,
                                    "trim_threshold": allocator.TRIM_THRESHOLD}
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(allocator.TRIM_THRESHOLD)  # for workers


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
