"""approx.levenberg_marquardt: against MINPACK (scipy's method="lm"), ensembles against single
runs, the QR solve against the normal equations, the dual (kernel) step against the primal,
the damping rule, freezing, the memory refusal."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares

from approx import Layer, Network
from approx.levenberg_marquardt import (HISTORY_COLUMNS, _factor, check_memory, lm_fit,
                                        nielsen_update, solve_damped)

F64 = torch.float64


def _t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


def _teacher() -> Network:
    """1-4-1 tanh with well separated units (slopes 2..4, kinks inside [-2, 2]): its parameters
    are determined by 40 samples up to the network's symmetries, so a nearby start finds them."""
    return Network([Layer(_t([[3.0], [-2.0], [4.0], [2.5]]), _t([-2.0, 0.5, 1.0, 3.0]), "tanh"),
                    Layer(_t([[1.0, -0.7, 0.5, 1.2]]), _t([0.3]), "identity")])


def _flat(net: Network) -> torch.Tensor:
    return torch.cat([p.flatten() for p in net.parameters()])


def _unflat(template: Network, theta: torch.Tensor) -> Network:
    params, i = [], 0
    for p in template.parameters():
        params.append(theta[i:i + p.numel()].reshape(p.shape))
        i += p.numel()
    return template.with_parameters(params)


