"""The universal experiment: its smoke preset runs, meets the theorems, plots, describes, and runs
from the command line; both engines give the same trained networks."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from experiments import universal
from cli_support import run_smoke


@pytest.fixture(scope="module")
def smoke():
    cfg = universal.Config(**universal.PRESETS["smoke"], device="cpu")
    return cfg, universal.run(cfg)


def test_smoke_rows_and_bounds(smoke):
    cfg, df = smoke
    errs = df[df.table == "error"]
    built = errs[errs.seed < 0]
    n_methods = len(cfg.steepness) + 2  # sigmoid rules, ramp staircase, interpolant
    assert len(built) == len(cfg.targets) * len(cfg.widths) * n_methods
    trained = errs[errs.seed >= 0]
    assert len(trained) == len(cfg.targets) * len(cfg.trained_widths) * len(cfg.activations) * cfg.n_seeds
    assert set(trained.status) <= {"completed", "converged"}
    assert (trained.batch_size == cfg.batch_size).all() and (trained.n_train == cfg.n_train).all()
    # trained on float32 parameters, measured in float64: errors are not float32-rounded
    assert (trained.train_dtype == "float32").all()
    # threshold: each construction's proven sup bound (float rounding only)
    assert (built.err_sup <= built.bound * (1 + 1e-9) + 1e-12).all()
    assert (errs.err_l2 <= errs.err_sup + 1e-15).all()  # mean square <= max square
    curves = df[df.table == "curve"]
    assert set(curves.width) == {0, *cfg.curve_widths}  # 0 marks the target itself
    assert len(curves[curves.method == "target"]) == cfg.n_curve


def test_smoke_rates_match_theory_where_it_is_sharp(smoke):
    _, df = smoke
    table = universal.rates(df).set_index(["target", "method"])
    # ramp staircase on |x - 1/2|: error exactly h (1 + theta)/2 = 3/(2n) per step: slope -1
    assert table.loc[("abs", universal.RAMP), "slope"] == pytest.approx(-1.0, abs=1e-9)
    # interpolant on sin(2 pi x): h^2/8 max|f''| is sharp; -2 lies in the interval
    rate = table.loc[("sin1", universal.INTERP)]
    assert rate.lo <= -2 <= rate.hi and rate.slope == pytest.approx(-2, abs=0.2)
    # negative control: the staircase (O(1/n)) is not O(1/n^2)
    assert not table.loc[("abs", universal.RAMP), "lo"] <= -2 <= table.loc[("abs", universal.RAMP), "hi"]


def test_run_is_the_concatenation_of_its_points(smoke):
    cfg, df = smoke
    point = universal.points(cfg)[1]
    assert point["part"] == "trained"
    again = universal.run_point(cfg, point)
    rows = df[(df.method == f"trained {point['activation']}") & (df.width == point["width"])]
    assert np.array_equal(again.err_sup.to_numpy(), rows.err_sup.to_numpy())  # seeded: repeats


def test_engines_agree_on_trained_networks(smoke):
    cfg, _ = smoke
    cfg = dataclasses.replace(cfg, dtype="float64")  # float64: agreement to 1e-8 means something
    point = {"part": "trained", "activation": "tanh", "width": 4}
    a = universal.run_point(dataclasses.replace(cfg, engine="backprop"), point)
    b = universal.run_point(dataclasses.replace(cfg, engine="autograd"), point)
    errs = a.table == "error"
    assert np.allclose(a.err_sup[errs], b.err_sup[errs], rtol=1e-8)
    assert np.allclose(a.train_loss[errs], b.train_loss[errs], rtol=1e-8)


def test_plot_and_describe(smoke, tmp_path):
    _, df = smoke
    universal.plot(df, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = universal.describe(df)
    slope = universal.rates(df).set_index(["target", "method"]).loc[("sin1", universal.INTERP), "slope"]
    assert f"sin1 {slope:.2f}" in text  # numbers are read from the DataFrame
    assert "Every construction stayed within its proven sup bound" in text
    assert f"mini-batches of {universal.PRESETS['smoke']['batch_size']} from" in text


def test_a_huge_learning_rate_is_recorded_as_diverged(smoke, tmp_path):
    # Adam at lr = 1e6 blows every trained network up (finite losses of 1e11 and more): fit
    # records each as diverged, the status column says so, describe() counts them and the
    # figure still draws (crosses, no medians).
    cfg, df = smoke
    blown = universal.run(dataclasses.replace(cfg, lr=1e6))
    trained = blown[(blown.table == "error") & (blown.seed >= 0)]
    assert len(trained) == len(df[(df.table == "error") & (df.seed >= 0)])
    assert set(trained.status) == {"diverged"}
    assert f"{len(trained)} of {len(trained)} trained networks diverged" in universal.describe(blown)
    universal.plot(blown, tmp_path / "blown.png")
    assert (tmp_path / "blown.png").stat().st_size > 0
    # negative control: at the smoke preset's own rate nothing diverges, and describe() says so
    sane = df[(df.table == "error") & (df.seed >= 0)]
    assert set(sane.status) == {"completed"}
    assert f"None of the {len(sane)} trained networks diverged" in universal.describe(df)


def test_rates_leave_diverged_runs_out(smoke):
    _, df = smoke
    ramp = (df.table == "error") & (df.method == universal.RAMP) & (df.target == "abs")
    marked = df.assign(status=df.status.where(~(ramp & (df.width == df.width.max())), "diverged"))

    def ramp_points(frame):
        return universal.rates(frame).set_index(["target", "method"]).loc[("abs", universal.RAMP), "n_points"]
    assert ramp_points(marked) == ramp_points(df) - 1  # the widest ramp row, marked diverged, is out


def test_steepness_rules_and_config_checks():
    assert universal.steepness_of("100", 7) == 100
    assert universal.steepness_of("8n", 4) == 32
    assert universal.steepness_of("n^2", 5) == 25
    assert universal.steepness_of("2.5n^2", 2) == 10
    for bad in ("n^3", "fast", "", "0n"):
        with pytest.raises(ValueError, match="steepness rule"):
            universal.steepness_of(bad, 3)
    for bad in ({"targets": ("ridge_nd",)}, {"widths": (1, 4)}, {"activations": ("gelu",)},
                {"engine": "jax"}, {"steepness": ("n^3",)}, {"targets": ("nope",)},
                {"dtype": "float16"}, {"beta2": 1.0}, {"batch_size": 0}, {"steps": 0}):
        with pytest.raises(ValueError):
            universal.Config(**bad)


def test_cli_smoke_writes_results(tmp_path):
    df = run_smoke("universal", tmp_path)
    assert set(df.table) == {"error", "curve"}


def test_rates_skip_exact_fits_and_keep_their_columns_when_empty(tmp_path):
    # abs with odd widths: 0.5 is a knot, so the interpolant is exact (error 0) and has no rate;
    # this valid configuration used to crash plot() and describe() after the run
    cfg = universal.Config(**{**universal.PRESETS["smoke"], "targets": ("abs",), "widths": (9, 17),
                              "trained_widths": (), "steepness": ()}, device="cpu")
    df = universal.run(cfg)
    errs = df[df.table == "error"]
    assert (errs[errs.method == universal.INTERP].err_sup == 0).all()
    table = universal.rates(df)
    assert universal.INTERP not in set(table.method)
    assert set(table.method) == {universal.RAMP}  # negative control: positive errors keep their rate
    universal.plot(df, tmp_path / "universal.png")
    assert "abs" in universal.describe(df)
    empty = universal.rates(df[df.method != universal.RAMP])
    assert empty.empty and list(empty.columns) == list(table.columns)
