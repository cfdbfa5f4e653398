"""approx.files, and a run's result files through it: write_atomic replaces whole files; an
unusable --out is refused before any work, the files appear all together or not at all (plot()
raising, Ctrl-C while writing), and a killed run's temporaries are removed by the next run of the
same experiment."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from approx import files
from approx.files import write_atomic
from approx.run.cli import main
from runner_support import log_events, snapshot, stored_sizes


pytestmark = pytest.mark.usefixtures("fixture_experiments")


RESULTS = {"counting.csv", "counting.png", "counting.pdf", "counting.json", "README.md"}


def _counting(out: Path, log: Path, *extra: str) -> list[str]:
    return ["run", "counting", "--preset", "smoke", "--quiet", "--out", str(out),
            "--set", f"log_path={log}", *extra]


def _one_line(capsys, argv: list[str], status: int) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == status, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("approx: ") and "Traceback" not in captured.err, captured.err
    return lines[0]


def _visible(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if not p.name.startswith(".")} if out.exists() else set()


def _unusable_out(tmp_path: Path, kind: str) -> Path:
    if kind == "a file":
        (tmp_path / "taken").write_text("not a folder\n")
        return tmp_path / "taken"
    if kind == "under a file":
        (tmp_path / "taken").write_text("not a folder\n")
        return tmp_path / "taken" / "out"
    if kind == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes in a mode-0500 folder anyway; /proc and /sys cover refusal")
        (tmp_path / "locked").mkdir(mode=0o500)
        return tmp_path / "locked"
    return Path(kind)  # a virtual file system


@pytest.mark.parametrize("kind", ["a file", "under a file", "read-only folder", "/proc", "/proc/approx-out",
                                  "/sys/approx-out/results"])
def test_an_unusable_out_is_refused_before_any_work(tmp_path, capsys, kind):
    virtual = kind.startswith("/")
    if virtual and not Path("/", kind.split("/")[1]).is_dir():
        pytest.skip(f"no {kind} on this system")
    out, log = _unusable_out(tmp_path, kind), tmp_path / "log.txt"
    before = snapshot(tmp_path)
    line = _one_line(capsys, _counting(out, log), 2)
    assert "unusable --out" in line and str(out) in line and "allowed: a writable folder" in line
    assert not log.exists()  # not one point was computed
    assert snapshot(tmp_path) == before
    if kind != "/proc" and virtual:
        assert not Path("/", kind.split("/")[1], "approx-out").exists()  # no folder was left there


def test_a_missing_nested_out_is_fine_and_the_probe_leaves_nothing(tmp_path, capsys):
    # negative control of the refusals above: the same command with a usable --out runs
    from approx.run.runner import Request, plan_run

    out, log = tmp_path / "new" / "deeper", tmp_path / "log.txt"
    plan_run(Request("counting", "smoke", out=out, quiet=True))
    assert not (tmp_path / "new").exists()  # planning probed and removed what it created
    assert main(_counting(out, log)) == 0
    assert _visible(out) == RESULTS and len(log_events(log)) == 6


@pytest.mark.parametrize("obstacle", ["csv_is_a_folder", "points_is_a_file", "store_is_a_file"])
def test_something_of_the_wrong_kind_in_the_way_is_refused_before_any_work(tmp_path, capsys, obstacle):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    blocker = {"csv_is_a_folder": out / "counting.csv", "points_is_a_file": out / ".points",
               "store_is_a_file": out / ".points" / "counting"}[obstacle]
    blocker.parent.mkdir(parents=True, exist_ok=True)
    if obstacle == "csv_is_a_folder":
        blocker.mkdir()
    else:
        blocker.write_text("a file\n")
    before = snapshot(tmp_path)
    for resume in ([], ["--resume"]):
        line = _one_line(capsys, _counting(out, log, *resume), 2)
        assert str(blocker) in line and "allowed: move it away" in line
    assert not log.exists() and snapshot(tmp_path) == before


def test_a_plot_that_raises_leaves_no_result_file_and_resume_recomputes_nothing(tmp_path, capsys, monkeypatch):
    import fixture_experiments.counting as counting

    out, log = tmp_path / "out", tmp_path / "log.txt"
    real_plot = counting.plot

    def broken_plot(df, path):
        real_plot(df, path)  # the figure is written (into the staging folder) ...
        raise ValueError("an axis limit is nan")  # ... and then the experiment's plot fails

    monkeypatch.setattr(counting, "plot", broken_plot)
    line = _one_line(capsys, _counting(out, log), 1)
    assert "writing the result files failed (ValueError: an axis limit is nan)" in line
    assert "no result file was written" in line and "all 3 points are stored" in line and "--resume" in line
    assert _visible(out) == set() and stored_sizes(out) == {1, 2, 3}
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # the staging folder is gone

    monkeypatch.setattr(counting, "plot", real_plot)  # the user fixes plot() ...
    assert main(_counting(out, log, "--resume")) == 0  # ... and resumes
    assert _visible(out) == RESULTS  # control: the same run, plot fixed, writes them all
    assert len(log_events(log)) == 6  # 3 starts, 3 ends: nothing was recomputed


def test_a_failing_rerun_keeps_the_previous_result_files_whole(tmp_path, capsys, monkeypatch):
    import fixture_experiments.counting as counting

    out, log = tmp_path / "out", tmp_path / "log.txt"
    assert main(_counting(out, log)) == 0
    before = {name: (out / name).read_bytes() for name in RESULTS}

    def broken_plot(df, path):
        raise RuntimeError("plot bug")

    monkeypatch.setattr(counting, "plot", broken_plot)
    _one_line(capsys, _counting(out, log, "--seed", "3"), 1)  # new data, which never arrives
    assert {name: (out / name).read_bytes() for name in RESULTS} == before


def test_ctrl_c_while_writing_prints_the_resume_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    import fixture_experiments.counting as counting

    out, log = tmp_path / "out", tmp_path / "log.txt"

    def interrupted_plot(df, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(counting, "plot", interrupted_plot)
    line = _one_line(capsys, _counting(out, log), 130)
    assert "interrupted while writing the result files" in line and "--resume" in line
    assert _visible(out) == set() and stored_sizes(out) == {1, 2, 3}
    line = _one_line(capsys, _counting(out, log, "--plot-only"), 2)  # nothing to redraw yet
    assert "no result file" in line


def test_ctrl_c_while_redrawing_keeps_the_old_figure(tmp_path, capsys, monkeypatch):
    import fixture_experiments.counting as counting

    out, log = tmp_path / "out", tmp_path / "log.txt"
    assert main(_counting(out, log)) == 0
    before = snapshot(out)

    def interrupted_plot(df, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(counting, "plot", interrupted_plot)
    line = _one_line(capsys, _counting(out, log, "--plot-only"), 130)
    assert "nothing was written" in line and snapshot(out) == before


def test_a_killed_runs_leftovers_are_removed_by_the_next_run_of_that_experiment(tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    out.mkdir()
    staging = out / ".counting.staging.k1ll3d_1.tmp"
    staging.mkdir()
    (staging / "counting.png").write_bytes(b"half")
    mine = [out / ".counting.csv.a1b2c3d4.tmp", out / ".counting.json.zz_99xyz.tmp", staging]
    old_page = out / ".README.md.q1w2e3r4.tmp"
    young_page = out / ".README.md.t5y6u7i8.tmp"  # maybe another run writing the page right now
    others = [out / ".single-a.csv.a1b2c3d4.tmp", out / ".counting.csv.notes", out / "counting.csv.x.tmp"]
    for path in [*mine[:2], old_page, young_page, *others]:
        path.write_text("leftover")
    os.utime(old_page, (1e9, 1e9))
    assert main(_counting(out, log)) == 0
    assert not [p for p in [*mine, old_page] if p.exists()]
    assert young_page.exists() and all(p.exists() for p in others)  # control: only ours, only old


def test_move_together_delivers_ctrl_c_only_after_the_last_rename(tmp_path, monkeypatch):
    staging, target = tmp_path / "staging", tmp_path / "target"
    staging.mkdir()
    target.mkdir()
    names = ["a.csv", "a.png", "a.json"]
    for name in names:
        (staging / name).write_text(name)
    real_replace = os.replace
    renamed = []

    def replace_then_ctrl_c(src, dst):
        real_replace(src, dst)
        renamed.append(Path(dst).name)
        if len(renamed) == 1:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C right after the first rename

    monkeypatch.setattr(files.os, "replace", replace_then_ctrl_c)
    # Python's own Ctrl-C handler, whatever this process inherited: a process started in the
    # background by a non-interactive shell ignores SIGINT, and the test would see nothing
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _renames_with_and_without_move_together(staging, target, names, renamed)
    finally:
        signal.signal(signal.SIGINT, previous)


def _renames_with_and_without_move_together(staging, target, names, renamed):
    with pytest.raises(KeyboardInterrupt):
        files.move_together(staging, target, names)
    assert renamed == names and sorted(p.name for p in target.iterdir()) == sorted(names)
    # control: the same renames without move_together stop at the first
    renamed.clear()
    for name in names:
        (target / name).rename(staging / name)
    with pytest.raises(KeyboardInterrupt):
        for name in names:
            os.replace(staging / name, target / name)
    assert renamed == ["a.csv"]


def test_write_atomic_replaces_whole_files_readable_by_others(tmp_path):
    target = tmp_path / "sub" / "x.csv"
    write_atomic(target, "a,b\n1,2\n")
    write_atomic(target, b"a,b\n3,4\n")
    assert target.read_bytes() == b"a,b\n3,4\n"
    assert (target.stat().st_mode & 0o777) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["x.csv"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, failing):
    target = tmp_path / "x.json"
    write_atomic(target, "old\n")

    def fail(*args, **kwargs):
        raise OSError(f"simulated {failing} failure (disk full, power cut, ...)")

    monkeypatch.setattr(files.os, failing, fail)
    with pytest.raises(OSError, match="simulated"):
        write_atomic(target, "new and longer\n" * 1000)
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
