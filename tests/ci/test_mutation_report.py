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
