"""The runner's pieces: planning, the store's life; and resume after a real kill: a `python -m approx
run` process SIGKILLed mid-sweep keeps its finished points, and `--resume` computes only the rest,
ending with the CSV of an uninterrupted run, byte for byte.

Forged or pathological state in OUT is refused with one line naming it, before any work: a stored
point whose frame was edited, JSON nested 200,000 levels deep (a point, or the record), and
--plot-only over a CSV that another configuration made."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from approx.run.cli import main
from approx.run.runner import Request, RunInterrupted, UsageError, execute, plan_run
from approx.run.store import PointStore, StoreError
from runner_support import REPO, cli_command, cli_env, log_events, snapshot, wait_for


pytestmark = pytest.mark.usefixtures("fixture_experiments")


def _request(tmp_path: Path, **kwargs) -> Request:
    return Request("counting", "smoke", out=tmp_path, quiet=True, **kwargs)


def test_plan_validates_without_writing_and_keys_points_in_order(tmp_path):
    plan = plan_run(_request(tmp_path / "o"))
    assert [point for _, point in plan.units] == [{"size": 1}, {"size": 2}, {"size": 3}]
    assert len({key for key, _ in plan.units}) == 3
    assert not (tmp_path / "o").exists()


def test_a_sweep_that_repeats_a_point_is_reported(tmp_path, monkeypatch):
    import fixture_experiments.counting as counting

    monkeypatch.setattr(counting, "points", lambda cfg: [{"size": 1}, {"size": 1}])
    with pytest.raises(UsageError, match="returned the same point twice"):
        plan_run(_request(tmp_path))


def test_fresh_run_clears_stale_points_and_resume_reuses_stored_ones(tmp_path):
    log = tmp_path / "log.txt"
    first = execute(plan_run(_request(tmp_path, assignments=(f"log_path={log}",))))
    assert (first.n_points, first.n_resumed) == (3, 0)
    store = tmp_path / ".points" / "counting"
    stale = store / "0123456789abcdef0123.json"
    stale.write_text("{}")
    again = execute(plan_run(_request(tmp_path, assignments=(f"log_path={log}",), resume=True)))
    assert (again.n_points, again.n_resumed) == (3, 3)
    assert stale.exists()  # --resume never deletes points it does not need
    record = json.loads((tmp_path / "counting.json").read_text())
    assert record["n_points_resumed"] == 3 and record["compute_s"] > 0  # compute time read from the store
    assert "3 of them resumed from an earlier run" in (tmp_path / "README.md").read_text()
    assert log.read_text().count("start") == 3  # nothing recomputed
    execute(plan_run(_request(tmp_path, assignments=(f"log_path={log}",))))
    assert not stale.exists() and len(list(store.glob("*.json"))) == 3
    assert log.read_text().count("start") == 6  # a fresh run recomputes everything


def test_a_non_sweep_experiment_is_one_stored_point(tmp_path):
    request = Request("single", out=tmp_path, quiet=True)
    csv = (tmp_path / "single-a.csv")
    execute(plan_run(request))
    first = csv.read_bytes()
    again = execute(plan_run(Request("single", out=tmp_path, quiet=True, resume=True)))
    assert (again.n_points, again.n_resumed) == (1, 1) and csv.read_bytes() == first


def test_a_corrupt_stored_point_with_resume_is_one_line_and_changes_nothing(tmp_path, capsys):
    assert main(["run", "counting", "--preset", "smoke", "--quiet", "--out", str(tmp_path)]) == 0
    victim = sorted((tmp_path / ".points" / "counting").glob("*.json"))[0]
    victim.write_text(victim.read_text()[:50])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["run", "counting", "--preset", "smoke", "--resume", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"corrupt stored point {victim}" in err
    assert "run without --resume" in err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_an_experiment_error_propagates_and_keeps_the_finished_points(tmp_path):
    request = _request(tmp_path, assignments=("fail_size=3",))
    with pytest.raises(RuntimeError, match="point size=3 failed on purpose"):
        execute(plan_run(request))
    assert len(list((tmp_path / ".points" / "counting").glob("*.json"))) == 2
    assert not (tmp_path / "counting.csv").exists()


def test_ctrl_c_stops_with_a_resume_hint_and_exit_130(tmp_path, capsys, monkeypatch):
    import fixture_experiments.counting as counting

    real = counting.run_point

    def interrupted_at_size_2(cfg, point):
        if point["size"] == 2:
            raise KeyboardInterrupt
        return real(cfg, point)

    monkeypatch.setattr(counting, "run_point", interrupted_at_size_2)
    assert main(["run", "counting", "--preset", "smoke", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "stopped after 1 of 3 points (interrupted)" in err and "--resume" in err
    monkeypatch.setattr(counting, "run_point", real)
    with pytest.raises(RunInterrupted):  # the API raises; only the CLI turns it into a status
        monkeypatch.setattr(counting, "run_point", interrupted_at_size_2)
        execute(plan_run(_request(tmp_path, resume=True)))


def test_rows_follow_points_order_not_completion_order(tmp_path, monkeypatch):
    import fixture_experiments.counting as counting

    monkeypatch.setattr(counting, "points", lambda cfg: [{"size": s} for s in (3, 1, 2)])
    execute(plan_run(_request(tmp_path)))
    sizes = pd.read_csv(tmp_path / "counting.csv")["size"]
    assert list(dict.fromkeys(sizes)) == [3, 1, 2]
    assert json.loads((tmp_path / "counting.json").read_text())["n_rows"] == len(sizes)


# ---------------------------------------------------------------------- resume after SIGKILL
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


# ---------------------------------------------------------------------- forged state
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


# another value of every field of the counting fixture's Config, as --set texts
_OTHER_VALUES = {"sizes": "1,2,3,4", "n_samples": "9", "sleep_s": "0.5", "log_path": "other.log",
                 "fail_size": "7", "seed": "3", "device": "auto"}


def test_the_resume_key_hashes_every_config_field(tmp_path):
    # a point is resumed only under the whole Config it was computed with: changing any one
    # field (device too) must change the key of the same point, or --resume would reuse it
    import dataclasses

    from fixture_experiments.counting import Config

    assert set(_OTHER_VALUES) == {f.name for f in dataclasses.fields(Config)}

    def plan_and_key(*assignments: str):
        plan = plan_run(_request(tmp_path / "o", assignments=assignments))
        return plan.cfg, next(key for key, point in plan.units if point == {"size": 1})

    base_cfg, base_key = plan_and_key()
    for name, text in _OTHER_VALUES.items():
        cfg, key = plan_and_key(f"{name}={text}")
        assert getattr(cfg, name) != getattr(base_cfg, name), name  # the one field changed
        assert key != base_key, f"the resume key ignores the Config field {name}"


def test_plan_takes_device_seed_and_executor_from_the_flags(tmp_path):
    """--device and --seed set the Config's fields (so they enter the resume key), a device the
    machine cannot give is refused at planning time, with or without a device field in the
    Config, and --executor is parsed into the plan."""
    plan = plan_run(_request(tmp_path, device="auto", seed=5, executor="processes:2"))
    assert (plan.cfg.device, plan.cfg.seed) == ("auto", 5)
    assert (plan.executor.kind, plan.executor.n_workers) == ("processes", 2)
    base = plan_run(_request(tmp_path))
    assert base.cfg.device == "cpu" and base.executor.kind == "inprocess"  # negative control: the defaults
    assert plan.units[0][0] != base.units[0][0]
    for request in (_request(tmp_path, device="tpu"), _request(tmp_path, assignments=("device=tpu",)),
                    Request("single", "smoke", out=tmp_path, quiet=True, device="tpu")):
        with pytest.raises(UsageError, match="tpu"):
            plan_run(request)


def test_plan_finds_the_experiment_in_the_package_asked_for(tmp_path, monkeypatch):
    """Request.package names the experiments package, over APPROX_EXPERIMENTS and the default."""
    monkeypatch.delenv("APPROX_EXPERIMENTS")
    plan = plan_run(_request(tmp_path, package="fixture_experiments"))
    assert plan.module.__name__ == "fixture_experiments.counting"
    with pytest.raises(UsageError, match="unknown experiment 'counting'"):  # negative control
        plan_run(_request(tmp_path))


def test_plan_names_the_experiment_in_config_errors(tmp_path):
    """A --set key the Config lacks is refused naming the experiment and the key."""
    with pytest.raises(UsageError, match="counting") as err:
        plan_run(_request(tmp_path, assignments=("no_such_field=1",)))
    assert "no_such_field" in str(err.value)


@pytest.mark.parametrize("name", [".hidden", "sub/dir", ""])
def test_an_output_name_that_is_no_plain_file_name_is_refused(tmp_path, monkeypatch, name):
    """An experiment's output_name must be a plain file name: no folder, not hidden, not empty."""
    import fixture_experiments.single as single

    plan_run(Request("single", "smoke", out=tmp_path, quiet=True))  # negative control: "single-a"
    monkeypatch.setattr(single, "output_name", lambda cfg: name)
    with pytest.raises(UsageError, match=f"^output name {name!r} of single is not a plain file name$"):
        plan_run(Request("single", "smoke", out=tmp_path, quiet=True))


def test_a_plot_only_plan_carries_the_command_and_no_work(tmp_path):
    """--plot-only plans no point and resumes none, with the config, output name and executor of
    the command, and the stored CSV's frame."""
    execute(plan_run(_request(tmp_path)))
    plan = plan_run(_request(tmp_path, plot_only=True))
    full = plan_run(_request(tmp_path))  # negative control: without --plot-only there is work
    assert plan.cfg == full.cfg and plan.output == full.output == "counting" and plan.executor == full.executor
    assert plan.units == [] and plan.stored == {} and len(full.units) == 3
    pd.testing.assert_frame_equal(plan.frame, pd.read_csv(tmp_path / "counting.csv"), check_dtype=False)


def test_the_resume_key_names_the_experiment(tmp_path):
    """A point's key covers the experiment's name with its Config and point (approx.run.store.point_key):
    two experiments with equal Configs never share stored points."""
    import dataclasses

    from approx.run.store import point_key

    plan = plan_run(_request(tmp_path))
    config = dataclasses.asdict(plan.cfg)
    assert [key for key, _ in plan.units] == [point_key("counting", config, p) for _, p in plan.units]
    assert point_key("other", config, plan.units[0][1]) != plan.units[0][0]  # negative control
