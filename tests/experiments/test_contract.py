"""experiments/__init__.py, the contract every study follows.

Every field of every experiment's Config is checked in ``__post_init__`` (approx.checks), so a
bad value costs no work: the CLI prints one line, exits with 2 and writes nothing.

The walk below feeds each field values that no field may take (by the field's type: a negative or
absurdly large integer, a bool for a number, nan and inf, an unknown name, a tuple holding such a
value), so a field added without a check fails here. Its negative control: every preset builds.

Every study that is a package has the same named parts, and nothing in it imports back up:
config.py imports no sibling, and no part imports the package's ``__init__.py`` (the cycle the
old _depth_separation_parts.py had). Read with ast, nothing imported.

Every experiment module ends with the ``__main__`` guard (a study that is a package, in its
``__main__.py``), so that ``python -m experiments.NAME`` runs as ``approx run NAME``.
"""
from __future__ import annotations

import ast
import dataclasses
import math
import re
import typing
from pathlib import Path

import pytest

from approx.run import catalog, configs
from approx.run.cli import main
from runner_support import REPO

NAMES = catalog.experiment_names("experiments")
ABSURD = 10**15  # above every size limit (experiments/_limits.py) and every seed


def _module(name: str):
    return catalog.load_experiment(name, "experiments")


def _bad_values(tp) -> list:
    """Values of the field's type that no field of that type accepts."""
    if tp is bool:
        return [1, "yes", None]
    if tp is int:
        return [-1, ABSURD, True, 2.5, "3", None]
    if tp is float:
        return [math.nan, math.inf, -math.inf, True, "0.1", None]
    if tp is str:
        return ["no-such-value", 3, None]
    if typing.get_origin(tp) is tuple:
        (inner, _) = typing.get_args(tp)
        return ["2,4"] + [(v,) for v in _bad_values(inner)]
    raise AssertionError(f"no bad values for a field of type {configs.type_name(tp)}: add them here")


# every key --set takes: a group's fields by their dotted keys (radial.dims), checked by the group
CASES = [(name, field, tp) for name in NAMES
         for field, tp in configs.settable_keys(_module(name).Config).items()]
GROUPS = [(name, field, tp) for name in NAMES
          for field, tp in configs.field_types(_module(name).Config).items() if configs.is_group(tp)]


def test_every_experiment_is_walked():
    assert len(NAMES) >= 9 and {"universal", "barron", "ensembles", "benchmark"} <= set(NAMES)
    assert any("." in field for _, field, _ in CASES) and GROUPS  # groups' fields are walked too


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_passes_its_checks(name):  # the negative control of the walk below
    module = _module(name)
    for preset in configs.PRESET_NAMES:
        if preset in module.PRESETS:
            module.Config(**module.PRESETS[preset])


@pytest.mark.parametrize("name,field,tp", CASES, ids=[f"{n}.{f}" for n, f, _ in CASES])
def test_every_field_refuses_bad_values(name, field, tp):
    module = _module(name)
    base = module.Config(**module.PRESETS["smoke"])
    for bad in _bad_values(tp):
        with pytest.raises(ValueError, match=rf"\b{re.escape(field)}\b") as caught:
            configs.replace_key(base, field, bad)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name,field,tp", GROUPS, ids=[f"{n}.{f}" for n, f, _ in GROUPS])
def test_every_group_refuses_anything_but_itself(name, field, tp):
    module = _module(name)
    base = module.Config(**module.PRESETS["smoke"])
    for bad in (None, {}, dataclasses.asdict(getattr(base, field))):  # a dict of its very fields, too
        with pytest.raises(ValueError, match=rf"^{re.escape(field)} must be {tp.__name__}\(\.\.\.\)"):
            dataclasses.replace(base, **{field: bad})
    dataclasses.replace(base, **{field: tp()})  # control: the group itself, with its defaults


