"""Devices, seeds, precision settings and the record of the environment a result came from.

``device="auto"`` means CUDA when ``torch.cuda.is_available()`` and the CPU otherwise; asking for
"cuda" on a machine without it is a user error (ValueError naming what is available), never a
silent fall-back. TF32 matrix products are off unless a run asks for them, and the setting in
force is written into every result's metadata.
"""
from __future__ import annotations

import contextlib
import os
import platform
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

__all__ = ["DEVICES", "resolve_device", "seed_everything", "threads", "precision", "environment", "synchronize",
           "arithmetic"]

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
    busy machine, waiting (the experiments measured 10-50x slow-downs at 2 threads under load).
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


def arithmetic() -> dict[str, str | None]:
    """What decides the rounding of CPU results: the CPU, torch's vector kernels and the BLAS.

    Two machines with the same torch can still differ in the last bits: torch dispatches its
    elementwise kernels by CPU capability (AVX512, AVX2, default; ATEN_CPU_CAPABILITY overrides
    it), MKL picks a matrix-product kernel by CPU (MKL_ENABLE_INSTRUCTIONS caps it), and numpy and
    scipy's OpenBLAS picks one by OPENBLAS_CORETYPE or the detected core. Seeded results are
    byte-identical only where all of these are the same.
    """
    build = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    try:
        numpy_blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        numpy_blas = " ".join(str(numpy_blas.get(k, "")) for k in ("name", "version")).strip() or None
    except Exception:  # noqa: BLE001 - numpy < 1.26 has no mode="dicts"; the record is best effort
        numpy_blas = None
    return {
        "cpu_model": device_name(torch.device("cpu")),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_blas": build.group(1) if build else None,
        "numpy_blas": numpy_blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "MKL_ENABLE_INSTRUCTIONS": os.environ.get("MKL_ENABLE_INSTRUCTIONS"),
        "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY"),
    }


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment(device: torch.device, tf32: bool = False) -> dict:
    """What produced a result: versions, device, threads, precision flags and the git state."""
    root = Path(__file__).resolve().parent.parent
    commit = _git(["rev-parse", "HEAD"], root)
    status = _git(["status", "--porcelain", "--untracked-files=no"], root)
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "device_name": device_name(device),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "tf32": bool(tf32),
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "arithmetic": arithmetic(),
    }
    if device.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        env["driver"] = _nvidia_driver()
    return env


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
