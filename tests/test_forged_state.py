"""Forged or pathological state in OUT is refused with one line naming it, before any work:
a stored point whose frame was edited, JSON nested 200,000 levels deep (a point, or the
record), and --plot-only over a CSV that another configuration made."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from approx.run.cli import main
from approx.run.store import PointStore, StoreError
from runner_support import log_events, snapshot, use_fixture_experiments


@pytest.fixture(autouse=True)
def _fixture_experiments(monkeypatch):
    use_fixture_experiments(monkeypatch)


DEEP = "[" * 200_000 + "]" * 200_000  # json.loads raises RecursionError, which is no ValueError


def _counting(out: Path, *extra: str) -> list[str]:
    return ["run", "counting", "--preset", "smoke", "--quiet", "--out", str(out), *extra]


def _refused(capsys, argv: list[str]) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("approx: ") and "Traceback" not in captured.err, captured.err
    return lines[0]


def _add_a_column(path: Path) -> None:
    record = json.loads(path.read_text())
    frame = record["frame"]
    frame["columns"].append("forged")
    frame["dtypes"].append("float64")
    frame["values"].append([0.0] * len(frame["values"][0]))
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("forgery", ["extra_column", "edited_value", "deep_json"])
def test_a_forged_stored_point_is_refused_on_resume(tmp_path, capsys, forgery):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    assert main(_counting(out, "--set", f"log_path={log}")) == 0
    victim = sorted((out / ".points" / "counting").glob("*.json"))[1]
    assert main(_counting(out, "--set", f"log_path={log}", "--resume")) == 0  # control: untouched, accepted
    if forgery == "extra_column":
        _add_a_column(victim)
    elif forgery == "edited_value":
        record = json.loads(victim.read_text())
        record["frame"]["values"][-1][0] = "edited"  # one label
        victim.write_text(json.dumps(record))
    else:
        victim.write_text(DEEP)
    before, n_events = snapshot(out), len(log_events(log))
    line = _refused(capsys, _counting(out, "--set", f"log_path={log}", "--resume"))
    assert f"corrupt stored point {victim}" in line and "run without --resume" in line
    assert ("nested too deep" if forgery == "deep_json" else "does not match the checksum") in line
    assert snapshot(out) == before and len(log_events(log)) == n_events  # nothing computed or written


def test_a_stored_point_keeps_its_frame_checksum_through_save_and_load(tmp_path):
    import pandas as pd

    store = PointStore(tmp_path)
    frame = pd.DataFrame({"a": [0.1, float("nan"), -0.0], "b": ["x", "é", ""], "n": pd.array([1, None, 3], "Int64")})
    store.save("k", {"size": 1}, frame)
    pd.testing.assert_frame_equal(store.load("k"), frame)  # the seal survives NaN, -0.0, unicode, NA
    _add_a_column(store.path("k"))
    with pytest.raises(StoreError, match="does not match the checksum"):
        store.load("k")


def test_repeated_column_names_in_a_stored_point_are_refused(tmp_path):
    import pandas as pd

    from approx.run.store import frame_checksum

    store = PointStore(tmp_path)
    store.save("k", {}, pd.DataFrame({"a": [1.0], "b": [2.0]}))
    record = json.loads(store.path("k").read_text())
    record["frame"]["columns"][1] = "a"  # resealed: only the frame check can catch this
    record["frame_sha256"] = frame_checksum("k", record["frame"])
    store.path("k").write_text(json.dumps(record))
    with pytest.raises(StoreError, match="repeated column names"):
        store.load("k")


def test_a_record_nested_too_deep_is_one_line_for_plot_only(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_counting(out)) == 0
    assert main(_counting(out, "--plot-only")) == 0  # control: the intact record redraws
    (out / "counting.json").write_text(DEEP)
    before = snapshot(out)
    line = _refused(capsys, _counting(out, "--plot-only"))
    assert f"corrupt result record {out / 'counting.json'}" in line and "nested too deep" in line
    assert snapshot(out) == before
    assert main(["gallery", "--out", str(out)]) == 0  # the gallery skips it, as any corrupt record


def test_plot_only_over_another_configs_csv_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_counting(out, "--set", "sizes=1,2")) == 0
    before = snapshot(out)
    line = _refused(capsys, _counting(out, "--plot-only"))  # smoke has sizes 1,2,3
    assert f"{out}/counting.csv comes from another configuration" in line
    assert "sizes=[1, 2] there, [1, 2, 3] asked" in line
    assert "approx run counting --preset smoke --set sizes=1,2" in line  # the command that made it
    assert snapshot(out) == before
    line = _refused(capsys, _counting(out, "--plot-only", "--seed", "4", "--set", "sizes=1,2"))
    assert "seed=0 there, 4 asked" in line
    assert main(_counting(out, "--plot-only", "--set", "sizes=1,2")) == 0  # control: its own command


def test_plot_only_over_another_experiments_csv_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_counting(out)) == 0
    record = json.loads((out / "counting.json").read_text())
    record["experiment"] = "single"  # e.g. a result copied in from elsewhere
    (out / "counting.json").write_text(json.dumps(record))
    line = _refused(capsys, _counting(out, "--plot-only"))
    assert "experiment 'single', not 'counting'" in line
