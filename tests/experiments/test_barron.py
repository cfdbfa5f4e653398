"""The barron experiment: its smoke preset runs, plots, describes and runs from the command line."""
from __future__ import annotations

import dataclasses

import math

import numpy as np
import pandas as pd
import pytest

from experiments import barron
from cli_support import run_smoke


@pytest.fixture(scope="module")
def smoke():
    cfg = barron.Config(**barron.PRESETS["smoke"], device="cpu")
    return cfg, barron.run(cfg)


def test_smoke_rows(smoke):
    cfg, df = smoke
    trained = df[df.method == "trained"]
    main = trained[(trained.family != barron.RIDGE1) & (trained.budget == 1)]
    assert len(main) == len(cfg.dims) * len(cfg.widths) * len(cfg.families) * cfg.n_seeds
    more = trained[trained.budget > 1]
    assert len(more) == len(cfg.step_budgets) * len(cfg.budget_dims) * len(cfg.budget_widths) * len(cfg.families) * cfg.n_seeds
    assert (more.steps == cfg.steps * 4).all() and (main.steps == cfg.steps).all()
    ridge1 = trained[trained.family == barron.RIDGE1]
    assert len(ridge1) == len(cfg.dims) * len(cfg.rf_widths) * cfg.n_seeds
    features = df[df.method == "random_features"]
    assert len(features) == len(cfg.dims) * len(cfg.rf_widths) * len(cfg.rf_activations) * cfg.n_seeds
    assert set(trained.status) <= {"completed", "converged"}
    sampled = df[df.method == "sampled"]
    assert len(sampled) == len(cfg.dims) * len(cfg.sampled_widths) * cfg.n_draws
    assert (df.test_mse > 0).all() and (df.target_var > 0).all()
    ridge = df[df.family == "ridge_nd"]
    assert np.isfinite(ridge.barron_bound).all()
    assert np.isinf(df[df.family == "ball_nd"].barron_bound).all()  # C = inf for the ball
    # threshold: the sampled networks' mean error stays below the expectation bound of the proof
    means = sampled.groupby(["d", "width"]).agg(mse=("test_mse", "mean"), bound=("sampled_bound", "first"))
    assert (means.mse <= means.bound).all()


