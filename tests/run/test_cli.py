"""The `approx` command line: listing, running, every error path, outputs, progress; and
``python -m experiments.NAME [options]``, which runs exactly as ``approx run NAME [options]``
(approx.run.cli.main_for_module)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from approx.run.cli import main, main_for_module
from runner_support import PACKAGE, REPO, cli_env, one_line_error, run_cli, snapshot, use_fixture_experiments


pytestmark = pytest.mark.usefixtures("fixture_experiments")


def test_list_shows_experiments_with_their_summary_without_importing_them(capsys):
    for name in [m for m in sys.modules if m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["counting", "single"]  # not _helpers, not notes
    assert lines[0].split(None, 1)[1] == ("A sweep that counts its own computations "
                                           "(runner tests: resume, executors, repeatability).")
    assert not [m for m in sys.modules if m.startswith(PACKAGE + ".")]  # read with ast, not imported


ERRORS = [
    (["run", "nope"], ["unknown experiment 'nope'", "allowed: counting, single"]),
    (["run", "counting", "--preset", "huge"], ["unknown preset 'huge'", "allowed: smoke, default, full"]),
    (["run", "single", "--preset", "full"], ["unknown preset 'full'", "allowed: smoke, default"]),
    (["run", "counting", "--set", "widht=3"], ["unknown key 'widht'", "sizes, n_samples"]),
    (["run", "counting", "--set", "n_samples=ten"], ["'ten'", "n_samples (int)", "expected an integer"]),
    (["run", "counting", "--set", "n_samples=2.5"], ["'2.5'", "expected an integer"]),
    (["run", "counting", "--set", "sizes=1,x"], ["'1,x'", "sizes (tuple[int, ...])"]),
    (["run", "counting", "--set", "sleep_s=slow"], ["'slow'", "sleep_s (float)", "expected a number"]),
    (["run", "counting", "--set", "sizes"], ["--set expects key=value", "'sizes'"]),
    (["run", "counting", "--set", "sizes=0,1"], ["invalid configuration for counting", "sizes must be >= 1"]),
    (["run", "single", "--set", "flag=yes"], ["'yes'", "flag (bool)", "true/false/1/0"]),
    (["run", "single", "--set", "mode=medium"], ["'medium'", "expected one of fast, slow"]),
    (["run", "single", "--set", "pair=1"], ["'1'", "expected 2 comma-separated values"]),
    (["run", "single", "--set", "limit=many"], ["'many'", "limit", "expected an integer"]),
    (["run", "single", "--set", "n=0"], ["invalid configuration for single", "n must be >= 1, got 0"]),
    (["run", "counting", "--device", "tpu"], ["unknown device 'tpu'", "allowed: auto, cpu, cuda"]),
    (["run", "counting", "--seed", "x"], ["--seed", "invalid int value: 'x'"]),
    (["run", "counting", "--executor", "threads"], ["unknown executor 'threads'", "processes:N", "dask://HOST:PORT"]),
    (["run", "counting", "--executor", "processes:0"], ["'processes:0'", "N >= 1"]),
    (["run", "counting", "--executor", "dask"], ["needs a scheduler address", "APPROX_DASK_ADDRESS"]),
    (["run", "counting", "--plot-only"], ["no result file", "counting.csv"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'", "list", "reproduce"]),
    ([], ["missing command", "allowed: list, run, reproduce, gallery, bench"]),
    (["run"], ["the following arguments are required: name"]),
    (["bench"], ["unknown experiment 'benchmark'"]),  # bench is `run benchmark`; no such fixture
]


@pytest.mark.parametrize("argv,expected", ERRORS, ids=[" ".join(a) or "(none)" for a, _ in ERRORS])
def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.delenv("APPROX_DASK_ADDRESS", raising=False)
    out = tmp_path / "out"
    extra = ["--out", str(out)] if argv[:1] == ["run"] and len(argv) > 1 else []
    line = one_line_error(capsys, argv + extra)
    for fragment in expected:
        assert fragment in line
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--device", "cuda"], ["--set", "device=cuda"], ["--device", "cuda:0"]])
def test_cuda_without_cuda_is_one_line_exit_2(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # this machine has none anyway
    line = one_line_error(capsys, ["run", "single", *argv, "--out", str(tmp_path / "out")])
    assert "CUDA is not available" in line and "allowed here: auto, cpu" in line
    assert not (tmp_path / "out").exists()


def test_python_dash_m_approx_fails_in_one_line_without_traceback():
    unknown = run_cli("run", "nope")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == "approx: unknown experiment 'nope'; allowed: counting, single\n"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_unpatched(capsys, tmp_path):
    line = one_line_error(capsys, ["run", "counting", "--device", "cuda", "--out", str(tmp_path / "out")])
    assert "CUDA is not available" in line
    assert not (tmp_path / "out").exists()


def test_unknown_experiments_package_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("APPROX_EXPERIMENTS", "no_such_package_here")
    line = one_line_error(capsys, ["list"])
    assert "cannot import the experiments package 'no_such_package_here'" in line


def test_run_writes_csv_figures_record_and_gallery(tmp_path):
    out = tmp_path / "res"
    argv = ["run", "counting", "--preset", "smoke", "--seed", "3", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".points", "README.md", "counting.csv", "counting.json", "counting.pdf", "counting.png"]
    record = json.loads((out / "counting.json").read_text())
    assert record["experiment"] == "counting" and record["preset"] == "smoke" and record["seed"] == 3
    assert record["config"]["sizes"] == [1, 2, 3] and record["config"]["seed"] == 3
    assert record["command"] == "approx run counting --preset smoke --seed 3"
    assert record["argv"] == ["approx", *argv]
    assert record["n_rows"] == 24 and record["n_points"] == 3
    env = record["environment"]
    for key in ("torch", "numpy", "python", "device", "device_name", "torch_threads", "tf32",
                "git_commit", "git_dirty", "versions"):
        assert key in env
    assert env["device"] == "cpu" and env["tf32"] is False
    assert record["started_utc"].endswith("+00:00") and record["wall_time_s"] > 0
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_flags_and_set_reach_the_config_with_their_types(tmp_path):
    out = tmp_path / "res"
    assert main(["run", "single", "--quiet", "--out", str(out), "--seed", "7", "--device", "cpu",
                 "--set", "widths=3,5", "--set", "rates=0.1,2e-3", "--set", "names=p,q",
                 "--set", "pair=2,0.5", "--set", "limit=none", "--set", "note=hi", "--set", "mode=slow",
                 "--set", "flag=1", "--set", "scale=1e-1", "--set", "n=1e1", "--set", "label=b"]) == 0
    config = json.loads((out / "single-b.json").read_text())["config"]  # output_name(cfg) = single-LABEL
    assert config == {"n": 10, "scale": 0.1, "flag": True, "label": "b", "widths": [3, 5],
                      "rates": [0.1, 0.002], "names": ["p", "q"], "pair": [2, 0.5], "limit": None,
                      "note": "hi", "mode": "slow", "tf32": False, "seed": 7, "device": "cpu"}
    assert (out / "single-b.csv").read_text().splitlines()[1].startswith(f"3,{0.1 * 3 * 10!r},False,")


def test_tf32_setting_is_applied_inside_run_and_restored(tmp_path):
    before = torch.backends.cuda.matmul.allow_tf32
    assert main(["run", "single", "--quiet", "--out", str(tmp_path), "--set", "tf32=true"]) == 0
    assert (tmp_path / "single-a.csv").read_text().splitlines()[1].split(",")[2] == "True"
    assert json.loads((tmp_path / "single-a.json").read_text())["environment"]["tf32"] is True
    assert torch.backends.cuda.matmul.allow_tf32 == before
    assert main(["run", "single", "--quiet", "--out", str(tmp_path)]) == 0  # negative control
    assert (tmp_path / "single-a.csv").read_text().splitlines()[1].split(",")[2] == "False"


def test_same_seeded_command_twice_gives_identical_csv_bytes(tmp_path):
    # once in this process, once in a fresh `python -m approx`: nothing may depend on process state
    for name in ("counting", "single"):
        assert main(["run", name, "--preset", "smoke", "--seed", "5", "--quiet", "--out", str(tmp_path / "a")]) == 0
    done = run_cli("run", "counting", "--preset", "smoke", "--seed", "5", "--quiet", "--out", str(tmp_path / "b"))
    assert (done.returncode, done.stdout) == (0, ""), done.stderr  # `python -m approx` is the CLI
    assert main(["run", "single", "--preset", "smoke", "--seed", "5", "--quiet", "--out", str(tmp_path / "b")]) == 0
    for stem in ("counting", "single-a"):
        assert (tmp_path / "a" / f"{stem}.csv").read_bytes() == (tmp_path / "b" / f"{stem}.csv").read_bytes()
    assert main(["run", "counting", "--preset", "smoke", "--seed", "6", "--quiet", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "counting.csv").read_bytes() != (tmp_path / "a" / "counting.csv").read_bytes()


def test_plot_only_redraws_the_same_figure_from_the_csv(tmp_path, capsys):
    assert main(["run", "counting", "--preset", "smoke", "--quiet", "--out", str(tmp_path)]) == 0
    png, csv = (tmp_path / "counting.png").read_bytes(), (tmp_path / "counting.csv").read_bytes()
    (tmp_path / "counting.png").unlink()
    (tmp_path / "counting.pdf").unlink()
    (tmp_path / "README.md").unlink()
    assert main(["run", "counting", "--preset", "smoke", "--plot-only", "--out", str(tmp_path)]) == 0
    assert "redrew" in capsys.readouterr().out
    assert (tmp_path / "counting.png").read_bytes() == png  # plotted from the CSV both times
    assert (tmp_path / "counting.csv").read_bytes() == csv
    assert (tmp_path / "counting.pdf").exists() and "## counting" in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize("damage", ["truncate", "edit", "garbage_record"])
def test_plot_only_with_a_corrupt_result_is_one_line_and_changes_nothing(tmp_path, capsys, damage):
    assert main(["run", "counting", "--preset", "smoke", "--quiet", "--out", str(tmp_path)]) == 0
    csv, record = tmp_path / "counting.csv", tmp_path / "counting.json"
    if damage == "truncate":
        csv.write_bytes(csv.read_bytes()[: len(csv.read_bytes()) // 2])
    elif damage == "edit":
        csv.write_text(csv.read_text().replace("s1-0", "s9-9"))
    else:
        record.write_text("{not json")
    before = snapshot(tmp_path)
    line = one_line_error(capsys, ["run", "counting", "--preset", "smoke", "--plot-only", "--out", str(tmp_path)])
    assert "corrupt result" in line and ("counting.csv" in line or "counting.json" in line)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("tty,quiet,shown", [(True, False, True), (True, True, False), (False, False, False)])
def test_progress_bar_only_on_a_terminal_and_not_with_quiet(tmp_path, capsys, monkeypatch, tty, quiet, shown):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert main(["run", "counting", "--preset", "smoke", "--out", str(tmp_path)] + ["--quiet"] * quiet) == 0
    captured = capsys.readouterr()
    assert ("3/3" in captured.err) == shown
    assert (captured.out != "") == (not quiet)  # the summary line, unless --quiet


def test_every_real_experiment_reports_bad_input_in_one_line(tmp_path):
    # the real package, in a fresh interpreter, so that anything its imports print to stderr
    # (library warnings included) would show up here as an extra line
    script = ("import sys; from approx.run.catalog import experiment_names; from approx.run.cli import main\n"
              "names = experiment_names('experiments')\n"
              "print(' '.join(names))\n"
              "for name in names:\n"
              "    sys.stderr.write(f'{name}: ') ; sys.stderr.flush()\n"
              f"    assert main(['run', name, '--set', 'no_such_key=1', '--out', {str(tmp_path / 'o')!r}]) == 2\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=cli_env(APPROX_EXPERIMENTS="experiments"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    lines = done.stderr.splitlines()
    assert len(lines) == len(names) > 0, done.stderr
    for name, line in zip(names, lines):
        assert line.startswith(f"{name}: approx: unknown key 'no_such_key' for {name}; allowed: "), line
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------- python -m experiments.NAME
def _module_env() -> dict[str, str]:
    # the real experiments on the path, and APPROX_EXPERIMENTS pointing elsewhere: the module's
    # own package must win, as `python -m` names it
    return cli_env(APPROX_EXPERIMENTS="fixture_experiments")


def test_python_dash_m_writes_what_approx_run_writes(tmp_path, monkeypatch):
    options = ["--preset", "smoke", "--device", "cpu", "--quiet"]
    done = subprocess.run([sys.executable, "-m", "experiments.gradcheck", *options, "--out", str(tmp_path / "m")],
                          cwd=REPO, env=_module_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("APPROX_EXPERIMENTS", "experiments")
    assert main(["run", "gradcheck", *options, "--out", str(tmp_path / "a")]) == 0
    written = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"gradcheck.csv", "gradcheck.json", "gradcheck.png", "gradcheck.pdf", "README.md"} <= written
    # the same seeded computation on the same machine and torch build: the same bytes
    assert (tmp_path / "m" / "gradcheck.csv").read_bytes() == (tmp_path / "a" / "gradcheck.csv").read_bytes()


def test_python_dash_m_with_a_bad_option_is_one_line_exit_2(tmp_path):
    out = tmp_path / "m"
    done = subprocess.run([sys.executable, "-m", "experiments.gradcheck", "--set", "seed=-1", "--out", str(out)],
                          cwd=REPO, env=_module_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["approx: invalid configuration for gradcheck: seed must be an integer in "
                                        "[0, 2**32 - 1] = [0, 4294967295], got -1"]
    assert not out.exists()


def test_main_for_module_takes_the_package_from_the_module_name_and_restores_the_environment(
        tmp_path, monkeypatch, capsys):
    use_fixture_experiments(monkeypatch)  # puts tests/ on sys.path
    monkeypatch.setenv("APPROX_EXPERIMENTS", "experiments")  # a package without `single`
    assert main_for_module("fixture_experiments.single", ["--preset", "smoke", "--quiet", "--out",
                                                          str(tmp_path)]) == 0
    assert (tmp_path / "single-a.csv").exists()
    assert os.environ["APPROX_EXPERIMENTS"] == "experiments"
    # negative control: the same name under `approx run` looks in APPROX_EXPERIMENTS and fails
    assert main(["run", "single", "--out", str(tmp_path / "x")]) == 2
    assert "unknown experiment 'single'" in capsys.readouterr().err
    assert not Path(tmp_path / "x").exists()


def test_a_package_s_main_stands_for_the_package(tmp_path, monkeypatch):
    # python -m PACKAGE.NAME runs PACKAGE/NAME/__main__.py, whose __spec__.name is PACKAGE.NAME.__main__
    use_fixture_experiments(monkeypatch)
    monkeypatch.setenv("APPROX_EXPERIMENTS", "experiments")
    assert main_for_module("fixture_experiments.single.__main__", ["--preset", "smoke", "--quiet", "--out",
                                                                   str(tmp_path)]) == 0
    assert (tmp_path / "single-a.csv").exists()
    # negative control: only a trailing __main__ is dropped; a study named main_x is looked up as such
    assert main_for_module("fixture_experiments.single.main_x", ["--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
