"""Shared fixtures. ``device`` runs a test on the CPU and, where CUDA exists, on the GPU;
CUDA cases carry the ``gpu`` marker, so ``python -m pytest -m gpu`` selects exactly them.
``fixture_experiments`` points the runner at the test-only experiments; a runner test module
selects it for every test with ``pytestmark = pytest.mark.usefixtures("fixture_experiments")``."""
from __future__ import annotations

import pytest
import torch

from runner_support import use_fixture_experiments

def pytest_report_header(config):
    """Printed before the tests: what decides the last bits of every CPU result here."""
    from approx.run.provenance import arithmetic

    a = arithmetic()
    cuda = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    return [f"approx: torch {torch.__version__} ({cuda}, CUDA available: {torch.cuda.is_available()}), "
            f"CPU {a['cpu_model']}, torch kernels {a['torch_cpu_capability']}",
            f"approx: BLAS torch {a['torch_blas']}, numpy {a['numpy_blas']}; "
            + ", ".join(f"{k}={a[k]}" for k in ("OPENBLAS_CORETYPE", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY"))]


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


@pytest.fixture
def fixture_experiments(monkeypatch) -> None:
    """The runner finds tests/fixture_experiments instead of experiments, for one test."""
    use_fixture_experiments(monkeypatch)


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
