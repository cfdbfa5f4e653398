"""experiments/sawtooth_basin: the smoke preset runs from the command line with every column; the exact
construction recovers in every run (sigma = 0); the exact L2 error against closed forms and a fine grid;
the embedding and the noise; sigma*'s definition, its bootstrap and the fit on hand-made tables (each
with a negative control); describe reads its numbers from the DataFrame; bad settings are refused in one
line with exit status 2."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from approx.constructions.depth import sawtooth, tooth_power
from approx.network import Layer, Network
from approx.pieces import count_pieces
from approx.run.cli import main
from approx.run.configs import replace_key
from cli_support import run_smoke
from experiments import sawtooth_basin
from experiments.sawtooth_basin import analysis, config

REQUIRED = ["k", "sigma", "optimizer", "seed", "width", "l2_before", "l2_after", "recovered", "pieces_after",
            "pieces_before", "pieces_target", "recovery_l2", "train_loss", "status", "steps", "n_train", "n_params"]
SMOKE = sawtooth_basin.Config(**sawtooth_basin.PRESETS["smoke"])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return run_smoke("sawtooth_basin", tmp_path_factory.mktemp("smoke"))


def test_smoke_through_the_cli_has_every_column_and_row(smoke):
    assert set(REQUIRED) <= set(smoke.columns)
    cells = sawtooth_basin.points(SMOKE)
    assert len(cells) == len(SMOKE.ks) * len(SMOKE.widths) * 2  # smoke trains both widths with both optimizers
    assert len(smoke) == len(cells) * len(SMOKE.sigmas) * SMOKE.n_seeds
    assert (smoke.pieces_target == 2**smoke.k).all()
    assert (smoke.n_params == [config.n_params(k, w) for k, w in zip(smoke.k, smoke.width)]).all()
    assert (smoke.recovered == (smoke.l2_after < smoke.recovery_l2)).all()


def test_the_construction_recovers_in_every_run(smoke):
    # the constructions stay exact: from sigma = 0 every run recovers (its loss is 0, so
    # neither Adam nor LM moves it) with exactly the 2^k pieces of t^k
    exact = smoke[smoke.sigma == 0]
    assert len(exact) == len(sawtooth_basin.points(SMOKE)) * SMOKE.n_seeds
    assert exact.recovered.all() and (exact.l2_before == 0).all() and (exact.l2_after < 1e-12).all()
    assert (exact.pieces_after == exact.pieces_target).all()
    # negative control: the largest noise of the smoke preset (0.1) leaves some run unrecovered
    assert not smoke[smoke.sigma == max(SMOKE.sigmas)].recovered.all()


def test_the_default_preset_trains_lm_at_width_2_only():
    cfg = sawtooth_basin.Config()
    assert {(p["optimizer"], p["width"]) for p in sawtooth_basin.points(cfg)} == {("adam", 2), ("adam", 8), ("lm", 2)}
    full = sawtooth_basin.Config(**sawtooth_basin.PRESETS["full"])
    assert len(sawtooth_basin.points(full)) == 7 * 2 * 2 and full.n_seeds >= 32
    assert cfg.ks == tuple(range(2, 9)) and cfg.sigmas[0] == 0 and min(cfg.sigmas[1:]) == 1e-4 and max(cfg.sigmas) == 1


# ------------------------------------------------------------------------------------ the exact L2 error
def _shifted(k: int, c: float, scale: float = 1.0) -> Network:
    """scale * t^k + c as a network: the sawtooth's output layer scaled and shifted."""
    net = sawtooth(k)
    out = net.layers[-1]
    return Network(net.layers[:-1] + [Layer(scale * out.weight, out.bias + c, "identity")])


@pytest.mark.parametrize("k", [1, 3, 6])
def test_exact_l2_against_closed_forms(k):
    (zero,), (pieces,) = sawtooth_basin.exact_l2(sawtooth(k), k)
    assert zero == 0 and pieces == 2**k  # the construction itself: t^k has 2^k pieces (theorem)
    (shift,), _ = sawtooth_basin.exact_l2(_shifted(k, 0.01), k)
    assert shift == pytest.approx(0.01, rel=1e-12)  # ||c||_2 on [0, 1] = |c|
    # ||a t^k||_2 = a / sqrt(3): t^k is a sawtooth between 0 and 1, and each linear ramp has mean square 1/3
    (scaled,), _ = sawtooth_basin.exact_l2(_shifted(k, 0.0, 1.02), k)
    assert scaled == pytest.approx(0.02 / math.sqrt(3), rel=1e-10)
    # negative control: an error of 2 % of the scale is no "recovery"
    assert scaled > 1e-3


