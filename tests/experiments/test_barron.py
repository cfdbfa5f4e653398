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
    trained = df[(df.method == "trained") & (df.optimizer == "adam")]  # L-BFGS's rows: test_second_order_rows
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
    df = df[df.optimizer.fillna("adam") == "adam"]  # Adam's runs: the rate is Adam's
    blown = barron.run(dataclasses.replace(cfg, lr=1e6, optimizers=("adam",)))
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


# ------------------------------------------------------------- several optimizers in one run
def test_second_order_rows(smoke):
    """The smoke preset trains Adam's grid and L-BFGS's second_order_* grid in one run: rows told
    apart by the optimizer column, L-BFGS on the full batch of its points in float64, with the
    training loss after half its iterations."""
    cfg, df = smoke
    assert cfg.optimizers == ("adam", "lbfgs")
    second = df[(df.method == "trained") & (df.optimizer == "lbfgs")]
    main = second[second.budget == 1]
    assert len(main) == (len(cfg.second_order_dims) * len(cfg.second_order_widths)
                         * len(cfg.second_order_families) * cfg.n_seeds)
    assert set(main.family) == set(cfg.second_order_families) and (main.steps == cfg.second_order_steps).all()
    assert (second.n_train == cfg.second_order_n_train).all() and (second.batch_size == second.n_train).all()
    assert (second.train_dtype == "float64").all() and second.lr.isna().all()
    assert np.isfinite(second.train_mse_half).all()
    # L-BFGS accepts only steps that lower the loss: half-way it was no lower than at the end
    assert (second.train_mse_half >= second.train_mse).all()
    # its budget cell: where budget_dims x budget_widths meets its grid (d = 4, n = 8), 4x the iterations
    more = second[second.budget > 1]
    assert set(zip(more.d, more.width)) == {(4, 8)} and (more.steps == 4 * cfg.second_order_steps).all()
    table = barron.rates(df)
    trained = table[table.method == "trained"]
    assert set(trained.optimizer) == {"adam", "lbfgs"}
    text = barron.describe(df)
    assert "Fitted slopes, ridge_nd trained (L-BFGS, n = 2 .. 8)" in text
    assert f"L-BFGS ({cfg.second_order_steps} iterations on the full batch of {cfg.second_order_n_train}" in text
    adam = df[(df.method == "trained") & (df.optimizer == "adam")]
    assert "Adam's slopes on the same widths" in text and f"{cfg.steps} steps, cosine" in text
    assert len(adam) and "L-BFGS's step budget" in text


def test_old_results_without_the_optimizer_column_are_adam():
    rows = _trained_rows([(1, 16, 1.0, 0.02, 1.0, 0.5), (1, 64, 1.0, 0.01, 1.0, 0.5)]).drop(columns="optimizer")
    assert list(barron.rates(rows).optimizer) == ["adam"]
    assert "Fitted slopes, ridge_nd trained (Adam, n = 16 .. 64): d=1 -0.50" in barron.describe(rows)


def _second_order_rows(cells: list[tuple]) -> pd.DataFrame:
    """L-BFGS ridge rows: (d, width, seed, test_mse, train_mse, train_mse_half, status) per row,
    beside Adam rows of the same cells whose test MSE is 0.1 / width**0.5."""
    rows = []
    for d, w, seed, test, train, half, status in cells:
        common = {"method": "trained", "family": "ridge_nd", "d": d, "width": w, "seed": seed, "budget": 1.0,
                  "barron_bound": 1.0, "target_var": 0.5, "barron_constant": 1.0, "mean_field": True,
                  "activation": "sigmoid"}
        rows.append({**common, "optimizer": "lbfgs", "test_mse": test, "train_mse": train, "train_mse_half": half,
                     "status": status, "steps": 1000, "lr": np.nan, "batch_size": 500, "n_train": 500,
                     "train_dtype": "float64"})
        rows.append({**common, "optimizer": "adam", "test_mse": 0.1 / w**0.5, "train_mse": 0.1 / w**0.5,
                     "train_mse_half": np.nan, "status": "completed", "steps": 100, "lr": 0.1, "batch_size": 10,
                     "n_train": 1000, "train_dtype": "float32"})
    return pd.DataFrame(rows)


