"""approx.run.reproduce: `approx reproduce` runs every experiment, then writes the gallery; a failing
experiment is reported and the rest still run; every request is validated before anything runs."""
from __future__ import annotations

import pytest
import torch

from approx.run.cli import main
from runner_support import one_line_error

pytestmark = pytest.mark.usefixtures("fixture_experiments")


def test_reproduce_runs_everything_then_writes_the_gallery(tmp_path, capsys):
    assert main(["reproduce", "--preset", "smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["counting", "single-a", "reproduce"]
    assert out[-1].startswith("reproduce: 2 of 2 experiments in ")
    for stem in ("counting", "single-a"):
        for ext in ("csv", "png", "pdf", "json"):
            assert (tmp_path / f"{stem}.{ext}").exists()
    text = (tmp_path / "README.md").read_text()
    assert "## counting" in text and "## single-a" in text


def test_reproduce_reports_a_failing_experiment_and_runs_the_rest(tmp_path, capsys, monkeypatch):
    import fixture_experiments.counting as counting

    def broken(cfg, point):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(counting, "run_point", broken)
    assert main(["reproduce", "--preset", "smoke", "--quiet", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "broken on purpose" in err and "1 of 2 experiments failed: counting" in err
    assert (tmp_path / "single-a.csv").exists() and not (tmp_path / "counting.csv").exists()
    assert "## single-a" in (tmp_path / "README.md").read_text()


def test_reproduce_validates_everything_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = one_line_error(capsys, ["reproduce", "--device", "cuda", "--out", str(tmp_path / "o")])
    assert "CUDA is not available" in line
    assert not (tmp_path / "o").exists()
