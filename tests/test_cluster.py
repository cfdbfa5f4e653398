"""Dask: a real LocalCluster on loopback (two worker processes) runs a sweep with the in-process
CSV, survives a worker SIGKILLed mid-point, and a scheduler that does not answer is a clear,
quick error that writes nothing. Select with ``python -m pytest -m cluster``."""
from __future__ import annotations

import os
import socket
import time
from collections import Counter

import pandas as pd
import pytest

from approx.run.cli import main
from runner_support import (REPO, TESTS_DIR, kill_a_worker_mid_point, log_events, run_main_in_thread,
                            use_fixture_experiments)

distributed = pytest.importorskip("distributed", reason='needs pip install -e ".[cluster]"')
pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def _fixture_experiments(monkeypatch):
    use_fixture_experiments(monkeypatch)


@pytest.fixture(scope="module")
def scheduler():
    """dask://HOST:PORT of a two-worker LocalCluster whose workers import the fixture experiments."""
    with pytest.MonkeyPatch.context() as patch:
        paths = [str(TESTS_DIR), str(REPO), os.environ.get("PYTHONPATH", "")]
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=":0", silence_logs=50)
    try:
        yield "dask://" + cluster.scheduler_address.removeprefix("tcp://")
    finally:
        cluster.close()


def test_dask_gives_the_in_process_csv(scheduler, tmp_path):
    args = ["run", "counting", "--quiet", "--set", "sizes=1,2,3,4,5"]
    assert main(args + ["--out", str(tmp_path / "inprocess")]) == 0
    assert main(args + ["--out", str(tmp_path / "dask"), "--executor", scheduler]) == 0
    assert (tmp_path / "dask" / "counting.csv").read_bytes() == (tmp_path / "inprocess" / "counting.csv").read_bytes()


def test_a_killed_dask_worker_loses_only_its_point(scheduler, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    args = ["run", "counting", "--quiet", "--out", str(out), "--set", "sizes=1,2,3,4,5,6,7,8",
            "--set", "sleep_s=0.4", "--set", f"log_path={log}"]
    thread, result = run_main_in_thread(args + ["--executor", scheduler])
    killed_size, killed_pid, kept = kill_a_worker_mid_point(out, log)
    thread.join(timeout=120)
    # dask reruns the lost point on the other worker; if it ever gave up (KilledWorker), the
    # run exits 1 and says to resume. Either way --resume ends with every point exactly once.
    assert result["rc"] in (0, 1)
    assert main(args + ["--resume"]) == 0
    starts = Counter(s for e, s, _ in log_events(log) if e == "start")
    assert all(starts[size] == 1 for size in kept)  # points stored before the kill: computed once
    assert starts[killed_size] == 2  # the killed point, once on the dead worker and once again
    assert ("done", killed_size, killed_pid) not in log_events(log)  # it really died mid-point
    sizes = pd.read_csv(out / "counting.csv")["size"]
    assert sorted(Counter(sizes).items()) == [(s, 40) for s in range(1, 9)]


@pytest.fixture
def silent_listener():
    """A port that accepts TCP connections and then never says anything (a hung scheduler)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_a_scheduler_that_does_not_answer_is_a_quick_clear_error(capsys, tmp_path, monkeypatch,
                                                                  silent_listener, kind):
    if kind == "refused":
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    else:
        port = silent_listener
    monkeypatch.setenv("APPROX_DASK_TIMEOUT", "2")
    start = time.monotonic()
    rc = main(["run", "counting", "--executor", f"dask://127.0.0.1:{port}", "--out", str(tmp_path / "o")])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"cannot reach the dask scheduler at tcp://127.0.0.1:{port} within 2 s" in err
    assert elapsed < 10  # the 2 s timeout, plus loading the experiment on a busy machine
    assert not (tmp_path / "o").exists()
