"""``python -m experiments.NAME [options]`` runs exactly as ``approx run NAME [options]``
(approx.run.cli.main_for_module and the ``__main__`` guard at the end of every experiment module, or
in the ``__main__.py`` of a study that is a package)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from approx.run import catalog
from approx.run.cli import main, main_for_module
from runner_support import REPO, cli_env, use_fixture_experiments

GUARD = "main_for_module(__spec__.name)"


def _module_env() -> dict[str, str]:
    # the real experiments on the path, and APPROX_EXPERIMENTS pointing elsewhere: the module's
    # own package must win, as `python -m` names it
    return cli_env(APPROX_EXPERIMENTS="fixture_experiments")


def _has_guard(source: str) -> bool:
    """Does the module end with ``if __name__ == "__main__": ... main_for_module(__spec__.name)``?"""
    last = ast.parse(source).body[-1]
    return (isinstance(last, ast.If) and ast.unparse(last.test) in ('__name__ == "__main__"', "__name__ == '__main__'")
            and GUARD in ast.unparse(last))


def _guarded_source(name: str) -> Path:
    """Where experiment NAME keeps its guard: NAME.py, or a package's NAME/__main__.py."""
    package = REPO / "experiments" / name
    return package / "__main__.py" if package.is_dir() else REPO / "experiments" / f"{name}.py"


def test_every_experiment_module_ends_with_the_guard():
    names = catalog.experiment_names("experiments")
    assert len(names) >= 9
    assert any((REPO / "experiments" / name).is_dir() for name in names)  # packages are checked too
    for name in names:
        assert _has_guard(_guarded_source(name).read_text()), name
    # negative control: a module without it is caught
    assert not _has_guard('"""doc"""\n\ndef run(cfg):\n    return cfg\n')
    assert not _has_guard('if __name__ == "__main__":\n    pass\n')


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
