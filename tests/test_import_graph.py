"""The import graph the tree promises (approx/run/__init__.py; README, "How the code is laid out").

- approx/run (the runner infrastructure) imports none of the maths: of approx, only approx.run,
  approx.device and approx.files;
- nothing else in approx imports approx/run, except approx/__main__.py (``python -m approx``);
- importing approx.network imports no module that runs subprocesses (git and nvidia-smi are
  called by approx/run/provenance.py, on the runner's side).

The graph is read from the source with ast, so every import counts, also those inside functions,
and nothing is imported to check it.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "approx"
RUNNER = "approx.run"
RUNNER_MAY_IMPORT = {"approx.run", "approx.device", "approx.files"}
ENTRY_POINTS = {"approx.__main__"}  # the command line's entry: the one maths-side module that starts the runner


def module_name(path: Path) -> str:
    """approx/run/cli.py -> approx.run.cli; approx/run/__init__.py -> approx.run."""
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of what ``source`` (the text of ``module``) imports, at any depth.

    ``from X import a`` imports X (and ``a`` is a name or a submodule inside it); only for the
    top package, ``from approx import a`` / ``from .. import a``, is the name itself the target,
    since importing bare ``approx`` is not what such a line is about."""
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            if base == "approx":
                names.update(f"approx.{alias.name}" for alias in node.names)
            else:
                names.add(base)
    return names


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """{module: the names it imports} for every .py file under approx/."""
    return {module_name(path): imported_names(path.read_text(), module_name(path), path.name == "__init__.py")
            for path in sorted(package_dir.rglob("*.py"))}


def _unit(name: str) -> str:
    """The top-level part of approx a name belongs to: approx.run.cli -> approx.run."""
    return ".".join(name.split(".")[:2])


def _is_approx(name: str) -> bool:
    return name == "approx" or name.startswith("approx.")


def layout_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that crosses the line between the maths and the runner the wrong way."""
    found = []
    for module, names in sorted(graph.items()):
        for name in sorted(filter(_is_approx, names)):
            if _unit(module) == RUNNER and _unit(name) not in RUNNER_MAY_IMPORT:
                found.append(f"{module} imports {name}: the runner imports no maths")
            if _unit(module) != RUNNER and module not in ENTRY_POINTS and _unit(name) == RUNNER:
                found.append(f"{module} imports {name}: the maths imports nothing from the runner")
    return found


def loaded_with(start: str, graph: dict[str, set[str]]) -> set[str]:
    """The modules of ``graph`` that importing ``start`` loads: what it imports, what those import,
    and every enclosing package (importing approx.run.x runs approx/__init__.py first)."""
    def modules_of(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & graph.keys()

    seen, todo = set(), [start]
    while todo:
        for module in modules_of(todo.pop()) - seen:
            seen.add(module)
            todo.extend(filter(_is_approx, graph[module]))
    return seen


def running_subprocesses(start: str, graph: dict[str, set[str]]) -> list[str]:
    """The modules loaded with ``start`` that import subprocess."""
    return sorted(m for m in loaded_with(start, graph) if "subprocess" in graph[m])


def test_the_runner_and_the_maths_meet_only_in_device_and_files():
    graph = import_graph()
    assert {"approx.network", "approx.run.cli", "approx.run.runner", "approx.run.provenance"} <= graph.keys()
    assert layout_violations(graph) == []


def test_the_layout_check_flags_an_import_across_the_line():
    # negative controls: the real graph plus one synthetic line each way, written as the source
    # would write it, so the relative-import resolution is exercised too
    graph = import_graph()
    runner_to_maths = dict(graph, **{"approx.run.runner": graph["approx.run.runner"] | imported_names(
        "from ..network import Network\n", "approx.run.runner", is_package=False)})
    assert layout_violations(runner_to_maths) == [
        "approx.run.runner imports approx.network: the runner imports no maths"]
    lazy = imported_names("def f():\n    from .. import autograd\n", "approx.run", is_package=True)
    assert layout_violations(dict(graph, **{"approx.run": lazy})) == [
        "approx.run imports approx.autograd: the runner imports no maths"]
    bare = imported_names("import approx\n", "approx.run.cli", is_package=False)
    assert layout_violations(dict(graph, **{"approx.run.cli": bare})) == [
        "approx.run.cli imports approx: the runner imports no maths"]
    maths_to_runner = imported_names("from .run.store import PointStore\n", "approx.network", is_package=False)
    assert layout_violations(dict(graph, **{"approx.network": maths_to_runner})) == [
        "approx.network imports approx.run.store: the maths imports nothing from the runner"]
    # and the allowed ones stay allowed: the runner's own modules, device and files
    allowed = imported_names("from . import catalog\nfrom ..device import seed_everything\nfrom ..files import "
                             "write_atomic\nimport torch\n", "approx.run.runner", is_package=False)
    assert allowed == {"approx.run", "approx.device", "approx.files", "torch"}
    assert layout_violations(dict(graph, **{"approx.run.runner": allowed})) == []


def test_importing_network_runs_no_subprocess():
    graph = import_graph()
    loaded = loaded_with("approx.network", graph)
    # the walk goes through packages and modules: approx/__init__.py, device, the engines
    assert {"approx", "approx.network", "approx.device", "approx.backprop", "approx.autograd"} <= loaded
    assert running_subprocesses("approx.network", graph) == []
    # negative controls: the runner's side does reach provenance, and device importing it again
    # (as before provenance moved out) would be found
    assert running_subprocesses("approx.run.runner", graph) == ["approx.run.provenance"]
    graph["approx.device"] = graph["approx.device"] | {"subprocess"}
    assert "approx.device" in running_subprocesses("approx.network", graph)