def _teacher_problem(seed=0, noise=0.05):
    teacher = _teacher()
    x = torch.linspace(-2, 2, 40, dtype=F64)[:, None]
    start = _flat(teacher) + noise * torch.randn(13, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return teacher, x, teacher(x), start


def test_reaches_the_teacher_like_minpack():
    """Zero-residual fit from a nearby start: LM here and MINPACK's lmder (scipy, with an exact
    Jacobian from torch.autograd) both end at the teacher's parameters. Gauss-Newton converges
    quadratically at a zero-residual minimum, so both reach it to rounding: cond(J) u ~ 1e-13."""
    teacher, x, y, start = _teacher_problem()
    target = _flat(teacher)
    fitted, history = lm_fit(_unflat(teacher, start), x, y, steps=100)
    ours = _flat(fitted)

    def residual(theta):
        return (_unflat(teacher, theta)(x) - y).flatten()

    ref = least_squares(lambda th: residual(torch.from_numpy(th)).numpy(), start.numpy(),
                        jac=lambda th: torch.autograd.functional.jacobian(residual, torch.from_numpy(th)).numpy(),
                        method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert ref.success and np.mean(ref.fun ** 2) < 1e-28
    assert history.loss.iloc[-1] < 1e-28
    assert (ours - target).abs().max().item() < 1e-10
    assert np.abs(ref.x - target.numpy()).max() < 1e-10
    assert (ours - torch.from_numpy(ref.x)).abs().max().item() < 1e-10
    # negative controls: the start is far from the teacher, and 3 iterations do not get there
    assert (start - target).abs().max().item() > 1e-2
    early, _ = lm_fit(_unflat(teacher, start), x, y, steps=3)
    assert (_flat(early) - target).abs().max().item() > 1e-10


def test_both_engines_give_the_same_run():
    """Jacobians equal to rounding give the same steps. Parameters agree to ~1e-15, so the
    residuals r ~ sqrt(loss) differ by ~1e-15 |J|: losses agree to 1e-8 relative while
    sqrt(loss) >> 1e-7 |J| (loss > 1e-12 here); below that they are rounding noise."""
    teacher, x, y, start = _teacher_problem(seed=1)
    a, ha = lm_fit(_unflat(teacher, start), x, y, steps=12, engine="backprop")
    b, hb = lm_fit(_unflat(teacher, start), x, y, steps=12, engine="autograd")
    assert (ha.accepted == hb.accepted).all()
    above = ha.loss > 1e-12
    assert above.sum() >= 8 and ha.loss.iloc[-1] < 1e-20
    assert np.allclose(ha.loss[above], hb.loss[above], rtol=1e-8, atol=0)
    assert (_flat(a) - _flat(b)).abs().max().item() < 1e-10


@pytest.mark.parametrize("shared_x", [True, False])
def test_ensemble_equals_single_runs(shared_x):
    """Each member follows its own single run: same accepted steps, losses and parameters to 1e-8."""
    net = Network.random([1, 8, 1], "tanh", seed=0, ensemble=3)
    gen = torch.Generator().manual_seed(0)
    x = torch.linspace(-1, 1, 30, dtype=F64)[:, None]
    if not shared_x:
        x = x + 0.1 * torch.rand(3, 30, 1, generator=gen, dtype=F64)
    y = torch.sin(3 * x) if not shared_x else torch.stack([torch.sin(k * x) for k in (1, 2, 3)])
    fitted, history = lm_fit(net, x, y, steps=40)
    for e in range(3):
        single, h1 = lm_fit(net.member(e), x if shared_x else x[e], y[e], steps=40)
        he = history[history.member == e].reset_index(drop=True)
        assert (he.accepted == h1.accepted).all() and (he.jacobians == h1.jacobians).all()
        assert np.allclose(he.loss, h1.loss, rtol=1e-8, atol=0)
        assert (_flat(fitted.member(e)) - _flat(single)).abs().max().item() < 1e-8
    # negative control: member 1's run is not member 0's
    h0, h1 = history[history.member == 0], history[history.member == 1]
    assert not np.allclose(h0.loss.values[-1], h1.loss.values[-1], rtol=1e-8, atol=0)


def test_a_rejected_step_costs_no_jacobian():
    net = Network.random([1, 8, 1], "tanh", seed=2)
    x = torch.linspace(-1, 1, 30, dtype=F64)[:, None]
    _, history = lm_fit(net, x, torch.sin(4 * x), steps=60, damping=1e-6)
    accepted = history.accepted.cumsum()
    assert 0 < history.accepted.sum() < 60  # steps were rejected, so the check can tell
    assert (history.jacobians == 1 + accepted).all()
    assert not (history.jacobians == 1 + history.step).all()  # negative control


def test_history_columns_and_statuses_freeze():
    """A member with NaN targets diverges at step 0, one reaching the target converges and stays
    put, one that cannot (sin 9x with 6 units) completes; each member's rows end at its stop."""
    net = Network.random([1, 6, 1], "tanh", seed=0, ensemble=3)
    x = torch.linspace(-1, 1, 20, dtype=F64)[:, None]
    y = torch.stack([torch.sin(2 * x), torch.full_like(x, float("nan")), torch.sin(9 * x)])
    fitted, history = lm_fit(net, x, y, steps=40, target_loss=1e-6)
    assert tuple(history.columns) == HISTORY_COLUMNS
    last = history.groupby("member").tail(1).set_index("member")
    assert last.status[1] == "diverged" and last.step[1] == 0 and last.jacobians[1] == 0
    assert torch.equal(_flat(fitted.member(1)), _flat(net.member(1)))  # frozen where it started
    assert last.status[0] == "converged" and last.loss[0] <= 1e-6 < history.loss.iloc[0]
    assert last.step[0] < 40 and last.status[2] == "completed" and last.step[2] == 40
    assert (history.status[history.step < history.member.map(last.step)] == "running").all()
    # the converged member stays where a single run with the same target stops
    single, h0 = lm_fit(net.member(0), x, y[0], steps=40, target_loss=1e-6)
    assert h0.step.iloc[-1] == last.step[0]
    assert (_flat(single) - _flat(fitted.member(0))).abs().max().item() < 1e-8


def test_stalls_at_a_minimum_to_working_precision():
    teacher, x, y, start = _teacher_problem()
    _, history = lm_fit(_unflat(teacher, start), x, y, steps=200)
    assert history.status.iloc[-1] == "stalled" and history.step.iloc[-1] < 200
    assert history.damping.iloc[-1] > 1e16


def test_nielsen_update():
    lam, nu = _t([1.0, 1.0, 1.0, 1.0, 1.0]), _t([2.0, 2.0, 8.0, 4.0, 2.0])
    rho = _t([1.0, 0.5, 0.25, -1.0, float("nan")])
    accepted, new_lam, new_nu = nielsen_update(lam, nu, rho)
    assert accepted.tolist() == [True, True, True, False, False]
    # rho = 1: the model is exact, lambda / 3; rho = 1/2: unchanged; rho = 1/4: 1 + 1/8
    assert torch.allclose(new_lam, _t([1 / 3, 1.0, 1.125, 4.0, 2.0]), rtol=1e-15, atol=0)
    assert new_nu.tolist() == [2.0, 2.0, 2.0, 8.0, 4.0]


def _ill_conditioned(cond: float, m=30, n_params=8):
    """J = U diag(s) V^T with singular values from 1 to 1/cond, and r = -J h: h solves (1) as lambda -> 0."""
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(m, n_params, generator=gen, dtype=F64))
    v, _ = torch.linalg.qr(torch.randn(n_params, n_params, generator=gen, dtype=F64))
    s = torch.logspace(0, -np.log10(cond), n_params, dtype=F64)
    jac = u @ torch.diag(s) @ v.T
    h = torch.randn(n_params, generator=gen, dtype=F64)
    return jac, -(jac @ h), h


def test_qr_solve_keeps_the_digits_the_normal_equations_lose():
    """cond(J) = 1e7: a QR least-squares solve has forward error ~ cond(J) u = 1e-9 (bound here:
    10 P cond u ~ 9e-8); the normal equations, cond(J^T J) = cond(J)^2 = 1e14, ~ cond^2 u ~ 1e-2."""
    jac, r, h_true = _ill_conditioned(1e7)
    r_factor, qtr = _factor(jac[None], r[None])
    h, predicted = solve_damped(r_factor, qtr, torch.ones(1, 8, dtype=F64), _t([1e-300]))
    bound = 10 * 8 * 1e7 * torch.finfo(F64).eps / 2
    assert ((h[0] - h_true).norm() / h_true.norm()).item() < bound
    normal = torch.linalg.solve(jac.T @ jac, -jac.T @ r)
    assert ((normal - h_true).norm() / h_true.norm()).item() > 1e-5  # the negative control
    # predicted decrease: the whole ||r||^2 for an exact Gauss-Newton step on a consistent system
    assert torch.allclose(predicted[0], r.square().sum(), rtol=1e-10)


def test_factored_solve_equals_the_stacked_problem():
    """(2) from the R of [J r] equals (1) solved on J itself (R = J, Q = I), for any lambda and D."""
    jac, r, _ = _ill_conditioned(1e3)
    r = r + 0.1 * torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=F64)  # not consistent
    scale = torch.linspace(0.5, 2, 8, dtype=F64)[None]
    r_factor, qtr = _factor(jac[None], r[None])
    for lam in (1e-6, 1e-2, 10.0):
        h, pred = solve_damped(r_factor, qtr, scale, _t([lam]))
        h_full, pred_full = solve_damped(jac[None], r[None], scale, _t([lam]))
        assert ((h - h_full).norm() / h_full.norm()).item() < 1e-12
        assert torch.allclose(pred, pred_full, rtol=1e-10)
        actual_pred = r.square().sum() - (r + jac @ h_full[0]).square().sum()
        assert torch.allclose(pred_full[0], actual_pred, rtol=1e-8)