# ---------------------------------------------------------------------- through the command line
def _refused(capsys, tmp_path, name: str, *options: str) -> str:
    """Run ``approx run NAME OPTIONS --out tmp_path/out``; assert exit 2, one line on stderr and
    nothing written; return the line."""
    out = tmp_path / "out"
    rc = main(["run", name, "--preset", "smoke", "--device", "cpu", "--quiet", "--out", str(out), *options])
    captured = capsys.readouterr()
    assert rc == 2, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"approx: invalid configuration for {name}: "), captured.err
    assert not out.exists() or not any(out.iterdir())
    return lines[0]


BAD_INPUTS = [
    *[(name, ["--set", f"lr={lr}"], f"lr must be a finite number > 0, got {lr}")
      for name in ("universal", "barron", "ensembles") for lr in ("0.0", "-0.1", "nan", "inf")],
    ("universal", ["--set", "targets="], "targets needs at least one of 1-D target names (sin1, sin2, ..., "
                                         "gaussian, square, abs, triangle, step, weierstrass), got ()"),
    ("barron", ["--set", "families="], "families needs at least one of ridge_nd, gaussian_nd, ball_nd, got ()"),
    ("gradcheck", ["--seed", str(2**70)], f"seed must be an integer in [0, 2**32 - 1] = [0, 4294967295], "
                                          f"got {2**70}"),
    ("universal", ["--seed", "-1"], "seed must be an integer in [0, 2**32 - 1]"),
    ("universal", ["--set", "widths=1000000000"], "every entry of widths must be an integer in [2, 65536], "
                                                   "got 1000000000"),
    ("barron", ["--set", "n_train=1e12"], "n_train must be an integer in [1, 4194304], got 1000000000000"),
    ("ensembles", ["--set", "n_points=4194304", "--set", "width=65536"],
     "the largest ensemble's hidden activation would be max(ensemble_sizes) 16 x n_points 4194304 x width 65536"),
    ("depth_separation", ["--set", "steps=1e9"], "steps must be an integer in [1, 10000000], got 1000000000"),
    ("depth_separation", ["--set", "radial.dims=2,0"], "every entry of radial.dims must be an integer in [1, 4096], got 0"),
    ("depth_separation", ["--set", "sawtooth.ks=16", "--set", "sawtooth.points_per_piece=1000"],
     "the training grid of sawtooth would be sawtooth.points_per_piece 1000 x 2^max(sawtooth.ks) 65536"),
    ("overparam", ["--set", "seeds=100000"], "seeds must be an integer in [1, 1000], got 100000"),
    ("universal", ["--set", "widths=2,4", "--set", "trained_widths=4"],
     "widths needs at least two widths >= 8 (FIT_MIN_WIDTH: rates are fitted there), got (2, 4)"),
    ("universal", ["--set", "widths=2,8,16"],
     "trained_widths must be among widths (2, 8, 16) (trained networks are compared with the constructions"),
    ("overparam", ["--set", "n_interp=1"], "n_interp must be an integer in [2, 16384], got 1"),
    ("double_descent", ["--set", "features=4"], "features must hold some N below n = 16 and some above it"),
    ("backprop_cost", ["--set", "tensor_widths=8,8"], "tensor_widths must not repeat a value, got 8 twice"),
    ("gradcheck", ["--set", "trajectory_sizes=2,8,1"], "trajectory_sizes must start and end with 1"),
    ("benchmark", ["--set", "thread_counts="], "thread_counts needs at least one of thread counts"),
]


