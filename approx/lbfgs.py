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
"""
from __future__ import annotations

import math
import time
from typing import Generator

import pandas as pd
import torch
from torch import Tensor

from . import checks
from . import losses as _losses
from .engine_inputs import check_batch
from .members import flatten, member_data, unflatten
from .network import Network

__all__ = ["lbfgs_fit", "strong_wolfe", "STATUSES", "HISTORY_COLUMNS", "ENGINES"]

ENGINES = ("backprop", "autograd")
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
    engine = checks.choice("engine", engine, ENGINES)
    loss_fn_name = _losses.get(loss).name
    steps = checks.integer("steps", steps, low=0)
    memory = checks.integer("memory", memory, low=1, high=10_000)
    c1 = checks.number("c1", c1, low=0, high=1, low_open=True, high_open=True)
    c2 = checks.number("c2", c2, low=c1, high=1, low_open=True, high_open=True)
    max_evaluations = checks.integer("max_evaluations", max_evaluations, low=1, high=10_000)
    target = -math.inf if target_loss is None else checks.number("target_loss", target_loss)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ValueError(f"x and y must be tensors; got {type(x).__name__} and {type(y).__name__}")
    x = x.to(device=net.device, dtype=net.dtype)
    y = check_batch(net, x, y.to(device=net.device, dtype=net.dtype))
    if engine == "backprop":
        from .backprop import loss_and_grad
    else:
        from .autograd import loss_and_grad
    single = net.ensemble is None

    def evaluate(theta: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
        """(loss (k,), gradient (k, P)) at the members' rows theta (k, P)."""
        value, grads = loss_and_grad(unflatten(net, theta), *member_data(x, y, members, single), loss_fn_name)
        value = torch.tensor([value], dtype=theta.dtype, device=theta.device) if single else value
        return value, torch.cat([g.reshape(theta.shape[0], -1) for g in grads], dim=1)

    return _iterate(net, evaluate, steps, memory, c1, c2, max_evaluations, target)


def strong_wolfe(phi0: float, dphi0: float, alpha: float, *, c1: float = 1e-4, c2: float = 0.9,
                 max_evaluations: int = 25) -> LineSearch:
    """Nocedal & Wright's Algorithms 3.5 and 3.6 as a generator (see the module docstring).

    phi0, dphi0: phi(0) and phi'(0) < 0; alpha: the first trial step. Yields trial steps; send
    it (phi(alpha), phi'(alpha), payload) for each. Returns (alpha, phi, payload) of a point
    that satisfies the strong Wolfe conditions, or after max_evaluations the lowest point with
    sufficient decrease, or None if there is none. A NaN or inf phi counts as too large.
    """
    def decreases(a: float, phi: float) -> bool:
        return phi <= phi0 + c1 * a * dphi0  # False for NaN

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


