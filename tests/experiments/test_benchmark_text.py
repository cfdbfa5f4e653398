"""experiments/benchmark/text.py: GPU peaks are quoted against the card's datasheet."""
from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.benchmark import describe

# the benchmark's CSV columns (results/benchmark-cuda.csv)
COLUMNS = ["engine", "mode", "device", "device_name", "dtype", "precision", "sweep", "depth", "width",
           "batch", "d_in", "ensemble", "threads", "time_ms", "iqr_ms", "n_samples", "samples_per_s",
           "flops", "flops_per_s", "peak_flops_per_s", "peak_fraction", "rel_error", "first_step_ms",
           "forward_ms", "gradient_ms", "reverse_ms", "update_ms", "eager_ms", "capture_ms", "compile_ms",
           "row_s", "status"]


def _peaks(*cards: tuple[str, float]) -> pd.DataFrame:
    """Per (device name, measured FLOP/s): a float32 matmul-peak row and a training step at half it."""
    rows = []
    for name, rate in cards:
        peak = dict.fromkeys(COLUMNS, np.nan) | {
            "engine": "matmul", "mode": "peak", "device": "cuda", "device_name": name, "dtype": "float32",
            "precision": "float32", "sweep": "peak", "depth": 0, "width": 8192, "batch": 8192, "d_in": 1,
            "ensemble": 1, "threads": 1, "flops_per_s": rate, "peak_flops_per_s": rate, "peak_fraction": 1.0,
            "status": "ok"}
        step = peak | {"engine": "autograd", "mode": "eager", "sweep": "size", "depth": 2, "width": 1024,
                       "batch": 1024, "flops_per_s": rate / 2, "peak_fraction": 0.5}
        rows += [peak, step]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_gpu_peak_is_quoted_against_the_datasheet():
    # half the H100 SXM's 67 TFLOP/s fp32 measured: the text says 50% of the datasheet's figure
    text = describe(_peaks(("NVIDIA H100 80GB HBM3", 33.5e12)))
    assert "torch, cuda float32 33.5 TFLOP/s (50% of the NVIDIA H100 80GB HBM3 datasheet's 67 TFLOP/s)" in text
    assert ("utilisation: 50% of torch's measured float32 peak (autograd eager, width 1024, batch 1024, depth 2; "
            "25% of the NVIDIA H100 80GB HBM3 datasheet's 67 TFLOP/s)") in text
    # negative control: a card with no datasheet entry gets no invented figure
    text = describe(_peaks(("NVIDIA Made-Up 9000", 1e13)))
    assert "no datasheet float32 figure on file for NVIDIA Made-Up 9000" in text and "% of the NVIDIA" not in text


def test_the_peer_paragraph_quotes_the_cores_used_and_both_libraries_products():
    from experiments.benchmark.text import _peer_cores

    base = dict.fromkeys(COLUMNS, np.nan) | {"device": "cpu", "device_name": "CPU", "dtype": "float32",
                                              "precision": "float32", "threads": 1, "status": "ok"}
    peaks = [base | {"engine": engine, "mode": "peak", "sweep": "peak", "width": 1024, "flops_per_s": rate}
             for engine, rate in (("matmul", 1e11), ("jax", 2.5e11))]
    peer = [base | {"engine": "jax", "mode": "jit-vmap-scan", "sweep": "peer", "width": 16, "cpu_per_wall": c}
            for c in (0.97, 0.999)]
    df = pd.DataFrame(peaks + peer).assign(cpu_per_wall=lambda d: d["cpu_per_wall"].astype(float))
    text = _peer_cores(df)
    assert "timed calls (at most 1 on one core; approx.bench.cores pins each row unless pin_cores is false): " \
           "JAX's 0.970 to 0.999." in text
    assert "torch 100 GFLOP/s, JAX (XLA) 250 GFLOP/s, 2.50 times as fast." in text
    # controls: a CSV from before cpu_per_wall, and a run without JAX's product, claim neither
    assert "CPU seconds" not in _peer_cores(df.drop(columns="cpu_per_wall"))
    assert "JAX (XLA)" not in _peer_cores(df[df["engine"] != "jax"])
    assert _peer_cores(df.iloc[:0]) == ""
    # control: a JAX product that used two cores is no one-core peak, and is not compared
    two = df.assign(cpu_per_wall=np.where(df["engine"].eq("jax") & df["mode"].eq("peak"), 1.9, df["cpu_per_wall"]))
    assert "times as fast" not in _peer_cores(two) and "JAX (XLA) 1.90 CPU seconds" in _peer_cores(two)
