"""experiments/sawtooth_success: the smoke preset runs from the command line with every column; the
success rule and Wilson's interval on hand-made tables; the exact construction counts as a success
(t^k trained 0 steps, and a few, from itself); the random start puts every first-layer kink in
[0, 1]; describe reads its numbers from the DataFrame; bad settings are refused in one line."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from approx.constructions.depth import sawtooth, tooth_power
from approx.intervals import wilson_interval
from approx.network import Network
from approx.pieces import count_pieces
from approx.run.cli import main
from approx.run.configs import build_config
from cli_support import run_smoke
from experiments import sawtooth_success
from experiments.sawtooth_success import analysis
from experiments.sawtooth_success.config import n_params

REQUIRED = ["k", "width", "depth", "depth_factor", "optimizer", "seed", "steps", "lr", "n_params", "neurons",
            "n_points", "l2_init", "l2_after", "sup_after", "success", "at_constant", "l2_constant", "train_loss",
            "status", "pieces_init", "pieces_after", "pieces_target", "pieces_bound", "serra_bound"]
SMOKE = sawtooth_success.Config(**sawtooth_success.PRESETS["smoke"])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return run_smoke("sawtooth_success", tmp_path_factory.mktemp("smoke"))


def test_smoke_through_the_cli_has_every_column_and_row(smoke):
    assert set(REQUIRED) <= set(smoke.columns)
    cells = sawtooth_success.points(SMOKE)
    assert len(smoke) == SMOKE.n_seeds * len(cells)
    assert smoke.groupby(analysis.CELL).size().eq(SMOKE.n_seeds).all()
    assert set(smoke.optimizer) == {"adam", "lm"} and (smoke.depth == smoke.depth_factor * smoke.k).all()
    assert (smoke.n_params == [n_params(w, d) for w, d in zip(smoke.width, smoke.depth)]).all()
    assert (smoke.neurons == smoke.width * smoke.depth).all() and (smoke.pieces_target == 2**smoke.k).all()
    # the success column is the rule applied to l2_after; every count is within prod (m_l + 1) (theorem)
    assert (smoke.success == (smoke.l2_after < analysis.SUCCESS_L2)).all()
    assert (smoke.pieces_after <= smoke.serra_bound).all() and (smoke.pieces_init <= smoke.serra_bound).all()
    assert (smoke.serra_bound <= smoke.pieces_bound).all() and (smoke.pieces_after >= 1).all()


def test_lm_skips_the_cells_above_max_params():
    cfg = dataclasses.replace(SMOKE, lm=sawtooth_success.LMRun(steps=1, max_params=20))
    lm = [p for p in sawtooth_success.points(cfg) if p["optimizer"] == "lm"]
    assert lm and all(n_params(p["width"], p["depth_factor"] * p["k"]) <= 20 for p in lm)
    adam = [p for p in sawtooth_success.points(cfg) if p["optimizer"] == "adam"]
    assert len(adam) == len(SMOKE.ks) * len(SMOKE.widths) * len(SMOKE.depth_factors) > len(lm)  # control


def test_success_rule_and_wilson_on_a_hand_made_table():
    # one cell of 10 runs: 3 below 1e-3 (0, 5e-4, 9.99e-4); 1e-3 itself, NaN and larger distances fail
    l2 = [0.0, 5e-4, 9.99e-4, 1e-3, math.nan, 0.01, 0.2, 0.29, 0.3, 0.5]
    df = pd.DataFrame({"optimizer": "adam", "width": 2, "depth_factor": 1, "k": 3, "depth": 3, "neurons": 6,
                       "l2_after": l2, "success": True})  # a success column that lies is not read
    row = analysis.success_table(df).iloc[0]
    assert (row.n_runs, row.n_success, row.p_success) == (10, 3, 0.3)
    # Wilson (1927) at 3 of 10: [0.1078, 0.6032] (scipy's binomtest(3, 10).proportion_ci("wilson"))
    assert (row.p_lo, row.p_hi) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    assert (row.p_lo, row.p_hi) == wilson_interval(3, 10)
    # at 0 of 64, Wilson's upper end is z^2 / (n + z^2) = 0.0566; the Wald interval would be [0, 0]
    none = df.assign(l2_after=0.1).loc[np.repeat(df.index[:1], 64)]
    row = analysis.success_table(none).iloc[0]
    z2 = 1.959963984540054**2
    assert row.n_success == 0 and row.p_lo == 0 and row.p_hi == pytest.approx(z2 / (64 + z2), rel=1e-12)
    # negative control: the rule with <= would count the boundary run, and the table would change
    assert int((np.asarray(l2) <= 1e-3).sum()) == 4 != row.n_success + 3


def test_cells_are_counted_apart():
    df = pd.DataFrame({"optimizer": ["adam", "adam", "lm", "lm"], "width": 2, "depth_factor": 1, "k": 1,
                       "depth": 1, "neurons": 2, "l2_after": [0.0, 0.1, 0.0, 0.0]})
    table = analysis.success_table(df).set_index("optimizer")
    assert table.n_success.to_dict() == {"adam": 1, "lm": 2} and table.n_runs.to_dict() == {"adam": 2, "lm": 2}


@pytest.mark.parametrize("optimizer", ["adam", "lm"])
@pytest.mark.parametrize("steps", [0, 10])
def test_the_exact_construction_is_a_success(optimizer, steps):
    # t^k as k layers of width 2 (approx.constructions.depth.sawtooth): distance 0, 2^k pieces; training
    # from it keeps it (the residual is 0 on the grid, so Adam's gradient and LM's step are 0)
    cfg = dataclasses.replace(SMOKE, adam=sawtooth_success.AdamRun(steps=steps),
                              lm=sawtooth_success.LMRun(steps=steps))
    for k in (1, 3):
        rows = sawtooth_success.train_from(cfg, optimizer, k, Network.stack([sawtooth(k)] * 2), [0, 1])
        assert all(r["success"] and r["l2_after"] < 1e-12 and r["pieces_after"] == 2**k for r in rows)
        assert all(r["train_loss"] == 0 and r["pieces_init"] == 2**k for r in rows)
    # negative control: t^(k-1), and t^k with one weight off by 1%, fail the rule
    assert not sawtooth_success.train_from(cfg, optimizer, 3, Network.stack([sawtooth(2)]), [0])[0]["success"]
    params = sawtooth(3).parameters()
    params[2] = params[2] * 1.01
    off = sawtooth(3).with_parameters(params)
    assert not sawtooth_success.train_from(dataclasses.replace(cfg, adam=sawtooth_success.AdamRun(steps=0),
                                                               lm=sawtooth_success.LMRun(steps=0)),
                                           optimizer, 3, Network.stack([off]), [0])[0]["success"]


def test_random_start_puts_the_kinks_in_the_data_interval():
    start = sawtooth_success.random_start(4, 3, [5, 6, 7])
    w, b = start.parameters()[:2]  # (E, 4, 1), (E, 4)
    kinks = -b / w[..., 0]
    assert ((kinks >= 0) & (kinks <= 1)).all()
    # member e is the network of seed e alone, whatever the ensemble
    alone = sawtooth_success.random_start(4, 3, [6])
    for a, b in zip(alone.parameters(), start.parameters()):
        assert torch.equal(a[0], b[1])
    assert (count_pieces(start, 0.0, 1.0) > 1).all()
    # negative control: He weights with zero biases are linear on [0, 1] (every kink at x = 0)
    he = Network.random([1, 4, 4, 4, 1], "relu", seed=[5, 6, 7], init="he", dtype=torch.float64)
    assert (count_pieces(he, 0.0, 1.0) == 1).all()


def test_constant_distance_is_exact():
    # a constant c is at L2 distance sqrt(1/12 + (c - 1/2)^2) from every t^k: t^k is uniform on [0, 1]
    x = ((torch.arange(2**20, dtype=torch.float64) + 0.5) / 2**20)[:, None]  # midpoint rule
    for k, c in ((1, 0.4), (3, 0.5), (5, 0.45)):
        numeric = (tooth_power(x, k) - c).square().mean().sqrt().item()
        assert analysis.constant_l2(c) == pytest.approx(numeric, abs=1e-9)
    assert analysis.constant_l2(0.4) != pytest.approx(math.sqrt(1 / 12), abs=1e-3)  # control: c matters
    assert analysis.at_constant([0.305, 0.29, 0.2], [0.3055] * 3).tolist() == [True, False, False]


def test_plot_and_describe_read_the_dataframe(smoke, tmp_path):
    sawtooth_success.plot(smoke, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "s.pdf").exists()
    text = sawtooth_success.describe(smoke)
    assert "**Check (holds by theorem).**" in text and "**P(success), measured.**" in text
    assert f"{len(smoke)} of {len(smoke)} trained networks have at most prod (m_l + 1)" in text
    assert "nan" not in text.lower() and "Hanin & Rolnick" in text
    # the numbers follow the rows: one more success at the construction's own shape (m = 2, L = k), k = 1
    own = smoke[(smoke.optimizer == "adam") & (smoke.width == 2) & (smoke.depth == 1)]
    assert f"(m = 2, L = k): {int(own.success.sum())}/{len(own)}," in text
    assert not own.success.all()  # so that one more is possible
    better = smoke.copy()
    better.loc[own.index[~own.success.to_numpy()][0], "l2_after"] = 0.0
    assert f"(m = 2, L = k): {int(own.success.sum()) + 1}/{len(own)}," in sawtooth_success.describe(better)


def test_explanations_appear_only_with_what_they_explain(smoke):
    failed = ~smoke.success
    at = smoke.copy()
    at.loc[failed, "l2_after"] = at.loc[failed, "l2_constant"]
    assert "spectral bias" in sawtooth_success.describe(at)
    away = smoke.copy()
    away.loc[failed, "l2_after"] = 0.1  # no failure at the constant: Rahaman et al. are not named
    assert "spectral bias" not in sawtooth_success.describe(away)
    alive = smoke.assign(pieces_init=np.maximum(smoke.pieces_init, 2))  # nothing born affine
    assert "Lu et al." not in sawtooth_success.describe(alive)
    dead = smoke.copy()
    dead.loc[(dead.width == 2) & (dead.depth == dead.depth.max()), "pieces_init"] = 1
    assert "Lu et al." in sawtooth_success.describe(dead)


@pytest.mark.parametrize("assignment, allowed, message", [
    ("ks=0,2", "ks=1,2", "every entry of ks must be an integer in [1, 16], got 0"),
    ("widths=2,0", "widths=2,3", "every entry of widths must be an integer in [1, 65536], got 0"),
    ("optimizers=adam,sgd", "optimizers=adam", "optimizers"),
    ("lm.max_params=0", "lm.max_params=10", "lm.max_params must be an integer in [1, 1073741824], got 0"),
    ("n_seeds=5000", "n_seeds=500", "n_seeds must be an integer in [1, 1000], got 5000"),
    ("points_per_piece=2097152", "points_per_piece=65536", "the training grid would be points_per_piece "
                                                             "2097152 x 2^max(ks) 4"),
    ("points_per_piece=1048576", "points_per_piece=65536", "the Levenberg-Marquardt Jacobian would be n_seeds 4"),
    ("depth_factors=1,600", "depth_factors=1,500", "hidden layers would be max(depth_factors) x max(ks) 1200"),
])
def test_bad_settings_are_one_line(tmp_path, capsys, assignment, allowed, message):
    out = tmp_path / "out"
    assert main(["run", "sawtooth_success", "--preset", "smoke", "--quiet", "--out", str(out),
                 "--set", assignment]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("approx: ") and message in err and "Traceback" not in err
    assert not out.exists()
    # control: the same key with an allowed value makes a Config
    config = build_config("sawtooth_success", sawtooth_success, "smoke", assignments=[allowed])
    assert isinstance(config, sawtooth_success.Config)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'; allowed: adam, lm"):
        sawtooth_success.run_point(SMOKE, {"optimizer": "sgd", "k": 1, "width": 2, "depth_factor": 1})
