"""The barron experiment: its smoke preset runs, plots, describes and runs from the command line."""
from __future__ import annotations

import dataclasses

import numpy as np
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
    assert len(trained) == len(cfg.dims) * len(cfg.widths) * len(cfg.families) * cfg.n_seeds
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
    assert set(table.method) == {"trained", "sampled"}
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
    assert set(barron.rates(blown).method) == {"sampled"}
    barron.plot(blown, tmp_path / "blown.png")
    assert (tmp_path / "blown.png").stat().st_size > 0
    # negative control: at the smoke preset's own rate nothing diverges, describe() says so, and
    # the trained runs have rates
    sane = df[df.method == "trained"]
    assert set(sane.status) == {"completed"} and set(barron.rates(df).method) == {"trained", "sampled"}
    assert f"None of the {len(sane)} trained networks diverged" in barron.describe(df)


def test_config_checks():
    for bad in ({"dims": (0,)}, {"families": ("sin1",)}, {"widths": ()}, {"activation": "gelu"},
                {"engine": "jax"}, {"batch_size": 10**6}, {"n_draws": 0}, {"dtype": "half"},
                {"beta2": -0.1}):
        with pytest.raises(ValueError):
            barron.Config(**bad)


def test_cli_smoke_writes_results(tmp_path):
    frame = run_smoke("barron", tmp_path)
    assert set(frame.method) == {"trained", "sampled"}
