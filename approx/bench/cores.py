"""Holding a timed row to as many CPU cores as it has threads.

``torch.set_num_threads(n)`` bounds torch's own pool, not another library's. XLA, under the JAX
peer, starts intra-op threads of its own, and its one-thread flags do not stop them: unpinned,
on the project's 2-core AMD EPYC, the JAX rows used up to 1.8 CPU seconds per wall-clock second
(their ``cpu_per_wall``, ``approx.bench.timing``; results/peer-unpinned), so a "one thread" JAX
row had two cores against approx's one.

``on_cores(n)`` pins the calling thread to n of the CPUs it may run on (the lowest-numbered), and
a thread inherits the affinity of the thread that starts it (Linux ``sched_setaffinity(2)``), so
every pool started inside the block, XLA's included, stays on those n cores for good. The
benchmark measures each CPU row inside ``on_cores(row threads)``; ``cpu_per_wall`` then shows
at most n. Where the OS has no affinity call (macOS, Windows) or refuses it (a sandbox), the
block runs unpinned and ``on_cores`` yields None, and ``cpu_per_wall`` still tells what was used.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

__all__ = ["on_cores"]


@contextlib.contextmanager
def on_cores(n: int) -> Iterator[frozenset[int] | None]:
    """Run the block with the calling thread on n CPUs; yields them (None where unsupported).

    n larger than the CPUs allowed keeps them all. The previous affinity is restored after.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"cores must be an integer >= 1, got {n!r}")
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    chosen = frozenset(sorted(before)[:n])
    try:
        os.sched_setaffinity(0, chosen)
    except OSError:  # a sandbox that forbids it: unpinned, as where the call does not exist
        chosen = None
    if chosen is None:
        yield None
        return
    try:
        yield chosen
    finally:
        os.sched_setaffinity(0, before)
