"""The overparam experiment: smoke run, its checked numbers, figure, paragraph and CLI with resume."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from approx import lazy, ntk
from approx.implicit_bias import growth_per_decade
from approx.run.cli import main as cli_main
from experiments import overparam

SMOKE = replace(overparam.Config(**overparam.PRESETS["smoke"]), device="cpu")


@pytest.fixture(scope="module")
def smoke():
    return overparam.run(SMOKE)


def test_smoke_has_every_part(smoke):
    assert set(smoke.part) == {"lstsq", "logistic_separable", "logistic_nonseparable", "implicit_bias",
                               "interpolation", "ntk", "ntk_curve", "du_inside", "du_curve"}
    assert len(overparam.points(SMOKE)) == 5 + len(SMOKE.widths) + len(SMOKE.deep_widths) + len(SMOKE.ntk_widths)


def test_lstsq_gap_never_exceeds_the_predicted_rate_on_either_engine(smoke):
    l = smoke[smoke.part == "lstsq"]
    assert set(l.engine) == {"backprop", "autograd"}
    # the theorem's (1 - eta lambda_min)^t is the threshold (+ rounding once the gap is ~1e-13)
    assert (l.gap <= l.predicted * (1 + 1e-12) + 1e-13).all()
    a, b = (l[l.engine == e].gap.to_numpy() for e in ("backprop", "autograd"))
    assert np.allclose(a, b, rtol=1e-9, atol=1e-15)


def test_logistic_parts_move_toward_their_optima(smoke):
    sep = smoke[(smoke.part == "logistic_separable") & (smoke.engine == "backprop")]
    assert sep.loss.iloc[-1] < sep.loss.iloc[0] and sep.angle.iloc[-1] < sep.angle.iloc[0]
    non = smoke[(smoke.part == "logistic_nonseparable") & (smoke.engine == "backprop")]
    assert non.loss_gap.iloc[-1] < 1e-6 * non.loss_gap.iloc[0]
    assert (non.loss_gap >= -1e-12).all()  # nothing beats the Newton optimum


def test_interpolation_rows_are_consistent(smoke):
    d = smoke[smoke.part == "interpolation"]
    assert len(d) == 2 * SMOKE.seeds * (len(SMOKE.widths) + len(SMOKE.deep_widths))
    assert set(d.status) <= {"completed", "converged", "diverged"}
    assert np.allclose(d.p_over_n, d.n_params / SMOKE.n_interp)
    conv = d[d.status == "converged"]
    assert (conv.final_loss <= SMOKE.target_loss).all() and conv.steps_to_target.notna().all()
    assert d[d.status != "converged"].steps_to_target.isna().all()
    # p < n parameters cannot fit n generic labels: the image of a p-dim parameter space has
    # measure zero in R^n; the linearised model shows it as a rank-deficient kernel
    under = d[d.n_params < SMOKE.n_interp]
    assert len(under) and (under.final_loss > SMOKE.target_loss).all()
    assert (under.ntk_rank < SMOKE.n_interp).all()


def test_lazy_training_numbers(smoke):
    s = smoke[smoke.part == "ntk"]
    assert (s.engine_diff < 1e-10).all()  # hand-written vs torch.func empirical NTK
    assert s.bound_holds.all()  # Du et al.'s (1 - eta lambda_0 / 2)^t is the threshold
    med = s.groupby("m")[["kernel_error", "movement", "flips"]].median()
    assert (med.diff().dropna() < 0).all().all()  # all three shrink with width
    rates = overparam.slopes(smoke)
    assert -1.0 < rates["kernel_error"].slope < -0.25  # ~ -1/2 (three widths, loose)


def test_plot_and_describe(smoke, tmp_path):
    overparam.plot(smoke, tmp_path / "overparam.png")
    assert (tmp_path / "overparam.png").stat().st_size > 0 and (tmp_path / "overparam.pdf").exists()
    text = overparam.describe(smoke)
    for words in ("GD -> OPT", "hard-margin", "Du et al.", "slope"):
        assert words in text
    assert "nan" not in text.lower()


def test_diverged_interpolation_runs_are_counted_and_left_out_of_the_medians(smoke, tmp_path):
    # GD at 1/lambda_max does not diverge here, so mark the widest runs as fit would (status
    # "diverged", a blown-up final loss): the text counts them, no median sees their loss, and
    # the figure draws them apart
    interp = smoke.part == "interpolation"
    widest = interp & (smoke.p_over_n == smoke[interp].p_over_n.max())
    marked = smoke.copy()
    marked.loc[widest, "status"] = "diverged"
    marked.loc[widest, "final_loss"] = 1e12
    text = overparam.describe(marked)
    assert f" {int(widest.sum())} runs diverged" in text and "1e+12" not in text
    overparam.plot(marked, tmp_path / "marked.png")
    assert (tmp_path / "marked.png").stat().st_size > 0
    # negative control: unmarked, the text says that no run diverged
    assert "No run diverged" in overparam.describe(smoke)


def test_a_point_is_repeatable():
    cfg = replace(SMOKE, ntk_widths=(16, 32, 64), widths=(2,), deep_widths=(), steps_interp=20)
    point = {"part": "ntk", "m": 32}
    a = overparam.run_point(cfg, point)
    b = overparam.run_point(cfg, point)
    pd.testing.assert_frame_equal(a, b)  # seeded: a point is the same every time


@pytest.mark.parametrize("bad", [{"ntk_widths": (64, 128)}, {"seeds": 0}, {"engines": ("jax",)},
                                 {"target_loss": 0.0}, {"du_n": 7}, {"du_n": 1}, {"du_delta": 1.0},
                                 {"du_delta": 0.0}, {"du_d": 0}, {"du_steps": 0}, {"steps_soudry": 0}])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        replace(SMOKE, **bad)


def test_cli_run_stores_every_point_for_resume(tmp_path):
    tiny = {"steps_lstsq": 20, "steps_logistic": 20, "steps_soudry": 100, "du_steps": 5, "widths": "1,8", "deep_widths": "", "steps_interp": 20,
            "ntk_widths": "16,32,64", "steps_ntk": 10}
    argv = ["run", "overparam", "--preset", "smoke", "--device", "cpu", "--out", str(tmp_path)]
    argv += [a for key, value in tiny.items() for a in ("--set", f"{key}={value}")]
    assert cli_main(argv) == 0
    names = {p.name for p in tmp_path.glob("overparam.*")}
    assert names == {f"overparam.{s}" for s in ("csv", "png", "pdf", "json")}
    # one stored record per sweep point (3 linear + Soudry + 2 widths + 3 kernel widths + Du inside)
    assert len(list((tmp_path / ".points" / "overparam").glob("*.json"))) == 10


def test_soudry_residual_growth_shrinks_per_decade(smoke):
    g = smoke[smoke.part == "implicit_bias"]
    assert (g.lr < g.lr_max).all()  # Soudry et al.'s step condition holds
    first = g[g.step == 1].iloc[0]
    assert first.residual == pytest.approx(first.theta_norm, rel=1e-12)  # log 1 = 0: rho(1) = theta(1)
    growth = list(overparam.soudry_growth(smoke).values())
    # Theorem 3 (rho bounded): the growth per decade must shrink toward 0; it does over the last two
    # decades, and stays below w_hat log t's own growth (1)
    assert growth[-1] < growth[-2] < growth[-3] and all(abs(v) < 1 for v in growth)
    # negative control: ||theta(t)|| itself (the residual against w_hat = 0) grows toward ||w_hat|| log t,
    # its growth per decade rising toward 1, and fails the same statistic
    norm_growth = list(growth_per_decade(g.step.to_numpy(), g.theta_norm.to_numpy(), g.w_hat_norm.iloc[0]).values())
    assert not norm_growth[-1] < norm_growth[-2] < norm_growth[-3]


def test_du_conditions_known_case():
    assert overparam.du_conditions(2, 0.5, 0.5) == pytest.approx((2 ** 6 / (0.5 ** 4 * 0.125), 0.5 / 4))


def test_du_inside_run_meets_both_conditions_and_the_theorem(smoke):
    i = smoke[smoke.part == "du_inside"].iloc[0]
    assert i.m >= i.m_required and i.eta <= i.eta_allowed * (1 + 1e-12)
    assert i.bound_holds  # Theorem 4.1: (1 - eta lambda_0 / 2)^k L(0) is the threshold
    assert i.movement <= i.movement_bound  # their R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)
    assert i.h0_lambda_min >= 0.75 * i.lambda_0  # their Lemma 3.1
    # the runs above are outside both: far narrower, far larger steps
    s = smoke[smoke.part == "ntk"]
    assert (s.m < s.m_required).all() and (s.eta > s.eta_allowed).all()


def test_du_inside_iterates_equal_the_engine_run():
    # the run works on beta (m, n) with w_r = w_r(0) + sum_i beta_ri x_i; the hand-written engine on W
    # (m, d) must give the same losses (a width small enough for the engine: du_n = 2, du_delta = 0.9)
    cfg = replace(SMOKE, du_delta=0.9, du_steps=10)
    rows = overparam.run_point(cfg, {"part": "du_inside"})
    i, curve = rows.iloc[0], rows[rows.part == "du_curve"]
    x = ntk.unit_sphere(cfg.du_n, cfg.du_d, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    y = torch.randint(0, 2, (cfg.du_n,), generator=gen).to(torch.float64)[:, None] * 2 - 1
    net = ntk.two_layer_relu(int(i.m), cfg.du_d, seed=cfg.seed + 1)
    lr = i.eta * cfg.du_n / 2
    _, hist = lazy.train_first_layer(net, x, y, lr=lr, steps=10, log_steps=curve.step.astype(int))
    assert np.allclose(hist.loss.to_numpy(), curve.loss.to_numpy(), rtol=1e-10)
    # negative control: a step 1% larger is told apart
    _, other = lazy.train_first_layer(net, x, y, lr=1.01 * lr, steps=10, log_steps=curve.step.astype(int))
    assert not np.allclose(other.loss.to_numpy(), curve.loss.to_numpy(), rtol=1e-4)


def test_linearized_loss_column(smoke):
    c = smoke[smoke.part == "ntk_curve"]
    start = c[c.step == 0]
    assert np.allclose(start.linearized_loss, start.loss, rtol=1e-12)  # L_lin(0) = ||r_0||^2 / n = L(0)
    agree = overparam.linearized_agreement(smoke)
    # Arora et al. (Theorem 4.1): the additive error shrinks as m grows (widest below narrowest)
    assert agree.additive_error.iloc[-1] < agree.additive_error.iloc[0]
    assert len(overparam.widest_against_linearized(smoke)) == len(SMOKE.widths)


def test_rms_movement_is_at_most_the_max(smoke):
    s = smoke[smoke.part == "ntk"]
    assert (s.movement_rms <= s.movement * (1 + 1e-12)).all() and (s.movement_rms > 0).all()


def test_linearized_agreement_on_a_hand_made_curve():
    # measured L = 1, 0.5, 0.1, 0.01; linearized 1, 0.4, 0.04, 0.001: ratios 1, 1.25, 2.5, 10
    steps = [0, 10, 20, 30]
    rows = pd.DataFrame({"part": "ntk_curve", "m": 64, "member": 0, "step": steps,
                         "loss": [1, 0.5, 0.1, 0.01], "linearized_loss": [1, 0.4, 0.04, 0.001]})
    a = overparam.linearized_agreement(rows).iloc[0]
    assert a.first_step_out == 20 and a.loss_fallen_to == pytest.approx(0.1)
    assert a.last_ratio_max == pytest.approx(10)
    # additive error: max |sqrt(L) - sqrt(L_lin)| / sqrt(L(0)) = sqrt(0.1) - sqrt(0.04) at step 20
    assert a.additive_error == pytest.approx(np.sqrt(0.1) - 0.2)
    # control: the same curve as its own prediction never leaves the band
    same = rows.assign(linearized_loss=rows.loss)
    assert np.isnan(overparam.linearized_agreement(same).first_step_out.iloc[0])
