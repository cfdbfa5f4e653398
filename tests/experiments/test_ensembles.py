"""The ensembles experiment: its smoke preset runs, plots, describes, and goes through the CLI."""
from __future__ import annotations

import pytest

from experiments import ensembles
from cli_support import run_smoke


def test_smoke_preset_runs_plots_and_describes(tmp_path):
    cfg = ensembles.Config(**ensembles.PRESETS["smoke"], device="cpu")
    df = ensembles.run(cfg)
    # one row per (repeat, E, engine, mode); the loop times min(E, loop_max) networks
    assert len(df) == cfg.repeats * len(cfg.ensemble_sizes) * len(cfg.engines) * 2
    loop = df[df["mode"] == "loop"]
    assert list(loop.n_timed) == [min(e, cfg.loop_max) for e in cfg.ensemble_sizes for _ in cfg.engines]
    assert (df.time_s > 0).all()
    assert (df.time_per_model_ms == 1e3 * df.time_s / df.n_timed).all()
    table = ensembles.speedups(df)
    assert len(table) == len(cfg.ensemble_sizes) * len(cfg.engines)
    assert (table.speedup == table.loop_ms / table.ensemble_ms).all()
    ensembles.plot(df, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = ensembles.describe(df)
    assert "At E = 16" in text and "backprop" in text and "autograd" in text


def test_config_rejects_bad_values():
    for bad in ({"ensemble_sizes": (0, 4)}, {"steps": 0}, {"dtype": "float16"}, {"engines": ("jax",)}):
        with pytest.raises(ValueError):
            ensembles.Config(**bad)


def test_cli_smoke_writes_results(tmp_path):
    frame = run_smoke("ensembles", tmp_path, "ensembles-cpu")
    assert len(frame) == 12
