"""Derived ratios and target verdicts, on a hand-made table whose answers are known."""
from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.benchmark import analysis
from approx.bench.measure import COLUMNS


def _row(**kw) -> dict:
    base = dict(engine="autograd", mode="eager", device="cpu", device_name="cpu", dtype="float32",
                precision="float32", sweep="heatmap", depth=2, width=16, batch=64, d_in=1, ensemble=1,
                threads=1, time_ms=1.0, flops=1e6, status="ok")
    base.update(kw)
    return base


def _table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def test_speedup_uses_the_most_cpu_threads_and_finds_the_crossover():
    rows = []
    for width, cpu_ms, gpu_ms in ((16, 1.0, 2.0), (64, 4.0, 2.0), (256, 3.0, 4.0), (1024, 40.0, 4.0), (4096, 400.0, 5.0)):
        rows += [_row(width=width, threads=1, time_ms=10 * cpu_ms), _row(width=width, threads=2, time_ms=cpu_ms),
                 _row(width=width, device="cuda", time_ms=gpu_ms)]
    rows.append(_row(width=16, status="error: RuntimeError: boom", time_ms=np.nan, threads=4))
    speed = analysis.speedups(_table(rows)).sort_values("width")
    assert list(speed["cpu_threads"]) == [2] * 5  # the failed 4-thread row is not a measurement
    assert np.allclose(speed["speedup"], [0.5, 2.0, 0.75, 10.0, 80.0])
    cross = analysis.crossover(speed)
    assert cross["crossover_width"].tolist() == [1024]  # 64 wins but 256 loses again


def test_ensemble_speedup_and_its_target_verdicts():
    rows = []
    for e, loop_ms, batched_ms in ((1, 1.0, 1.0), (16, 16.0, 1.5), (128, 128.0, 4.0)):
        for engine in ("backprop", "autograd"):
            rows += [_row(sweep="ensemble", engine=engine, mode="loop", depth=1, ensemble=e, time_ms=loop_ms),
                     _row(sweep="ensemble", engine=engine, mode="eager", depth=1, ensemble=e, time_ms=batched_ms)]
    df = _table(rows)
    ens = analysis.ensemble_speedups(df)
    assert np.allclose(ens[ens["engine"] == "backprop"]["speedup"], [1.0, 16 / 1.5, 32.0])
    targets = analysis.targets(df).set_index("target")["verdict"]
    cpu = [t for t in targets.index if t.startswith("cpu: 128 small networks")]
    assert len(cpu) == 2 and all(targets[t] == "met" for t in cpu)  # 32x >= 10x
    # negative control: a loop only 5x slower misses the 10x target
    slow = df.copy()
    slow.loc[(slow["mode"] == "eager") & (slow["ensemble"] == 128), "time_ms"] = 128.0 / 5
    targets = analysis.targets(slow).set_index("target")["verdict"]
    assert all(targets[t] == "missed" for t in cpu)


def test_engine_ratio_bands_and_gpu_targets_not_measured_on_a_cpu_table():
    rows = []
    for width, autograd_ms, backprop_ms in ((16, 0.2, 0.09), (256, 2.0, 1.8), (1024, 20.0, 19.0)):
        for engine, ms in (("autograd", autograd_ms), ("backprop", backprop_ms), ("module", autograd_ms)):
            rows.append(_row(sweep="width", engine=engine, width=width, time_ms=ms,
                             forward_ms=ms / 3, reverse_ms=2 * ms / 3))
    targets = analysis.targets(_table(rows)).set_index("target")
    band = lambda lo: next(t for t in targets.index if "/ autograd" in t and f"takes {lo}-" in t)  # noqa: E731
    assert targets.loc[band("0"), "verdict"] == "met"  # 0.45 <= 0.5
    assert targets.loc[band("0.5"), "verdict"] == "missed"  # 0.9 > 0.85
    assert targets.loc[band("10"), "verdict"] == "met"  # 0.95 <= 1.05
    assert targets.loc["cpu: reverse / forward <= 3, backprop", "verdict"] == "met"  # 2
    gpu = [t for t in targets.index if t.startswith("cuda")]
    assert gpu and all(targets.loc[t, "verdict"] == "not measured" for t in gpu)


def test_reverse_forward_ratio_its_table_and_where_it_is_missed():
    # autograd: a fixed 0.3 ms reverse part (5x a 0.06 ms forward) at the small size, 2x at the
    # large one; backprop 2x at both
    rows = []
    for width, forward, reverse_autograd in ((16, 0.06, 0.3), (1024, 2.0, 4.0)):
        for engine, reverse in (("autograd", reverse_autograd), ("backprop", 2 * forward)):
            rows.append(_row(sweep="width", engine=engine, width=width, forward_ms=forward,
                             gradient_ms=forward + reverse, reverse_ms=reverse, time_ms=forward + reverse + 0.01))
    df = _table(rows)
    table = analysis.ratio_table(df, "cpu", "float32")
    assert list(table["width"]) == [16, 1024]  # shortest forward pass first
    assert np.allclose(table["autograd"], [5.0, 2.0]) and np.allclose(table["backprop"], [2.0, 2.0])
    assert analysis.ratio_table(df, "cuda", "float32").empty
    targets = analysis.targets(df).set_index("target")
    row = targets.loc["cpu: reverse / forward <= 3, autograd"]
    assert row["verdict"] == "missed" and row["measured"] == "5.00"
    assert "width 16, batch 64" in row["where"] and "2.00-2.00 over the 1 rows" in row["where"]
    assert targets.loc["cpu: reverse / forward <= 3, backprop", "verdict"] == "met"
    # negative control: at 2.9x the small size meets the target
    df.loc[(df["engine"] == "autograd") & (df["width"] == 16), "reverse_ms"] = 0.174
    assert analysis.targets(df).set_index("target").loc["cpu: reverse / forward <= 3, autograd", "verdict"] == "met"