def _wide_problem(members: int, m=20, n_params=50, seed=0):
    """A random well-conditioned problem with fewer residuals than parameters (m < P), per member:
    J (E, m, P) with entries N(0, 1) (cond(J) ~ (sqrt(P) + sqrt(m)) / (sqrt(P) - sqrt(m)) ~ 4.4),
    r (E, m), D's diagonal in [0.5, 1.5] and lambda in [0.1, 1.1]."""
    gen = torch.Generator().manual_seed(seed)
    jac = torch.randn(members, m, n_params, generator=gen, dtype=F64)
    r = torch.randn(members, m, generator=gen, dtype=F64)
    scale = 0.5 + torch.rand(members, n_params, generator=gen, dtype=F64)
    lam = 0.1 + torch.rand(members, generator=gen, dtype=F64)
    return jac, r, scale, lam


@pytest.mark.parametrize("members", [1, 3])
def test_dual_step_equals_the_primal_step(members):
    """(3) of the module docstring and the stacked problem (1) have the same solution (the
    push-through identity): to 1e-10 in float64, where both solves are backward stable on a
    problem with cond ~ 4 (forward error ~ cond u ~ 1e-15; the bound leaves 1e5 of room). "auto"
    takes the dual where m < P and the primal where m >= P, bit for bit."""
    jac, r, scale, lam = _wide_problem(members)
    h_primal, pred_primal = solve_damped(jac, r, scale, lam, form="primal")
    h_dual, pred_dual = solve_damped(jac, r, scale, lam, form="dual")
    assert ((h_dual - h_primal).norm(dim=1) / h_primal.norm(dim=1)).max().item() < 1e-10
    assert ((pred_dual - pred_primal).abs() / pred_primal).max().item() < 1e-10
    assert torch.equal(solve_damped(jac, r, scale, lam)[0], h_dual)
    tall, r_tall = jac.mT[:, :, :20], torch.randn(members, 50, dtype=F64)  # m = 50 >= P = 20: primal
    assert torch.equal(solve_damped(tall, r_tall, scale[:, :20], lam)[0],
                       solve_damped(tall, r_tall, scale[:, :20], lam, form="primal")[0])
    # the closed form (3), written out: u = -K^T (K K^T + lambda I)^-1 r, h = D^-1 u
    def closed(k, sign=-1.0):
        system = k @ k.mT + lam[:, None, None] * torch.eye(k.shape[1], dtype=F64)
        return sign * (k.mT @ torch.linalg.solve(system, r.unsqueeze(-1))).squeeze(-1)
    kernel = jac / scale.unsqueeze(1)
    assert ((closed(kernel) / scale - h_dual).norm() / h_dual.norm()).item() < 1e-10
    # negative controls: D left out, or the sign flipped, is far off
    assert ((closed(jac) - h_dual).norm() / h_dual.norm()).item() > 1e-2
    assert ((closed(kernel, sign=1.0) / scale - h_dual).norm() / h_dual.norm()).item() > 1


