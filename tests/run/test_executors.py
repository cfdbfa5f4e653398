"""Executors: spec parsing, the in-process executor, and a real spawn process pool (a worker
SIGKILLed mid-sweep loses only the points in flight; --resume finishes; the CSV is byte-identical
to the in-process one; a SIGKILLed runner leaves no worker and no resource tracker behind).

Dask: a real LocalCluster on loopback (two worker processes) runs a sweep with the in-process
CSV, survives a worker SIGKILLed mid-point, and a scheduler that does not answer is a clear,
quick error that writes nothing. Select these with ``python -m pytest -m cluster``; without the
cluster extra they skip."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch

from approx.run import executors
from approx.run.cli import main
from approx.run.executors import ExecutorSpec, InProcessExecutor, parse_executor
from runner_support import (REPO, TESTS_DIR, cli_command, cli_env, kill_a_worker_mid_point, log_events,
                            run_main_in_thread, running_points, wait_for)


pytestmark = pytest.mark.usefixtures("fixture_experiments")


@pytest.mark.parametrize("text,spec", [
    ("inprocess", ExecutorSpec("inprocess")),
    ("processes:3", ExecutorSpec("processes", n_workers=3)),
    ("dask://10.0.0.5:8786", ExecutorSpec("dask", address="tcp://10.0.0.5:8786")),
    ("dask://tls://head:8786", ExecutorSpec("dask", address="tls://head:8786")),
])
def test_executor_specs_parse(text, spec):
    assert parse_executor(text) == spec
    assert parse_executor(str(spec)) == spec


def test_auto_parses_and_is_resolved_per_run_before_anything_opens_it():
    assert parse_executor("auto") == ExecutorSpec("auto") and str(ExecutorSpec("auto")) == "auto"
    with pytest.raises(ValueError, match="resolved per run"):
        with executors.open_executor(ExecutorSpec("auto")):
            pass


@pytest.mark.parametrize("cores,gpus,n_points,device,threads,chosen", [
    (2, 0, 74, "cpu", 1, ExecutorSpec("processes", n_workers=2)),   # a sweep: one worker per core
    (16, 0, 5, "cpu", 1, ExecutorSpec("processes", n_workers=5)),   # never more workers than points
    (16, 0, 40, "cpu", 4, ExecutorSpec("processes", n_workers=4)),  # cores // threads per point
    (2, 0, 1, "cpu", 1, ExecutorSpec("inprocess")),                 # one point: no pool to start
    (2, 0, 0, "cpu", 1, ExecutorSpec("inprocess")),                 # --resume with nothing left
    (1, 0, 74, "cpu", 1, ExecutorSpec("inprocess")),                # one core
    (2, 0, 74, "cpu", 2, ExecutorSpec("inprocess")),                # a point takes both cores
    (16, 1, 74, "cuda", 1, ExecutorSpec("inprocess")),              # one GPU: not shared by workers
    (16, 4, 74, "cuda", 1, ExecutorSpec("processes", n_workers=4)),  # one worker per GPU
])
def test_auto_uses_a_worker_per_core_or_gpu_for_sweeps_only(monkeypatch, cores, gpus, n_points, device, threads,
                                                             chosen):
    monkeypatch.setattr(executors, "_cpu_count", lambda: cores)
    monkeypatch.setattr(executors, "_visible_gpus", lambda: [str(i) for i in range(gpus)])
    assert executors.choose_executor(ExecutorSpec("auto"), n_points, device, threads) == chosen
    for spec in (ExecutorSpec("inprocess"), ExecutorSpec("processes", n_workers=3)):  # only auto is chosen
        assert executors.choose_executor(spec, n_points, device, threads) == spec


def test_plain_processes_uses_every_core_and_plain_dask_reads_the_environment(monkeypatch):
    monkeypatch.setattr(executors, "_cpu_count", lambda: 6)
    assert parse_executor("processes") == ExecutorSpec("processes", n_workers=6)
    monkeypatch.setenv("APPROX_DASK_ADDRESS", "head:8786")
    assert parse_executor("dask") == ExecutorSpec("dask", address="tcp://head:8786")


def test_in_process_executor_runs_at_once_and_delivers_errors_through_the_future():
    pool = InProcessExecutor()
    assert pool.submit(pow, 2, 10).result() == 1024
    failed = pool.submit(int, "x")
    assert failed.done() and isinstance(failed.exception(), ValueError)


def test_compute_point_runs_the_module_it_is_named_not_the_configs_class_module():
    # a study that is a package keeps its Config in NAME/config.py, a module without run_point:
    # the runner names the experiment module (plan.module.__name__) instead
    import dataclasses

    from fixture_experiments import counting

    cfg = counting.Config(**counting.PRESETS["smoke"])
    # the same fields, in a class of this test module (which has no run_point either)
    moved = dataclasses.make_dataclass("Config", [(f.name, f.type, f.default) for f in dataclasses.fields(cfg)],
                                       frozen=True, namespace={"__module__": __name__})
    moved_cfg = moved(**dataclasses.asdict(cfg))
    assert type(moved_cfg).__module__ == __name__
    point = counting.points(cfg)[0]
    frame, info = executors.compute_point("fixture_experiments.counting", moved_cfg, point)
    expected, _ = executors.compute_point("fixture_experiments.counting", cfg, point)
    pd.testing.assert_frame_equal(frame, expected)
    assert info["pid"] == os.getpid()
    # negative control: the module named is the one that runs (_helpers has no run_point)
    with pytest.raises(AttributeError, match="run_point"):
        executors.compute_point("fixture_experiments._helpers", cfg, point)


def test_compute_point_keeps_the_compile_seconds_a_study_records(monkeypatch):
    # a study's run_point may leave frame.attrs["compile_s"] (approx.compiled_step's
    # records_compile_time); the point's info keeps it, and the runner adds them up in the JSON
    from fixture_experiments import counting

    cfg = counting.Config(**counting.PRESETS["smoke"])
    point = counting.points(cfg)[0]
    _, plain = executors.compute_point("fixture_experiments.counting", cfg, point)
    original = counting.run_point

    def recording(cfg, point):
        frame = original(cfg, point)
        frame.attrs["compile_s"] = 1.25
        return frame

    monkeypatch.setattr(counting, "run_point", recording)
    _, info = executors.compute_point("fixture_experiments.counting", cfg, point)
    assert info["compile_s"] == 1.25
    assert plain["compile_s"] == 0.0  # negative control: a study that records nothing


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


class _Exited(Exception):
    pass


def test_the_watchdog_exits_when_the_runner_is_gone_and_only_then(monkeypatch):
    # the kernel's parent-death signal does the work on Linux (the SIGKILL test below); this
    # polling thread is the fallback elsewhere and for a runner that died before the signal was set
    ppids = iter([100, 100, 1])  # the runner (pid 100) dies; init adopts the worker

    def exit_(status):
        raise _Exited(status)

    monkeypatch.setattr(executors.os, "getppid", lambda: next(ppids))
    monkeypatch.setattr(executors.os, "_exit", exit_)
    monkeypatch.setattr(executors.time, "sleep", lambda s: None)
    with pytest.raises(_Exited):
        executors._watch_parent(100)
    assert next(ppids, "used up") == "used up"  # it exited at the first changed parent, not before
    polls = []

    def sleep_(seconds):  # control: while the runner lives, the watchdog only keeps polling
        polls.append(seconds)
        if len(polls) == 50:
            raise TimeoutError

    monkeypatch.setattr(executors.os, "getppid", lambda: 100)
    monkeypatch.setattr(executors.time, "sleep", sleep_)
    with pytest.raises(TimeoutError):
        executors._watch_parent(100)
    assert polls == [executors.PARENT_POLL_S] * 50


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a live process from /proc/PID/stat; None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "PID (COMMAND) "; COMMAND may hold spaces
    return fields[0], int(fields[1]), fields[19]


def _descendants(root: int) -> dict[int, tuple[str, str]]:
    """pid -> (start time, command line) of every live process below ``root``."""
    parents = {int(p.name): stat[1] for p in Path("/proc").iterdir() if p.name.isdigit()
               if (stat := _stat(int(p.name))) is not None}
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid in [pid for pid, ppid in parents.items() if ppid == parent]:
            stat = _stat(pid)
            if stat is not None:
                with contextlib.suppress(OSError):
                    found[pid] = (stat[2], Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
                frontier.append(pid)
    return found


def _still_running(processes: dict[int, tuple[str, str]]) -> list[int]:
    """Those of ``processes`` alive now: the same pid and start time (not reused), not a zombie."""
    return [pid for pid, (start, _) in processes.items()
            if (stat := _stat(pid)) is not None and stat[2] == start and stat[0] != "Z"]


@pytest.mark.cluster
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_a_sigkilled_runner_leaves_no_worker_and_no_resource_tracker(tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    args = ["run", "counting", "--quiet", "--out", str(out), "--set", "sizes=1,2,3,4", "--set", "sleep_s=600",
            "--set", f"log_path={log}", "--executor", "processes:2"]
    runner = subprocess.Popen(cli_command(*args), cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    below: dict[int, tuple[str, str]] = {}
    try:
        wait_for(lambda: len(running_points(log)) == 2 or runner.poll() is not None,
                 what="a point running in each of the two workers")
        below = _descendants(runner.pid)
        workers = {pid for _, pid in running_points(log)}
        # control: while the runner lives, the check sees both workers and the resource tracker
        assert len(workers) == 2 and workers <= set(_still_running(below)), below
        assert [pid for pid, (_, command) in below.items() if "resource_tracker" in command], below
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=60)
        wait_for(lambda: not _still_running(below), timeout_s=20,
                 what=f"the runner's workers and resource tracker to exit: {below}")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=60)
        for pid in _still_running(below):  # only when the test failed: leave no orphans behind
            os.kill(pid, signal.SIGKILL)
    assert runner.returncode == -signal.SIGKILL and not (out / "counting.csv").exists()


# ---------------------------------------------------------------------- dask
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason='needs pip install -e ".[cluster]"')


@pytest.fixture(scope="module")
def scheduler():
    """dask://HOST:PORT of a two-worker LocalCluster whose workers import the fixture experiments."""
    import distributed

    with pytest.MonkeyPatch.context() as patch:
        paths = [str(TESTS_DIR), str(REPO), os.environ.get("PYTHONPATH", "")]
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=":0", silence_logs=50)
    try:
        yield "dask://" + cluster.scheduler_address.removeprefix("tcp://")
    finally:
        cluster.close()


