"""The rounding-sensitive tests, rerun under another CPU's kernels.

torch picks its elementwise kernels by CPU capability (ATEN_CPU_CAPABILITY), MKL its matrix
products by instruction set (MKL_ENABLE_INSTRUCTIONS), OpenBLAS by core type
(OPENBLAS_CORETYPE). A test that asserts bit-equality between two different orders of operations
passes on one machine and fails on the next; this reruns the tests that compare floating-point
results under the oldest kernels (no AVX at all), so CI sees two machines' arithmetic on one.
`.ci/portability` runs the whole suite that way, leg by leg.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SENSITIVE = ["test_activations.py", "backprop/test_mlp.py", "backprop/test_rules.py", "test_losses.py",
             "test_network.py", "experiments/test_shallow.py", "constructions/test_depth.py",
             "constructions/test_universal.py", "test_pieces.py", "test_autograd.py",
             "test_optim.py", "test_schedules.py", "test_linear.py", "test_ntk.py", "test_lazy.py"]
OLD_CPU = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
           "OPENBLAS_CORETYPE": "Sandybridge"}


@pytest.mark.slow
def test_rounding_sensitive_tests_pass_with_another_cpus_kernels(tmp_path):
    # an inductor cache of its own: torch's on-disk cache does not key its C++ kernels by the
    # capability, so a kernel written with AVX-512 vectors would be reused, and fail to build,
    # under ATEN_CPU_CAPABILITY=default (seen with torch 2.14 in .ci/portability's first leg)
    env = {**os.environ, **OLD_CPU, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "not gpu",
                           *(str(TESTS / name) for name in SENSITIVE)],
                          cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=600)
    # the header (conftest.py) shows that the child really ran on the oldest kernels ...
    assert "torch kernels DEFAULT" in done.stdout, done.stdout[:2000]
    # ... and that it ran and passed the tests
    tail = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0 and " passed" in tail and "failed" not in tail, done.stdout[-3000:]
