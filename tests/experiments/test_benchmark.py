"""The benchmark experiment: the smoke preset runs on every device and yields every column, checked
numbers and a figure; the grid, the limits and the fail-soft rows behave as documented; its
analysis (derived ratios and target verdicts) on a hand-made table whose answers are known."""
from __future__ import annotations

import importlib.util
from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from approx.bench import steps as steps_module
from approx.bench.measure import COLUMNS, Bench, Cell, Job
from approx.run.cli import main as cli_main
from approx.plotting import figure
from experiments import benchmark
from experiments.benchmark import analysis
from experiments.benchmark import figure as benchmark_figure

SMOKE = benchmark.Config(**benchmark.PRESETS["smoke"])
JAX = importlib.util.find_spec("jax") is not None  # the peer: in the dev extra


@pytest.fixture(scope="module")
def smoke_cpu():
    return benchmark.run(replace(SMOKE, device="cpu"))


def test_smoke_runs_with_every_column_and_checked_numbers(smoke_cpu, tmp_path):
    df = smoke_cpu
    assert list(df.columns) == COLUMNS
    if not JAX:  # the JAX peer's rows are listed as skipped
        assert (df.loc[df["engine"] == "jax", "status"] == benchmark.NO_JAX).all()
        df = df[df["engine"] != "jax"]
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", "status"].tolist()
    # no graph, compile on a CPU; the smoke preset's peer cells are not compiled
    assert set(df["sweep"]) == {"peak", "width", "batch", "corner", "heatmap", "ensemble", "peer"}
    steps = df[df["mode"] != "peak"]
    assert set(steps["engine"]) == {"backprop", "autograd", "module"} | ({"jax"} if JAX else set())
    assert set(steps["mode"]) == {"eager", "loop"} | ({"jit-vmap-scan"} if JAX else set())
    assert set(steps.loc[steps["sweep"] == "peer", "activation"]) == {"tanh"}
    assert set(steps.loc[steps["sweep"] != "peer", "activation"]) == {"relu"}
    assert (steps["time_ms"] > 0).all() and (steps["iqr_ms"] >= 0).all()
    assert (steps["peak_fraction"] > 0).all()
    # every CPU row, peaks included, says how much CPU its timed calls used (a ratio, not a time)
    assert (df["cpu_per_wall"] > 0).all()
    # eager single networks carry their step's products timed alone; loops and ensembles (the
    # ensemble sweep's E = 1 too, a stacked ensemble of one) do not
    single = (steps["mode"] == "eager") & (steps["ensemble"] == 1) & (steps["engine"] != "jax") & (
        steps["sweep"] != "ensemble")
    for column in ("products_ms", "descent_ms"):  # ... and their update, timed alone
        assert (steps.loc[single, column] > 0).all() and steps.loc[~single, column].isna().all()
    peaks = df[df["mode"] == "peak"]
    assert set(peaks["engine"]) == {"matmul"} | ({"jax"} if JAX else set())  # JAX's own product beside torch's
    # the same step in float64 against the float64 reference: rounding only
    assert (df.loc[df["precision"] == "float64", "rel_error"] < 1e-12).all()
    # float32: unit roundoff 6e-8 times modest condition numbers
    assert (df.loc[df["precision"] == "float32", "rel_error"] < 1e-4).all()
    assert (df.loc[df["precision"] == "float32", "rel_error"] > 1e-10).all()  # really float32
    assert (steps["samples_per_s"] == steps["ensemble"] * steps["batch"] / (steps["time_ms"] / 1e3)).all()
    assert (steps["flops_per_s"] / steps["peak_flops_per_s"] == steps["peak_fraction"]).all()
    timed_parts = steps["sweep"].isin(["width", "batch"]) | ((steps["sweep"] == "peer") & (steps["mode"] == "eager"))
    parts = steps[timed_parts]
    assert parts["forward_ms"].notna().all() and parts["gradient_ms"].notna().all()
    assert steps.loc[~timed_parts, "forward_ms"].isna().all()
    # reverse = gradient - forward (the update in neither), update = step - gradient
    assert (parts["reverse_ms"] == parts["gradient_ms"] - parts["forward_ms"]).all()
    assert (parts["update_ms"] == parts["time_ms"] - parts["gradient_ms"]).all()
    assert (parts["forward_ms"] > 0).all() and (parts["gradient_ms"] > 0).all()
    benchmark.plot(df, tmp_path / "benchmark-cpu.png")
    assert (tmp_path / "benchmark-cpu.png").stat().st_size > 0 and (tmp_path / "benchmark-cpu.pdf").exists()
    text = benchmark.describe(df)
    assert "| target | measured | where | verdict |" in text and "not measured" in text