def test_rates_plot_and_describe(smoke, tmp_path):
    _, df = smoke
    table = barron.rates(df)
    assert set(table.method) == {"trained", "sampled", "random_features"}
    barron.plot(df, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = barron.describe(df)
    row = table[(table.method == "sampled") & (table.d == 4)].iloc[0]
    assert f"d=4 {row.slope:.2f}" in text  # read from the DataFrame
    assert f"{barron.PRESETS['smoke']['steps']} steps" in text


def test_engines_agree(smoke):
    cfg, _ = smoke
    cfg = dataclasses.replace(cfg, dtype="float64")  # float64: agreement to 1e-8 means something
    point = {"part": "trained", "d": 4, "width": 2}
    a = barron.run_point(dataclasses.replace(cfg, engine="backprop"), point)
    b = barron.run_point(dataclasses.replace(cfg, engine="autograd"), point)
    assert np.allclose(a.test_mse, b.test_mse, rtol=1e-8)


def test_a_huge_learning_rate_is_recorded_as_diverged(smoke, tmp_path):
    # Adam at lr = 1e6 blows every trained network up (finite losses far above their start): fit
    # records each as diverged, the status column says so, describe() counts them, the rates
    # leave them out and the figure still draws (crosses, no medians).
    cfg, df = smoke
    blown = barron.run(dataclasses.replace(cfg, lr=1e6))
    trained = blown[blown.method == "trained"]
    assert len(trained) == len(df[df.method == "trained"]) and set(trained.status) == {"diverged"}
    assert f"{len(trained)} of {len(trained)} trained networks diverged" in barron.describe(blown)
    assert set(barron.rates(blown).method) == {"sampled", "random_features"}
    barron.plot(blown, tmp_path / "blown.png")
    assert (tmp_path / "blown.png").stat().st_size > 0
    # negative control: at the smoke preset's own rate nothing diverges, describe() says so, and
    # the trained runs have rates
    sane = df[df.method == "trained"]
    assert set(sane.status) == {"completed"}
    assert set(barron.rates(df).method) == {"trained", "sampled", "random_features"}
    assert f"None of the {len(sane)} trained networks diverged" in barron.describe(df)


def test_config_checks():
    for bad in ({"dims": (0,)}, {"families": ("sin1",)}, {"widths": ()}, {"activation": "gelu"},
                {"engine": "jax"}, {"batch_size": 10**6}, {"n_draws": 0}, {"dtype": "half"},
                {"beta2": -0.1}):
        with pytest.raises(ValueError):
            barron.Config(**bad)


def test_cli_smoke_writes_results(tmp_path):
    frame = run_smoke("barron", tmp_path)
    assert set(frame.method) == {"trained", "sampled", "random_features"}


def test_relative_error_width_inverts_the_fitted_line():
    from approx.metrics import Rate
    # MSE = 2 / n (intercept log 2, slope -1) on a target of variance 0.5: MSE / Var = 0.01 at n = 400
    line = Rate(slope=-1.0, lo=-1.1, hi=-0.9, intercept=math.log(2.0), n_points=5, level=0.95)
    assert barron.relative_error_width(line, 0.5) == pytest.approx(400.0)
    half = Rate(slope=-0.5, lo=-0.6, hi=-0.4, intercept=math.log(2.0), n_points=5, level=0.95)
    assert barron.relative_error_width(half, 0.5) == pytest.approx(400.0**2)  # (4 / 0.02)^2... = 1.6e5
    # negative control: a flat line never gets there
    flat = Rate(slope=0.0, lo=-0.1, hi=0.1, intercept=0.0, n_points=5, level=0.95)
    assert math.isinf(barron.relative_error_width(flat, 0.5))


def _trained_rows(cells: list[tuple]) -> pd.DataFrame:
    """Trained ridge rows: (d, width, budget, test_mse, barron_bound, target_var) per row."""
    return pd.DataFrame([{"method": "trained", "family": "ridge_nd", "d": d, "width": w, "seed": 0,
                          "budget": b, "test_mse": m, "barron_bound": bound, "target_var": var,
                          "barron_constant": 1.0, "status": "completed", "mean_field": True, "steps": 100 * b,
                          "lr": 0.1, "batch_size": 10, "n_train": 100, "train_dtype": "float32", "optimizer": "adam"}
                         for d, w, b, m, bound, var in cells])


def test_budget_effects_and_floors_drop_the_rate():
    rows = _trained_rows([(4, 16, 1.0, 0.08, 1.0, 0.5), (4, 16, 4.0, 0.01, 1.0, 0.5),
                          (4, 64, 1.0, 0.04, 1.0, 0.5), (1, 16, 1.0, 0.02, 1.0, 0.5),
                          (1, 64, 1.0, 0.01, 1.0, 0.5)])
    effects = barron.budget_effects(rows)
    assert len(effects) == 1 and effects.factor.iloc[0] == pytest.approx(8.0)  # 0.08 / 0.01
    text = barron.describe(rows)
    assert "d = 4 dropped: a budget floor" in text and "d=1 -0.50" in text  # d = 1 kept (not swept)
    assert "(8x lower)" in text
    # negative control: a budget that changes nothing keeps the rate
    flat = rows.assign(test_mse=rows.test_mse.where(rows.budget == 1, 0.08))
    assert "budget floor, below" not in barron.describe(flat) and "d=4 -0.50" in barron.describe(flat)
    # rates are fitted on budget 1 only
    assert barron.rates(rows).set_index("d").loc[4, "n_points"] == 2


def test_only_non_vacuous_cells_are_compared_with_the_bound():
    # bound < Var f in one cell of three: only its two runs count, one of them above
    rows = _trained_rows([(1, 4, 1.0, 0.1, 2.0, 0.5), (1, 16, 1.0, 0.1, 0.6, 0.5),
                          (1, 64, 1.0, 0.1, 0.2, 0.5), (1, 64, 1.0, 0.3, 0.2, 0.5)])
    rows.loc[3, "seed"] = 1
    text = barron.describe(rows)
    assert "in 1 of 3 (d, n) cells" in text and "(d=1 n=64); there 1 of 2 trained networks are below it and 1 above." in text
    # negative control: with every bound above Var f nothing is compared
    assert "no trained error is compared" in barron.describe(rows.assign(barron_bound=1.0))


def test_sampled_networks_are_normalised_by_v_squared(smoke):
    _, df = smoke
    sampled = df[df.method == "sampled"]
    scaled = (sampled.test_mse * sampled.width / sampled.variation**2).groupby(sampled.d).median()
    text = barron.describe(df)
    assert "n x MSE / V^2 = " + ", ".join(f"{v:.3g} (d = {d})" for d, v in scaled.items()) in text
    # threshold: E MSE <= (V/sqrt n + steepness term)^2 (barron_sampled_bound): the normalised mean
    # error stays below (1 + sqrt(n p (2 ln 2 - 1)/S))^2, ~1 at S = 1000 n
    means = sampled.groupby(["d", "width"]).agg(mse=("test_mse", "mean"), v=("variation", "first"),
                                               bound=("sampled_bound", "first"))
    assert (means.mse <= means.bound).all() and (means.bound * means.index.get_level_values(1) / means.v**2 < 1.1).all()
    assert "check of the sampling" in text


def test_random_features_rows_and_rates(smoke):
    cfg, df = smoke
    features = df[df.method == "random_features"]
    assert set(features.family) == {barron.RIDGE1} and set(features.activation) == set(cfg.rf_activations)
    # least squares with a constant column never does worse than predicting the training mean
    assert (features.train_mse <= features.target_var * 1.5).all()
    table = barron.rates(df)
    rf = table[table.method == "random_features"]
    assert len(rf) == len(cfg.dims) * len(cfg.rf_activations)  # one rate per activation and d
    assert "random sigmoid features: d=1" in barron.describe(df)


def test_new_config_checks():
    for bad, match in (({"step_budgets": (1.0,)}, "must not hold 1"), ({"step_budgets": (-2.0,)}, "step_budgets"),
                       ({"budget_dims": (3,)}, "budget_dims must be among"),
                       ({"budget_widths": (5,)}, "budget_widths must be among"),
                       ({"rf_widths": (16,)}, "at least two"), ({"rf_activations": ("gelu",)}, "rf_activations")):
        with pytest.raises(ValueError, match=match):
            barron.Config(**bad)
    assert barron.Config(step_budgets=(), rf_widths=()).rf_widths == ()  # negative control: valid


def test_fixed_basis_text_reads_the_n_needed_off_the_rows():
    from experiments.barron.text import _fixed_basis_text
    rows = []
    for n in (16, 32, 64, 128, 256, 512):
        for seed in (0, 1):
            common = {"d": 4, "family": barron.RIDGE1, "width": n, "seed": seed, "target_var": 0.5,
                      "status": "completed", "budget": 1.0, "n_train": 1000}
            # random features: MSE / Var = 1/n, first at or below 0.01 at n = 128 (1/64 > 0.01)
            rows.append({**common, "method": "random_features", "activation": "relu", "test_mse": 0.5 / n})
            # trained: MSE / Var = 0.02 at every width, so it never gets there
            rows.append({**common, "method": "trained", "activation": "sigmoid", "test_mse": 0.01})
    df = pd.DataFrame(rows)
    text = _fixed_basis_text(df, barron.rates(df))
    assert "random relu features: d=4 slope -1.00 [-1.00, -1.00], MSE/Var 0.062 -> 0.002, N 128" in text
    assert "trained sigmoid networks: d=4 slope 0.00" in text and "N never (slope >= 0)" in text
    # negative control: a steeper rate reaches 0.01 sooner (1/n^2: at n = 16)
    steeper = df.assign(test_mse=df.test_mse.where(df.method != "random_features", 0.5 / df.width**2))
    assert "N 16" in _fixed_basis_text(steeper, barron.rates(steeper))
