"""The depth_separation experiment: smoke preset end to end, its exact error helper, the CLI."""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from approx.constructions.depth import sawtooth, tooth_power
from approx.run.cli import main
from approx.run.configs import replace_key
from experiments.depth_separation import parts
from experiments import depth_separation as exp
from cli_support import run_smoke


@pytest.fixture(scope="module")
def smoke() -> tuple[exp.Config, pd.DataFrame]:
    cfg = exp.Config(**exp.PRESETS["smoke"], device="cpu")
    return cfg, exp.run(cfg)


def test_run_is_the_concatenation_of_its_points(smoke):
    cfg, df = smoke
    assert [p["part"] for p in exp.points(cfg)] == ["constructed", "sawtooth", "alternating", "radial"]
    assert set(df["part"]) == set(exp.PARTS)
    again = exp.run_point(cfg, exp.points(cfg)[1])  # seeded: same numbers
    first = df[df["part"] == "sawtooth"].dropna(axis=1, how="all")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), first.reset_index(drop=True),
                                  check_dtype=False, check_like=True)


def test_constructed_part_is_exact(smoke):
    _, df = smoke
    a = df[df["part"] == "constructed"]
    saw = a[a["target"] == "sawtooth"]
    assert (saw["err_sup"] == 0).all() and (saw["n_pieces"] == 2 ** saw["k"]).all()
    assert (saw[saw["arch"] == "deep"]["n_params"] == 6 * saw[saw["arch"] == "deep"]["k"] + 1).all()
    assert (saw[saw["arch"] == "shallow"]["n_params"] == 3 * 2 ** saw[saw["arch"] == "shallow"]["k"] + 1).all()
    square = a[(a["target"] == "square") & (a["arch"] != "shallow_lower_bound")]
    # Yarotsky / interpolant: sup error exactly 2^(-2m-2), for deep and shallow alike
    np.testing.assert_allclose(square["err_sup"], square["err_target"], rtol=0, atol=1e-12)
    bound = a[a["arch"] == "shallow_lower_bound"].set_index("k")["n_params"]
    shallow = square[square["arch"] == "shallow"].set_index("k")["n_params"]
    assert (bound <= shallow).all()  # the lower bound never exceeds what the interpolant uses


def test_trained_sawtooth_rows(smoke):
    cfg, df = smoke
    b = df[df["part"] == "sawtooth"]
    n_members = cfg.n_seeds * len(cfg.lrs)
    assert len(b) == n_members * b.groupby(["k", "arch", "n_hidden", "width"]).ngroups
    assert (b["n_pieces"] <= b["n_regions"]).all()
    assert (b["n_regions"] <= b["pieces_bound"]).all()  # Telgarsky: <= (2m)^L
    assert (b["n_regions"] <= b["serra_bound"]).all()  # Serra et al. (2018), one input: <= prod (m_l + 1)
    assert (b["serra_bound"] <= b["pieces_bound"]).all()  # the tighter of the two
    assert (b["err_sup"] >= b["err_l2"] - 1e-12).all()  # on [0, 1], L2 <= sup
    best = b[b["best_lr"]]
    assert len(best) == b.groupby(["k", "arch", "n_hidden", "width", "seed"]).ngroups
    lowest = b.groupby(["k", "arch", "n_hidden", "width", "seed"])["train_loss"].transform("min")
    assert (best["train_loss"] == lowest[best.index]).all()


def test_alternating_rows_respect_the_floors(smoke):
    _, df = smoke
    c = df[df["part"] == "alternating"]
    assert c[c["arch"] == "constructed"]["class_err"].tolist() == [0.0]
    trained = c[c["arch"] != "constructed"]
    assert (trained["class_err"] >= trained["err_floor_pieces"]).all()
    covered = trained[(trained["arch"] == "shallow") & (trained["width"] <= trained["telgarsky_width"])]
    assert len(covered) > 0 and (covered["class_err"] >= 1 / 6).all()  # Telgarsky 2015, Thm 1.1


