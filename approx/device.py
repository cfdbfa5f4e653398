"""Devices, seeds, threads and the precision scope: what every computation here may need.

``device="auto"`` means CUDA when ``torch.cuda.is_available()`` and the CPU otherwise; asking for
"cuda" on a machine without it is a user error (ValueError naming what is available), never a
silent fall-back. TF32 matrix products are off unless a run asks for them, and the setting in
force is written into every result's metadata (by ``approx.run.provenance``, which also records
versions and the git state; this module runs no subprocesses, since the maths imports it).
"""
from __future__ import annotations

import contextlib
import platform
import random
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

__all__ = ["DEVICES", "resolve_device", "seed_everything", "threads", "precision", "synchronize",
           "device_name"]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """A torch.device for "auto" | "cpu" | "cuda" | "cuda:N" (or a torch.device)."""
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} requested but CUDA is not available on this machine; "
                "allowed here: auto, cpu"
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)"
            )
        return dev
    raise ValueError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices). Code here also passes explicit generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with torch's intra-op pool at n threads, restoring the previous count.

    Small networks train fastest on one thread: a second one only adds start-up and, on a
    busy machine, waiting for a core.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def precision(tf32: bool = False) -> Iterator[None]:
    """Run the block with TF32 matrix products on or off, restoring the previous setting."""
    old_matmul = torch.backends.cuda.matmul.allow_tf32
    old_cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_matmul
        torch.backends.cudnn.allow_tf32 = old_cudnn


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on a CUDA device (a no-op on the CPU): timings need it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name (from /proc/cpuinfo where there is one)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"