def test_second_order_limits_name_what_stops_the_rate():
    # d = 1: MSE = 1/n^2 (slope -2); d = 2, 3, 4, 5: slope -0.5, each limited by another measurement at n = 64
    cells = []
    for seed in (0, 1, 2):
        cells += [(1, 4, seed, 1 / 16, 1 / 16, 1 / 16, "completed"), (1, 64, seed, 1 / 64**2, 1 / 64**2, 1 / 64**2,
                                                                     "completed")]
        for d, train, half, status in ((2, 0.001, 0.001, "completed"),  # test 12.5x the training loss: the sample
                                       (3, 0.0125, 0.05, "completed"),  # 4x lower over the second half: the budget
                                       (4, 0.0125, 0.0125, "stalled"),  # no step lowered it: stalled
                                       (5, 0.0125, 0.0125, "completed")):  # none of these: a plateau
            cells += [(d, 4, seed, 0.05, 0.05, 0.05, "completed"), (d, 64, seed, 0.0125, train, half, status)]
    rows = _second_order_rows(cells)
    limits = barron.second_order_limits(rows).set_index("d")
    assert list(limits.index) == [1, 2, 3, 4, 5] and (limits.width == 64).all() and (limits.n == 3).all()
    assert list(limits.limit) == ["plateau", "sample", "budget", "stalled", "plateau"]
    assert limits.loc[3, "half"] == pytest.approx(0.05) and limits.loc[4, "n_stalled"] == 3
    text = barron.describe(rows)
    assert "fitted slope <= -1, Barron's rate, at d = 1;" in text
    assert ("at d = 3 it is -0.50: at n = 64 the median training MSE 0.013, after half the iterations 0.05, "
            "test MSE 0.013, so the second half of the iterations still lowered the training loss 4x") in text
    assert "at d = 2 it is -0.50" in text and "12x the training loss: the sample, not the optimizer" in text
    assert "3 of 3 runs stalled" in text and "levelled off" in text
    assert "Adam's slopes on the same widths: d=1 -0.50 [-0.50, -0.50]" in text  # like for like, n = 4 .. 64
    # at n = 64: L-BFGS 1/64^2 = 0.00024 at d = 1 against Adam's 0.1/8 = 0.0125; equal (1x) elsewhere
    assert "median test MSE at n = 64, L-BFGS against Adam: d=1 0.00024 vs 0.013 (51x lower), d=2 0.013 vs 0.013" in text
    # negative control: an L-BFGS error above Adam's reads "higher"
    worse = rows.assign(test_mse=rows.test_mse.where((rows.optimizer != "lbfgs") | (rows.width != 64), 0.05))
    assert "d=1 0.05 vs 0.013 (4x higher)" in barron.describe(worse)
    # negative controls: at the FLOOR_FACTOR boundary the test/train and half/final ratios do not count
    edge = rows.assign(train_mse=rows.train_mse.where(rows.d != 2, 0.0125 / barron.FLOOR_FACTOR))
    assert barron.second_order_limits(edge).set_index("d").loc[2, "limit"] == "plateau"
    two_stalled = rows[~((rows.d == 4) & (rows.seed == 2) & (rows.width == 64))]  # 2 of 2 stalled: still most
    assert barron.second_order_limits(two_stalled).set_index("d").loc[4, "limit"] == "stalled"
    one_stalled = rows.assign(status=rows.status.where(~((rows.d == 4) & (rows.seed > 0)), "completed"))
    assert barron.second_order_limits(one_stalled).set_index("d").loc[4, "limit"] == "plateau"  # 1 of 3
    assert barron.second_order_limits(rows[rows.optimizer == "adam"]).empty  # Adam's rows give none


@pytest.mark.parametrize("assignment, message", [
    ("optimizers=adam,adam", "optimizers must not repeat a value, got 'adam' twice in ('adam', 'adam')"),
    ("optimizers=", "optimizers needs at least one of adam, lbfgs, lm, got ()"),
    ("second_order_dims=0", "second_order_dims"),
    ("second_order_families=sin1", "unknown entry 'sin1' in second_order_families; allowed: ridge_nd, gaussian_nd, "
                                   "ball_nd"),
    ("second_order_widths=0", "second_order_widths"),
    ("second_order_steps=0", "second_order_steps must be an integer in [1, 10000000], got 0"),
    ("second_order_n_train=257", "second_order_n_train (at most n_train) must be an integer in [1, 256], got 257"),
])
def test_a_bad_second_order_field_is_one_line(assignment, message, tmp_path, capsys):
    from approx.run.cli import main
    out = tmp_path / "out"
    assert main(["run", "barron", "--preset", "smoke", "--quiet", "--out", str(out), "--set", assignment]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("approx: invalid configuration for barron: ") and message in err[0]
    assert not out.exists()


def test_levenberg_marquardt_jacobian_is_bounded_before_running():
    big = {"optimizers": ("lm",), "second_order_widths": (65_536,), "second_order_n_train": 8192}
    with pytest.raises(ValueError, match="Levenberg-Marquardt's Jacobian"):
        barron.Config(**big)
    # negative control: L-BFGS keeps no Jacobian, so the same grid is allowed
    assert barron.Config(**{**big, "optimizers": ("lbfgs",)}).second_order_widths == (65_536,)


def test_the_second_order_grid_may_leave_the_main_grid():
    # the negative control of the refusals above: any d, family and width within the limits is valid
    cfg = barron.Config(**{**barron.PRESETS["smoke"], "second_order_dims": (3,), "second_order_widths": (5,),
                           "second_order_families": ("gaussian_nd",), "optimizers": ("lm", "adam")})
    assert [p for p in barron.points(cfg) if p.get("optimizer") == "lm"] == [
        {"part": "trained", "optimizer": "lm", "d": 3, "width": 5}]
