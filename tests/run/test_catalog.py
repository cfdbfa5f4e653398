"""approx.run.catalog: the studies' fixed order, the default package, and a study that is a
package listed with its summary without being imported."""
from __future__ import annotations

import pytest

from approx.run import catalog


pytestmark = pytest.mark.usefixtures("fixture_experiments")


def test_catalog_order_puts_known_studies_first_in_their_fixed_order():
    names = ["zeta", "benchmark", "alpha", "gradcheck", "universal"]
    assert sorted(names, key=catalog.order_key) == ["gradcheck", "universal", "benchmark", "alpha", "zeta"]


def test_the_real_experiments_package_is_the_default(monkeypatch):
    monkeypatch.delenv("APPROX_EXPERIMENTS", raising=False)
    assert catalog.experiments_package() == "experiments"
    assert all(not n.startswith("_") for n in catalog.experiment_names())


def test_a_study_that_is_a_package_is_listed_with_its_summary_without_importing_it(monkeypatch):
    import sys

    for name in [m for m in sys.modules if m.startswith("experiments.depth_separation")]:
        monkeypatch.delitem(sys.modules, name)
    names = catalog.experiment_names("experiments")
    assert "depth_separation" in names and "gradcheck" in names  # a package and a module
    assert (catalog.summary("depth_separation", "experiments")
            == "Depth versus width: functions a small deep network represents and a shallow one cannot.")
    assert not [m for m in sys.modules if m.startswith("experiments.depth_separation")]  # read with ast
    # its parts are not studies: only the experiments package's own children are listed
    assert not {"config", "figure", "text", "analysis", "parts"} & set(names)
    module = catalog.load_experiment("depth_separation", "experiments")
    assert module.__name__ == "experiments.depth_separation" and module.Config.__module__.endswith(".config")
