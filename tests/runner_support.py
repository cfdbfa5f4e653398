"""Helpers for the runner, CLI, store and executor tests (a plain module, not a test file).

The tests run the runner on the test-only experiments in tests/fixture_experiments/, selected
the documented way: the environment variable APPROX_EXPERIMENTS. ``fixtures`` does that inside
the pytest process; ``run_cli`` starts a real ``python -m approx`` with the same selection.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
PACKAGE = "fixture_experiments"


@pytest.fixture
def fixtures(monkeypatch):
    """Point the runner at tests/fixture_experiments for one test."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    monkeypatch.setenv("APPROX_EXPERIMENTS", PACKAGE)
    return PACKAGE


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


def log_events(path: Path) -> list[tuple[str, int, int]]:
    """The (event, size, pid) lines the ``counting`` fixture appended to its log."""
    if not path.exists():
        return []
    return [(e, int(s), int(p)) for e, s, p in (line.split() for line in path.read_text().splitlines())]
