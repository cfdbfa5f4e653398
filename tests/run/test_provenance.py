"""approx.run.provenance: the record of what produced a result."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from approx.run import provenance

CHECKOUT = Path(__file__).resolve().parents[2]


def _head(cwd: Path) -> str | None:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


@pytest.mark.skipif(shutil.which("git") is None or _head(CHECKOUT) is None,
                    reason="needs git and a git checkout of this repository")
def test_the_record_names_the_commit_of_the_checkout_that_holds_approx(tmp_path):
    env = provenance.environment(torch.device("cpu"))
    assert env["git_commit"] == _head(CHECKOUT)
    assert isinstance(env["git_dirty"], bool)
    # negative control: asked about a folder outside any checkout, git has no commit to give
    assert _head(tmp_path) is None and provenance._git(["rev-parse", "HEAD"], tmp_path) is None


def test_the_record_keeps_what_decides_the_rounding():
    env = provenance.environment(torch.device("cpu"), tf32=True)
    assert env["device"] == "cpu" and env["tf32"] is True and env["torch"] == torch.__version__
    assert set(env["arithmetic"]) == {"cpu_model", "torch_cpu_capability", "torch_blas", "numpy_blas",
                                      "OPENBLAS_CORETYPE", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY"}
    assert "driver" not in env  # the nvidia-smi call is made for CUDA runs only
