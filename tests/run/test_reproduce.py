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


def test_reproduce_runs_a_cpu_sweep_on_a_worker_per_core_and_gets_the_in_process_csv(tmp_path, monkeypatch, capsys):
    import json

    from approx.run import executors

    assert main(["reproduce", "--preset", "smoke", "--quiet", "--executor", "inprocess", "--out",
                 str(tmp_path / "serial")]) == 0
    monkeypatch.setattr(executors, "_cpu_count", lambda: 2)  # what the 2-core CI machine has
    assert main(["reproduce", "--preset", "smoke", "--out", str(tmp_path / "auto")]) == 0
    lines = capsys.readouterr().out.splitlines()  # each summary line says where a pool ran the points
    assert lines[0].startswith("counting: 24 rows, 3 points (0 resumed) on processes:2, ")
    assert lines[1].startswith("single-a: ") and " on " not in lines[1].split(" s -> ")[0]
    record = {stem: json.loads((tmp_path / "auto" / f"{stem}.json").read_text()) for stem in ("counting", "single-a")}
    assert record["counting"]["executor"] == "processes:2"  # the sweep: three points, two workers
    assert record["single-a"]["executor"] == "inprocess"  # one point: no pool
    assert record["counting"]["workers"]["torch_threads"] == [1]  # each worker one thread, as it was given
    for stem in ("counting", "single-a"):
        assert (tmp_path / "auto" / f"{stem}.csv").read_bytes() == (tmp_path / "serial" / f"{stem}.csv").read_bytes()


def test_reproduce_reports_a_failing_experiment_and_runs_the_rest(tmp_path, capsys, monkeypatch):
    import fixture_experiments.counting as counting

    def broken(cfg, point):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(counting, "run_point", broken)  # in this process: the patch does not reach workers
    assert main(["reproduce", "--preset", "smoke", "--quiet", "--executor", "inprocess", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "broken on purpose" in err and "1 of 2 experiments failed: counting" in err
    assert (tmp_path / "single-a.csv").exists() and not (tmp_path / "counting.csv").exists()
    assert "## single-a" in (tmp_path / "README.md").read_text()


def test_reproduce_validates_everything_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = one_line_error(capsys, ["reproduce", "--device", "cuda", "--out", str(tmp_path / "o")])
    assert "CUDA is not available" in line
    assert not (tmp_path / "o").exists()