@pytest.mark.parametrize("name,options,expected", BAD_INPUTS,
                         ids=[f"{n} {' '.join(o)}" for n, o, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, monkeypatch, name, options, expected):
    monkeypatch.setenv("APPROX_EXPERIMENTS", "experiments")
    assert expected in _refused(capsys, tmp_path, name, *options)


GOOD_NEIGHBOURS = [  # negative controls: the nearest good values build a Config (nothing runs)
    ("universal", {"lr": 1e-6, "widths": (2, 4, 8, 16), "seed": 2**32 - 1}),
    ("barron", {"lr": 10.0, "families": ("ball_nd",)}),
    ("ensembles", {"lr": 1e-3, "n_points": 4096, "width": 4096}),
    ("double_descent", {"features": (4, 400)}),
    ("depth_separation", {"radial.dims": (2, 4096), "sawtooth.max_width": 4, "sawtooth.ks": (16,),
                          "sawtooth.points_per_piece": 64}),  # applied in this order, each step valid
    ("backprop_cost", {"tensor_widths": (8, 16)}),
    ("gradcheck", {"trajectory_sizes": (1, 8, 1), "seed": 0}),
    ("benchmark", {"thread_counts": ("all",)}),
]


@pytest.mark.parametrize("name,fields", GOOD_NEIGHBOURS, ids=[n for n, _ in GOOD_NEIGHBOURS])
def test_the_nearest_good_values_pass(name, fields):
    module = _module(name)
    cfg = module.Config(**module.PRESETS["smoke"])
    for key, value in fields.items():
        cfg = configs.replace_key(cfg, key, value)


def test_a_good_command_line_runs_and_writes(capsys, tmp_path, monkeypatch):
    # the command-line negative control: the same path as the refusals, with good values
    monkeypatch.setenv("APPROX_EXPERIMENTS", "experiments")
    out = tmp_path / "out"
    assert main(["run", "universal", "--preset", "smoke", "--device", "cpu", "--quiet", "--out", str(out),
                 "--seed", str(2**32 - 1), "--set", "lr=0.05", "--set", "widths=4,8,16", "--set", "trained_widths=4",
                 "--set", "activations=relu", "--set", "targets=sin1"]) == 0
    assert {"universal.csv", "universal.json", "universal.png"} <= {p.name for p in out.iterdir()}


# ---------------------------------------------------------------------- package studies
EXPERIMENTS = REPO / "experiments"
PARTS_EVERY_PACKAGE_HAS = {"__init__.py", "__main__.py", "config.py", "figure.py", "text.py"}


def _packages() -> list[Path]:
    return [EXPERIMENTS / name for name in catalog.experiment_names("experiments") if (EXPERIMENTS / name).is_dir()]


def _relative_imports(source: str) -> set[str]:
    """What a part imports from its own package: the module of ``from .x import y``, each name of
    ``from . import a, b`` (a sibling module, or else a name from the package's __init__.py).
    ``from .. import`` (the shared helpers) is not counted."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def _imports_back_up(source: str, siblings: set[str]) -> bool:
    """Does the part import a name from its package's __init__ rather than from a sibling?"""
    return bool(_relative_imports(source) - siblings)


def test_every_package_study_has_the_named_parts():
    packages = _packages()
    assert {p.name for p in packages} >= {"depth_separation", "universal", "overparam", "double_descent",
                                          "benchmark"}
    for package in packages:
        assert PARTS_EVERY_PACKAGE_HAS <= {p.name for p in package.glob("*.py")}, package.name
    # the old helpers beside the modules are gone
    assert not list(EXPERIMENTS.glob("_*_plot.py")) and not list(EXPERIMENTS.glob("_depth_separation_*.py"))


def test_nothing_imports_back_up():
    for package in _packages():
        siblings = {p.stem for p in package.glob("*.py")} - {"__init__", "__main__"}
        for part in package.glob("*.py"):
            if part.name in ("__init__.py", "__main__.py"):
                continue
            source = part.read_text()
            assert not _imports_back_up(source, siblings), f"{package.name}/{part.name}"
            if part.name == "config.py":
                assert not _relative_imports(source), f"{package.name}/config.py imports a sibling"
    # negative controls: the old cycle and a config importing its figure are caught
    assert _imports_back_up("from __future__ import annotations\nfrom . import Config\n", {"config", "figure"})
    assert _imports_back_up("from .depth_separation import Config\n", {"config", "figure"})
    assert not _imports_back_up("from .config import Config\nfrom . import analysis\n", {"config", "analysis"})
    assert _relative_imports("from .figure import plot\n") == {"figure"}


# ---------------------------------------------------------------------- python -m experiments.NAME
GUARD = "main_for_module(__spec__.name)"


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
