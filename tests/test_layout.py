"""The test tree mirrors the package, one test file per module, so a module's tests are found by
its path:

    tests/test_NAME.py                  approx/NAME.py
    tests/SUB/test_NAME.py              approx/SUB/NAME.py    (SUB: backprop, bench, constructions, run)
    tests/ci/test_NAME.py               .ci/NAME.py           (the dev tools of .ci/)
    tests/experiments/test_NAME.py      experiments/NAME.py, experiments/NAME/ or experiments/_NAME.py
    tests/experiments/test_NAME_PART.py experiments/NAME/PART.py (a part of a study that is a package)
    tests/[SUB/]test_NAME_properties.py the same module as test_NAME.py: its property-based tests
                                        (hypothesis), kept apart from the example-based ones

Only the files in WHOLE test the project as a whole. Test files share basenames across folders
(tests/constructions/test_universal.py, tests/experiments/test_universal.py), which pytest's
importlib mode allows; the configured pythonpath must still find this checkout's ``experiments``
package, not the namespace folder tests/experiments/.
"""
from __future__ import annotations

import importlib.machinery
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
WHOLE = {"test_import_graph.py", "test_layout.py", "test_portability.py", "test_readme.py",
         "experiments/test_contract.py"}
PROPERTIES = "_properties"  # test_NAME_properties.py: the property-based tests of NAME


def module_of(test: str, repo: Path = REPO) -> Path | None:
    """The module or study that the test file at ``test`` (relative to tests/) mirrors, or None."""
    *folders, name = Path(test).parts
    if not name.startswith("test_") or not name.endswith(".py") or len(folders) > 1:
        return None
    stem = name[len("test_"):-len(".py")]
    if folders != ["experiments"] and stem.endswith(PROPERTIES):
        stem = stem[:-len(PROPERTIES)]
    if folders == ["experiments"]:
        studies = repo / "experiments"
        for candidate in (studies / f"{stem}.py", studies / stem, studies / f"_{stem}.py"):
            if candidate.exists():
                return candidate
        for cut in range(1, len(stem)):  # test_NAME_PART.py: the study NAME may hold underscores
            study, part = stem[:cut], stem[cut + 1:]
            if stem[cut] == "_" and (studies / study / f"{part}.py").is_file():
                return studies / study / f"{part}.py"
        return None
    if folders == ["ci"]:
        tool = repo / ".ci" / f"{stem}.py"
        return tool if tool.is_file() else None
    module = repo.joinpath("approx", *folders, f"{stem}.py")
    return module if module.is_file() else None


def test_every_test_file_mirrors_a_module_or_a_study():
    tests = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                   if "fixture_experiments" not in p.parts)
    assert len(tests) >= 50
    assert [t for t in tests if t not in WHOLE and module_of(t) is None] == []
    assert WHOLE <= set(tests)  # the exceptions exist, so the list cannot go stale silently


def test_the_mirror_check_finds_a_misplaced_test_file():
    assert module_of("constructions/test_universal.py") == REPO / "approx" / "constructions" / "universal.py"
    assert module_of("backprop/test_rules_properties.py") == REPO / "approx" / "backprop" / "rules.py"
    assert module_of("test_pieces_properties.py") == REPO / "approx" / "pieces.py"
    assert module_of("experiments/test_universal.py") == REPO / "experiments" / "universal"
    assert module_of("experiments/test_shallow.py") == REPO / "experiments" / "_shallow.py"
    assert module_of("ci/test_mutation_report.py") == REPO / ".ci" / "mutation_report.py"
    assert module_of("ci/test_nope.py") is None  # negative control: a dev tool that does not exist
    assert module_of("experiments/test_depth_separation_parts.py") == (REPO / "experiments" / "depth_separation"
                                                                       / "parts.py")
    # negative controls: the old names, a module in the wrong folder, a part that does not exist
    for misplaced in ("test_bench_summary.py", "test_constructions_universal.py", "run/test_metrics.py",
                      "test_cli.py", "experiments/test_depth_separation_nope.py", "bench/run/test_cli.py",
                      "test_nope_properties.py", "backprop/test_pieces_properties.py", "test_properties.py"):
        assert module_of(misplaced) is None, misplaced


def test_the_configured_path_finds_the_experiments_package(pytestconfig):
    paths = [str(p) for p in pytestconfig.getini("pythonpath")]
    spec = importlib.machinery.PathFinder.find_spec("experiments", paths)
    assert spec.origin == str(REPO / "experiments" / "__init__.py")
    # negative control: tests/ alone (what a bare `pytest` would see without ".") finds the folder
    # tests/experiments/ as a namespace package, with no code in it
    spec = importlib.machinery.PathFinder.find_spec("experiments", [str(TESTS)])
    assert spec.loader is None and list(spec.submodule_search_locations) == [str(TESTS / "experiments")]