def test_exact_l2_agrees_with_a_fine_grid_on_noisy_networks():
    net = sawtooth_basin.noisy_starts(sawtooth_basin.embedded_sawtooth(4, 3), [0.01, 0.1], [5, 6])
    exact, pieces = sawtooth_basin.exact_l2(net, 4)
    x = (torch.arange(2**20, dtype=torch.float64) + 0.5)[:, None] / 2**20  # midpoint rule, h = 2^-20
    grid = (net(x) - tooth_power(x, 4)).square().mean(dim=(1, 2)).sqrt().numpy()
    # midpoint rule: on a cell of width h where d is linear it misses h^3 d'^2 / 12 of the integral of d^2, so
    # the mean square is off by at most h^2 max|d'|^2 / 12 ~ 1e-12 x 300 / 12 (a kink's cell: the same order)
    np.testing.assert_allclose(exact, grid, rtol=1e-6)
    np.testing.assert_array_equal(pieces, count_pieces(net, 0, 1))
    assert not np.allclose(exact, 1.01 * grid, rtol=1e-6)  # negative control: a 1 % error is seen


def test_the_embedding_is_the_sawtooth_with_inert_units():
    net = sawtooth_basin.embedded_sawtooth(5, 8)
    # dyadic points j / 1024: with the tooth's weights (1, 2, -4) and biases (0, -1/2) every
    # product and sum is exact, so the two networks agree bit for bit on any BLAS kernel
    x = (torch.arange(1025, dtype=torch.float64) / 1024)[:, None]
    assert torch.equal(net(x), sawtooth(5)(x)) and net.sizes == [1, 8, 8, 8, 8, 8, 1]
    assert net.n_params == config.n_params(5, 8) and sawtooth(5).n_params == config.n_params(5, 2) == 6 * 5 + 1
    assert all((layer.weight[2:] == 0).all() and (layer.bias[2:] == 0).all() for layer in net.layers[:-1])
    assert (net.layers[-1].weight[:, 2:] == 0).all()


def test_the_noise_of_a_seed_is_one_direction_at_every_scale():
    base = sawtooth_basin.embedded_sawtooth(3, 2)
    net = sawtooth_basin.noisy_starts(base, [0.0, 0.1, 0.3], [7, 8])
    assert net.ensemble == 6
    theta = torch.cat([p.reshape(6, -1) for p in net.parameters()], dim=1)  # (6, P)
    delta = theta - torch.cat([p.reshape(1, -1) for p in base.parameters()], dim=1)
    assert (delta[:2] == 0).all()  # sigma = 0: the construction
    torch.testing.assert_close(delta[4:], 3 * delta[2:4], rtol=1e-13, atol=0)  # member = sigma index x 2 + seed index
    assert not torch.allclose(delta[2], delta[3])  # two seeds, two directions
    assert abs(delta[2].std().item() - 0.1) < 0.05  # scale sigma (P = 19 draws)


# -------------------------------------------------------------------------- sigma* and its interval, the fit
SIGMAS = [0.0, 1e-3, 1e-2, 1e-1]


def test_sigma_star_is_the_largest_sigma_where_half_recover():
    table = [[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]  # rows: sigmas, columns: seeds
    assert analysis.sigma_star(SIGMAS, table) == 1e-3  # 2 of 4 is "at least half"
    table[1] = [1, 0, 0, 0]  # negative control: 1 of 4 is not
    assert analysis.sigma_star(SIGMAS, table) == 0.0
    # the largest qualifying sigma, even above a sigma that does not qualify
    assert analysis.sigma_star(SIGMAS, [[1, 1], [0, 0], [1, 1], [0, 0]]) == 1e-2
    assert math.isnan(analysis.sigma_star(SIGMAS, np.zeros((4, 3))))
    with pytest.raises(ValueError, match=r"recovered must be \(len\(sigmas\), n >= 1\) = \(4, n\), got \(3, 2\)"):
        analysis.sigma_star(SIGMAS, np.ones((3, 2)))


def _runs(recovered: dict, optimizer: str = "adam", width: int = 2) -> pd.DataFrame:
    """Rows of one cell per k: recovered[k] is the (sigmas, seeds) table."""
    rows = []
    for k, table in recovered.items():
        for i, sigma in enumerate(table["sigmas"]):
            for seed, hit in enumerate(table["hits"][i]):
                rows.append({"optimizer": optimizer, "width": width, "k": k, "sigma": sigma, "seed": seed,
                             "recovered": bool(hit), "l2_before": sigma, "l2_after": 0.0 if hit else 1.0,
                             "pieces_after": 2**k, "pieces_target": 2**k, "recovery_l2": 1e-3, "steps": 10,
                             "lr": 1e-4, "n_train": 2 * 2**k + 1})
    return pd.DataFrame(rows)


def test_the_bootstrap_resamples_seeds():
    # every seed agrees: every resample gives the same sigma*, so the interval is that point
    agree = _runs({3: {"sigmas": SIGMAS, "hits": [[1] * 8, [1] * 8, [0] * 8, [0] * 8]}})
    row = analysis.sigma_stars(agree, n_resamples=200).iloc[0]
    assert row.sigma_star == row.lo == row.hi == 1e-3 and row.inside and row.n_seeds == 8
    # seeds split 4 / 4 at 1e-2: sigma* = 1e-2, but half the resamples hold fewer recoveries there
    split = _runs({3: {"sigmas": SIGMAS, "hits": [[1] * 8, [1] * 8, [1] * 4 + [0] * 4, [0] * 8]}})
    row = analysis.sigma_stars(split, n_resamples=2000).iloc[0]
    assert row.sigma_star == 1e-2 and row.lo == 1e-3 and row.hi == 1e-2
    # at the grid's ends sigma* is censored: not inside
    edge = _runs({3: {"sigmas": SIGMAS, "hits": [[1] * 4] * 4}, 4: {"sigmas": SIGMAS, "hits": [[1] * 4] + [[0] * 4] * 3}})
    assert not analysis.sigma_stars(edge, n_resamples=50).inside.any()


def _stars(values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"optimizer": "lm", "width": 2, "k": k, "sigma_star": s, "lo": s, "hi": s, "n_seeds": 4,
                          "inside": 0 < s < 1} for k, s in values.items()])


