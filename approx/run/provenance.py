"""Provenance: the record of what produced a result, written into every result's JSON.

Versions (Python, torch, numpy), the device and its name, threads, the precision flags in
force, the git commit and whether the tree was dirty, what decides the rounding of CPU results
(``arithmetic``), and on CUDA the toolkit, cuDNN and driver versions. The git state and the
driver come from subprocesses (``git``, ``nvidia-smi``), which is why this lives with the runner
and not in ``approx.device``, which the maths imports.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from ..device import device_name
from . import allocator

__all__ = ["environment", "arithmetic"]

# the checkout that holds the approx package: approx/run/provenance.py -> parents[2]
_ROOT = Path(__file__).resolve().parents[2]


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
    commit = _git(["rev-parse", "HEAD"], _ROOT)
    status = _git(["status", "--porcelain", "--untracked-files=no"], _ROOT)
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
        "malloc": allocator.settings(),  # glibc thresholds the CLI set (approx.run.allocator), or None
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
