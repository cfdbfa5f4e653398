"""The score arithmetic of .ci/mutation_report.py (the report of mutation testing, a dev tool
outside the package, so it is loaded from its path)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_report():
    spec = importlib.util.spec_from_file_location("mutation_report", REPO / ".ci" / "mutation_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_report()


def test_score_is_killed_and_timeouts_over_the_judged_mutants():
    codes = {"m1": 1, "m2": 1, "m3": 36, "m4": 0, "m5": 33, "m6": None, "m7": 0}
    row = report.tally(codes, equivalent={"m7"})
    assert row == {"mutants": 7, "killed": 2, "survived": 2, "timeout": 1, "equivalent": 1, "not_checked": 1,
                   "score": 0.6}  # (2 + 1) / (7 - 1 - 1)
    # negative control: the same verdicts without the equivalent mutant score lower
    assert report.tally(codes, equivalent=set())["score"] == 0.5  # 3 / 6
    # nothing judged: no score rather than a division by zero
    assert math.isnan(report.tally({"m1": None}, equivalent=set())["score"])


def test_patterns_name_modules_and_only_the_resume_part_of_the_runner():
    assert report.patterns(["approx/losses.py", "approx/backprop/"]) == ["approx.losses.*", "approx.backprop.*"]
    assert report.patterns(["approx/run/runner.py"]) == ["approx.run.runner.x__plan__mutmut_*"]
    assert len(report.patterns([])) == len(report.CORE)
    with pytest.raises(ValueError, match="'experiments/universal.py' is not a module or folder of approx/"):
        report.patterns(["experiments/universal.py"])


def test_equivalent_mutants_are_read_by_name_from_the_list():
    markdown = "# Equivalent\n\n- `approx.a.x_f__mutmut_1`: why\n- `approx.a.x_g__mutmut_2`: why\nnot `this`\n"
    assert report.equivalent_names(markdown) == {"approx.a.x_f__mutmut_1", "approx.a.x_g__mutmut_2"}


def test_rows_count_only_the_selected_mutants_of_each_module(tmp_path):
    (tmp_path / "approx" / "run").mkdir(parents=True)
    (tmp_path / "approx" / "losses.py.meta").write_text(json.dumps(
        {"exit_code_by_key": {"approx.losses.x_mse__mutmut_1": 1, "approx.losses.x_mse__mutmut_2": 0}}))
    (tmp_path / "approx" / "run" / "runner.py.meta").write_text(json.dumps(
        {"exit_code_by_key": {"approx.run.runner.x__plan__mutmut_1": 1, "approx.run.runner.x_execute__mutmut_1": 0}}))
    table = report.rows(tmp_path, [], equivalent=set())
    assert [(r["module"], r["mutants"], r["score"]) for r in table] == [
        ("approx/losses.py", 2, 0.5), ("approx/run/runner.py", 1, 1.0), ("core", 3, 0.6667)]
    # negative control: asking for losses alone leaves the runner out
    assert [r["module"] for r in report.rows(tmp_path, ["approx/losses.py"], set())] == ["approx/losses.py", "all"]


def _meta(root, codes):
    (root / "approx").mkdir(parents=True, exist_ok=True)
    (root / "approx" / "losses.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    return root


def test_a_kill_from_any_source_wins_then_a_survivor_then_no_verdict(tmp_path):
    a = _meta(tmp_path / "a", {"approx.losses.x_f__mutmut_1": 0, "approx.losses.x_f__mutmut_2": None,
                               "approx.losses.x_f__mutmut_3": 1, "approx.losses.x_f__mutmut_4": None})
    b = _meta(tmp_path / "b", {"approx.losses.x_f__mutmut_1": 1, "approx.losses.x_f__mutmut_2": 0,
                               "approx.losses.x_f__mutmut_3": 0, "approx.losses.x_f__mutmut_4": None})
    hand = {"approx.losses.x_f__mutmut_4": 1}
    codes = report.merged_codes([a, b], hand)["approx/losses.py"]
    assert codes == {"approx.losses.x_f__mutmut_1": 1, "approx.losses.x_f__mutmut_2": 0,
                     "approx.losses.x_f__mutmut_3": 1, "approx.losses.x_f__mutmut_4": 1}
    # negative control: one source alone keeps its own verdicts
    assert report.merged_codes([a], {})["approx/losses.py"]["approx.losses.x_f__mutmut_1"] == 0


def test_hand_verdicts_are_read_by_line_and_a_bad_line_is_named():
    tsv = "mutant\tverdict\tevidence\napprox.a.x_f__mutmut_1\tkilled\ttests/test_a.py::test_f\n" \
          "approx.a.x_f__mutmut_2\tsurvived\ttests/test_a.py\n"
    assert report.hand_verdicts(tsv) == {"approx.a.x_f__mutmut_1": 1, "approx.a.x_f__mutmut_2": 0}
    with pytest.raises(ValueError, match=r"line 2 of the hand verdicts is 'approx.a.x_f__mutmut_1\\tdead\\tx'"):
        report.hand_verdicts("mutant\tverdict\tevidence\napprox.a.x_f__mutmut_1\tdead\tx\n")


def test_write_updates_the_rows_it_has_verdicts_for_and_sums_the_core_again(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "REPO", tmp_path)
    _meta(tmp_path / "mutants", {"approx.losses.x_f__mutmut_1": 1, "approx.losses.x_f__mutmut_2": 0})
    table = tmp_path / "mutation.csv"
    table.write_text("module,mutants,killed,survived,timeout,equivalent,not_checked,score\n"
                     "approx/losses.py,9,0,0,0,0,9,nan\napprox/optim.py,10,9,1,0,0,0,0.9\ncore,19,9,1,0,0,9,0.9\n")
    rows = report.write(table, ["approx/losses.py"])
    assert [(r["module"], int(r["mutants"]), int(r["killed"])) for r in rows] == [
        ("approx/losses.py", 2, 1), ("approx/optim.py", 10, 9), ("core", 12, 10)]
    assert rows[-1]["score"] == round(10 / 12, 4)
    # negative control: the optim row, which no verdict covers, is the CSV's own
    assert table.read_text().splitlines()[2] == "approx/optim.py,10,9,1,0,0,0,0.9"
