"""The ensembles experiment: its smoke preset runs, plots, describes, and goes through the CLI;
compiled cells compile each shape once, before the timings; the fastest-against-fastest table."""
from __future__ import annotations

import pandas as pd
import pytest

from approx import compiled_step
from experiments import ensembles
from cli_support import run_smoke


def test_smoke_preset_runs_plots_and_describes(tmp_path):
    cfg = ensembles.Config(**ensembles.PRESETS["smoke"], device="cpu")
    assert cfg.compile == ("off",)  # the smoke preset stays eager (seconds per compile)
    df = ensembles.run(cfg)
    # one row per (repeat, E, engine, compile, mode); the loop times min(E, loop_max) networks
    assert len(df) == cfg.repeats * len(cfg.ensemble_sizes) * len(cfg.engines) * 2
    loop = df[df["mode"] == "loop"]
    assert list(loop.n_timed) == [min(e, cfg.loop_max) for e in cfg.ensemble_sizes for _ in cfg.engines]
    assert (df.time_s > 0).all() and (df.compile_s == 0).all() and df.attrs["compile_s"] == 0.0
    assert (df.time_per_model_ms == 1e3 * df.time_s / df.n_timed).all()
    table = ensembles.speedups(df)
    assert len(table) == len(cfg.ensemble_sizes) * len(cfg.engines)
    assert (table.speedup == table.loop_ms / table.ensemble_ms).all()
    ensembles.plot(df, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = ensembles.describe(df)
    assert "At E = 16" in text and "backprop" in text and "autograd" in text
    assert "Fastest loop" not in text  # one mode: nothing to pick the fastest from


def test_compiled_cells_compile_each_shape_once_before_the_timings(tmp_path):
    compiled_step.clear_cache()  # so that every first fit of a shape compiles here
    cfg = ensembles.Config(ensemble_sizes=(1, 3), engines=("backprop",), compile=("off", "on"),
                           width=5, n_points=8, steps=3, loop_max=2, repeats=2, device="cpu")
    df = ensembles.run(cfg)
    assert len(df) == 2 * 2 * 2 * 2  # repeats, E, compile, mode
    # two shapes compiled, in the warm-up: a single network (an ensemble of one: the E = 1
    # ensemble reuses its graph) and E = 3; none in the timed fits, which reuse them
    assert compiled_step.compiled_count() == 2
    on, off = df[df["compile"] == "on"], df[df["compile"] == "off"]
    assert (off.compile_s == 0).all()
    assert (on[on["mode"] == "loop"].compile_s > 0).all()
    assert (on[(on["mode"] == "ensemble") & (on.n_members == 1)].compile_s == 0).all()
    assert (on[(on["mode"] == "ensemble") & (on.n_members == 3)].compile_s > 0).all()
    # the study's JSON records the warm-up's compiling: each shape's seconds once (the loop's
    # single network is one shape, repeated on every E's row)
    once = pd.concat([df[df["mode"] == "ensemble"].drop_duplicates(["compile", "n_members"]),
                      df[df["mode"] == "loop"].drop_duplicates(["compile"])])
    assert df.attrs["compile_s"] == pytest.approx(once.compile_s.sum(), abs=2e-3)
    assert df.attrs["compile_s"] > 0
    assert len(ensembles.speedups(df)) == 2 * 2
    text = ensembles.describe(df)
    assert "compile='on'" in text and "Fastest loop against fastest ensemble at E = 3: backprop" in text
    ensembles.plot(df, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0


def _cell(compile, n_members, loop_ms, ensemble_ms):
    return [{"engine": "backprop", "compile": compile, "n_members": n_members, "mode": mode,
             "time_per_model_ms": ms} for mode, ms in (("loop", loop_ms), ("ensemble", ensemble_ms))]


def test_best_speedups_take_the_faster_loop_and_the_faster_ensemble():
    # E = 8: the eager loop is faster (1.0 < 2.0), the compiled ensemble is (0.05 < 0.1): the best
    # is 1.0 / 0.05 = 20x; within modes 10x (eager) and 40x (compiled, against its slower loop)
    df = pd.DataFrame(_cell("off", 8, 1.0, 0.1) + _cell("on", 8, 2.0, 0.05)
                      + _cell("off", 2, 1.0, 0.4) + _cell("on", 2, 3.0, 0.5))
    best = ensembles.best_speedups(df).set_index("n_members")
    assert best.loc[8, ["loop_compile", "ensemble_compile"]].tolist() == ["off", "on"]
    assert best.loc[8, "speedup"] == pytest.approx(20.0)
    assert best.loc[2, ["loop_compile", "ensemble_compile"]].tolist() == ["off", "off"]
    assert best.loc[2, "speedup"] == pytest.approx(2.5)
    within = ensembles.speedups(df).set_index(["compile", "n_members"]).speedup
    assert within[("off", 8)] == pytest.approx(10.0) and within[("on", 8)] == pytest.approx(40.0)


def test_config_rejects_bad_values():
    for bad in ({"ensemble_sizes": (0, 4)}, {"steps": 0}, {"dtype": "float16"}, {"engines": ("jax",)},
                {"compile": ("auto",)}, {"compile": ()}):
        with pytest.raises(ValueError):
            ensembles.Config(**bad)


def test_cli_smoke_writes_results(tmp_path):
    frame = run_smoke("ensembles", tmp_path, "ensembles-cpu")
    assert len(frame) == 12


def test_results_from_before_the_compiled_cells_still_describe_and_plot(tmp_path):
    # results/ensembles-cuda (an H100 run) predates the compile column: every fit ran eagerly
    old = pd.DataFrame(_cell("off", 4, 1.0, 0.25)).drop(columns="compile").assign(
        repeat=0, steps=100, width=16, n_points=64, dtype="float64", device="cuda", threads=1)
    assert "compile='off'" in ensembles.describe(old) and "4x" in ensembles.describe(old)
    ensembles.plot(old, tmp_path / "old.png")
    assert (tmp_path / "old.png").stat().st_size > 0


def test_auto_model_check_sets_the_measured_saving_beside_the_models():
    # E = 8, 100 steps: eager 1.0 ms per model, compiled 0.5: 8 x 0.5 ms / 100 = 40 us per step;
    # the model's saving for P = 3 x 16 + 1 = 49 parameters and 64 points
    df = pd.DataFrame(_cell("off", 8, 2.0, 1.0) + _cell("on", 8, 2.5, 0.5)).assign(
        width=16, n_points=64, steps=100)
    row = ensembles.auto_model_check(df).iloc[0]
    assert (row.engine, row.n_members) == ("backprop", 8)
    assert row.measured_saving_us == pytest.approx(40.0)
    model = compiled_step.SAVING_FIXED_S["backprop"] + compiled_step.SAVING_PER_MAC_S["backprop"] * 8 * 49 * 64
    assert row.predicted_saving_us == pytest.approx(1e6 * model)
    assert compiled_step.SAVING_PER_MAC_S["backprop"] > 0  # else the control below is no control
    wider = ensembles.auto_model_check(df.assign(width=32)).iloc[0]  # P = 97: more multiply-adds
    assert wider.predicted_saving_us > row.predicted_saving_us
    assert wider.measured_saving_us == row.measured_saving_us
