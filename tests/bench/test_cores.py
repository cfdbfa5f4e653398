"""approx.bench.cores.on_cores: the calling thread, and every thread started inside the block,
runs on n CPUs; the affinity before is restored after. Skipped where the OS has no affinity call."""
from __future__ import annotations

import os
import threading

import pytest

from approx.bench.cores import on_cores

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity call on this OS")


def affinity_of_a_new_thread() -> set[int]:
    seen: list[set[int]] = []
    worker = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
    worker.start()
    worker.join()
    return seen[0]


def test_a_thread_started_inside_the_block_stays_on_its_cores():
    before = os.sched_getaffinity(0)
    with on_cores(1) as chosen:
        assert chosen == frozenset([min(before)]) and os.sched_getaffinity(0) == chosen
        assert affinity_of_a_new_thread() == chosen  # the pool a library starts here is held too
    assert os.sched_getaffinity(0) == before
    # control: a thread started outside the block may run anywhere the process may
    assert affinity_of_a_new_thread() == before


def test_more_cores_than_allowed_keeps_them_all_and_errors_restore():
    before = os.sched_getaffinity(0)
    with on_cores(len(before) + 3) as chosen:
        assert chosen == before
    with pytest.raises(RuntimeError, match="inside"):
        with on_cores(1):
            raise RuntimeError("inside")
    assert os.sched_getaffinity(0) == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "1", True])
def test_bad_core_counts_are_refused(bad):
    with pytest.raises(ValueError, match=f"cores must be an integer >= 1, got {bad!r}"):
        with on_cores(bad):
            pass


def test_a_refused_pin_runs_the_block_unpinned(monkeypatch):
    before = os.sched_getaffinity(0)

    def refuse(pid, cpus):
        raise PermissionError("not here")

    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    with on_cores(1) as chosen:
        assert chosen is None and os.sched_getaffinity(0) == before
