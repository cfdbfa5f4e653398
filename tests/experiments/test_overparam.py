"""The overparam experiment: smoke run, its checked numbers, figure, paragraph and CLI with resume."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from approx.run.cli import main as cli_main
from experiments import overparam

SMOKE = replace(overparam.Config(**overparam.PRESETS["smoke"]), device="cpu")


@pytest.fixture(scope="module")
def smoke():
    return overparam.run(SMOKE)


def test_smoke_has_every_part(smoke):
    assert set(smoke.part) == {"lstsq", "logistic_separable", "logistic_nonseparable", "interpolation",
                               "ntk", "ntk_curve"}
    assert len(overparam.points(SMOKE)) == 3 + len(SMOKE.widths) + len(SMOKE.deep_widths) + len(SMOKE.ntk_widths)


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
                                 {"target_loss": 0.0}])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        replace(SMOKE, **bad)


def test_cli_run_stores_every_point_for_resume(tmp_path):
    tiny = {"steps_lstsq": 20, "steps_logistic": 20, "widths": "1,8", "deep_widths": "", "steps_interp": 20,
            "ntk_widths": "16,32,64", "steps_ntk": 10}
    argv = ["run", "overparam", "--preset", "smoke", "--device", "cpu", "--out", str(tmp_path)]
    argv += [a for key, value in tiny.items() for a in ("--set", f"{key}={value}")]
    assert cli_main(argv) == 0
    names = {p.name for p in tmp_path.glob("overparam.*")}
    assert names == {f"overparam.{s}" for s in ("csv", "png", "pdf", "json")}
    # one stored record per sweep point (3 linear + 2 widths + 3 kernel widths): --resume skips them
    assert len(list((tmp_path / ".points" / "overparam").glob("*.json"))) == 8