@pytest.mark.cluster
@needs_dask
def test_dask_gives_the_in_process_csv(scheduler, tmp_path):
    args = ["run", "counting", "--quiet", "--set", "sizes=1,2,3,4,5"]
    assert main(args + ["--out", str(tmp_path / "inprocess")]) == 0
    assert main(args + ["--out", str(tmp_path / "dask"), "--executor", scheduler]) == 0
    assert (tmp_path / "dask" / "counting.csv").read_bytes() == (tmp_path / "inprocess" / "counting.csv").read_bytes()


@pytest.mark.cluster
@needs_dask
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


@pytest.mark.cluster
@needs_dask
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


def test_a_point_runs_with_every_global_generator_seeded_by_the_config_seed(monkeypatch):
    # an experiment that draws from the global generators (torch, numpy, random), not from
    # its own: compute_point must seed them with cfg.seed, so the seed decides the rows
    import dataclasses
    import random
    import types

    import numpy as np

    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 0

    def draws() -> dict:
        return {"torch": [float(torch.rand(1, dtype=torch.float64))],
                "numpy": [float(np.random.rand())], "random": [random.random()]}

    module = types.ModuleType("global_draws")
    module.Config = Config
    module.run = lambda cfg: pd.DataFrame(draws())
    monkeypatch.setitem(sys.modules, "global_draws", module)

    rows = {}
    for seed in (3, 5):
        rows[seed], _ = executors.compute_point("global_draws", Config(seed=seed), None)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        pd.testing.assert_frame_equal(rows[seed], pd.DataFrame(draws()))
    assert (rows[3].to_numpy() != rows[5].to_numpy()).all()
