"""Resume after a real kill: a `python -m approx run` process SIGKILLed mid-sweep keeps its
finished points, and `--resume` computes only the rest, ending with the CSV of an
uninterrupted run, byte for byte."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from approx.run.cli import main
from runner_support import REPO, cli_command, cli_env, log_events, use_fixture_experiments, wait_for


@pytest.fixture(autouse=True)
def _fixture_experiments(monkeypatch):
    use_fixture_experiments(monkeypatch)

SIZES = "1,2,3,4,5,6,7,8"


def stored(out: Path) -> set[str]:
    folder = out / ".points" / "counting"
    return {p.stem for p in folder.glob("*.json")} if folder.exists() else set()


def test_sigkilled_run_resumes_without_recomputing_finished_points(tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    args = ["run", "counting", "--out", str(out), "--quiet", "--set", f"sizes={SIZES}",
            "--set", "sleep_s=0.25", "--set", f"log_path={log}"]
    process = subprocess.Popen(cli_command(*args), cwd=REPO, env=cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(stored(out)) >= 2 or process.poll() is not None, what="two stored points")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL  # it really died mid-sweep
    kept = stored(out)
    assert 2 <= len(kept) < 8
    assert not (out / "counting.csv").exists()
    first_run = Counter(size for event, size, _ in log_events(log) if event == "start")

    kept_sizes = {json.loads((out / ".points" / "counting" / f"{key}.json").read_text())["point"]["size"]
                  for key in kept}

    assert main(args + ["--resume"]) == 0
    starts = Counter(size for event, size, _ in log_events(log) if event == "start")
    assert all(starts[size] == 1 for size in kept_sizes)  # finished points were not recomputed
    resumed = starts - first_run
    assert sum(resumed.values()) == 8 - len(kept)  # exactly the missing points were computed
    assert all(count == 1 for count in resumed.values())
    assert stored(out) >= kept and len(stored(out)) == 8
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]

    reference = tmp_path / "reference"
    assert main(["run", "counting", "--out", str(reference), "--quiet", "--set", f"sizes={SIZES}"]) == 0
    assert (out / "counting.csv").read_bytes() == (reference / "counting.csv").read_bytes()
