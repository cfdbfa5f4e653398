"""Keep the memory that freed tensors held inside the process (glibc's malloc), for the CLI's runs.

Why. A training step of an ensemble allocates tensors of a few MB and frees them within the
step. glibc serves a block above ``M_MMAP_THRESHOLD`` by a fresh ``mmap`` and gives freed memory
at the top of the heap back to the OS once more than ``M_TRIM_THRESHOLD`` lies free there; both
start at 128 KiB and adapt (the mmap threshold rises to the largest block freed, the trim
threshold to twice that). So a step that frees a few 2 MB tensors hands their pages back, and
the next step faults them in again, one minor page fault per 4 KiB, each costing more than the
arithmetic on the page. Measured on one thread of an AMD EPYC, ensembles of E = 256 tanh
networks [1, 16, 1] on 64 points in float64, trained by ``fit`` with autograd: 862 and 1,263
faults per step at 4.1 and 4.5 ms per step by default; 0 and 5 faults at 2.3 and 2.2 ms with the
settings below. The ensembles study's speedup at E = 256 (two runs each, through the CLI without
and with these settings) went from 11.4x and 12.2x to 15.4x and 15.2x for autograd, and from
7.7x and 9.1x to 9.3x and 9.1x for the hand-written engine, whose step allocates less. Setting
only the trim threshold made it worse (2,780 faults per step): fixing one threshold stops glibc
adapting the other, and every block over 128 KiB was then mmapped.

What. ``mallopt(M_MMAP_THRESHOLD, 32 MiB)`` (glibc's largest adaptive value on 64-bit) and
``mallopt(M_TRIM_THRESHOLD, 512 MiB)``: blocks under 32 MiB come from the heap, and up to
512 MiB of freed heap stays in the process for the next step. The same values go into the
environment (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``), which glibc reads when a
process starts, so that worker processes of ``--executor processes`` get them too. Off glibc
(musl, macOS, Windows) nothing is changed. PyTorch's CPU performance guide recommends jemalloc
or tcmalloc, preloaded, for the same reason; this needs no preload.

The CLI (``approx run``, ``approx reproduce``, ``python -m experiments.NAME``) calls
``keep_freed_memory`` before any work; importing approx never does. Each run's JSON records
the settings in force (``approx.run.provenance``: "malloc").
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory", "settings"]

MMAP_THRESHOLD = 32 * 2**20  # bytes; blocks below it come from the heap
TRIM_THRESHOLD = 512 * 2**20  # bytes of free heap kept before any is given back to the OS

# glibc's <malloc.h> parameter numbers
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_SET: dict[str, int] = {}  # what keep_freed_memory set in this process


def _glibc():
    """The C library if it is glibc (it has mallopt and gnu_get_libc_version), else None."""
    if platform.system() != "Linux":
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version
        libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Set glibc's mmap and trim thresholds (bytes) for this process and its children.

    Returns True where glibc took both settings, False off glibc (nothing changed). A value out
    of [0, 2**31) (mallopt takes a C int), or one glibc refuses, raises ValueError naming it."""
    libc = _glibc()
    if libc is None:
        return False
    wanted = (("mmap_threshold", _M_MMAP_THRESHOLD, mmap_threshold),
                 ("trim_threshold", _M_TRIM_THRESHOLD, trim_threshold))
    for label, _, value in wanted:  # both checked before either is set
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            raise ValueError(f"{label} must be an int of bytes in [0, 2**31); got {value!r}")
    for label, param, value in wanted:
        if libc.mallopt(param, ctypes.c_int(value)) != 1:
            raise ValueError(f"glibc refused {label}={value}")
        _SET[label] = value
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold)
    os.environ["MALLOC_TRIM_THRESHOLD_"] = str(trim_threshold)
    return True


def settings() -> dict[str, int] | None:
    """The thresholds keep_freed_memory set in this process, or None if it set none (glibc's
    adaptive defaults, or another C library)."""
    return dict(_SET) if _SET else None
