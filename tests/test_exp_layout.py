"""Every study that is a package has the same named parts, and nothing in it imports back up:
config.py imports no sibling, and no part imports the package's ``__init__.py`` (the cycle the
old _depth_separation_parts.py had). Read with ast, nothing imported."""
from __future__ import annotations

import ast
from pathlib import Path

from approx.run import catalog
from runner_support import REPO

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