def _iterate(net: Network, evaluate, steps: int, memory: int, c1: float, c2: float,
             max_evaluations: int, target: float) -> tuple[Network, pd.DataFrame]:
    start = time.perf_counter()
    theta = flatten(net)  # (E, P)
    n_members = theta.shape[0]
    everyone = torch.arange(n_members, device=theta.device)
    loss, grad = evaluate(theta, everyone)  # (E,), (E, P)
    n_evaluations = [1] * n_members
    pairs: list[tuple[Tensor, Tensor, Tensor]] = []  # (s (E, P), y (E, P), rho (E,)), oldest first
    n_pairs = torch.zeros(n_members, dtype=torch.long, device=theta.device)  # stored per member
    gamma = torch.ones(n_members, dtype=theta.dtype, device=theta.device)  # H_0 = gamma I
    status = ["running"] * n_members
    rows: list[list] = []

    def log(t: int, members: list[int], step_sizes: dict[int, float]) -> None:
        losses, elapsed = loss.tolist(), time.perf_counter() - start
        for e in members:
            rows.append([t, e, losses[e], step_sizes.get(e, 0.0), n_evaluations[e], status[e], elapsed])

    finite = (torch.isfinite(loss) & torch.isfinite(grad).all(dim=1)).tolist()
    zero = (grad == 0).all(dim=1).tolist()
    _judge(status, loss.tolist(), range(n_members), target, steps == 0,
           diverged={e for e in range(n_members) if not finite[e]},
           stalled={e for e in range(n_members) if zero[e]})
    log(0, list(range(n_members)), {})

    for t in range(1, steps + 1):
        active = [e for e in range(n_members) if status[e] == "running"]
        if not active:
            break
        direction = _two_loop(grad, pairs, gamma)  # (E, P)
        first = n_pairs == 0
        direction = torch.where(first.unsqueeze(1), -grad, direction)
        slope = (grad * direction).sum(dim=1)  # phi'(0), (E,)
        uphill = ~(slope < 0)  # by rounding only: restart along -g
        direction = torch.where(uphill.unsqueeze(1), -grad, direction)
        slope = torch.where(uphill, -(grad * grad).sum(dim=1), slope)
        initial = torch.where(first | uphill, (1 / grad.abs().sum(dim=1)).clamp(max=1.0),
                              torch.ones_like(slope))
        losses, slopes, initials = loss.tolist(), slope.tolist(), initial.tolist()
        searches = {e: strong_wolfe(losses[e], slopes[e], initials[e], c1=c1, c2=c2,
                                    max_evaluations=max_evaluations) for e in active}
        trial = {e: search.send(None) for e, search in searches.items()}
        found: dict[int, tuple | None] = {}
        while trial:
            members = sorted(trial)
            idx = torch.tensor(members, device=theta.device)
            alphas = torch.tensor([trial[e] for e in members], dtype=theta.dtype, device=theta.device)
            point = theta[idx] + alphas.unsqueeze(1) * direction[idx]
            values, grads = evaluate(point, idx)
            dphis = (grads * direction[idx]).sum(dim=1).tolist()
            for i, (e, value) in enumerate(zip(members, values.tolist())):
                n_evaluations[e] += 1
                try:
                    trial[e] = searches[e].send((value, dphis[i], (point[i], grads[i])))
                except StopIteration as done:
                    found[e] = done.value
                    del trial[e]
        taken = [e for e in active if found[e] is not None]
        s = torch.zeros_like(theta)
        y_pair = torch.zeros_like(theta)
        step_sizes = {}
        for e in taken:
            alpha, value, (point, new_grad) = found[e]
            step_sizes[e] = alpha
            s[e] = point - theta[e]
            y_pair[e] = new_grad - grad[e]
            theta[e], grad[e], loss[e] = point, new_grad, value
        sy = (s * y_pair).sum(dim=1)  # (E,): > 0 for every strong-Wolfe step
        stored = sy > 0  # members without a step have s = 0: nothing stored
        rho = torch.where(stored, 1 / torch.where(stored, sy, torch.ones_like(sy)), torch.zeros_like(sy))
        pairs.append((s, y_pair, rho))
        if len(pairs) > memory:
            pairs.pop(0)
        yy = (y_pair * y_pair).sum(dim=1)
        gamma = torch.where(stored, sy / torch.where(stored, yy, torch.ones_like(yy)), gamma)
        n_pairs = n_pairs + stored.long()
        zero = (grad == 0).all(dim=1).tolist()
        _judge(status, loss.tolist(), active, target, t == steps, diverged=set(),
               stalled={e for e in active if found[e] is None or zero[e]})
        log(t, active, step_sizes)

    history = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    return unflatten(net, theta), history


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


def _judge(status: list[str], losses: list[float], members, target: float, final: bool,
           diverged: set, stalled: set) -> None:
    """Set each listed running member's status after an iteration (the module docstring)."""
    for e in members:
        if e in diverged:
            status[e] = "diverged"
        elif losses[e] <= target:
            status[e] = "converged"
        elif e in stalled:
            status[e] = "stalled"
        elif final:
            status[e] = "completed"