def test_dual_solve_keeps_the_digits_the_kernel_normal_equations_lose():
    """m < P, cond(J) = 1e7, lambda ~ 0: (3) gives the minimum-norm Gauss-Newton step
    -J^+ r, which the QR of [K^T; sqrt(lambda) I] finds to ~ cond(J) u (bound here: 10 m cond u
    ~ 9e-8, as in the primal test); forming K K^T squares the condition number, ~ cond^2 u."""
    jac_tall, _, h_true = _ill_conditioned(1e7)  # (30, 8): J^T is 8 x 30, cond 1e7
    jac = jac_tall.T  # (8, 30): m = 8 < P = 30
    z = torch.randn(8, generator=torch.Generator().manual_seed(3), dtype=F64)
    r = -z
    h_min = torch.linalg.pinv(jac) @ z  # the minimum-norm solution of J h = -r
    h, predicted = solve_damped(jac[None], r[None], torch.ones(1, 30, dtype=F64), _t([1e-300]), form="dual")
    bound = 10 * 8 * 1e7 * torch.finfo(F64).eps / 2
    assert ((h[0] - h_min).norm() / h_min.norm()).item() < bound
    gram = jac @ jac.T  # the negative control: the kernel's normal equations, cond 1e14
    normal = jac.T @ torch.linalg.solve(gram, -r)
    assert ((normal - h_min).norm() / h_min.norm()).item() > 1e-5
    assert torch.allclose(predicted[0], r.square().sum(), rtol=1e-8)  # J h = -r: all of ||r||^2


