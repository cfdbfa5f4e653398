"""experiments/yarotsky: the smoke preset runs from the command line with every column; every network
meets its eps (exact for x^2, on a grid for xy) and stays above the lower bound; the fits read the
rows; describe reads its numbers from the DataFrame; bad settings are refused in one line."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from approx.constructions.depth import square_interpolant_shallow
from approx.constructions.yarotsky import params_lower_bound, polarised_product, square_blocks
from approx.run.cli import main
from approx.run.configs import build_config
from cli_support import run_smoke
from experiments import yarotsky
from experiments.yarotsky import analysis

REQUIRED = ["target", "depth", "eps_target", "params", "sup_error", "construction", "eps_exponent", "bases",
            "n_pieces", "error_kind", "error_bound", "pieces", "widths", "nonzero_params", "params_lower_bound"]
SMOKE = yarotsky.Config(**yarotsky.PRESETS["smoke"])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return run_smoke("yarotsky", tmp_path_factory.mktemp("smoke"))


def test_smoke_through_the_cli_has_every_column_and_row(smoke):
    assert set(REQUIRED) <= set(smoke.columns)
    sq, xy = smoke[smoke.target == "square"], smoke[smoke.target == "xy"]
    per_eps = len(SMOKE.depths) + 1  # each fixed depth and Yarotsky's
    assert len(sq) == per_eps * len(SMOKE.eps_exponents) and len(xy) == per_eps * len(SMOKE.xy_eps_exponents)
    assert set(smoke.construction) == {"interpolant", "blocks", "yarotsky"}
    assert (sq.error_kind == "exact").all() and (xy.error_kind == "grid").all()
    # the deep construction is Yarotsky's f_m: bases of 2, depth log2 N, 12 m - 7 parameters (m >= 2)
    deep = sq[sq.construction == "yarotsky"]
    assert (deep.n_pieces == 2**deep.depth).all() and (deep.bases == deep.depth.map(lambda m: "x".join(["2"] * m))).all()
    assert (deep[deep.depth >= 2].params == 12 * deep[deep.depth >= 2].depth - 7).all()


def test_every_network_meets_its_eps_and_the_bound(smoke):
    sq, xy = smoke[smoke.target == "square"], smoke[smoke.target == "xy"]
    # x^2: the exact sup error is the interpolant's 1/(4N^2) (theorem), at most eps, with N pieces
    np.testing.assert_allclose(sq.sup_error, 1 / (4 * sq.n_pieces.astype(float) ** 2), rtol=1e-9)
    assert (sq.sup_error <= sq.eps_target).all() and (sq.pieces == sq.n_pieces).all()
    # one hidden layer: N = ceil(1/(2 sqrt eps)) pieces, 3N + 1 parameters
    one = sq[sq.construction == "interpolant"]
    assert (one.n_pieces == np.ceil(1 / (2 * np.sqrt(one.eps_target)))).all() and (one.params == 3 * one.n_pieces + 1).all()
    # xy: grid error <= 3 delta <= eps (polarisation and the triangle inequality)
    assert (xy.sup_error <= xy.error_bound).all() and (xy.error_bound <= xy.eps_target).all()
    assert (xy.sup_error > 0).all()  # the grid misses every knot, so the check is not vacuous
    # every count at or above the dense-network lower bound at its depth
    assert (smoke.params >= smoke.params_lower_bound).all()


def test_the_checks_can_fail():
    # negative controls of the three checks: a square with N - 1 pieces misses eps; an xy network
    # from a square with half the pieces misses 3 delta on the study's grid; a network below the
    # bound's parameter count has too few pieces
    p = 10
    eps = 2.0**-p
    n = math.ceil(1 / (2 * math.sqrt(eps)))
    assert 1 / (4 * (n - 1) ** 2) > eps
    cfg = yarotsky.Config(eps_exponents=(p,), depths=(2,), xy_eps_exponents=(p,), xy_grid=101)
    rows = yarotsky.run_point(cfg, {"target": "xy", "eps_exponent": p})
    fine = rows[rows.depth == 2].iloc[0]
    bases = tuple(int(b) for b in fine.bases.split("x"))
    coarse = polarised_product(square_blocks(bases[:-1] + (bases[-1] // 2,)))
    assert yarotsky._grid_error(coarse, cfg.xy_grid) > fine.error_bound
    # one hidden layer of 7 units, the best uniform approximation with 7 pieces: 22 parameters, below
    # the bound 2 N_min = 24 at depth 1, and it misses eps, as the bound says it must
    best7 = square_interpolant_shallow(22, minimax=True)
    assert best7.sizes == [1, 7, 1] and best7.n_params < params_lower_bound(eps, 1) == pytest.approx(24)
    x = torch.linspace(0, 1, 10_001, dtype=torch.float64)[:, None]
    assert (best7(x) - x.square()).abs().max().item() == pytest.approx(1 / (8 * 49), rel=1e-6) and 1 / (8 * 49) > eps


def test_grid_points_are_never_knots():
    # an xy network whose N = 3600 would read error 0 on the even grid k/300 (every point a knot)
    net = polarised_product(square_blocks((60, 60)))
    u = torch.linspace(0, 1, 301, dtype=torch.float64)
    even = torch.cartesian_prod(u, u)
    assert (net(even)[:, 0] - even[:, 0] * even[:, 1]).abs().max().item() < 1e-12  # the vacuous check
    assert yarotsky._grid_error(net, 301) > 0.3 / (4 * 3600**2)  # the study's offset grid sees the error


def test_fits_read_the_rows(smoke):
    # the one-hidden-layer count 3N + 1 grows as (1/eps)^(1/2): N doubles when eps falls by 4
    rate = yarotsky.shallow_rate(smoke)
    assert abs(rate.slope - 0.5) < 0.05
    deep = yarotsky.deep_fit(smoke)
    assert deep["per_layer"] == pytest.approx(12, abs=1.5) and deep["per_bit"] == pytest.approx(6, abs=0.8)
    rates = yarotsky.depth_rates(smoke)
    assert set(rates.depth) == set(SMOKE.depths)
    # negative control: doubled counts at the smallest eps change the fitted slope
    doubled = smoke.copy()
    last = (doubled.construction == "interpolant") & (doubled.eps_exponent == doubled.eps_exponent.max())
    doubled.loc[last, "params"] *= 2
    assert yarotsky.shallow_rate(doubled).slope > rate.slope + 0.05
    assert analysis.fitted(smoke[smoke.target == "square"]).eps_exponent.min() >= min(SMOKE.eps_exponents)


def test_plot_and_describe_read_the_dataframe(smoke, tmp_path):
    yarotsky.plot(smoke, tmp_path / "y.png")
    assert (tmp_path / "y.png").stat().st_size > 0 and (tmp_path / "y.pdf").exists()
    text = yarotsky.describe(smoke)
    assert "**Checks (hold by theorem).**" in text and "measured on the constructions" in text
    n_sq = int((smoke.target == "square").sum())
    assert f"{n_sq} of the {n_sq} networks for x^2" in text and "nan" not in text.lower()
    rate = yarotsky.shallow_rate(smoke)
    assert f"(1/eps)^{rate.slope:.3f} [{rate.lo:.3f}, {rate.hi:.3f}]" in text
    assert "eps^(-1/(2L))" in text and "stated up to constants" in text
    # the numbers follow the rows: a row that misses its eps is counted
    broken = smoke.copy()
    broken.loc[broken.index[0], "sup_error"] = 2 * broken.loc[broken.index[0], "eps_target"]
    assert f"{n_sq - 1} of the {n_sq} networks for x^2" in yarotsky.describe(broken)


@pytest.mark.parametrize("assignment, allowed, message", [
    ("eps_exponents=0,4", "eps_exponents=1,4", "every entry of eps_exponents must be an integer in [1, 30], got 0"),
    ("depths=2,40", "depths=2,32", "every entry of depths must be an integer in [1, 32], got 40"),
    ("xy_eps_exponents=29", "xy_eps_exponents=28", "every entry of xy_eps_exponents must be an integer in [1, 28]"),
    ("xy_grid=5000", "xy_grid=2048", "the xy grid would be xy_grid 5000 x"),
])
def test_bad_settings_are_one_line(tmp_path, capsys, assignment, allowed, message):
    out = tmp_path / "out"
    assert main(["run", "yarotsky", "--preset", "smoke", "--quiet", "--out", str(out), "--set", assignment]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("approx: ") and message in err and "Traceback" not in err
    assert not out.exists()
    # control: the same key with an allowed value makes a Config
    assert isinstance(build_config("yarotsky", yarotsky, "smoke", assignments=[allowed]), yarotsky.Config)


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match="unknown target 'cube'; allowed: square, xy"):
        yarotsky.run_point(SMOKE, {"target": "cube", "eps_exponent": 4})
