"""experiments/training_gap: the smoke preset runs from the command line with every column; second-
order budgets are read from one run exactly; the errors it reports hold against dense sampling;
the study's targets are judged from the rows (met and missed on hand-made tables); describe reads
its numbers from the DataFrame; bad settings are refused in one line."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from approx import targets
from approx.network import Layer, Network
from approx.run.cli import main
from approx.run.configs import build_config
from cli_support import run_smoke
from experiments import training_gap
from experiments.training_gap import analysis
from experiments.training_gap.config import INTERP, LMRun

REQUIRED = ["target", "activation", "optimizer", "width", "seed", "steps", "sup_error", "l2_error", "train_loss",
            "interpolant_sup_error", "status", "wall_s"]
SMOKE = training_gap.Config(**training_gap.PRESETS["smoke"], device="cpu")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return run_smoke("training_gap", tmp_path_factory.mktemp("smoke"))


def test_smoke_through_the_cli_has_every_column_and_row(smoke):
    assert set(REQUIRED) <= set(smoke.columns)
    rows = smoke[smoke.table == "trained"]
    # adam 2, adam_full 1, lbfgs 2 (the first init), lm 2 per init x 2 inits
    budgets = sum(len(getattr(SMOKE, s).budgets) * len(SMOKE.inits_of(s)) for s in SMOKE.settings())
    members = len(SMOKE.targets) * SMOKE.n_seeds
    assert len(rows) == members * len(SMOKE.activations) * len(SMOKE.widths) * budgets
    assert set(rows.optimizer) == {"adam", "lbfgs", "lm"}  # the two Adams share the name ...
    adams = rows[rows.optimizer == "adam"].groupby("setting")
    assert adams.precision.first().to_dict() == {"adam": "float32", "adam_full": "float64"}  # ... not the columns
    assert adams.batch_size.first().to_dict() == {"adam": 32, "adam_full": SMOKE.n_train}
    assert set(rows.status) <= {"completed", "converged", "stalled"}
    assert rows.groupby("setting").init.unique().map(tuple).to_dict() == {
        "adam": ("steep",), "adam_full": ("steep",), "lbfgs": ("steep",), "lm": ("steep", "even_knots")}
    assert (rows.wall_s > 0).all() and (rows.sup_error <= rows.sup_error_bound).all()
    assert (rows.l2_error <= rows.sup_error_bound * (1 + 1e-12)).all()  # RMSE <= sup
    # the interpolant column is the reference row of the same target and width
    ref = smoke[(smoke.table == "reference") & (smoke.method == INTERP)].set_index(["target", "width"]).sup_error
    assert np.array_equal(rows.interpolant_sup_error.to_numpy(), ref.loc[list(zip(rows.target, rows.width))].to_numpy())


def test_points_follow_the_settings():
    points = training_gap.points(SMOKE)
    assert points[0] == {"part": "references"}
    adam = [p for p in points if p.get("setting") == "adam"]
    lm = [p for p in points if p.get("setting") == "lm"]
    assert len(adam) == len(SMOKE.activations) * len(SMOKE.widths) * len(SMOKE.adam.budgets)  # one run per budget
    assert len(lm) == len(SMOKE.activations) * len(SMOKE.inits) * len(SMOKE.widths)  # per init ...
    assert "steps" not in lm[0]  # ... one run, read per budget
    narrow = dataclasses.replace(SMOKE, lm=LMRun(budgets=(5, 10), max_width=4))
    assert {p["width"] for p in training_gap.points(narrow) if p.get("setting") == "lm"} == {4}
    # every init of Config.inits for a setting with every_init, the first for the others
    assert [p["init"] for p in lm] == ["steep", "steep", "even_knots", "even_knots"] * len(SMOKE.activations)
    assert {p["init"] for p in adam} == {"steep"}
    one = dataclasses.replace(SMOKE, lm=LMRun(budgets=(5, 10), every_init=False))
    assert {p["init"] for p in training_gap.points(one) if p.get("setting") == "lm"} == {"steep"}  # control
    assert {"part": "solve_cost"} in points and {"part": "solve_cost"} not in training_gap.points(
        dataclasses.replace(SMOKE, optimizers=("adam",)))


def test_solve_cost_times_both_forms_and_marks_the_one_lm_takes(smoke):
    """One row per (timed width, form); the dual is taken exactly where m = n_train < P = 3n + 1
    (smoke: m = 64, so n = 8 primal and n = 32 dual); an iteration is Jacobian + factor + solve."""
    every = smoke[smoke.table == "solve_cost"]
    assert sorted(set(every.n_train)) == [16, 64]  # solve_cost_batches (16) besides n_train (64)
    small = every[every.n_train == 16]  # m = 16 < P at both widths: the dual is taken (control)
    assert set(small[small.chosen.astype(bool)].form) == {"dual"}
    cost = every[every.n_train == 64]
    assert sorted(zip(cost.width, cost.form)) == [(8, "dual"), (8, "primal"), (32, "dual"), (32, "primal")]
    taken = cost[cost.chosen.astype(bool)].set_index("width").form.to_dict()
    assert taken == {8: "primal", 32: "dual"}
    assert ((every.n_train < every.n_params) == (every.form == "dual")).eq(every.chosen.astype(bool)).all()
    assert np.allclose(cost.iteration_s, cost.jacobian_s + cost.factor_s + cost.solve_s, rtol=1e-12)
    assert (cost[cost.form == "dual"].factor_s == 0).all() and (cost[cost.form == "primal"].factor_s > 0).all()


def test_init_ratios_compare_inits_on_the_same_rows():
    """Median over seeds, then over targets, of trained / interpolant sup error, per init; rows of
    results written before the init column count as the steep init."""
    common = {"table": "trained", "activation": "relu", "setting": "lm", "steps": 300, "status": "completed",
              "width": 32, "interpolant_sup_error": 0.01}
    rows = [{**common, "init": init, "target": t, "seed": s, "sup_error": 0.01 * factor * (1 + s)}
            for init, factor in (("steep", 10.0), ("even_knots", 1.0)) for t in ("sin1", "sin3") for s in range(3)]
    ratios = analysis.init_ratios(pd.DataFrame(rows)).set_index(["init", "target"])
    assert ratios.ratio[("steep", "sin1")] == pytest.approx(20.0) and ratios.ratio[("even_knots", "sin3")] == 2.0
    assert ratios.ratio_over_targets[("even_knots", "sin1")] == pytest.approx(2.0)
    old = pd.DataFrame(rows).drop(columns="init")
    assert analysis.inits(old) == ["steep"] and set(analysis.init_ratios(old).init) == {"steep"}
    assert len(analysis.of_init(pd.DataFrame(rows), "even_knots")) == 6  # control: the other init's 6 are out


def test_second_order_budgets_are_read_from_one_run_exactly():
    """LM has no schedule: its read at 5 iterations of a 10-iteration run is the 5-iteration run."""
    point = {"part": "trained", "activation": "tanh", "setting": "lm", "width": 4}
    long = training_gap.run_point(SMOKE, point)
    short = training_gap.run_point(dataclasses.replace(SMOKE, lm=LMRun(budgets=(5,))), point)
    long, short = (f[f.table == "trained"] for f in (long, short))
    at5 = long[long.steps == 5]
    for column in ("sup_error", "l2_error", "train_loss"):
        assert np.array_equal(at5[column].to_numpy(), short[column].to_numpy()), column
    # negative control: the read at 10 iterations is another network
    assert not np.array_equal(long[long.steps == 10].train_loss.to_numpy(), short.train_loss.to_numpy())


def _dense_max(net: Network, name: str) -> np.ndarray:
    """max |net - f| over 2^21 + 1 points per member: (E,)."""
    x = torch.linspace(0, 1, 2**21 + 1, dtype=torch.float64)[:, None]
    return torch.stack([(net(c) - targets.get(name)(c)).abs().amax(dim=(-2, -1)) for c in x.split(2**17)]).amax(0).numpy()


def test_measured_sup_errors_hold_against_dense_sampling():
    # ReLU networks on abs: exact (lower == upper), dense sampling within L h below
    relu = Network.random([1, 16, 1], "relu", seed=[0, 1, 2], dtype=torch.float64)
    got = pd.DataFrame(training_gap.measure(relu, ["abs"] * 3, SMOKE.n_eval))
    assert (got.sup_error == got.sup_error_bound).all()
    lipschitz = (relu.layers[1].weight.abs() @ relu.layers[0].weight.abs()).reshape(-1).numpy() + 1
    dense = _dense_max(relu, "abs")
    assert (dense <= got.sup_error + 1e-12).all() and (dense >= got.sup_error - lipschitz * 2**-21).all()
    # tanh networks with steep units on sin3: the dense maximum lies in [sup_error, sup_error_bound]
    f, last = Network.random([1, 8, 1], "tanh", seed=[0, 1, 2], dtype=torch.float64).layers
    tanh = Network([Layer(40 * f.weight, 40 * f.bias - 20 * f.weight.sum(-1), "tanh"), last])
    got = pd.DataFrame(training_gap.measure(tanh, ["sin3"] * 3, 65))
    dense = _dense_max(tanh, "sin3")
    assert (got.sup_error <= dense + 1e-12).all() and (dense <= got.sup_error_bound).all()
    # negative control: a ReLU spike between the points of a 65-point grid, which the grid alone misses
    p = 1 / 0.005
    spike = Network([Layer(torch.tensor([[1.0], [-1.0], [1.0], [1.0], [1.0]], dtype=torch.float64),
                           torch.tensor([-0.5, 0.5, -0.30, -0.305, -0.31], dtype=torch.float64), "relu"),
                     Layer(torch.tensor([[1.0, 1.0, 0.5 * p, -p, 0.5 * p]], dtype=torch.float64),
                           torch.zeros(1, dtype=torch.float64), "identity")])
    x = torch.linspace(0, 1, 65, dtype=torch.float64)[:, None]
    assert (spike(x) - targets.get("abs")(x)).abs().max().item() < 1e-12  # the plain grid: 0
    assert training_gap.measure(spike, ["abs"], 65)[0]["sup_error"] == pytest.approx(0.5, abs=1e-12)


def _table(tanh_lm: float, power: float, relu_exact: int) -> pd.DataFrame:
    """A hand-made result: the interpolant at 1/n^2 on sin1, tanh LM at tanh_lm / n^power
    (n = 8 .. 128), and relu_exact of 4 ReLU seeds fitting abs exactly at n = 8."""
    refs = [{"table": "reference", "method": INTERP, "target": t, "kind": targets.get(t).kind, "width": w,
             "sup_error": 1 / w**2} for t in ("sin1", "abs") for w in (8, 16, 32, 64, 128)]
    common = {"table": "trained", "optimizer": "lm", "setting": "lm", "precision": "float64", "batch_size": 64,
              "n_train": 64, "steps": 300, "status": "completed"}
    rows = [{**common, "target": "sin1", "kind": "smooth", "activation": "tanh", "width": w, "seed": s,
             "sup_error": tanh_lm / w**power, "l2_error": tanh_lm / w**power / 3} for w in (8, 16, 32, 64, 128) for s in range(4)]
    rows += [{**common, "target": "abs", "kind": "lipschitz", "activation": "relu", "width": 8, "seed": s,
              "sup_error": 1e-16 if s < relu_exact else 1e-3, "l2_error": 1e-4} for s in range(4)]
    return pd.DataFrame(refs + rows)


def test_study_targets_are_met_and_missed_by_the_numbers():
    def verdicts(df):  # first words of each target -> its verdict
        return {v["target"].split(" (")[0].split(" from")[0]: v["verdict"] for v in analysis.study_targets(df)}

    met = verdicts(_table(tanh_lm=0.5, power=2.5, relu_exact=2))
    assert met["tanh + LM at or below the ReLU interpolant"] == "met"
    assert met["tanh + LM sup-error slope <= -2 on n = 8..64"] == "met"  # slope -2.5
    assert met["ReLU + LM: exact fits of abs"] == "met"  # 2 of 4 seeds exact
    assert met["best tanh network on sin1 with 64 units: RMSE <= 1e-7"] == "missed"  # RMSE 0.5 / 64^2.5 / 3 = 5e-6
    assert verdicts(_table(tanh_lm=1e-3, power=2.5, relu_exact=2))[
        "best tanh network on sin1 with 64 units: RMSE <= 1e-7"] == "met"  # RMSE 1e-8
    # negative controls: above the interpolant with slope -1.5, and only 1 of 4 exact fits
    missed = verdicts(_table(tanh_lm=1.5, power=1.5, relu_exact=1))
    assert missed["tanh + LM at or below the ReLU interpolant"] == "missed"
    assert missed["tanh + LM sup-error slope <= -2 on n = 8..64"] == "missed"
    assert missed["ReLU + LM: exact fits of abs"] == "missed"
    # a target whose widths were not all trained is met only where measured
    partial = _table(tanh_lm=0.5, power=2.5, relu_exact=2)
    partial = partial[partial.width != 128]
    assert verdicts(partial)["tanh + LM at or below the ReLU interpolant"] == "met where measured"


def test_plot_and_describe_read_the_dataframe(smoke, tmp_path):
    training_gap.plot(smoke, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0 and (tmp_path / "x.pdf").exists()
    text = training_gap.describe(smoke)
    for verdict in analysis.study_targets(smoke):
        assert f"{verdict['target']}: {verdict['verdict'].upper()}" in text
    rows = analysis.final(smoke)
    lm = rows[rows.setting == "lm"]
    assert f"{len(lm)} " in text and "lm (float64)" in text and "adam (float32, batch 32)" in text
    # the init comparison and the solve's two forms, read from the rows
    ratios = analysis.init_ratios(smoke)
    here = ratios[(ratios.activation == "relu") & (ratios.setting == "lm") & (ratios.width == 8)]
    assert "relu lm: n = 4 " in text and (f"n = 8 steep {here[here.init == 'steep'].ratio_over_targets.iloc[0]:.3g}, "
                                          f"even_knots {here[here.init == 'even_knots'].ratio_over_targets.iloc[0]:.3g}"
                                          in text)
    assert "With the even_knots init: " in text and "(dual taken; " in text and "(primal taken; " in text
    widest = lm[lm.width == lm.width.max()].iloc[0]
    assert f"{widest.wall_s:.1f} s for {widest.steps:.0f} on {widest.n_members:.0f} networks" in text
    # the numbers follow the rows: other rows, another text
    changed = smoke.copy()
    changed.loc[changed.table == "trained", "wall_s"] *= 7
    assert training_gap.describe(changed) != text


@pytest.mark.parametrize("assignment, allowed, message", [
    ("optimizers=adam,newton", "optimizers=adam,lm", "unknown entry 'newton' in optimizers; allowed: adam, adam_full, "
                                                     "lbfgs, lm"),
    ("lm.budgets=0", "lm.budgets=3", "every entry of lm.budgets must be an integer in [1, 10000000], got 0"),
    ("solve_cost_batches=0", "solve_cost_batches=8", "every entry of solve_cost_batches must be an integer in"),
    ("curve_widths=16", "curve_widths=8", "curve_widths must be among widths (4, 8), got (16,)"),
    ("targets=sin1,step", "targets=sin1,abs", "targets must name targets with a certified sup error"),
    ("lbfgs.max_width=2", "lbfgs.max_width=4", "no width in (4, 8) is trained: each is above lbfgs.max_width=2"),
    ("inits=steep,xavier", "inits=steep,he", "unknown entry 'xavier' in inits; allowed: steep, standard, he, "
                                             "uniform_knots, even_knots"),
    ("solve_cost_widths=0", "solve_cost_widths=16", "every entry of solve_cost_widths must be an integer in"),
])
def test_bad_settings_are_one_line(tmp_path, capsys, assignment, allowed, message):
    out = tmp_path / "out"
    only = ["--set", "optimizers=lbfgs"] if assignment.startswith("lbfgs.") else []  # the one setting
    assert main(["run", "training_gap", "--preset", "smoke", "--quiet", "--out", str(out), "--set", assignment,
                 *only]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("approx: ") and message in err and "Traceback" not in err
    assert not out.exists()
    # control: the same key with an allowed value makes a Config
    cfg = build_config("training_gap", training_gap, "smoke", assignments=[allowed, *only[1:]])
    assert isinstance(cfg, training_gap.Config)