def test_cpu_figure_says_there_is_no_cuda(smoke_cpu):
    fig, axes = figure(1, 2)
    benchmark_figure._heatmap(fig, axes[0, 0], smoke_cpu)  # the CPU's width x batch cells, titled as such
    assert "no CUDA device in this run" in axes[0, 0].get_title()
    cells = smoke_cpu[(smoke_cpu["sweep"] == "heatmap") & (smoke_cpu["status"] == "ok")]
    assert len(axes[0, 0].texts) == len(cells) > 0
    benchmark_figure._heatmap(fig, axes[0, 1], smoke_cpu[smoke_cpu["sweep"] != "heatmap"])  # nothing to draw
    assert [t.get_text() for t in axes[0, 1].texts][0] == "no CUDA device in this run"
    matplotlib.pyplot.close(fig)


def _with_fake_gpu_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The CPU table plus made-up CUDA rows of every kind a GPU run writes (for the drawing code only)."""
    gpu = df[df["status"] == "ok"].copy()
    gpu["device"], gpu["device_name"], gpu["time_ms"] = "cuda", "made-up GPU", gpu["time_ms"] / 10
    heat = gpu[gpu["sweep"] == "width"].copy()
    heat["sweep"] = "heatmap"
    heat_cpu = heat.assign(device="cpu", time_ms=heat["time_ms"] * 10 ** np.linspace(-1, 2, len(heat)))
    graph = gpu[(gpu["sweep"] == "width") & (gpu["engine"] != "module")].copy()
    graph["mode"], graph["sweep"], graph["eager_ms"] = "cuda-graph", "graph", graph["time_ms"] * 6
    comp = gpu[(gpu["sweep"] == "width") & (gpu["engine"] == "module")].copy()
    comp["mode"], comp["sweep"], comp["compile_ms"] = "compile", "compile", 2e4
    return pd.concat([df, gpu, heat, heat_cpu, graph, comp], ignore_index=True)


def test_figure_and_paragraph_of_a_gpu_table(smoke_cpu, tmp_path):
    df = _with_fake_gpu_rows(smoke_cpu)
    fig, axes = figure()
    benchmark_figure._heatmap(fig, axes[0, 0], df)
    labels = [t.get_text() for t in axes[0, 0].texts]
    assert "no CUDA device in this run" not in labels and len(labels) >= 2  # one number per cell
    benchmark_figure._split(axes[0, 0], df)
    assert "CUDA" in axes[0, 0].get_title()  # beside a GPU, the split shows the GPU's steps
    matplotlib.pyplot.close(fig)
    benchmark.plot(df, tmp_path / "benchmark-cuda.png")
    assert (tmp_path / "benchmark-cuda.png").exists()
    text = benchmark.describe(df)
    assert "made-up GPU" in text and "GPU/CPU speed-up per cell" in text
    table = analysis.targets(df).set_index("target")
    assert table.loc["cuda: small network as a CUDA graph >= 5x faster than eager, backprop", "measured"] == "6.00"


def test_output_name_follows_the_device_and_cuda_without_cuda_is_an_error():
    assert benchmark.output_name(replace(SMOKE, device="cpu")) == "benchmark-cpu"
    # the peer cells alone never overwrite the whole benchmark's files
    assert benchmark.output_name(replace(SMOKE, device="cpu", peer_only=True)) == "benchmark-peer-cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            benchmark.output_name(replace(SMOKE, device="cuda"))
        with pytest.raises(ValueError, match="CUDA is not available"):
            benchmark.run(replace(SMOKE, device="cuda"))


@pytest.mark.parametrize("override, match", [
    (dict(engines=("jax",)), "unknown entry 'jax' in engines"),
    (dict(precisions=("fp8",)), "unknown entry 'fp8' in precisions"),
    (dict(thread_counts=("0",)), "thread_counts must be 'all' or a whole number"),
    (dict(widths=(0,)), r"widths must be an integer in \[1, 65536\], got 0"),
    (dict(min_run_time_s=0.0), "min_run_time_s"),
    (dict(peer_ensembles=(0,)), r"peer_ensembles must be an integer in \[1, "),
    (dict(peer_widths=()), "peer_widths"),
    (dict(peer_steps=0), r"peer_steps must be an integer in \[1, 10000\], got 0"),
    (dict(peer_activation="softplus"), "peer_activation"),
    (dict(peer_scan_engines=("module",)), "unknown entry 'module' in peer_scan_engines; allowed: backprop, autograd"),
    (dict(peer_ensembles=(), peer_only=True), "peer_only=True needs peer cells"),
    (dict(peer_ensembles=(65536,), peer_widths=(1024,)), "a peer activation would be"),
])
def test_bad_config_is_a_value_error(override, match):
    with pytest.raises(ValueError, match=match):
        replace(SMOKE, **override)


def test_a_gpu_run_times_the_cpu_on_the_same_cells_within_its_flop_cap():
    # building the job list touches no GPU, so the full preset's plan is checked here
    cfg = benchmark.Config(**benchmark.PRESETS["full"])
    jobs = benchmark.jobs(cfg, torch.device("cuda"))
    cuda = {(j.cell, j.engine, j.precision) for j in jobs if j.device == "cuda"}
    cpu = [j for j in jobs if j.device == "cpu"]
    assert cpu and all(j.cell.flops <= cfg.cpu_max_flops for j in cpu)
    assert all(j.cell.ensemble * j.cell.batch * j.cell.width <= cfg.cpu_max_activations for j in cpu)
    assert any(j.cell.ensemble * j.cell.batch * j.cell.width > cfg.cpu_max_activations for j in jobs)  # GPU only
    # the peer cells compare engines on one CPU thread (JAX runs on the CPU): a CPU sweep only
    assert all((j.cell, j.engine, j.precision) in cuda for j in cpu if j.cell.sweep != "peer")
    assert {j.cell.sweep for j in cpu} - {j.cell.sweep for j in jobs if j.device == "cuda"} == {"peer"}
    assert {j.mode for j in jobs} == {"eager", "loop", "cuda-graph", "compile", "compile-reduce-overhead",
                                      "compiled-step", "compiled-scan", "jit-vmap-scan"}
    assert {j.precision for j in jobs if j.device == "cuda"} == {"float64", "float32", "tf32", "bf16-autocast"}
    assert {j.precision for j in cpu} == {"float64", "float32"}
    assert max(j.cell.width for j in jobs) == 4096 and max(j.cell.batch for j in jobs) == 65536
    assert {j.cell.ensemble for j in jobs} >= {1, 1024} and {j.cell.depth for j in jobs} >= {1, 2, 4}
    assert [j.mode for j in jobs][-1].startswith("compile")  # compilation, the slowest, runs last


def test_failing_and_skipped_rows_are_kept_and_the_run_goes_on(monkeypatch):
    def broken(*args):
        raise RuntimeError("engine exploded\nsecond line")

    monkeypatch.setitem(steps_module._LOSS_AND_GRAD, "backprop", broken)
    cfg = replace(SMOKE, device="cpu", widths=(16,), corner_d_ins=(1,), ensemble_sizes=(2,))
    df = benchmark.run(cfg)
    failed = df[df["engine"] == "backprop"]
    assert (failed["status"] == "error: RuntimeError: engine exploded").all()
    assert failed["time_ms"].isna().all()
    assert (df[df["engine"] != "backprop"]["status"] == "ok").all()
    skipped = benchmark.run(replace(cfg, time_budget_s=1e-9))
    assert skipped["status"].str.startswith("skipped: time budget").sum() == len(benchmark.jobs(cfg, torch.device("cpu")))


def test_rel_error_catches_a_wrong_gradient(monkeypatch):
    # negative control for the rel_error column: a gradient 1.01 times too large shows as ~1e-2
    from approx import backprop

    scaled = lambda *a: (lambda loss, grads: (loss, [1.01 * g for g in grads]))(*backprop.loss_and_grad(*a))  # noqa: E731
    monkeypatch.setitem(steps_module._LOSS_AND_GRAD, "backprop", scaled)
    bench = Bench(seed=0, lr=1e-3, min_run_time_s=0.01, peak_sizes={"cpu": 32})
    row = bench.measure(Job(Cell("width", 1, 8, 16), "backprop", "eager", "float64", "cpu", 1))
    assert row["status"] == "ok" and row["rel_error"] == pytest.approx(0.01, rel=1e-6)


def test_a_compiled_scan_row_is_timed_per_step_and_checked_by_a_scan_of_one():
    bench = Bench(seed=0, lr=1e-3, min_run_time_s=0.01, peak_sizes={"cpu": 32})
    cell = Cell("peer", 1, 8, 16, ensemble=2, stacked=True, activation="tanh")
    row = bench.measure(Job(cell, "backprop", "compiled-scan", "float64", "cpu", 1, peer_steps=3))
    assert row["status"] == "ok", row["status"]
    assert row["rel_error"] < 1e-12  # float64: the update of one compiled step is the gradient's
    # the first call compiled and took K = 3 steps; compile_ms is what is left of it
    assert row["compile_ms"] == pytest.approx(row["first_step_ms"] - 3 * row["time_ms"])
    assert row["compile_ms"] > 100 * row["time_ms"]


@pytest.mark.parametrize("pin", [True, False])
def test_cpu_rows_are_pinned_to_their_cores_unless_told_not_to(monkeypatch, pin):
    import contextlib

    from approx.bench import measure

    pinned: list[int] = []

    @contextlib.contextmanager
    def recording(n):
        pinned.append(n)
        yield

    monkeypatch.setattr(measure, "on_cores", recording)
    bench = Bench(seed=0, lr=1e-3, min_run_time_s=0.01, peak_sizes={"cpu": 32}, pin_cores=pin)
    row = bench.measure(Job(Cell("width", 1, 8, 16), "backprop", "eager", "float64", "cpu", 1))
    assert row["status"] == "ok" and row["cpu_per_wall"] > 0
    # the row and the peak it is divided by, each on one core; with pin_cores=false neither
    assert pinned == ([1, 1] if pin else [])


def test_cli_writes_the_device_named_files(tmp_path):
    argv = ["run", "benchmark", "--preset", "smoke", "--device", "cpu", "--out", str(tmp_path),
            "--set", "widths=16", "--set", "corner_d_ins=1", "--set", "ensemble_sizes=2"]
    assert cli_main(argv) == 0
    assert {p.name for p in tmp_path.glob("benchmark-cpu.*")} == {f"benchmark-cpu.{s}" for s in ("csv", "png", "pdf", "json")}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_smoke_on_cuda_measures_every_mode_and_precision():
    df = benchmark.run(replace(SMOKE, device="cuda", precisions=("float64", "float32", "tf32", "bf16-autocast")))
    assert list(df.columns) == COLUMNS
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", ["engine", "mode", "precision", "status"]].to_string()
    cuda = df[df["device"] == "cuda"]
    assert set(cuda["mode"]) == {"peak", "eager", "loop", "cuda-graph", "compile", "compile-reduce-overhead"}
    assert (df["device"] == "cpu").any()  # the CPU side of the speed-ups, from the same run
    err = cuda.groupby("precision")["rel_error"].max()
    assert err["float64"] < 1e-12 and err["float32"] < 1e-4
    assert err["tf32"] < 1e-2 and err["bf16-autocast"] < 1e-1  # 10- and 7-bit mantissas
    graphs = cuda[cuda["mode"] == "cuda-graph"]
    assert (graphs["capture_ms"] > 0).all() and (graphs["eager_ms"] > 0).all()
    assert (cuda[cuda["mode"].str.startswith("compile")]["compile_ms"].notna()).all()
    assert len(benchmark.describe(df)) > 0


# ---------------------------------------------------------------------- analysis
# Derived ratios and target verdicts, on a hand-made table whose answers are known.
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
    df = _table(rows)
    df.loc[(df["engine"] == "autograd") & (df["width"] == 256), "peak_fraction"] = 0.875
    targets = analysis.targets(df).set_index("target")
    band = lambda lo: next(t for t in targets.index if "/ autograd" in t and f"takes {lo}-" in t)  # noqa: E731
    assert targets.loc[band("0"), "verdict"] == "met"  # 0.45 <= 0.5
    assert targets.loc[band("0.5"), "verdict"] == "missed"  # 0.9 > 0.85
    # where it is missed, and the least the ratio could be there: autograd's products at the peak
    assert targets.loc[band("0.5"), "where"] == ("worst of 1 cells at width 256, batch 64, float32; there the "
                                                 "products alone, at torch's peak, take 0.88 of autograd's step")
    assert targets.loc[band("0"), "where"] == "worst of 1 cells at width 16, batch 64, float32"  # no peak: no share
    # the products timed alone, where a row has them, are the tighter floor and are preferred
    df.loc[(df["engine"] == "autograd") & (df["width"] == 256), "products_ms"] = 1.8
    where = analysis.targets(df).set_index("target").loc[band("0.5"), "where"]
    assert where.endswith("there the step's matrix products, timed alone, take 0.90 of autograd's step")
    # ... and with the update timed alone, where a row has it: the least any engine's step takes
    df.loc[(df["engine"] == "autograd") & (df["width"] == 256), "descent_ms"] = 0.1
    where = analysis.targets(df).set_index("target").loc[band("0.5"), "where"]
    assert where.endswith("take 0.90 of autograd's step, and with the update theta <- theta - lr g, "
                          "also timed alone, 0.95")
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


def test_without_jax_the_peer_rows_are_skipped_in_one_line(monkeypatch, capsys, tmp_path):
    from approx.bench import jax_peer

    def missing():
        raise ImportError("No module named 'jax'")

    monkeypatch.setattr(jax_peer, "import_jax", missing)
    cfg = replace(SMOKE, device="cpu", peer_only=True, peer_ensembles=(2,))
    df = benchmark.run(cfg)
    lines = [line for line in capsys.readouterr().err.splitlines() if "jax" in line]
    assert lines == ["benchmark: jax is not installed, so the JAX peer's rows are skipped (pip install 'approx[peers]')"]
    peer = df[df["engine"] == "jax"]
    assert len(peer) == 1 and (peer["status"] == benchmark.NO_JAX).all() and peer["time_ms"].isna().all()
    rest = df[(df["engine"] != "jax") & (df["mode"] != "peak")]
    assert set(rest["engine"]) == {"backprop", "autograd"} and (rest["status"] == "ok").all()
    assert set(rest["sweep"]) == {"peer"}  # peer_only: nothing else is measured
    benchmark.plot(df, tmp_path / "benchmark-peer-cpu.png")  # its two panels, without JAX's line
    assert (tmp_path / "benchmark-peer-cpu.png").stat().st_size > 0
    assert "JAX" in benchmark.describe(df)
    # control: with jax importable the same run times the peer (where jax is installed)
    if JAX:
        monkeypatch.undo()
        capsys.readouterr()
        df = benchmark.run(cfg)
        assert "jax is not installed" not in capsys.readouterr().err
        assert (df.loc[df["engine"] == "jax", "status"] == "ok").all()


def test_peer_cells_time_every_engine_in_the_same_cells():
    cfg = benchmark.Config(**benchmark.PRESETS["peer"])
    jobs = benchmark.jobs(cfg, torch.device("cpu"))
    cells = {j.cell for j in jobs}
    assert {(c.ensemble, c.width, c.depth, c.batch, c.activation) for c in cells} == {
        (e, w, 2, 64, "tanh") for e in (1, 64, 1024) for w in (16, 64)}
    for cell in cells:
        assert {(j.engine, j.mode) for j in jobs if j.cell == cell} == {
            ("jax", "jit-vmap-scan"), ("backprop", "eager"), ("autograd", "eager"),
            ("backprop", "compiled-step"), ("autograd", "compiled-step"), ("backprop", "compiled-scan")}
    assert all(j.precision == "float32" and j.threads == 1 and j.device == "cpu" for j in jobs)
    assert all(j.peer_steps == cfg.peer_steps for j in jobs)
    assert [j.mode for j in jobs][-1] == "compiled-scan"  # compilation, the slowest, runs last
    both = benchmark.jobs(replace(cfg, peer_scan_engines=("backprop", "autograd")), torch.device("cpu"))
    assert {j.engine for j in both if j.mode == "compiled-scan"} == {"backprop", "autograd"}
    none = benchmark.jobs(replace(cfg, peer_scan_engines=()), torch.device("cpu"))
    assert not any(j.mode == "compiled-scan" for j in none)
    assert not benchmark.jobs(replace(cfg, peer_compiled=False), torch.device("cpu"))[-1].mode.startswith("compile")


def test_peer_table_its_phases_and_target_verdicts():
    # per model-step microseconds chosen so that every answer is known: time_ms = us * E / 1e3
    times_us = {  # (E, width) -> backprop, autograd, backprop compiled, autograd compiled, jax
        (1, 16): (80.0, 150.0, 60.0, 70.0, 20.0), (64, 16): (12.0, 12.0, 6.0, 7.0, 6.0),
        (1024, 16): (10.0, 11.0, 5.0, 6.0, 6.0)}
    rows = []
    for (e, width), us in times_us.items():
        columns = ["backprop", "autograd", "backprop_compiled", "autograd_compiled", "jax"]
        for (engine, mode), t in zip([analysis.PEER_ENGINES[c] for c in columns], us):
            parts = dict(forward_ms=0.25 * t * e / 1e3, reverse_ms=0.5 * t * e / 1e3,
                         update_ms=0.25 * t * e / 1e3) if mode == "eager" else {}
            rows.append(_row(sweep="peer", engine=engine, mode=mode, ensemble=e, width=width,
                             time_ms=t * e / 1e3, **parts))
    df = _table(rows)
    table = analysis.peer_table(df).set_index("ensemble")
    assert np.allclose(table["jax"], [20.0, 6.0, 6.0]) and np.allclose(table["backprop"], [80.0, 12.0, 10.0])
    assert list(table["best"]) == ["backprop_compiled"] * 3
    assert np.allclose(table["best_per_jax"], [3.0, 1.0, 5.0 / 6.0])
    assert np.allclose(table["backprop_per_autograd"], [80 / 150, 1.0, 10 / 11])
    # the products' floor: flops / E at torch's peak (here no peak: NaN, and no sentence claims one)
    assert table["products_us"].isna().all()
    with_peak = df.assign(peak_flops_per_s=1e12)  # 1e6 FLOPs per step at 1e12 FLOP/s: 1 us per step
    table = analysis.peer_table(with_peak).set_index("ensemble")
    assert np.allclose(table["products_us"], [1.0, 1 / 64, 1 / 1024])
    assert np.allclose(table["products_per_jax"], [1 / 20, 1 / 64 / 6, 1 / 1024 / 6])
    where = analysis.targets(with_peak).set_index("target")["where"]
    assert where["CPU 1 thread, E >= 64: approx's best engine at or below JAX per model-step"] == (
        "worst of 2 cells at E = 64, width 16; there torch's products alone, at its peak, take 0.00 of JAX's time")
    phases = analysis.peer_phases(df)
    assert set(phases["engine"]) == {"backprop", "autograd"} and len(phases) == 6
    assert np.allclose(phases["forward_us"] + phases["reverse_us"] + phases["update_us"],
                       [times_us[(r.ensemble, r.width)][r.engine == "autograd"] for r in phases.itertuples()])
    assert analysis.engine_ratios(df).empty and analysis.reverse_forward(df).empty  # peers stay apart
    verdicts = analysis.targets(df).set_index("target")["verdict"]
    peer_targets = [t for t in verdicts.index if t.startswith("CPU 1 thread, E") or "every ensemble cell" in t]
    assert len(peer_targets) == 4 and all(verdicts[t] == "met" for t in peer_targets)
    # negative control: JAX four times as fast at E = 1024, autograd's compiled step faster than
    # backprop's, and the E = 1 gap beyond 5x: each target is missed
    slow = df.copy()
    slow.loc[(slow["engine"] == "jax") & (slow["ensemble"] == 1024), "time_ms"] /= 4
    slow.loc[(slow["engine"] == "jax") & (slow["ensemble"] == 1), "time_ms"] /= 4
    slow.loc[(slow["mode"] == "compiled-step") & (slow["engine"] == "autograd"), "time_ms"] /= 2
    slow.loc[(slow["mode"] == "eager") & (slow["engine"] == "autograd") & (slow["ensemble"] == 64), "time_ms"] /= 2
    verdicts = analysis.targets(slow).set_index("target")["verdict"]
    assert all(verdicts[t] == "missed" for t in peer_targets)


def test_the_default_preset_times_the_peer_after_the_first_benchmark_and_compiles_none_of_it():
    jobs = benchmark.jobs(benchmark.Config(**benchmark.PRESETS["default"]), torch.device("cpu"))
    sweeps = [j.cell.sweep for j in jobs]
    first_peer = sweeps.index("peer")
    assert "peer" not in sweeps[:first_peer] and set(sweeps[first_peer:]) <= {"peer", "compile"}
    peer = [j for j in jobs if j.cell.sweep == "peer"]
    assert {j.mode for j in peer} == {"eager", "jit-vmap-scan"}  # control: the peer preset compiles (above)
    assert {(j.cell.ensemble, j.cell.width) for j in peer} == {(e, w) for e in (1, 64, 1024) for w in (16, 64)}
