"""Levenberg-Marquardt for the mse loss of a Network or an ensemble: damped Gauss-Newton.

    net, history = lm_fit(net, x, y, steps=300, engine="backprop")

For the residuals r(theta) = vec(net(x) - y), m = batch x out of them per network, the mse loss
is L = ||r||^2 / m. Each iteration linearises r(theta + h) ~ r + J h, with J = dr/dtheta the
per-example Jacobian (``approx.jacobian``, m x P, on either engine), and takes the step h that
minimises

    ||r + J h||^2 + lambda ||D h||^2                                                    (1)

(Levenberg 1944; Marquardt 1963): lambda -> 0 gives the Gauss-Newton step, a large lambda a
short step along the scaled gradient -D^-2 J^T r.

Scaling (Marquardt 1963; Moré 1978, as MINPACK's lmder does with mode = 1): D = diag(d_j),
d_j the largest norm that column j of J has had so far (the first Jacobian's column norms, a
zero column counted as 1, then the running maximum). The step is then invariant under a
rescaling of any one parameter, and d_j never shrinks, so a unit that goes quiet (a column
tending to 0) is not suddenly free to make huge moves.

Damping: the gain ratio of actual to predicted decrease,

    rho = (||r||^2 - ||r(theta + h)||^2) / (||J h||^2 + 2 lambda ||D h||^2),

where the denominator is ||r||^2 - ||r + J h||^2 for the h solving (1), written as Moré (1978)
and MINPACK's lmder write it: a sum of non-negative terms, free of the cancellation of the
difference. rho > 0 accepts the step and sets lambda <- lambda max(1/3, 1 - (2 rho - 1)^3),
nu <- 2; otherwise the step is rejected and lambda <- nu lambda, nu <- 2 nu (Nielsen 1999;
Madsen, Nielsen & Tingleff 2004, Algorithm 3.16). A rejected step changes neither theta nor J:
the next trial solves (1) again with the larger lambda from the same factorisation of J, so it
costs one forward pass and no Jacobian.

Solving (1): it is the linear least-squares problem

    min_h || [J; sqrt(lambda) D] h + [r; 0] ||,

which is solved by QR, as MINPACK does, and not through the normal equations
(J^T J + lambda D^2) h = -J^T r. Forming J^T J squares the condition number,
cond(J^T J) = cond(J)^2, so with a small lambda a Jacobian with cond(J) = 1e8 (common near a
fit, where redundant units give nearly dependent columns) gives the normal equations of float64
an error bound of cond^2 u ~ 1, no digit guaranteed, while a QR solve's is cond(J) u ~ 1e-8
(Golub & Van Loan 2013, sec. 5.3). Measured on a consistent 30 x 8 system: relative errors
6e-4 (normal equations) against 2e-11 (QR) at cond(J) = 1e7, 8e-3 against 1e-10 at 1e8
(tests/test_levenberg_marquardt.py checks the first pair). So that a
rejected step stays cheap, J is factored once per Jacobian: the R factor of [J r] holds R (the R
of J = QR) and Q^T r, and (1) becomes

    min_h || [R; sqrt(lambda) D] h + [Q^T r; 0] ||,                                     (2)

(the part of r outside J's range is a constant); each trial solves (2), a (min(m, P) + P) x P
problem, by torch.linalg.lstsq (QR, LAPACK gels; [R; sqrt(lambda) D] has full column rank for
lambda > 0 since D > 0), batched over members: ~2 (k + P) P^2 flops per trial after ~2 m P^2 per
Jacobian. MINPACK's lmpar does the same elimination with Givens rotations.

The dual (kernel) form, for wide networks. With fewer residuals than parameters (m < P: a [1, n, 1]
network has P = 3n + 1, so n >= 86 on 256 points) the primal trial costs ~2 (m + P) P^2, cubic
in the width. Writing u = D h and K = J D^-1 (m x P), the solution of (1) is, by the identity
(K^T K + lambda I)^-1 K^T = K^T (K K^T + lambda I)^-1 (multiply both sides by K^T K + lambda I
on the left and by K K^T + lambda I on the right; (1) is Nocedal & Wright 2006, sec. 10.3),

    u = -K^T (K K^T + lambda I_m)^-1 r,                                                 (3)

an m x m system instead of a P x P one. It is solved without forming K K^T, which would square
cond(K) as the normal equations do: the QR of the (P + m) x m matrix A = [K^T; sqrt(lambda) I_m]
= Q_A R_A gives R_A^T R_A = K K^T + lambda I and K^T = Q_top R_A (Q_top: Q_A's first P rows), so
u = -Q_top R_A^-T r: one triangular solve with R_A, whose condition number is
sqrt(cond(K K^T + lambda I)) <= cond(K) (Golub & Van Loan 2013, sec. 5.6: the minimum-norm
problem by QR of the transpose), and Q_A applied by its Householder reflectors (LAPACK geqrf and
ormqr). ~2 (P + m) m^2 flops per trial and no factorisation per Jacobian (J and r are kept as
they are; an orthogonal rotation of both would change nothing). ``solve_damped`` takes the dual
form exactly where m < P (its cost is below the primal's there, and above it otherwise); at
n = 256 and 256 points that is ~1.3e8 flops against ~1.2e9 per member and trial.

Ensembles: every member has its own lambda, nu, D, J and R; trials run as one batched solve
and one batched forward pass over the running members, and Jacobians are computed only for the
members whose step was accepted. Member e follows the path a single run from its parameters
follows, up to the rounding of batched against single products, which a long run on a
nonconvex loss can amplify (tests: to 1e-8 over 40 iterations; see approx.lbfgs).

In fit: ``LevenbergMarquardt`` is the stepper of ``approx.train.fit(..., optimizer="lm")``, so
LM shares fit's loop, monitor, statuses, log and engine choice (one LM iteration per step), and
``lm_fit`` is that fit with every iteration logged and the columns HISTORY_COLUMNS. A member
stops, and its parameters freeze, when

    converged  its loss reached ``target_loss``
    diverged   its loss or its Jacobian is not finite (NaN or inf data, an overflowing start);
               the loss cannot grow, since only steps that lower it are accepted
    stalled    lambda exceeded ``max_damping``: no step lowered the loss any more (a minimum
               to working precision, or a flat region)
    completed  the step budget ran out

Memory: J holds E x batch x out x P numbers, and computing and factoring it needs about as much
again twice (the hand-written engine's per-example weight copies, the QR's working copy). The
solve's working matrix is at most twice J in either form, (P + P) x P <= 2 m P where the primal
form runs (P <= m) and (P + m) x m <= 2 m P where the dual runs (m < P); the primal's
(m + P) x P for m < P, ~P^2 whatever m, would not have been bounded by J's size.
``lm_fit`` refuses a problem whose J exceeds ``max_jacobian_bytes`` (default: a quarter of the
memory available on the network's device) with one ValueError line that says what would fit.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from . import checks
from .engine_inputs import check_batch
from .fit_options import FitOptions
from .jacobian import jacobian, jacobian_bytes
from .members import FlatStepper, flatten, member_data, unflatten
from .network import Network

__all__ = ["lm_fit", "LevenbergMarquardt", "nielsen_update", "solve_damped", "available_memory", "STATUSES",
           "SOLVE_FORMS",
           "HISTORY_COLUMNS", "MEMORY_FRACTION"]

STATUSES = ("running", "completed", "converged", "diverged", "stalled")
SOLVE_FORMS = ("auto", "primal", "dual")  # solve_damped: by the problem's shape, (2), or (3)
HISTORY_COLUMNS = ("step", "member", "loss", "damping", "accepted", "jacobians", "status", "time_s")
MEMORY_FRACTION = 0.25  # default max_jacobian_bytes: this share of the device's available memory


def lm_fit(
    net: Network,
    x: Tensor,
    y: Tensor,
    *,
    steps: int = 100,
    engine: str = "backprop",
    damping: float = 1e-3,
    max_damping: float = 1e16,
    target_loss: float | None = None,
    max_jacobian_bytes: int | None = None,
) -> tuple[Network, pd.DataFrame]:
    """Minimise the mse of ``net`` on (x, y) by Levenberg-Marquardt; return (net, history).

    x: (batch, d_0), shared by an ensemble's members, or (E, batch, d_0); y: broadcastable to
    the output, (batch, d_L) or (E, batch, d_L). Both are moved to the network's dtype and
    device (float64 is what the method is for). steps: LM iterations, each one trial step (a
    solve and a forward pass), accepted or rejected. engine: the Jacobian's engine, "backprop"
    or "autograd". damping: the initial lambda (relative to D^2 = diag(J^T J) at the start,
    Nielsen's tau). max_damping: a member whose lambda exceeds it has stalled.
    target_loss: a member whose mse falls to it has converged. max_jacobian_bytes: refuse a
    larger Jacobian (None: ``MEMORY_FRACTION`` of ``available_memory``).

    History: one row per iteration and running member, with the columns HISTORY_COLUMNS: the
    loss after the iteration, the damping lambda for the next one, whether the step was
    accepted, how many Jacobians the member has cost so far, and its status (STATUSES; the
    module docstring). Step 0 is the start.
    """
    options = FitOptions(optimizer="lm", engine=engine, steps=steps, damping=damping, max_damping=max_damping,
                         max_jacobian_bytes=max_jacobian_bytes, divergence_factor=None, log_every=1)
    if target_loss is not None:  # a number here: lm_fit has no "None or" in its wording
        options = replace(options, target_loss=checks.number("target_loss", target_loss))
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ValueError(f"x and y must be tensors; got {type(x).__name__} and {type(y).__name__}")
    x = x.to(device=net.device, dtype=net.dtype)
    y = check_batch(net, x, y.to(device=net.device, dtype=net.dtype))  # like the output
    from .train import fit  # here, not at the top: train imports this module for its stepper
    fitted, history = fit(net, (x, y), options)
    return fitted, history[list(HISTORY_COLUMNS)]


def nielsen_update(damping: Tensor, nu: Tensor, rho: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(accepted, damping', nu') from the gain ratio rho, per member (Nielsen 1999).

    rho > 0: accepted, damping * max(1/3, 1 - (2 rho - 1)^3), nu = 2. Otherwise (including a
    NaN rho: a non-finite trial loss, or nothing predicted) rejected, damping * nu, nu * 2.
    """
    accepted = rho > 0
    shrink = torch.clamp(1 - (2 * rho - 1) ** 3, min=1 / 3)
    new_damping = torch.where(accepted, damping * shrink, damping * nu)
    new_nu = torch.where(accepted, torch.full_like(nu, 2.0), nu * 2)
    return accepted, new_damping, new_nu


def solve_damped(r_factor: Tensor, qtr: Tensor, scale: Tensor, damping: Tensor,
                 form: str = "auto") -> tuple[Tensor, Tensor]:
    """(h, predicted decrease) for problem (2) of the module docstring, batched over members.

    r_factor: (E, k, P), the R of J = QR (or J itself); qtr: (E, k), Q^T r (or r); scale: (E, P),
    D's diagonal; damping: (E,). h minimises ||R h + Q^T r||^2 + lambda ||D h||^2; the predicted
    decrease ||r||^2 - ||r + J h||^2 is returned as ||R h||^2 + 2 lambda ||D h||^2 (E,).

    form: "primal" solves the stacked (E, k + P, P) problem by QR, ~ 2 (k + P) P^2 flops per
    member; "dual" the kernel form (3) of the module docstring, a QR of (E, P + k, k),
    ~ 2 (P + k) k^2; "auto" takes the dual where k < P (more parameters than residuals).
    """
    form = checks.choice("form", form, SOLVE_FORMS)
    if form == "dual" or (form == "auto" and r_factor.shape[-2] < r_factor.shape[-1]):
        h = _dual_step(r_factor, qtr, scale, damping)
    else:
        lam = damping.unsqueeze(-1)  # (E, 1)
        stacked = torch.cat([r_factor, torch.diag_embed(lam.sqrt() * scale)], dim=1)  # (E, k + P, P)
        rhs = torch.cat([-qtr, qtr.new_zeros(scale.shape)], dim=1).unsqueeze(-1)  # (E, k + P, 1)
        h = torch.linalg.lstsq(stacked, rhs, driver="gels").solution.squeeze(-1)  # (E, P)
    rh = (r_factor @ h.unsqueeze(-1)).squeeze(-1)  # (E, k): R h, as long as J h
    predicted = rh.square().sum(-1) + 2 * damping * (scale * h).square().sum(-1)
    return h, predicted


def _dual_step(r_factor: Tensor, qtr: Tensor, scale: Tensor, damping: Tensor) -> Tensor:
    """h = D^-1 u, u = -K^T (K K^T + lambda I)^-1 c with K = R D^-1 (E, k, P) and c = Q^T r (E, k):
    (3) of the module docstring, from the QR of A = [K^T; sqrt(lambda) I_k] (E, P + k, k) without
    forming Q: A = Q_A R_A gives K^T = Q_top R_A, so u = -Q_top R_A^-T c (one triangular solve,
    then Q_A applied to [w; 0] by its Householder reflectors)."""
    n_params, k = r_factor.shape[-1], r_factor.shape[-2]
    kt = (r_factor / scale.unsqueeze(1)).mT  # (E, P, k): K^T
    root = damping.sqrt()[:, None, None] * torch.eye(k, dtype=kt.dtype, device=kt.device)  # (E, k, k)
    reflectors, tau = torch.geqrf(torch.cat([kt, root.expand(kt.shape[0], k, k)], dim=1))  # (E, P + k, k)
    r_a = reflectors[:, :k, :].triu()  # (E, k, k): R_A, with R_A^T R_A = K K^T + lambda I
    w = torch.linalg.solve_triangular(r_a.mT, qtr.unsqueeze(-1), upper=False)  # (E, k, 1): R_A^T w = c
    padded = torch.cat([w, w.new_zeros(w.shape[0], n_params, 1)], dim=1)  # (E, P + k, 1): [w; 0]
    u = -torch.ormqr(reflectors, tau, padded)[:, :n_params, 0]  # (E, P): -Q_top w
    return u / scale


def available_memory(device: torch.device) -> int:
    """Bytes free on a CUDA device, or available RAM (/proc/meminfo's MemAvailable) on the CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # free pages: less than MemAvailable (the page cache counts as used), so safe
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30  # no way to ask: assume a small machine


def check_memory(net: Network, batch: int, max_jacobian_bytes: int | None = None) -> int:
    """The Jacobian's size in bytes if it is at most the limit; else a ValueError saying what fits."""
    if max_jacobian_bytes is None:
        limit = int(MEMORY_FRACTION * available_memory(net.device))
        source = f"default: {MEMORY_FRACTION:g} of the memory available on {net.device}"
    else:
        limit = checks.integer("max_jacobian_bytes", max_jacobian_bytes, low=1)
        source = "max_jacobian_bytes"
    need = jacobian_bytes(net, batch)
    if need <= limit:
        return need
    members, out, n_params = net.ensemble or 1, net.sizes[-1], net.n_params
    per_example = need // batch
    fits = limit // per_example
    advice = (f"at most batch {fits} fits with these members and parameters" if fits >= 1 else
              f"not even batch 1 fits ({_size(per_example)})")
    if net.ensemble is not None and limit >= need // members:
        advice += f"; batch {batch} fits at most {limit // (need // members)} members"
    raise ValueError(
        f"the Jacobian would be E {members} x batch {batch} x out {out} x P {n_params} x "
        f"{need // (members * batch * out * n_params)} bytes = {_size(need)}, more than the "
        f"{_size(limit)} allowed ({source}); {advice}, or use fewer parameters")


def _size(n_bytes: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes} bytes"


class _Problem:
    """The data and the network's shape; residuals and Jacobians for some members' rows theta
    (k, P) (``approx.members``: a single network is one row, evaluated as a single Network)."""

    def __init__(self, net: Network, x: Tensor, y: Tensor, engine: str):
        if not isinstance(x, Tensor) or not isinstance(y, Tensor):
            raise ValueError(f"x and y must be tensors; got {type(x).__name__} and {type(y).__name__}")
        x = x.to(device=net.device, dtype=net.dtype)
        y = check_batch(net, x, y.to(device=net.device, dtype=net.dtype))  # like the output
        self.net, self.x, self.y, self.engine = net, x, y, engine
        self.single = net.ensemble is None
        self.n = x.shape[-2]
        self.m = self.n * net.sizes[-1]  # residuals per member

    def residual(self, theta: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
        """(r, loss): residuals (k, m), row-major over (example, output), and mse (k,)."""
        x, y = member_data(self.x, self.y, members, self.single)
        r = (unflatten(self.net, theta)(x) - y).reshape(theta.shape[0], self.m)
        return r, r.square().mean(dim=1)

    def jacobian(self, theta: Tensor, members: Tensor) -> Tensor:
        """dr/dtheta: (k, m, P)."""
        x, _ = member_data(self.x, self.y, members, self.single)
        return jacobian(unflatten(self.net, theta), x, engine=self.engine).reshape(theta.shape[0], self.m, -1)


def _factor(jac: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
    """(R, Q^T r) for J = QR from the R factor of [J r]: (k, min(m, P), P) and (k, min(m, P)).

    With fewer residuals than parameters (m < P) the step is solved in the dual form (3), which
    needs no triangular factor: an orthogonal Q (m x m) changes neither K K^T nor the step, so J
    and r are returned as they are and the ~2 m^2 P flops of this QR are saved."""
    n_params = jac.shape[-1]
    rows = min(jac.shape[-2], n_params)
    if rows < n_params:
        return jac, r
    aug = torch.linalg.qr(torch.cat([jac, r.unsqueeze(-1)], dim=-1), mode="r")[1]  # (k, *, P + 1)
    return aug[:, :rows, :n_params], aug[:, :rows, n_params]


class LevenbergMarquardt(FlatStepper):
    """The stepper of ``approx.train.fit`` for optimizer="lm" (the protocol is in approx.train):
    ``update`` is one LM iteration of the running members, ``evaluate`` the mse it left."""

    mini_batch = False
    columns = ("damping", "accepted", "jacobians")  # after the iteration; this one's; so far

    def __init__(self, net: Network, x: Tensor, y: Tensor, options: FitOptions):
        self.problem = problem = _Problem(net, x, y, options.engine)
        self.template = net
        check_memory(net, problem.n, options.max_jacobian_bytes)
        self.max_damping = options.max_damping
        self.theta = theta = flatten(net)  # (E, P)
        n_members, n_params = theta.shape
        self.single = net.ensemble is None
        self.r, self.loss = problem.residual(theta, torch.arange(n_members, device=theta.device))  # (E, m), (E,)
        self.lam = torch.full((n_members,), options.damping, dtype=theta.dtype, device=theta.device)
        self.nu = torch.full_like(self.lam, 2.0)
        rows_k = min(problem.m, n_params)
        self.r_factor = theta.new_zeros(n_members, rows_k, n_params)
        self.qtr = theta.new_zeros(n_members, rows_k)
        self.scale = theta.new_ones(n_members, n_params)  # D's diagonal
        self.n_jacobians = [0] * n_members
        self.accepted = [False] * n_members
        self.running = [True] * n_members
        # step 0: J where the loss is finite (a member whose loss is not is the monitor's: diverged)
        finite_loss = torch.isfinite(self.loss).tolist()
        self.broken = set(self._refresh([e for e in range(n_members) if finite_loss[e]]))

    def evaluate(self, t: int) -> float | Tensor:
        return self.loss[0].item() if self.single else self.loss.clone()

    def stops(self) -> dict[int, str]:
        """Diverged: J not finite at the accepted point; stalled: damping above max_damping."""
        lams = self.lam.tolist()
        own = {e: "diverged" for e in self.broken if self.running[e]}
        own.update({e: "stalled" for e, lam in enumerate(lams)
                    if self.running[e] and e not in own and lam > self.max_damping})
        self.broken = set()
        return own

    def update(self, t: int) -> None:
        """One trial step per running member: accepted if it lowers the loss, with J refreshed."""
        active = [e for e, going in enumerate(self.running) if going]
        theta, r, loss, lam, nu = self.theta, self.r, self.loss, self.lam, self.nu
        idx = torch.tensor(active, device=theta.device)
        h, predicted = solve_damped(self.r_factor[idx], self.qtr[idx], self.scale[idx], lam[idx])
        trial = theta[idx] + h
        r_trial, loss_trial = self.problem.residual(trial, idx)
        actual = r[idx].square().sum(1) - r_trial.square().sum(1)
        accepted, lam[idx], nu[idx] = nielsen_update(lam[idx], nu[idx], actual / predicted)
        keep = accepted.unsqueeze(1)
        theta[idx] = torch.where(keep, trial, theta[idx])
        r[idx] = torch.where(keep, r_trial, r[idx])
        loss[idx] = torch.where(accepted, loss_trial, loss[idx])
        accepted_list = accepted.tolist()
        for e, a in zip(active, accepted_list):
            self.accepted[e] = a
        self.broken = set(self._refresh([e for e, a in zip(active, accepted_list) if a]))

    def _refresh(self, members: list[int]) -> list[int]:
        """J, R, Q^T r and D at the members' current parameters; the members whose J is not finite."""
        if not members:
            return []
        theta = self.theta
        idx = torch.tensor(members, device=theta.device)
        jac = self.problem.jacobian(theta[idx], idx)  # (k, m, P)
        finite = torch.isfinite(jac).flatten(1).all(dim=1)
        norms = jac.norm(dim=1)  # (k, P) column norms
        first = torch.tensor([self.n_jacobians[e] == 0 for e in members], device=theta.device).unsqueeze(1)
        initial = torch.where(norms > 0, norms, torch.ones_like(norms))  # MINPACK: zero column -> 1
        self.scale[idx] = torch.where(first, initial, torch.maximum(self.scale[idx], norms))
        self.r_factor[idx], self.qtr[idx] = _factor(jac, self.r[idx])
        for e in members:
            self.n_jacobians[e] += 1
        return [e for e, ok in zip(members, finite.tolist()) if not ok]

    def values(self, members: list[int]) -> list[list]:
        lams = self.lam.tolist()
        return [[lams[e], self.accepted[e], self.n_jacobians[e]] for e in members]
