"""L-BFGS with a strong-Wolfe line search for a Network or an ensemble, on either engine.

    net, history = lbfgs_fit(net, x, y, steps=200, engine="backprop")

Each iteration k (Nocedal & Wright 2006, Algorithm 7.5) takes a step theta <- theta + alpha p
along p = -H g, where g is the gradient of the loss (``loss_and_grad`` of approx.backprop or
approx.autograd) and H approximates the inverse Hessian from the last ``memory`` pairs
s = theta_{k+1} - theta_k, y = g_{k+1} - g_k by the two-loop recursion (their Algorithm 7.4)
with H_0 = gamma I, gamma = s^T y / y^T y of the newest pair (their eq. 7.20). The first
iteration, with no pairs, goes along -g with the trial step min(1, 1/||g||_1), as
torch.optim.LBFGS does; later trial steps are alpha = 1.

alpha satisfies the strong Wolfe conditions (Nocedal & Wright, eq. 3.7), with
phi(alpha) = L(theta + alpha p):

    phi(alpha) <= phi(0) + c1 alpha phi'(0)          sufficient decrease (c1 = 1e-4)
    |phi'(alpha)| <= c2 |phi'(0)|                     curvature (c2 = 0.9)

found by their Algorithm 3.5 (bracketing: trial steps grow by a constant factor, 2, until one
fails sufficient decrease, does not lower phi, or has phi' >= 0) and Algorithm 3.6 (zoom: a
safeguarded cubic interpolation of phi and phi' at the bracket's ends, their eq. 3.59, with
bisection where the cubic has no minimiser or lands within a tenth of the bracket's width of an
end). Each evaluation returns phi and phi' together (one loss_and_grad), and a line search
gives up after ``max_evaluations``: it then takes the lowest point with sufficient decrease it
found, if any. The curvature condition makes s^T y > 0, which keeps H positive definite; a
pair with s^T y <= 0 (possible only through rounding) is not stored.

Ensembles: every member has its own pairs, line search and status. Each line search is written
as the sequential algorithm (a generator that yields its next trial step and receives phi and
phi'); the driver runs one batched loss_and_grad per round for all members still searching, so
member e takes the steps a single run from its parameters takes, up to the rounding of batched
against single products (~1e-16). On a convex loss that difference stays there; on a nonconvex
one the iteration amplifies it, like any chaotic dynamics (about 10x every 3 to 4 iterations
for sin 3x with 16 tanh units), so member and single run agree to 1e-8 for some dozens of
iterations and then part ways while converging alike (tests/test_lbfgs.py).
With the same constants, memory and first step, the iterates equal torch.optim.LBFGS's
(line_search_fn="strong_wolfe") to rounding (tests: 8 iterations on a tanh network).
A member stops, and its parameters freeze, when

    converged  its loss reached ``target_loss``
    diverged   its starting loss or gradient is not finite (the line search accepts only
               points that lower the loss, so it cannot grow)
    stalled    the gradient is exactly 0, or a line search found no point with sufficient
               decrease (the loss is at a minimum to working precision)
    completed  the step budget ran out

In fit: ``LBFGS`` is the stepper of ``approx.train.fit(..., optimizer="lbfgs")``, so L-BFGS
shares fit's loop, monitor, statuses, log and engine choice (one iteration per step), and
``lbfgs_fit`` is that fit with every iteration logged and the columns HISTORY_COLUMNS.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Generator

import pandas as pd
import torch
from torch import Tensor

from . import checks
from .engine_inputs import check_batch
from .fit_options import FitOptions
from .members import FlatStepper, flatten, member_data, unflatten
from .network import Network

__all__ = ["lbfgs_fit", "LBFGS", "strong_wolfe", "STATUSES", "HISTORY_COLUMNS"]

STATUSES = ("running", "completed", "converged", "diverged", "stalled")
HISTORY_COLUMNS = ("step", "member", "loss", "step_size", "evaluations", "status", "time_s")
GROWTH = 2.0  # bracketing phase: the next trial step is this multiple of the last

# A line search yields trial steps alpha and is sent (phi(alpha), phi'(alpha), payload); it
# returns (alpha, phi, payload) of the step it takes, or None when no point lowered phi enough.
LineSearch = Generator[float, tuple[float, float, object], "tuple[float, float, object] | None"]


def lbfgs_fit(
    net: Network,
    x: Tensor,
    y: Tensor,
    *,
    steps: int = 100,
    engine: str = "backprop",
    loss: str = "mse",
    memory: int = 10,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_evaluations: int = 25,
    target_loss: float | None = None,
) -> tuple[Network, pd.DataFrame]:
    """Minimise the loss of ``net`` on (x, y) by L-BFGS; return (net, history).

    x: (batch, d_0), shared by an ensemble's members, or (E, batch, d_0); y: broadcastable to
    the output. Both are moved to the network's dtype and device. steps: L-BFGS iterations
    (each one line search). engine: "backprop" or "autograd"; loss: "mse" or "logistic".
    memory: the number of (s, y) pairs kept. c1, c2: the strong Wolfe constants,
    0 < c1 < c2 < 1. max_evaluations: loss_and_grad calls allowed per line search.
    target_loss: a member whose loss falls to it has converged.

    History: one row per iteration and running member (step 0 is the start), with the
    columns HISTORY_COLUMNS: the loss after the iteration, the step size alpha taken, the
    member's loss_and_grad evaluations so far, and its status (STATUSES; module docstring).
    """
    options = FitOptions(optimizer="lbfgs", engine=engine, loss=loss, steps=steps, memory=memory, c1=c1, c2=c2,
                         max_evaluations=max_evaluations, divergence_factor=None, log_every=1)
    if target_loss is not None:  # a number here: lbfgs_fit has no "None or" in its wording
        options = replace(options, target_loss=checks.number("target_loss", target_loss))
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ValueError(f"x and y must be tensors; got {type(x).__name__} and {type(y).__name__}")
    x = x.to(device=net.device, dtype=net.dtype)
    y = check_batch(net, x, y.to(device=net.device, dtype=net.dtype))
    from .train import fit  # here, not at the top: train imports this module for its stepper
    fitted, history = fit(net, (x, y), options)
    return fitted, history[list(HISTORY_COLUMNS)]


def strong_wolfe(phi0: float, dphi0: float, alpha: float, *, c1: float = 1e-4, c2: float = 0.9,
                 max_evaluations: int = 25) -> LineSearch:
    """Nocedal & Wright's Algorithms 3.5 and 3.6 as a generator (see the module docstring).

    phi0, dphi0: phi(0) and phi'(0) < 0; alpha: the first trial step. Yields trial steps; send
    it (phi(alpha), phi'(alpha), payload) for each. Returns (alpha, phi, payload) of a point
    that satisfies the strong Wolfe conditions, or after max_evaluations the lowest point with
    sufficient decrease, or None if there is none. A NaN or inf phi counts as too large.
    """
    def decreases(a: float, phi: float) -> bool:
        # phi < phi0 too: at a minimum to working precision phi0 + c1 a phi'(0) rounds to phi0, and
        # a point of equal loss would pass; L-BFGS on least squares then ran its whole budget at
        # a constant loss on an Intel Xeon instead of stalling, as it did on an AMD EPYC
        return phi < phi0 and phi <= phi0 + c1 * a * dphi0  # False for NaN

    def curved(dphi: float) -> bool:
        return abs(dphi) <= -c2 * dphi0

    best = None  # (alpha, phi, payload): the lowest point with sufficient decrease so far
    evaluations = 0
    prev = (0.0, phi0, dphi0, None)  # alpha_{i-1}, phi, phi', payload
    while True:  # Algorithm 3.5: bracketing
        phi, dphi, payload = yield alpha
        evaluations += 1
        if not decreases(alpha, phi) or (prev[0] > 0 and not phi < prev[1]):
            lo, hi = prev, (alpha, phi, dphi, payload)
            break
        best = (alpha, phi, payload)
        if curved(dphi):
            return best
        if dphi >= 0:
            lo, hi = (alpha, phi, dphi, payload), prev
            break
        if evaluations >= max_evaluations:
            return best
        prev, alpha = (alpha, phi, dphi, payload), alpha * GROWTH
    while evaluations < max_evaluations:  # Algorithm 3.6: zoom; lo has sufficient decrease
        alpha = _cubic_minimiser(lo, hi)
        if alpha in (lo[0], hi[0]):  # the bracket shrank to rounding: nothing left to try
            break
        phi, dphi, payload = yield alpha
        evaluations += 1
        if not decreases(alpha, phi) or not phi < lo[1]:
            hi = (alpha, phi, dphi, payload)
            continue
        best = (alpha, phi, payload)
        if curved(dphi):
            return best
        if dphi * (hi[0] - lo[0]) >= 0:
            hi = lo
        lo = (alpha, phi, dphi, payload)
    return best


def _cubic_minimiser(lo: tuple, hi: tuple) -> float:
    """The minimiser of the cubic through (a, phi_a, phi'_a) and (b, phi_b, phi'_b) (Nocedal &
    Wright eq. 3.59), or the midpoint where it has none or lies within 0.1 |b - a| of an end."""
    a, fa, ga = lo[:3]
    b, fb, gb = hi[:3]
    mid = (a + b) / 2
    if not all(math.isfinite(v) for v in (fa, ga, fb, gb)):
        return mid
    d1 = ga + gb - 3 * (fa - fb) / (a - b)
    disc = d1 * d1 - ga * gb
    if disc < 0:
        return mid
    d2 = math.copysign(math.sqrt(disc), b - a)
    denominator = gb - ga + 2 * d2
    if denominator == 0:
        return mid
    t = b - (b - a) * (gb + d2 - d1) / denominator
    low, high = min(a, b), max(a, b)
    margin = 0.1 * (high - low)
    return t if low + margin <= t <= high - margin else mid


class LBFGS(FlatStepper):
    """The stepper of ``approx.train.fit`` for optimizer="lbfgs" (the protocol is in
    approx.train): ``update`` is one L-BFGS iteration (a line search) of the running members."""

    mini_batch = False
    columns = ("step_size", "evaluations")  # alpha taken in this iteration; loss_and_grad calls so far

    def __init__(self, net: Network, x: Tensor, y: Tensor, options: FitOptions, loss_and_grad: Callable):
        y = check_batch(net, x, y)  # like the output: (batch, d_L) or (E, batch, d_L)
        self.net, self.single = net, net.ensemble is None
        self.template = net
        self.memory, self.c1, self.c2 = options.memory, options.c1, options.c2
        self.max_evaluations = options.max_evaluations
        loss_name, single = options.loss, self.single

        def evaluate(theta: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
            """(loss (k,), gradient (k, P)) at the members' rows theta (k, P)."""
            value, grads = loss_and_grad(unflatten(net, theta), *member_data(x, y, members, single), loss_name)
            value = torch.tensor([value], dtype=theta.dtype, device=theta.device) if single else value
            return value, torch.cat([g.reshape(theta.shape[0], -1) for g in grads], dim=1)

        self.evaluate_rows = evaluate
        self.theta = theta = flatten(net)  # (E, P)
        n_members = theta.shape[0]
        self.loss, self.grad = evaluate(theta, torch.arange(n_members, device=theta.device))  # (E,), (E, P)
        self.n_evaluations = [1] * n_members
        self.pairs: list[tuple[Tensor, Tensor, Tensor]] = []  # (s (E, P), y (E, P), rho (E,)), oldest first
        self.n_pairs = torch.zeros(n_members, dtype=torch.long, device=theta.device)  # stored per member
        self.gamma = torch.ones(n_members, dtype=theta.dtype, device=theta.device)  # H_0 = gamma I
        self.step_sizes: dict[int, float] = {}
        self.running = [True] * n_members
        # step 0: a gradient that is not finite diverges, a zero one has stalled
        finite = (torch.isfinite(self.loss) & torch.isfinite(self.grad).all(dim=1)).tolist()
        zero = (self.grad == 0).all(dim=1).tolist()
        self.own = {e: "diverged" if not finite[e] else "stalled" for e in range(n_members)
                    if not finite[e] or zero[e]}

    def evaluate(self, t: int) -> float | Tensor:
        return self.loss[0].item() if self.single else self.loss.clone()

    def stops(self) -> dict[int, str]:
        own = {e: s for e, s in self.own.items() if self.running[e]}
        self.own = {}
        return own

    def update(self, t: int) -> None:
        """One iteration: the two-loop direction, a strong-Wolfe line search per running member
        (one batched loss_and_grad per round), the new (s, y) pair."""
        theta, grad, loss = self.theta, self.grad, self.loss
        active = [e for e, going in enumerate(self.running) if going]
        direction = _two_loop(grad, self.pairs, self.gamma)  # (E, P)
        first = self.n_pairs == 0
        direction = torch.where(first.unsqueeze(1), -grad, direction)
        slope = (grad * direction).sum(dim=1)  # phi'(0), (E,)
        uphill = ~(slope < 0)  # by rounding only: restart along -g
        direction = torch.where(uphill.unsqueeze(1), -grad, direction)
        slope = torch.where(uphill, -(grad * grad).sum(dim=1), slope)
        initial = torch.where(first | uphill, (1 / grad.abs().sum(dim=1)).clamp(max=1.0),
                              torch.ones_like(slope))
        losses, slopes, initials = loss.tolist(), slope.tolist(), initial.tolist()
        searches = {e: strong_wolfe(losses[e], slopes[e], initials[e], c1=self.c1, c2=self.c2,
                                    max_evaluations=self.max_evaluations) for e in active}
        trial = {e: search.send(None) for e, search in searches.items()}
        found: dict[int, tuple | None] = {}
        while trial:
            members = sorted(trial)
            idx = torch.tensor(members, device=theta.device)
            alphas = torch.tensor([trial[e] for e in members], dtype=theta.dtype, device=theta.device)
            point = theta[idx] + alphas.unsqueeze(1) * direction[idx]
            values, grads = self.evaluate_rows(point, idx)
            dphis = (grads * direction[idx]).sum(dim=1).tolist()
            for i, (e, value) in enumerate(zip(members, values.tolist())):
                self.n_evaluations[e] += 1
                try:
                    trial[e] = searches[e].send((value, dphis[i], (point[i], grads[i])))
                except StopIteration as done:
                    found[e] = done.value
                    del trial[e]
        taken = [e for e in active if found[e] is not None]
        s = torch.zeros_like(theta)
        y_pair = torch.zeros_like(theta)
        self.step_sizes = {}
        for e in taken:
            alpha, value, (point, new_grad) = found[e]
            self.step_sizes[e] = alpha
            s[e] = point - theta[e]
            y_pair[e] = new_grad - grad[e]
            theta[e], grad[e], loss[e] = point, new_grad, value
        sy = (s * y_pair).sum(dim=1)  # (E,): > 0 for every strong-Wolfe step
        stored = sy > 0  # members without a step have s = 0: nothing stored
        rho = torch.where(stored, 1 / torch.where(stored, sy, torch.ones_like(sy)), torch.zeros_like(sy))
        self.pairs.append((s, y_pair, rho))
        if len(self.pairs) > self.memory:
            self.pairs.pop(0)
        yy = (y_pair * y_pair).sum(dim=1)
        self.gamma = torch.where(stored, sy / torch.where(stored, yy, torch.ones_like(yy)), self.gamma)
        self.n_pairs = self.n_pairs + stored.long()
        zero = (grad == 0).all(dim=1).tolist()
        self.own = {e: "stalled" for e in active if found[e] is None or zero[e]}

    def values(self, members: list[int]) -> list[list]:
        return [[self.step_sizes.get(e, 0.0), self.n_evaluations[e]] for e in members]


def _two_loop(grad: Tensor, pairs: list[tuple[Tensor, Tensor, Tensor]], gamma: Tensor) -> Tensor:
    """-H g by the two-loop recursion (Nocedal & Wright, Algorithm 7.4), per member (rows).

    A pair with rho = 0 (not stored for that member) contributes nothing: its a_i and b are 0.
    """
    q = grad.clone()  # (E, P)
    coefficients = []
    for s, y, rho in reversed(pairs):  # newest first
        a = rho * (s * q).sum(dim=1)  # (E,)
        q -= a.unsqueeze(1) * y
        coefficients.append(a)
    r = gamma.unsqueeze(1) * q
    for (s, y, rho), a in zip(pairs, reversed(coefficients)):  # oldest first
        b = rho * (y * r).sum(dim=1)
        r += (a - b).unsqueeze(1) * s
    return -r