def test_the_fit_of_log2_sigma_star_on_k():
    rng = np.random.default_rng(0)
    noisy = {k: 2.0 ** (-k + 0.3 * rng.standard_normal()) for k in range(2, 9)}
    fit = analysis.fitted_slopes(_stars(noisy)).iloc[0]
    assert fit.lo < -1 < fit.hi and fit.contains_prediction and fit.n_points == 7
    exact = analysis.fitted_slopes(_stars({k: 3 * 2.0**-k for k in range(2, 9)})).iloc[0]
    assert exact.slope == pytest.approx(-1, abs=1e-12) and exact.intercept_log2 == pytest.approx(math.log2(3))
    # negative control: sigma* ~ 4^-k has slope -2, and its interval excludes -1
    steep = analysis.fitted_slopes(_stars({k: 4.0**-k for k in range(2, 9)})).iloc[0]
    assert steep.slope == pytest.approx(-2, abs=1e-9) and not steep.contains_prediction
    # censored cells (sigma* = 0 or the grid's largest) are left out; fewer than 3 points: no fit
    censored = analysis.fitted_slopes(_stars({2: 1.0, 3: 0.1, 4: 0.05, 5: 0.0})).iloc[0]
    assert censored.n_points == 2 and math.isnan(censored.slope) and not censored.contains_prediction


def test_describe_reads_every_number_from_the_dataframe():
    sigmas = [0.0] + [2.0**-j for j in range(1, 12)]
    cells = {k: {"sigmas": sigmas, "hits": [[1] * 4 if s <= 2.0 ** -k else [0] * 4 for s in sigmas]} for k in range(2, 8)}
    df = _runs(cells)
    text = sawtooth_basin.describe(df)
    assert "From sigma = 0 24 of 24 runs recover" in text
    assert "slope -1.00 [-1.00, -1.00] over k = 2,3,4,5,6,7 (holds -1)" in text
    assert "k = 4: 0.062 [0.062, 0.062]" in text
    assert "neighbours differ by up to a factor 2.00 (1.0 in log2)" in text  # the grid 2^-j
    df.loc[df.index[0], "recovered"] = False  # the text follows the data
    assert "From sigma = 0 23 of 24 runs recover" in sawtooth_basin.describe(df)
    steep = _runs({k: {"sigmas": sigmas, "hits": [[1] * 4 if s <= 4.0 ** -k else [0] * 4 for s in sigmas]}
                   for k in range(2, 6)})
    assert "slope -2.00 [-2.00, -2.00] over k = 2,3,4,5 (excludes -1)" in sawtooth_basin.describe(steep)


# ------------------------------------------------------------------------------------------ bad settings
@pytest.mark.parametrize("options,expected", [
    (["--set", "sigmas=-0.1"], "every entry of sigmas must be a finite number >= 0, got -0.1"),
    (["--set", "n_seeds=1"], "n_seeds must be an integer in [2, 1000], got 1"),
    (["--set", "ks=0"], "every entry of ks must be an integer in [1, 16], got 0"),
    (["--set", "widths=1"], "every entry of widths must be an integer in [2, 65536], got 1"),
    (["--set", "optimizers=sgd"], "unknown entry 'sgd' in optimizers; allowed: adam, lm"),
    (["--set", "recovery_l2=0"], "recovery_l2 must be a finite number > 0, got 0"),
    (["--set", "ks=16", "--set", "points_per_piece=128"],
     "the training grid would be points_per_piece 128 x 2^max(ks) 65536 = 8388608, more than the 4194304 allowed"),
])
def test_bad_settings_are_one_line_exit_2_and_write_nothing(capsys, tmp_path, options, expected):
    out = tmp_path / "out"
    rc = main(["run", "sawtooth_basin", "--preset", "smoke", "--device", "cpu", "--quiet", "--out", str(out), *options])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1 and expected in err[0], err
    assert not out.exists() or not any(out.iterdir())


def test_the_nearest_good_settings_pass():  # negative control of the refusals
    cfg = sawtooth_basin.Config(**sawtooth_basin.PRESETS["smoke"])
    for key, value in {"sigmas": (0.0,), "n_seeds": 2, "ks": (1, 16), "widths": (2,), "optimizers": ("lm",),
                       "recovery_l2": 1e-12, "points_per_piece": 64}.items():
        cfg = replace_key(cfg, key, value)
