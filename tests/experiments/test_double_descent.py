"""The double_descent experiment: smoke run, the peak at N = n, random labels at chance, figure, CLI."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from approx.run.cli import main as cli_main
from experiments import double_descent

SMOKE = replace(double_descent.Config(**double_descent.PRESETS["smoke"]), device="cpu")


@pytest.fixture(scope="module")
def smoke():
    return double_descent.run(SMOKE)


def test_smoke_has_every_part(smoke):
    assert set(smoke.part) == {"random_features", "trained", "random_labels", "memorizer", "corruption"}
    t = smoke[smoke.part == "trained"]
    assert set(t.init) == {"standard", "small"} and set(t.status) <= {"completed", "converged", "diverged"}
    assert np.isfinite(t.test_error).all()


def test_random_features_peak_is_at_n_features_equal_n_points():
    """Belkin et al. (2019): minimum-norm interpolation is worst where N = n (a seeded small problem)."""
    cfg = replace(SMOKE, n=20, features=(5, 10, 15, 20, 25, 30, 40, 80, 200), rf_seeds=10)
    plain = double_descent.run_point(cfg, {"part": "random_features", "ridge": 0.0})
    n_peak, err = double_descent.peak(plain)
    assert n_peak == cfg.n
    assert err > 3 * plain[plain.n_features == 200].test_error.median()  # a peak, not a plateau
    # negative control: a small ridge removes the peak, so the same check fails
    ridged = double_descent.run_point(cfg, {"part": "random_features", "ridge": 1e-3})
    assert double_descent.peak(ridged, 1e-3)[0] != cfg.n
    # from N = n on the features interpolate the training data
    assert (plain[plain.n_features > cfg.n].train_error < 1e-8).all()


def _chance_band(n_test: int) -> tuple[float, float]:
    """With test labels independent of everything, each is misclassified with probability exactly
    1/2, so the fraction is Binomial(n_test, 1/2) / n_test: 1/2 +- 5 standard errors."""
    se = math.sqrt(0.25 / n_test)
    return 0.5 - 5 * se, 0.5 + 5 * se


def test_random_labels_test_error_is_at_chance(smoke):
    lo, hi = _chance_band(SMOKE.n_test)
    r = smoke[smoke.part.isin(["random_labels", "memorizer"])]
    assert r.test_misclassified.between(lo, hi).all()
    mem = smoke[smoke.part == "memorizer"].iloc[0]
    assert mem.train_max_error < 1e-8 and mem.train_misclassified == 0  # Zhang et al.'s Theorem 1
    assert mem.n_params == 2 * SMOKE.n + SMOKE.d


def test_wide_networks_fit_random_labels():
    cfg = replace(SMOKE, steps=1500, seeds=2)
    wide = double_descent.run_point(cfg, {"part": "random_labels", "width": 128})
    assert (wide.train_misclassified == 0).all()  # Zhang et al. (2017): p >> n fits random labels


def test_plot_and_describe(smoke, tmp_path):
    double_descent.plot(smoke, tmp_path / "dd.png")
    assert (tmp_path / "dd.png").stat().st_size > 0 and (tmp_path / "dd.pdf").exists()
    text = double_descent.describe(smoke)
    for words in ("Double descent", "Random labels", "2n + d", "chance"):
        assert words in text
    assert "nan" not in text.lower()


def test_diverged_runs_are_counted_and_left_out_of_the_medians(smoke, tmp_path):
    # GD at eta = 1/lambda_max does not diverge here, so mark the widest trained runs of one init
    # as fit would (status "diverged", a huge test error): the text counts them, the medians and
    # the figure leave them out (drawn as crosses)
    t = smoke.part == "trained"
    widest = t & (smoke.p_over_n == smoke[t].p_over_n.max()) & (smoke.init == "standard")
    marked = smoke.copy()
    marked.loc[widest, "status"] = "diverged"
    marked.loc[widest, "test_error"] = 1e12
    text = double_descent.describe(marked)
    assert f"{int(widest.sum())} of the {int((t | (smoke.part == 'random_labels')).sum())} trained" in text
    assert "e+12" not in text and "1e12" not in text  # no median saw the blown-up errors
    double_descent.plot(marked, tmp_path / "marked.png")
    assert (tmp_path / "marked.png").stat().st_size > 0
    # negative control: unmarked, the text says that none diverged
    assert "None of the" in double_descent.describe(smoke)


def test_corrupt_replaces_a_nested_fraction_by_coins():
    clean = torch.ones(8, 1, dtype=torch.float64)
    order = torch.tensor([3, 0, 7, 1, 6, 2, 5, 4])
    coins = -torch.ones(8, dtype=torch.float64)  # every coin disagrees, so corrupted = wrong
    assert torch.equal(double_descent.corrupt(clean, 0.0, order, coins), clean)
    assert torch.equal(double_descent.corrupt(clean, 1.0, order, coins), -clean)
    half = double_descent.corrupt(clean, 0.5, order, coins)[:, 0]
    assert torch.equal(torch.nonzero(half < 0).flatten(), torch.tensor([0, 1, 3, 7]))  # order[:4], sorted
    quarter = double_descent.corrupt(clean, 0.25, order, coins)[:, 0]
    assert ((quarter < 0) <= (half < 0)).all()  # nested: what 0.25 corrupts, 0.5 corrupts too
    # a coin that agrees with the clean label leaves it right: corrupted is not the same as wrong
    agree = double_descent.corrupt(clean, 1.0, order, torch.ones(8, dtype=torch.float64))
    assert torch.equal(agree, clean)


def _sweep(test_errors, complexities) -> "pd.DataFrame":
    """Corruption rows, two members per fraction, with the given test errors and complexities."""
    rows = [{"part": "corruption", "corruption": p, "member": e, "complexity": c, "n_wrong_labels": 0,
             "test_misclassified": t + 0.01 * e, "steps_to_fit": 10.0, "status": "completed"}
            for p, t, c in zip((0, 0.25, 0.5, 0.75, 1), test_errors, complexities) for e in (0, 1)]
    return pd.DataFrame(rows)


def test_corruption_summary_and_spearman_on_known_cases():
    table = double_descent.corruption_summary(_sweep([0.1, 0.2, 0.3, 0.4, 0.5], [2, 3, 4, 5, 6]))
    assert np.allclose(table.test_error, [0.105, 0.205, 0.305, 0.405, 0.505])  # median of t, t + 0.01
    assert (table.n_fitted == 2).all() and (table.n_runs == 2).all()
    assert double_descent.complexity_spearman(table) == pytest.approx(1.0)
    # negative controls: reversed ranks give -1; one swapped pair gives 1 - 6 * 2 / (5 * 24) = 0.9
    reverse = double_descent.corruption_summary(_sweep([0.1, 0.2, 0.3, 0.4, 0.5], [6, 5, 4, 3, 2]))
    assert double_descent.complexity_spearman(reverse) == pytest.approx(-1.0)
    swapped = double_descent.corruption_summary(_sweep([0.1, 0.2, 0.3, 0.4, 0.5], [2, 3, 4, 6, 5]))
    assert double_descent.complexity_spearman(swapped) == pytest.approx(0.9)
    assert "It misorders p = 0.75 and 1" in double_descent.describe(_sweep([0.1, 0.2, 0.3, 0.4, 0.5],
                                                                           [2, 3, 4, 6, 5]).assign(
        n=10, width=8, train_error=0.1, steps=20))
    constant = double_descent.corruption_summary(_sweep([0.1] * 5, [2, 3, 4, 5, 6]))
    assert math.isnan(double_descent.complexity_spearman(constant))


def test_corruption_sweep_fits_every_fraction(smoke):
    """Zhang et al. (2017): a wide network fits labels at any corruption, the random ones too."""
    rows = smoke[smoke.part == "corruption"]
    assert sorted(rows.corruption.unique()) == list(SMOKE.corruptions)
    assert (rows.train_misclassified == 0).all() and rows.steps_to_fit.notna().all()
    assert (rows.steps_to_fit <= rows.steps).all() and (rows.steps_to_fit % 10 == 0).all()
    # the complexity is a function of the labels alone: the same for every member of a fraction
    assert (rows.groupby("corruption").complexity.nunique() == 1).all()
    clean = rows[rows.corruption == 0]
    assert (clean.n_wrong_labels == 0).all() and (clean.n_corrupted == 0).all()
    text = double_descent.describe(smoke)
    assert "(d) Label corruption" in text and "Spearman" in text and "check, not a finding" in text


@pytest.mark.parametrize("bad", [{"ridges": (-1.0,)}, {"features": ()}, {"seeds": 0}, {"small_scale": 0.0},
                                 {"corruptions": (0.5, 1.5)}, {"corruptions": ()}, {"corruption_n": 1},
                                 {"corruption_width": 0}, {"corruption_steps": 0}])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        replace(SMOKE, **bad)


def test_cli_run(tmp_path):
    argv = ["run", "double_descent", "--preset", "smoke", "--device", "cpu", "--out", str(tmp_path),
            "--set", "widths=2", "--set", "random_widths=4"]
    assert cli_main(argv) == 0
    assert {p.name for p in tmp_path.glob("double_descent.*")} == {
        f"double_descent.{s}" for s in ("csv", "png", "pdf", "json")}
