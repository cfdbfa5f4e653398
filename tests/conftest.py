"""Shared fixtures. ``device`` runs a test on the CPU and, where CUDA exists, on the GPU;
CUDA cases carry the ``gpu`` marker, so ``python -m pytest -m gpu`` selects exactly them."""
from __future__ import annotations

import pytest
import torch

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"),
        ],
    ),
]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


# Tolerances keyed by dtype (one table, as in neural-tangents): relative error allowed between
# two computations of the same quantity that differ only in the order of floating-point sums.
RTOL = {torch.float64: 1e-10, torch.float32: 1e-4}


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests use tiny tensors, where a second intra-op thread only adds contention (CI has 2
    cores and the suite runs subprocesses beside itself); timings live in the benchmark."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
