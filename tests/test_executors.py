"""Executors: spec parsing, the in-process executor, and a real spawn process pool (a worker
SIGKILLed mid-sweep loses only the points in flight; --resume finishes; the CSV is byte-identical
to the in-process one)."""
from __future__ import annotations

import json
import multiprocessing
import sys
from collections import Counter

import pandas as pd
import pytest
import torch

from approx import executors
from approx.cli import main
from approx.executors import ExecutorSpec, InProcessExecutor, parse_executor
from runner_support import kill_a_worker_mid_point, log_events, run_main_in_thread, use_fixture_experiments


@pytest.fixture(autouse=True)
def _fixture_experiments(monkeypatch):
    use_fixture_experiments(monkeypatch)


@pytest.mark.parametrize("text,spec", [
    ("inprocess", ExecutorSpec("inprocess")),
    ("processes:3", ExecutorSpec("processes", n_workers=3)),
    ("dask://10.0.0.5:8786", ExecutorSpec("dask", address="tcp://10.0.0.5:8786")),
    ("dask://tls://head:8786", ExecutorSpec("dask", address="tls://head:8786")),
])
def test_executor_specs_parse(text, spec):
    assert parse_executor(text) == spec
    assert parse_executor(str(spec)) == spec


def test_plain_processes_uses_every_core_and_plain_dask_reads_the_environment(monkeypatch):
    monkeypatch.setattr(executors.os, "cpu_count", lambda: 6)
    assert parse_executor("processes") == ExecutorSpec("processes", n_workers=6)
    monkeypatch.setenv("APPROX_DASK_ADDRESS", "head:8786")
    assert parse_executor("dask") == ExecutorSpec("dask", address="tcp://head:8786")


def test_in_process_executor_runs_at_once_and_delivers_errors_through_the_future():
    pool = InProcessExecutor()
    assert pool.submit(pow, 2, 10).result() == 1024
    failed = pool.submit(int, "x")
    assert failed.done() and isinstance(failed.exception(), ValueError)


def test_pool_workers_get_one_thread_and_one_gpu_each(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(("threads", n)))
    monkeypatch.setattr(torch, "set_num_interop_threads", lambda n: calls.append(("interop", n)))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "unchanged")
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    seen = []
    for _ in range(3):
        executors._init_process_worker(counter, ["3", "5"])
        seen.append(executors.os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["3", "5", "3"]  # worker i gets GPU i mod 2
    assert calls == [("threads", 1), ("interop", 1)] * 3
    executors._init_process_worker(counter, ["0"])  # one GPU (or none): nothing to pin
    assert executors.os.environ["CUDA_VISIBLE_DEVICES"] == "3"


def test_missing_dask_names_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import now raises ImportError
    assert main(["run", "counting", "--executor", "dask://127.0.0.1:1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and 'pip install -e ".[cluster]"' in err
    assert not (tmp_path / "o").exists()


@pytest.mark.cluster
def test_process_pool_survives_a_killed_worker_and_gives_the_in_process_csv(tmp_path, capsys):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    args = ["run", "counting", "--quiet", "--out", str(out), "--set", "sizes=1,2,3,4,5,6,7,8",
            "--set", "sleep_s=0.3", "--set", f"log_path={log}", "--executor", "processes:2"]
    thread, result = run_main_in_thread(args)
    killed_size, _, kept = kill_a_worker_mid_point(out, log)
    thread.join(timeout=120)
    assert result["rc"] == 1  # the pool broke: reported in one line, not a traceback
    err = capsys.readouterr().err
    assert "a worker died" in err and "--resume" in err and "Traceback" not in err
    assert killed_size not in kept and not (out / "counting.csv").exists()
    before = Counter(s for e, s, _ in log_events(log) if e == "start")

    assert main(args + ["--resume"]) == 0  # on a fresh pool
    starts = Counter(s for e, s, _ in log_events(log) if e == "start")
    assert all(starts[size] == 1 for size in kept)  # stored points were not recomputed
    assert starts[killed_size] == before[killed_size] + 1
    record = json.loads((out / "counting.json").read_text())
    assert record["executor"] == "processes:2" and record["workers"]["torch_threads"] == [1]
    assert executors.os.getpid() not in {p for _, _, p in log_events(log)}  # points ran in workers

    reference = tmp_path / "inprocess"
    assert main(["run", "counting", "--quiet", "--out", str(reference), "--set", "sizes=1,2,3,4,5,6,7,8"]) == 0
    assert (out / "counting.csv").read_bytes() == (reference / "counting.csv").read_bytes()
    sizes = pd.read_csv(out / "counting.csv")["size"]
    assert sorted(Counter(sizes).items()) == [(s, 40) for s in range(1, 9)]  # each point exactly once
