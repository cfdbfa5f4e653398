"""Finding and loading experiments: every public module (or subpackage) of the experiments package.

The package is ``experiments`` unless the environment variable APPROX_EXPERIMENTS names another
importable package (the tests point it at ``fixture_experiments``; a user can keep private
studies in their own package the same way); every function here also takes ``package=``.

A module counts as an experiment when its name does not start with "_" and it defines
``Config`` and ``run`` at top level (a study that is a package: in its ``__init__.py``, imported
there from its parts counts). Listing reads each module's source with ``ast`` (the first
paragraph of its docstring is the summary), so ``approx list`` imports nothing and works even while
one module is broken; ``load_experiment`` imports one module and checks the contract.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import os
import pkgutil
from pathlib import Path
from types import ModuleType

__all__ = ["EXPERIMENTS_ENV", "ORDER", "experiments_package", "experiment_names", "summary",
           "load_experiment", "is_sweep", "order_key"]

EXPERIMENTS_ENV = "APPROX_EXPERIMENTS"
DEFAULT_PACKAGE = "experiments"
# The order of `approx list`, `approx reproduce` and the gallery: from checking the machinery
# to the theorems it is used to demonstrate. Modules not named here follow alphabetically.
ORDER = ("gradcheck", "backprop_cost", "ensembles", "universal", "training_gap", "barron", "depth_separation",
         "sawtooth_basin", "sawtooth_success", "yarotsky", "overparam", "double_descent", "benchmark")


def experiments_package(package: str | None = None) -> str:
    return package or os.environ.get(EXPERIMENTS_ENV) or DEFAULT_PACKAGE


def order_key(name: str) -> tuple[int, str]:
    return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)


def _source_path(package: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(f"{package}.{name}")
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _parse(package: str, name: str) -> ast.Module | None:
    path = _source_path(package, name)
    if path is None:
        return None
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None


def experiment_names(package: str | None = None) -> list[str]:
    """Names of the experiments in the package, in ``ORDER`` (others alphabetically after)."""
    package = experiments_package(package)
    try:
        root = importlib.import_module(package)
    except ImportError as err:
        raise ValueError(f"cannot import the experiments package {package!r} ({err}); allowed: an "
                         f"importable package, set with {EXPERIMENTS_ENV}") from None
    names = []
    for info in pkgutil.iter_modules(getattr(root, "__path__", [])):
        if info.name.startswith("_"):
            continue
        tree = _parse(package, info.name)
        if tree is None or {"Config", "run"} <= _top_level_names(tree):
            names.append(info.name)
    return sorted(names, key=order_key)


def summary(name: str, package: str | None = None) -> str:
    """The module docstring's summary (its first paragraph, joined into one line), read
    without importing the module."""
    tree = _parse(experiments_package(package), name)
    doc = (ast.get_docstring(tree) if tree is not None else None) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def is_sweep(module: ModuleType) -> bool:
    return hasattr(module, "points") and hasattr(module, "run_point")


def load_experiment(name: str, package: str | None = None) -> ModuleType:
    """Import one experiment and check that it follows the contract (ValueError if unknown)."""
    package = experiments_package(package)
    names = experiment_names(package)
    if name not in names:
        raise ValueError(f"unknown experiment {name!r}; allowed: {', '.join(names) or '(none found)'}")
    module = importlib.import_module(f"{package}.{name}")
    missing = [attr for attr in ("Config", "run", "plot", "describe") if not hasattr(module, attr)]
    if hasattr(module, "points") != hasattr(module, "run_point"):
        missing.append("run_point" if hasattr(module, "points") else "points")
    if missing or not dataclasses.is_dataclass(module.Config):
        problem = f"missing {', '.join(missing)}" if missing else "Config is not a dataclass"
        raise ValueError(f"experiment {name!r} does not follow the contract in "
                         f"{package}/__init__.py: {problem}")
    return module