def test_radial_rows(smoke):
    cfg, df = smoke
    d = df[df["part"] == "radial"]
    final = d[d["final"]]
    n_members = cfg.radial.n_seeds * len(cfg.radial.lrs)  # radial's own grid, not sawtooth's
    assert len(final) == 2 * len(cfg.radial.widths) * len(cfg.radial.dims) * n_members
    assert set(d["lr"]) == set(cfg.radial.lrs) != set(cfg.lrs)
    for (dim, _), pair in final.groupby(["d", "budget_width"]):
        two, three = (pair[pair["arch"] == a]["n_params"].iloc[0] for a in ("2-layer", "3-layer"))
        assert abs(two - three) <= dim + 2  # equal parameter counts up to one unit
    assert (d["step"].max() == cfg.radial.steps) and (d["train_rel_mse"] > 0).all()
    assert d.groupby(["d", "arch", "budget_width", "seed"])["best_lr"].any().all()
    # online training: a training (fresh-batch) error on every logged row, a test error on n_test
    # fresh points with its standard error on the last row of each run only
    assert final["test_rel_mse"].notna().all() and (final["test_rel_mse"] > 0).all()
    assert d[~d["final"].astype(bool)]["test_rel_mse"].isna().all()
    assert ((final["test_rel_mse_se"] > 0) & (final["test_rel_mse_se"] < final["test_rel_mse"])).all()
    assert (d["batch"] == cfg.radial.batch).all() and (d["n_test"] == cfg.radial.n_test).all()
    np.testing.assert_allclose(d["var_y"], 0.25 - cfg.radial.band / 12)


def _radial_summary(d_two_three: dict) -> pd.DataFrame:
    """best()-shaped rows at one budget: d -> ((min, median, max) 2-layer, (min, median, max) 3-layer)."""
    rows = []
    for d, pair in d_two_three.items():
        for arch, (lo, mid, hi) in zip(("2-layer", "3-layer"), pair):
            rows.append({"d": d, "arch": arch, "budget_width": 32, "median": mid, "min": lo, "max": hi,
                         "n_params": 100})
    return pd.DataFrame(rows)


def test_radial_advantage_and_its_trend_on_hand_made_rows():
    from experiments.depth_separation.text import advantage_steps, advantage_trend, radial_advantage
    # 2-layer over 3-layer: medians 0.4/0.1 = 4 at d = 2 with range [0.3/0.2, 0.5/0.05] = [1.5, 10]
    grows = radial_advantage(_radial_summary({2: ((0.3, 0.4, 0.5), (0.05, 0.1, 0.2)),
                                              8: ((0.8, 0.9, 1.0), (0.02, 0.03, 0.04))}))
    assert grows.loc[0, ["ratio", "low", "high", "best"]].tolist() == pytest.approx([4, 1.5, 10, 6])
    assert grows.loc[1, "low"] == pytest.approx(20) and advantage_trend(grows, n_seeds=4) == "grows"
    shrinks = grows.assign(d=grows["d"][::-1].to_numpy()).sort_values("d").reset_index(drop=True)
    assert advantage_trend(shrinks, n_seeds=4) == "shrinks"
    # negative controls: overlapping ranges, a single seed, a single d are not ordered
    overlap = radial_advantage(_radial_summary({2: ((0.3, 0.4, 0.5), (0.05, 0.1, 0.2)),
                                                8: ((0.3, 0.9, 1.0), (0.02, 0.03, 0.1))}))
    assert overlap.loc[1, "ratio"] > overlap.loc[0, "ratio"] and advantage_trend(overlap, n_seeds=4) == "unresolved"
    assert advantage_steps(grows) == ["higher"] and advantage_steps(overlap) == ["overlap"]
    mixed = pd.concat([grows, shrinks.assign(d=[16, 32])], ignore_index=True)  # up, level, down: no trend
    assert advantage_steps(mixed) == ["higher", "overlap", "lower"] and advantage_trend(mixed, 4) == "unresolved"
    assert advantage_trend(grows, n_seeds=1) == "unresolved" and advantage_trend(grows.iloc[:1], 4) == "unresolved"


