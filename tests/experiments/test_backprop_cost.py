"""experiments/backprop_cost: smoke preset, the graph sizes it reports, summaries, the CLI.
(Timings are measured, never asserted: only their bookkeeping is tested here.)"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from approx import Network
from approx.backprop import count_edges, scalar_loss
from experiments import backprop_cost
from cli_support import run_smoke

SMOKE = backprop_cost.Config(**backprop_cost.PRESETS["smoke"])


@pytest.fixture(scope="module")
def smoke():
    return backprop_cost.run(SMOKE)


def test_smoke_runs_plots_and_describes(smoke, tmp_path):
    df = smoke
    assert set(df.panel) == {"scalar", "tensor", "engines"}
    graphs = df[df.panel != "engines"]
    assert len(graphs) == SMOKE.repeats * (len(SMOKE.scalar_widths) + len(SMOKE.tensor_widths))
    assert (graphs.forward_ms > 0).all() and (graphs.reverse_ms > 0).all()
    engines = df[df.panel == "engines"]
    assert len(engines) == 2 * SMOKE.repeats * len(SMOKE.engine_widths)
    assert set(engines.engine) == {"backprop", "autograd"} and (engines.step_ms > 0).all()
    table = backprop_cost.summary(df)
    assert len(table) == len(SMOKE.scalar_widths) + len(SMOKE.tensor_widths)
    fits = backprop_cost.slopes(df)
    assert {"scalar", "tensor"} <= set(fits)
    backprop_cost.plot(df, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = backprop_cost.describe(df)
    assert f"reverse-time slope {fits['scalar']}" in text and "meet their target" in text
    assert "nan" not in text.lower()


def test_M_counts_edges(smoke):
    """Scalar graphs: M = the graph's child links. A weight w_ji adds a product (2 edges) and a
    partial sum (2 edges) or starts the chain; tensor graphs: M = sum fan_in * fan_out."""
    d, w = SMOKE.input_dim, SMOKE.scalar_widths[0]
    net = Network.random([d, w, w, 1], SMOKE.activation, seed=0)
    x = torch.zeros(1, d, dtype=torch.float64)
    root, _ = scalar_loss(net, x, torch.zeros(1, 1, dtype=torch.float64))
    n_weights = d * w + w * w + w
    n_units = w + w + 1
    # a unit of fan-in n: n products and n - 1 partial sums (2 edges each), + bias (2), the
    # activation (1): 4n + 1 edges; the loss (p - y)^2 / 1: a difference (2), a square (1), a
    # division (2)
    assert count_edges(root) == 4 * n_weights + n_units + 5
    scalar = smoke[(smoke.panel == "scalar") & (smoke.width == w)]
    assert (scalar.M == count_edges(root)).all()
    tensor = smoke[smoke.panel == "tensor"]
    assert (tensor.M == SMOKE.input_dim * tensor.width + tensor.width ** 2 + tensor.width).all()


def _scalar_frame(power: float) -> "pd.DataFrame":
    """Scalar-graph rows with known times: reverse = 1e-3 ms x nodes^power, forward half of it,
    and 4 edges per 3 nodes; a +-1% wobble gives the fits an interval of nonzero width."""
    nodes = 3 * np.array([100, 1_000, 10_000, 100_000, 1_000_000])
    reverse = 1e-3 * nodes.astype(float) ** power * (1 + 0.01 * (-1) ** np.arange(len(nodes)))
    return pd.DataFrame({"panel": "scalar", "width": range(len(nodes)), "M": 4 * nodes // 3,
                         "n_graph_edges": 4 * nodes // 3, "n_nodes": nodes, "repeat": 0,
                         "forward_ms": reverse / 2, "reverse_ms": reverse})


def test_per_node_times_on_known_frames():
    # time proportional to the nodes: 1 us per node at every size, slope exactly 1
    linear = backprop_cost.per_node(_scalar_frame(1.0))
    assert np.allclose(linear.reverse_ns_per_node, 1e3, rtol=0.011)
    assert np.allclose(linear.forward_ns_per_node, 500, rtol=0.011)
    assert np.allclose(linear.edges_per_node, 4 / 3)
    assert backprop_cost.slopes(_scalar_frame(1.0))["scalar_upper"].contains(1.0)
    text = backprop_cost._growth_text(_scalar_frame(1.0), backprop_cost.slopes(_scalar_frame(1.0)))
    assert "upper-half interval includes 1" in text and "(1.00x;" in text
    # negative control: time ~ nodes^1.1, the per-node time grows by 10^0.1 per decade
    grown = backprop_cost.per_node(_scalar_frame(1.1))
    assert np.allclose(np.diff(np.log10(grown.reverse_ns_per_node))[::2], 0.1 + np.log10(0.99 / 1.01))
    fits = backprop_cost.slopes(_scalar_frame(1.1))
    assert not fits["scalar_upper"].contains(1.0)
    text = backprop_cost._growth_text(_scalar_frame(1.1), fits)
    assert "upper-half interval excludes 1" in text and f"({100 ** 0.1:.2f}x;" in text


def test_engine_targets():
    assert backprop_cost.engine_target(0.3) == 0.5
    assert backprop_cost.engine_target(5.0) == 0.85
    assert backprop_cost.engine_target(50.0) == 1.05


def test_config_rejects_bad_values():
    for bad in ({"scalar_widths": (4,)}, {"repeats": 0}, {"min_time_s": 0.0}, {"threads": 0}):
        with pytest.raises(ValueError):
            backprop_cost.Config(**bad)


def test_cli_smoke_writes_results(tmp_path):
    frame = run_smoke("backprop_cost", tmp_path)
    assert set(frame.panel) == {"scalar", "tensor", "engines"}