def test_wide_networks_fit_through_the_dual_form():
    """20 points, a 1-16-1 tanh net (P = 49 > m = 20): LM steps in the dual form interpolate
    (mse from ~0.5 to below 1e-9 in 100 iterations), and the ensemble's members follow their
    single runs to 1e-8."""
    net = Network.random([1, 16, 1], "tanh", seed=0, ensemble=2)
    x = torch.linspace(-1, 1, 20, dtype=F64)[:, None]
    y = torch.stack([torch.sin(2 * x), torch.cos(3 * x)])
    fitted, history = lm_fit(net, x, y, steps=100)
    assert history.groupby("member").loss.last().max() < 1e-9 < history.loss.iloc[0]
    for e in range(2):
        single, h1 = lm_fit(net.member(e), x, y[e], steps=100)
        assert (_flat(fitted.member(e)) - _flat(single)).abs().max().item() < 1e-8
    assert (_flat(fitted.member(0)) - _flat(net.member(0))).abs().max().item() > 1e-2  # it moved


def test_refuses_an_unknown_solve_form():
    jac, r, scale, lam = _wide_problem(1)
    with pytest.raises(ValueError, match="unknown form 'normal'; allowed: auto, primal, dual"):
        solve_damped(jac, r, scale, lam, form="normal")


def test_refuses_a_jacobian_that_does_not_fit():
    net = Network.random([2, 50, 1], "tanh", ensemble=4)  # P = 201
    x, y = torch.zeros(1000, 2, dtype=F64), torch.zeros(1000, 1, dtype=F64)
    need = 4 * 1000 * 1 * 201 * 8
    with pytest.raises(ValueError, match=r"the Jacobian would be E 4 x batch 1000 x out 1 x P 201 x 8 bytes"
                       r" = 6\.1 MiB, more than the 1\.0 MiB allowed \(max_jacobian_bytes\); at most batch 163 "
                       r"fits with these members and parameters, or use fewer parameters"):
        lm_fit(net, x, y, steps=1, max_jacobian_bytes=2**20)
    with pytest.raises(ValueError, match="not even batch 1 fits"):
        check_memory(net, 1000, max_jacobian_bytes=100)
    with pytest.raises(ValueError, match="batch 1000 fits at most 2 members"):
        check_memory(net, 1000, max_jacobian_bytes=need // 2)
    assert check_memory(net, 1000, max_jacobian_bytes=need) == need  # negative control: it fits
    assert check_memory(net, 1000) == need  # the default: a share of this machine's memory


def test_rejects_bad_arguments():
    net = Network.random([1, 3, 1], "tanh")
    x, y = torch.zeros(5, 1, dtype=F64), torch.zeros(5, 1, dtype=F64)
    for kwargs, message in [({"steps": -1}, "steps must be an integer >= 0, got -1"),
                            ({"engine": "jax"}, "unknown engine 'jax'; allowed: backprop, autograd"),
                            ({"damping": 0.0}, "damping must be a finite number > 0"),
                            ({"max_damping": 1e-4}, "max_damping must be a finite number > 0.001"),
                            ({"target_loss": float("nan")}, "target_loss must be a finite number"),
                            ({"max_jacobian_bytes": 0}, "max_jacobian_bytes must be an integer >= 1")]:
        with pytest.raises(ValueError, match=message):
            lm_fit(net, x, y, **kwargs)
    with pytest.raises(ValueError, match=r"does not match the output \(5, 1\)"):
        lm_fit(net, x, torch.zeros(4, 1, dtype=F64))


def test_on_device(device):
    teacher, x, y, start = _teacher_problem()
    net = _unflat(teacher, start).to(device)
    fitted, history = lm_fit(net, x.to(device), y.to(device), steps=30)
    assert fitted.device.type == device and history.loss.iloc[-1] < 1e-20


def test_dual_step_on_device(device):
    """The dual form on the device (geqrf, ormqr there) gives the CPU's step to 1e-10."""
    jac, r, scale, lam = _wide_problem(2)
    h_cpu, _ = solve_damped(jac, r, scale, lam, form="dual")
    h, _ = solve_damped(jac.to(device), r.to(device), scale.to(device), lam.to(device), form="dual")
    assert h.device.type == device and ((h.cpu() - h_cpu).norm() / h_cpu.norm()).item() < 1e-10
