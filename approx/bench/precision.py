"""The arithmetic a benchmark row runs in: parameter dtype, TF32 and bf16 autocast, in one table.

    float64        parameters and products in IEEE double
    float32        IEEE single, TF32 off (the products really are float32)
    tf32           float32 parameters, matrix products on TF32 tensor cores (10-bit mantissa
                   inputs, float32 accumulate); CUDA only
    bf16-autocast  float32 parameters, products cast to bfloat16 by torch.autocast (8-bit
                   mantissa inputs, float32 accumulate); CUDA only

Each row's matrix-product peak is measured in the same arithmetic (``peak_dtype`` under the same
TF32 flag), so its utilisation compares like with like. TF32 is switched on only inside
``arithmetic`` (through ``approx.device.precision``, which restores the old setting), never
globally.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch

from ..device import precision as _tf32_setting

__all__ = ["Precision", "PRECISIONS", "get", "arithmetic"]


@dataclass(frozen=True)
class Precision:
    name: str
    dtype: torch.dtype  # the parameters' dtype
    tf32: bool  # TF32 matrix products allowed
    autocast: torch.dtype | None  # torch.autocast's dtype, None for no autocast
    devices: tuple[str, ...]  # device types where the setting means something
    peak_dtype: torch.dtype  # dtype of the matrix product that measures this row's peak

    @property
    def output_dtype(self) -> torch.dtype:
        """dtype of the network's output, hence of the targets y the engines are given."""
        return self.autocast or self.dtype


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("float64", torch.float64, False, None, ("cpu", "cuda"), torch.float64),
        Precision("float32", torch.float32, False, None, ("cpu", "cuda"), torch.float32),
        Precision("tf32", torch.float32, True, None, ("cuda",), torch.float32),
        Precision("bf16-autocast", torch.float32, False, torch.bfloat16, ("cuda",), torch.bfloat16),
    )
}


def get(name: str) -> Precision:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; allowed: {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


@contextlib.contextmanager
def arithmetic(prec: Precision, device: torch.device) -> Iterator[None]:
    """Run the block in ``prec``'s arithmetic on ``device`` (TF32 flag, autocast)."""
    if device.type not in prec.devices:
        raise ValueError(f"precision {prec.name!r} is for {', '.join(prec.devices)}, not {device.type}")
    with _tf32_setting(prec.tf32):
        if prec.autocast is None:
            yield
        else:
            # the autocast cache must be off for CUDA-graph capture, so it is off for every row
            with torch.autocast(device.type, dtype=prec.autocast, cache_enabled=False):
                yield
