"""Helpers for the runner, CLI, store and executor tests (a plain module, not a test file).

The tests run the runner on the test-only experiments in tests/fixture_experiments/, selected
the documented way: the environment variable APPROX_EXPERIMENTS. ``use_fixture_experiments`` does that
inside the pytest process; ``run_cli`` starts a real ``python -m approx`` with the same selection.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
PACKAGE = "fixture_experiments"


def use_fixture_experiments(monkeypatch) -> None:
    """Point the runner at tests/fixture_experiments for one test (conftest.py's
    ``fixture_experiments`` fixture calls this for every test of a runner test module)."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    monkeypatch.setenv("APPROX_EXPERIMENTS", PACKAGE)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess that sees the fixture experiments and this checkout."""
    env = dict(os.environ)
    env["APPROX_EXPERIMENTS"] = PACKAGE
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "approx", *args]


def run_cli(*args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    """``python -m approx ARGS`` in the repository root, to completion."""
    return subprocess.run(cli_command(*args), cwd=REPO, env=cli_env(**extra_env), capture_output=True,
                          text=True, timeout=timeout)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) -> its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(capsys, argv: list[str]) -> str:
    """Run ``approx.run.cli.main(argv)``; assert exit status 2, nothing on stdout and one line
    ``approx: ...`` on stderr without a traceback; return that line."""
    from approx.run.cli import main

    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, captured
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("approx: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def log_events(path: Path) -> list[tuple[str, int, int]]:
    """The (event, size, pid) lines the ``counting`` fixture appended to its log."""
    if not path.exists():
        return []
    return [(e, int(s), int(p)) for e, s, p in (line.split() for line in path.read_text().splitlines())]


def wait_for(condition, timeout_s: float = 120.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def stored_sizes(out: Path, output: str = "counting") -> set[int]:
    """Sizes of the ``counting`` points in OUT's store."""
    folder = out / ".points" / output
    if not folder.exists():
        return set()
    return {json.loads(p.read_text())["point"]["size"] for p in folder.glob("*.json")
            if not p.name.startswith(".")}


def running_points(log: Path, exclude_pid: int | None = None) -> list[tuple[int, int]]:
    """(size, pid) of points that started but have not finished, outside ``exclude_pid``."""
    events = log_events(log)
    started = {(s, p) for e, s, p in events if e == "start" and p != exclude_pid}
    done = {(s, p) for e, s, p in events if e == "done"}
    return sorted(started - done)


def run_main_in_thread(argv: list[str]) -> tuple[threading.Thread, dict]:
    """Start ``approx.run.cli.main(argv)`` in a thread (so this test can kill its workers)."""
    from approx.run.cli import main

    result: dict = {}

    def target() -> None:
        result["rc"] = main(argv)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def kill_a_worker_mid_point(out: Path, log: Path) -> tuple[int, int, set[int]]:
    """Once a point is stored and another is running in a worker, SIGKILL that worker.
    Returns (size, pid) of the point it was running and the sizes stored at that moment."""
    wait_for(lambda: stored_sizes(out) and running_points(log, exclude_pid=os.getpid()),
             what="a stored point and a point running in a worker")
    size, pid = running_points(log, exclude_pid=os.getpid())[0]
    os.kill(pid, signal.SIGKILL)
    return size, pid, stored_sizes(out)