def test_radial_variance_is_the_population_variance():
    # Var(y) = 1/4 - band/12 against 10^6 draws (standard error of a sample variance of a
    # [0, 1]-valued y: <= 1/(2 sqrt(n)) = 5e-4; 4 of them)
    for band in (0.2, 1.0, 2.0):
        _, y = parts._radial_sample(band, 3, 1_000_000, torch.Generator().manual_seed(0))
        assert abs(y.var().item() - parts.radial_variance(band)) < 4 * 5e-4
    # negative control: the variance of the hard indicator (band -> 0), 1/4, is off by band/12
    _, y = parts._radial_sample(1.0, 3, 1_000_000, torch.Generator().manual_seed(0))
    assert abs(y.var().item() - 0.25) > 4 * 5e-4
    with pytest.raises(ValueError, match=r"band must be in \(0, 2\], got 0"):
        parts.radial_variance(0)


def test_plot_and_describe(smoke, tmp_path):
    _, df = smoke
    exp.plot(df, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = exp.describe(df)
    for heading in ("**Constructed.**", "**Sawtooth: trained on t^k**", "**Alternating points**",
                    "**Radial target: approximation error, measured online.**"):
        assert heading in text
    # results certain by theorem are labelled checks; the Serra et al. count is read from the df
    b = df[df["part"] == "sawtooth"]
    assert "Check (it holds by theorem" in text and "Checks (they hold by theorem" in text
    assert f"also a check: {int((b['n_pieces'] > b['serra_bound']).sum())} of {len(b)} above it" in text
    # numbers come from df: the deep sawtooth's parameter count at the largest k, and the table
    # row of the trained deep network (one deep architecture in the smoke preset)
    k = int(df[df["part"] == "constructed"]["k"].max())
    assert f"{6 * k + 1} parameters deep" in text
    b = df[(df["part"] == "sawtooth") & df["best_lr"] & (df["arch"] == "deep")]
    (kb, layers, width, n_params), = b.groupby(["k", "n_hidden", "width", "n_params"]).groups
    row = (f"| {int(kb)} | {2 ** int(kb)} | {layers} x {width} ({n_params}) "
           f"| {b['err_l2'].median():.3g} [{b['err_l2'].min():.2g}, {b['err_l2'].max():.2g}] |")
    assert row in text
    # the radial table's rows: training and test error of the best-rate runs at the largest size
    r = df[(df["part"] == "radial") & df["final"].astype(bool) & df["best_lr"].astype(bool)]
    three = r[(r["arch"] == "3-layer") & (r["budget_width"] == r["budget_width"].max())]
    assert (f"| {int(three['d'].iloc[0])} | 3-layer (width {int(three['width'].iloc[0])}) | "
            f"{int(three['n_params'].iloc[0])} | {three['train_rel_mse'].median():.3g} | "
            f"{three['test_rel_mse'].median():.3g} [") in text
    assert "illustrates the theorems; it does not test them" in text
    assert "cannot be ordered in d from one seed" in text  # smoke: one seed, one d


def _titled_by_part(titles: list[str]) -> bool:
    """Is every panel title distinct, led by the name of a part, with no (a)-(d) letters?"""
    return (len(set(titles)) == len(titles)
            and all(t.split(":")[0].split(",")[0].split()[0] in exp.PARTS for t in titles)
            and not any(re.search(r"\([a-d]\)", t) for t in titles))


def test_panels_are_titled_by_part_each_title_once(smoke, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from experiments.depth_separation import figure as figure_module

    drawn = []
    monkeypatch.setattr(figure_module, "save", lambda fig, path: drawn.append(fig))
    exp.plot(smoke[1], tmp_path / "x.png")
    titles = [ax.get_title() for ax in drawn[0].axes if ax.get_title()]
    plt.close(drawn[0])
    assert len(titles) == 6 and _titled_by_part(titles), titles
    assert [t.split(":")[0].split(",")[0].split()[0] for t in titles] == [
        "constructed", "sawtooth", "sawtooth", "alternating", "radial", "radial"]
    # negative control: the old titles, two of them "(b)" and two "(d)", fail the check
    assert not _titled_by_part(["(a) constructed: parameters, same accuracy", "(b) trained on t^k",
                                "(b) pieces realised", "(c) alternating points", "(d) radial target",
                                "(d) largest size"])
    assert not _titled_by_part(["sawtooth: errors", "sawtooth: errors"])  # a repeated title fails too


def test_diverged_runs_are_passed_over_counted_and_shown(smoke, tmp_path):
    # Adam at 1e3 (next to a sane 1e-2) blows sawtooth and alternating up, and 1e6 as radial's only rate:
    # the best-rate choice passes over a diverged run wherever the sane rate completed, the text
    # counts the diverged runs and the shown ones (radial's, where every rate diverged), and the
    # figure says so under its panels
    cfg, df = smoke
    blown = exp.run(replace_key(dataclasses.replace(cfg, lrs=(1e-2, 1e3)), "radial.lrs", (1e6,)))
    runs = blown[blown["part"].isin(["sawtooth", "alternating"])]
    assert (runs[runs["lr"] == 1e3]["status"] == "diverged").all()
    assert not (runs["best_lr"].astype(bool) & (runs["status"] == "diverged")).any()
    n_d = int(((blown["part"] == "radial") & blown["final"].astype("boolean").fillna(False)).sum())
    n_diverged = len(runs[runs["lr"] == 1e3]) + n_d
    text = exp.describe(blown)
    assert f"{n_diverged} of the {len(runs) + n_d} trained runs diverged" in text
    assert f"{n_d} diverged runs are among those shown" in text
    exp.plot(blown, tmp_path / "blown.png")
    assert (tmp_path / "blown.png").stat().st_size > 0
    # negative control: the smoke preset's own rates diverge nowhere, and the text says so
    assert "None of the" in exp.describe(df) and "diverged" not in set(df["status"].dropna())


def test_exact_pl_errors_match_dense_sampling():
    # the union-of-breakpoints formula against a dense grid (the grid can only see less)
    k = 4
    exact = sawtooth(k)
    noise = torch.Generator().manual_seed(0)
    net = exact.with_parameters([p + 1e-3 * torch.randn(p.shape, generator=noise, dtype=p.dtype)
                                 for p in exact.parameters()])  # near t^k, kinks moved
    err_sup, err_l2 = parts.pl_errors(net, k)
    x = torch.linspace(0, 1, 400_001, dtype=torch.float64).unsqueeze(1)
    diff = (net(x) - tooth_power(x, k)).reshape(-1)
    assert err_sup >= diff.abs().max().item() - 1e-12
    np.testing.assert_allclose(err_sup, diff.abs().max().item(), rtol=1e-4)
    np.testing.assert_allclose(err_l2, diff.square().mean().sqrt().item(), rtol=1e-4)
    assert 1e-3 < err_l2 < 0.1  # a small but nonzero error: the comparison is not vacuous
    # negative controls: against t^(k+1), and for the exact sawtooth, the numbers differ
    assert parts.pl_errors(net, k + 1)[1] > 0.2
    assert parts.pl_errors(exact, k) == (0.0, 0.0)


def test_default_preset_covers_k_1_to_6_with_matched_and_wide_shallow_nets():
    # sawtooth: t^k for k = 1..6 (k = 7, 8 in full: at the default budget every network ended at the
    # constant fit there, and experiments/sawtooth_success measures success at scale); one hidden
    # layer up to >= 2^k units; deep up to 2k layers; >= 3 seeds and >= 3 learning rates;
    # alternating up to k >= 7; radial: >= 1e5 fresh test points and >= 2 seeds (ranges over seeds)
    cfg = exp.Config(**exp.PRESETS["default"])
    assert cfg.sawtooth.ks == tuple(range(1, 7)) and cfg.n_seeds >= 3 and len(cfg.lrs) >= 3
    assert max(cfg.alternating.ks) >= 7
    for k in cfg.sawtooth.ks:
        archs = parts._architectures(cfg, k)
        assert max(s[1] for a, s in archs if a == "shallow") >= 2 ** k
        assert max(len(s) - 2 for a, s in archs if a == "deep") == 2 * k
    assert max(s[1] for a, s in parts._architectures(cfg, 6) if a == "shallow") >= 256
    assert cfg.radial.n_test >= 100_000 and cfg.radial.n_seeds >= 2
    full = exp.Config(**exp.PRESETS["full"])
    assert full.sawtooth.ks == tuple(range(1, 9)) and full.radial.n_test >= cfg.radial.n_test


def test_config_accepts_the_smallest_radial_batch_and_test_set():
    # control for the rejections below: the edges themselves are allowed
    cfg = replace_key(replace_key(exp.Config(), "radial.batch", 1), "radial.n_test", 2)
    assert (cfg.radial.batch, cfg.radial.n_test) == (1, 2)


@pytest.mark.parametrize("key,bad", [("sawtooth.ks", (0,)), ("radial.dims", (0, 2)), ("alternating.ks", (-1,)),
                                     ("lrs", ()), ("steps", 0), ("init", "xavier"), ("dtype", "float16"),
                                     ("radial.band", 0.0), ("engine", "jax"), ("sawtooth.deep_widths", (2.5,)),
                                     ("radial.lrs", ()), ("radial.n_seeds", 0), ("radial", {"dims": (2,)}),
                                     ("radial.batch", 0), ("radial.batch", 2.5), ("radial.n_test", 1),
                                     ("radial.n_test", 2**23)])
def test_config_rejects_bad_values(key, bad):
    with pytest.raises(ValueError, match=re.escape(key)):
        replace_key(exp.Config(), key, bad)


def test_unknown_part_raises():
    with pytest.raises(ValueError, match="unknown part"):
        exp.run_point(exp.Config(**exp.PRESETS["smoke"]), {"part": "e"})
    with pytest.raises(ValueError, match=r"^unknown part 'a'; allowed: constructed, sawtooth, alternating, radial$"):
        exp.run_point(exp.Config(**exp.PRESETS["smoke"]), {"part": "a"})  # the old letters are gone


def test_cli_smoke_writes_results(smoke, tmp_path, capsys):
    stored = run_smoke("depth_separation", tmp_path)
    assert set(stored["part"]) == set(exp.PARTS)
    # the figure and the text come from the CSV alone (--plot-only), and the run is seeded
    assert exp.describe(stored) == exp.describe(smoke[1])
    # the record holds each part's group as an object, the command line names its fields with
    # dotted keys: --plot-only with another radial.dims is refused, naming that key
    record = json.loads((tmp_path / "depth_separation.json").read_text())
    assert record["config"]["radial"]["dims"] == list(smoke[0].radial.dims) and "radial_dims" not in record["config"]
    options = ["--preset", "smoke", "--device", "cpu", "--quiet", "--out", str(tmp_path), "--plot-only"]
    assert main(["run", "depth_separation", *options, "--set", "radial.dims=3"]) == 2
    assert "(radial.dims=[2] there, [3] asked)" in capsys.readouterr().err
    assert main(["run", "depth_separation", *options, "--set", "radial.dims=2"]) == 0  # control: its own value


def test_serra_bound_on_known_sizes():
    """prod over hidden layers of (m_l + 1) (Serra, Tjandraatmadja & Ramalingam 2018, one input)."""
    from approx import Network
    from approx.pieces import max_regions
    from experiments.depth_separation.parts import _pieces_bound, _serra_bound
    assert _serra_bound([1, 2, 2, 1]) == 9 and _serra_bound([1, 8, 1]) == 9 and _serra_bound([1, 3, 5, 1]) == 24
    # the same product as approx.pieces.max_regions for relu hidden layers and a linear output
    for sizes in ([1, 2, 2, 1], [1, 3, 5, 4, 1]):
        assert _serra_bound(sizes) == max_regions(Network.random(sizes, "relu"))
    # negative control: it is below Telgarsky's (2m)^L whenever a layer has m >= 1, so the two differ
    assert _serra_bound([1, 2, 2, 1]) < _pieces_bound([1, 2, 2, 1]) == 16
