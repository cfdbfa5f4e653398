"""The universal experiment: its smoke preset runs, meets the theorems, plots, describes, and runs
from the command line; both engines give the same trained networks."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

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
    assert set(df.table) == {"error", "curve", "lr_sweep"}


def test_rates_skip_exact_fits_and_keep_their_columns_when_empty(tmp_path):
    # abs with odd widths: 0.5 is a knot, so the interpolant is exact (error 0) and has no rate;
    # this valid configuration used to crash plot() and describe() after the run
    cfg = universal.Config(**{**universal.PRESETS["smoke"], "targets": ("abs",), "widths": (9, 17),
                              "trained_widths": (), "sweep_widths": (), "steepness": ()}, device="cpu")
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


def test_certified_sup_finds_what_a_grid_misses():
    from approx import targets
    from approx.constructions import relu_interpolant
    sin1, triangle, step = targets.get("sin1"), targets.get("triangle"), targets.get("step")
    # the interpolant of sin(2 pi x) at knots 0, 1/2, 1 is 0: its sup error is exactly 1, at the
    # interior critical point x = 1/4, not at a breakpoint
    zero = relu_interpolant(sin1, [0.0, 0.5, 1.0])
    sup = universal.certified_sup(zero, sin1, n_grid=64, rtol=1e-6)
    assert sup["sup_method"] == "certified" and sup["sup_lower"] <= 1.0 <= sup["sup_upper"]
    assert sup["sup_upper"] <= 1 + 2e-6  # threshold: the rtol it was refined to (and rounding)
    # negative control: the 64-point grid alone misses it (nearest point 16/63: 0.9997)
    grid = torch.linspace(0, 1, 64, dtype=torch.float64)[:, None]
    assert (zero(grid) - sin1(grid)).abs().max().item() < 1 - 1e-4
    # piecewise linear on piecewise linear: exact. The hat through (0, 0), (1/2, 1), (1, 0) is
    # 1/2 above the triangle max(0, 1 - 4|x - 1/2|) at its kinks x = 1/4, 3/4
    hat = relu_interpolant(triangle, [0.0, 0.5, 1.0])
    sup = universal.certified_sup(hat, triangle, n_grid=2, rtol=1e-3)
    assert sup == {"sup_lower": pytest.approx(0.5, abs=1e-15), "sup_upper": pytest.approx(0.5, abs=1e-15),
                   "sup_method": "exact"}
    # the step has neither kinks nor max|f''|: no interval, and the CSV says so
    sup = universal.certified_sup(hat, step, n_grid=2, rtol=1e-3)
    assert sup["sup_method"] == "grid" and np.isnan(sup["sup_upper"])


def test_the_bound_check_reads_the_certified_sup(smoke):
    _, df = smoke
    built = (df.table == "error") & (df.seed < 0)
    assert set(df[built].sup_method) == {"exact", "certified"}  # smoke: sin1 and abs
    assert (df[built].sup_lower <= df[built].sup_upper).all()
    assert (df[built].err_sup <= df[built].sup_upper * (1 + 1e-12)).all()  # the grid is inside
    assert "Every construction stayed within its proven sup bound" in universal.describe(df)
    # negative control: one certified sup wholly above its bound (grid error untouched) fails the check
    first = df.index[built][0]
    raised = df.copy()
    raised.loc[first, ["sup_lower", "sup_upper"]] = 1.01 * raised.loc[first, "bound"]
    assert "Some constructions exceeded their proven sup bound (1 of" in universal.describe(raised)
    # an interval that straddles the bound decides nothing: counted apart, not as a pass
    straddle = df.copy()
    straddle.loc[first, "sup_upper"] = 1.01 * straddle.loc[first, "bound"]
    text = universal.describe(straddle)
    assert "Every construction stayed within" in text and "and in 1 to within the certificate's gap" in text


@pytest.fixture(scope="module")
def wide_constructions():
    cfg = universal.Config(**{**universal.PRESETS["smoke"], "targets": ("abs", "step"),
                              "widths": (8, 16, 32, 64, 128, 256, 512, 1024), "trained_widths": (),
                              "sweep_widths": (), "steepness": ("8n", "n^2"), "n_eval": 16_385}, device="cpu")
    return universal.run(cfg)


def test_steepness_n2_is_fitted_from_n_128(wide_constructions):
    df = wide_constructions
    late = universal.rates(df, min_width=universal.STEEP_FIT_MIN_WIDTH).set_index(["target", "method"])
    rate = late.loc[("abs", "sigmoid s=n^2")]
    assert rate.n_points == 4 and rate.lo <= -1 <= rate.hi  # threshold: the staircase's O(1/n)
    assert not rate.lo <= -0.5 <= rate.hi  # negative control: a slower rate would be excluded
    assert f"abs {rate.slope:.2f} [{rate.lo:.2f}, {rate.hi:.2f}]" in universal.describe(df)


def test_the_step_converges_in_l2_at_slope_minus_half(wide_constructions):
    df = wide_constructions
    l2 = universal.rates(df, "err_l2").set_index(["target", "method"]).loc[("step", universal.RAMP)]
    # threshold: ramps are exactly 0 or 1 off [a, b], so the error is 0 except on the one ramp
    # (width h = 1/steps) the jump falls in, where it is <= 1; on the N-point grid the mean square
    # is then <= h + 1/N, and the L2 error ~ sqrt(h): slope -1/2
    ramp = df[(df.target == "step") & (df.method == universal.RAMP)]
    assert (ramp.err_l2 <= np.sqrt(1 / ramp.n + 1 / 16_385)).all()
    assert l2.slope == pytest.approx(-0.5, abs=0.05)
    sup = universal.rates(df).set_index(["target", "method"]).loc[("step", universal.RAMP)]
    assert not sup.lo <= -0.5 <= sup.hi  # negative control: the sup error does not fall (>= 1/2)
    assert (df[(df.target == "step") & (df.seed < 0)].err_sup >= 0.5 - 1e-12).all()
    every = universal.rates(df, "err_l2")
    every = every[(every.target == "step") & (every.method != "sigmoid s=100")]  # fixed steepness stalls
    assert len(every) == 4 and every.slope.max() < -0.45  # 8n, n^2, ramp, interpolant all converge
    text = universal.describe(df)
    assert f"Hornik 1991" in text and f"slopes {every.slope.min():.2f} .. {every.slope.max():.2f}" in text


def _synthetic_sweep(slopes: dict) -> pd.DataFrame:
    """Trained relu rows on sin1 with err_sup = width**slope, per learning rate (the first one
    the main table's)."""
    rows = []
    for k, (lr, slope) in enumerate(slopes.items()):
        for w in (2, 8, 16, 32, 64):
            rows.append({"table": "error" if k == 0 else "lr_sweep", "target": "sin1", "kind": "smooth",
                         "method": "trained relu", "width": w, "seed": 0, "lr": lr, "status": "completed",
                         "err_sup": float(w) ** slope})
    return pd.DataFrame(rows)


def test_sweep_rates_fit_each_learning_rate_on_the_sweep_widths():
    df = _synthetic_sweep({0.2: -0.5, 0.05: -1.0})
    table = universal.sweep_rates(df).set_index("lr")
    assert table.loc[0.05, "slope"] == pytest.approx(-1.0) and table.loc[0.2, "slope"] == pytest.approx(-0.5)
    assert (table.n_points == 4).all()  # widths 8 .. 64: n = 2 is below FIT_MIN_WIDTH
    assert table.loc[0.05, "median_sup_widest"] == pytest.approx(64.0 ** -1)
    # negative control: without sweep rows there is nothing to fit
    assert universal.sweep_rates(df[df.table == "error"]).empty


def test_failed_runs_are_named_with_their_error_range():
    from experiments.universal.text import FAIL_FRACTION, _slope_range_text
    df = _synthetic_sweep({0.2: 0.0, 0.05: -1.0})  # lr 0.2: sup error 1 at every width
    sup = universal.rates(df)
    text = " ".join(_slope_range_text(df, sup, ["trained relu"]))
    assert "relu on sin1 at lr 0.2 (sup error 1.00 .. 1.00 over n = 2 .. 64)" in text
    assert "at lr 0.05" not in text.split("fail")[-1]  # 1/64 < FAIL_FRACTION sup|f|: not failed
    assert 1 / 64 < FAIL_FRACTION
    assert "lr 0.05 -1.00 (sin1) .. -1.00 (sin1)" in text and "(lowest median sup error at n = 64: lr 0.05)" in text


def test_lr_sweep_config_checks():
    # an lr_sweep entry equal to lr is skipped: its runs are the main ones
    same = universal.Config(**{**universal.PRESETS["smoke"], "lr": 0.05}, device="cpu")
    assert not [p for p in universal.points(same) if "lr" in p]
    assert len([p for p in universal.points(universal.Config(**universal.PRESETS["smoke"])) if "lr" in p]) == 3
    for bad, match in (({"lr_sweep": (-1.0,)}, "lr_sweep"),
                       ({"sweep_widths": (3,)}, "sweep_widths must be among"), ({"sup_rtol": 0.0}, "sup_rtol"),
                       ({"sup_grid": 1}, "sup_grid")):
        with pytest.raises(ValueError, match=match):
            universal.Config(**bad)
    assert universal.Config(lr_sweep=(), sweep_widths=()).lr_sweep == ()  # negative control: valid
