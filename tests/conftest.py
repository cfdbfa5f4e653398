"""Shared fixtures. ``device`` runs a test on the CPU and, where CUDA exists, on the GPU;
CUDA cases carry the ``gpu`` marker, so ``python -m pytest -m gpu`` selects exactly them.
``fixture_experiments`` points the runner at the test-only experiments; a runner test module
selects it for every test with ``pytestmark = pytest.mark.usefixtures("fixture_experiments")``."""
from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

from runner_support import use_fixture_experiments

# Property tests (hypothesis). Two profiles, chosen by the HYPOTHESIS_PROFILE environment variable:
#   "ci" (the default, so also what CI runs, with or without the CI variable): derandomize=True, so
#       every run draws the same examples and a failure repeats exactly; max_examples=100 per
#       property (the property tests together take a few seconds on a shared 2-core CPU; 300 took
#       20 s, since later examples are larger, which is the budget, so 100 leaves room for more);
#       deadline=None, because no test asserts a time (a slow machine must not fail a property).
#   "thorough": HYPOTHESIS_PROFILE=thorough python -m pytest tests/... draws 1,000 fresh random
#       examples per property and prints the blob that reproduces a failure (@reproduce_failure).
# Neither keeps a database of examples. hypothesis still writes .hypothesis/ (a cache of the
# constants in the tested code, and after a failure a patch adding the failing @example), which
# .gitignore leaves out.
settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, database=None)
settings.register_profile("thorough", max_examples=1000, deadline=None, database=None, print_blob=True)
PROFILES = ("ci", "thorough")
_profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if _profile not in PROFILES:
    raise ValueError(f"HYPOTHESIS_PROFILE={_profile!r}; allowed: {', '.join(PROFILES)}")
settings.load_profile(_profile)


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
