"""experiments/_shallow.py: the mean-field output layer computes the same function class and makes
Adam's first step width-independent; chunked float64 evaluation equals the plain forward pass.
Its ``train`` also takes optimizer lbfgs or lm: the ``optimizer`` field of universal and
depth_separation (barron's ``optimizers``) runs their trained parts with them through the command line,
the rows and the text say which, Adam stays the default, and a bad name is refused in one line."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from approx.network import Layer, Network
from approx.run.cli import main
from approx.train import fit
from experiments._shallow import evaluate, shallow_ensemble
from rounding import forward_error_bound


def test_mean_field_is_a_rescaled_standard_network():
    mf = shallow_ensemble(1, 64, "tanh", [0, 1], init_steepness=3.0, mean_field=True)
    first, last = mf.layers
    assert last.scale == 1 / 64
    a = last.weight  # (E, 1, width): U(-1, 1) by construction
    assert a.abs().max() <= 1 and a.abs().max() > 0.5
    # the same function written as an ordinary network with output weights a / n
    plain = Network([first, Layer(a / 64, last.bias, "identity", 1.0)])
    x = torch.rand(50, 1, dtype=torch.float64)
    assert torch.allclose(mf(x), plain(x), rtol=1e-12, atol=1e-14)
    # negative control: dropping the fixed 1/n changes the function
    unscaled = Network([first, Layer(a, last.bias, "identity", 1.0)])
    assert not torch.allclose(mf(x), unscaled(x), rtol=1e-3)


def _first_step_change(width: int, mean_field: bool, lr: float) -> float:
    net = shallow_ensemble(1, width, "sigmoid", [0], init_steepness=4.0, mean_field=mean_field)
    x = torch.linspace(0, 1, 64, dtype=torch.float64)[:, None]
    y = torch.sin(6 * x)
    after, _ = fit(net, (x, y), optimizer="adam", lr=lr, steps=1, schedule="constant")
    return float((after(x) - net(x)).abs().max())


@pytest.mark.parametrize("width", [16, 1024])
def test_mean_field_first_adam_step_moves_the_output_by_at_most_2_5_lr(width):
    # Adam's first step moves every parameter by lr sign(g) (m_hat / sqrt(v_hat) = g / |g|). With
    # f = (1/n) sum a_i sigma(z_i) + c, |a_i| <= 1, |x| <= 1, sigma' <= 1/4: the output layer moves
    # f by <= lr (max sigma + 1) = 2 lr, the first layer by <= (1/n) sum |a_i| sigma' 2 lr <= lr/2;
    # so |df| <= 2.5 lr to first order in lr, whatever the width.
    lr = 1e-4
    assert _first_step_change(width, True, lr) <= 2.5 * lr * (1 + 1e-2)


def test_standard_output_layer_first_step_grows_with_width():
    # negative control for the bound above: the standard layer moves the output ~ n lr
    lr = 1e-4
    assert _first_step_change(1024, False, lr) > 50 * lr


def test_evaluate_in_blocks_is_the_float64_forward_pass():
    net = shallow_ensemble(2, 300, "relu", [0, 1, 2], dtype=torch.float32)
    x = torch.rand(1000, 2, dtype=torch.float64)
    net64 = net.to(dtype=torch.float64)
    whole = net64(x)  # (3, 1000, 1)
    blocks = evaluate(net, x, cells=3 * 300 * 7)  # 7 rows at a time: a ragged last block
    assert blocks.dtype == torch.float64 and blocks.shape == whole.shape
    # A (7, 300) block and the (1000, 300) whole go to different BLAS kernels, which may sum the
    # 300 output terms in a different order: both are within Higham's gamma_{n+2} bound of the
    # exact value, so they differ by at most twice it (tests/rounding.py).
    bound = 2 * forward_error_bound(net64, x)
    assert bool(((blocks - whole).abs() <= bound).all())
    single = net.member(1)
    got = evaluate(single, x, cells=300 * 64)
    assert bool(((got - single.to(dtype=torch.float64)(x)).abs() <= bound[1]).all())
    assert bool(((evaluate(single, x) - whole[1]).abs() <= bound[1]).all())
    # negative controls: the bound is tight enough to see a float32 evaluation, and a wrong member
    assert not bool(((net(x.float()).double() - whole).abs() <= bound).all())
    assert not bool(((evaluate(net.member(0), x) - whole[1]).abs() <= bound[1]).all())


# ---------------------------------------------------------------------------- the optimizer field
STUDIES = ("universal", "barron", "depth_separation")
FIELD = {"barron": "optimizers"}  # barron runs a tuple of optimizers (tests/experiments/test_barron.py)


def _run(name: str, out: Path, *assignments: str) -> tuple[pd.DataFrame, str]:
    """The smoke preset through the CLI with --set assignments; the CSV and the gallery text."""
    argv = ["run", name, "--preset", "smoke", "--device", "cpu", "--quiet", "--out", str(out)]
    for a in assignments:
        argv += ["--set", a]
    assert main(argv) == 0
    return pd.read_csv(out / f"{name}.csv"), (out / "README.md").read_text()


def _trained(name: str, df: pd.DataFrame) -> pd.DataFrame:
    if name == "universal":
        return df[(df.table == "error") & (df.seed >= 0)]
    if name == "barron":
        return df[df.method == "trained"]
    return df[df.part.isin(["sawtooth", "alternating"]) & (df.arch != "constructed")]


@pytest.mark.parametrize("name", STUDIES)
@pytest.mark.parametrize("optimizer, called", [("lm", "Levenberg-Marquardt"), ("lbfgs", "L-BFGS")])
def test_second_order_smoke_runs(name, optimizer, called, tmp_path):
    df, text = _run(name, tmp_path, f"{FIELD.get(name, 'optimizer')}={optimizer}", "dtype=float64")
    rows = _trained(name, df)
    assert len(rows) and (rows.optimizer == optimizer).all()
    assert set(rows.status) <= {"completed", "converged", "stalled"}
    assert rows.lr.isna().all()  # no rate: the line search or the damping sets the step
    assert called in text
    if name == "depth_separation":  # one run per seed, no grid of rates
        part = rows[rows.part == "sawtooth"]
        assert len(part) == part.groupby(["k", "arch", "n_hidden", "width"]).ngroups * part.seed.nunique()
        assert (df[df.part == "radial"].lr.notna()).all()  # radial keeps Adam
    else:
        assert (rows.batch_size == rows.n_train).all()  # the full batch


@pytest.mark.parametrize("name", STUDIES)
def test_adam_stays_the_default(name, tmp_path):
    """The control: without the field the rows say adam and carry Adam's rate."""
    df, text = _run(name, tmp_path)
    rows = _trained(name, df)
    if name == "barron":  # its default adds L-BFGS's own rows beside Adam's
        assert set(rows.optimizer) == {"adam", "lbfgs"}
        rows = rows[rows.optimizer == "adam"]
    assert (rows.optimizer == "adam").all() and rows.lr.notna().all()
    assert "Levenberg-Marquardt" not in text


@pytest.mark.parametrize("name", STUDIES)
def test_a_bad_optimizer_is_one_line(name, tmp_path, capsys):
    out = tmp_path / "out"
    field = FIELD.get(name, "optimizer")
    assert main(["run", name, "--preset", "smoke", "--quiet", "--out", str(out), "--set", f"{field}=newton"]) == 2
    err = capsys.readouterr().err
    unknown = "unknown entry 'newton' in optimizers" if field == "optimizers" else "unknown optimizer 'newton'"
    assert err.splitlines() == [f"approx: invalid configuration for {name}: {unknown}; allowed: adam, lbfgs, lm"]
    assert not out.exists()
