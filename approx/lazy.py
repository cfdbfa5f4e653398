"""Lazy training: gradient descent on the first layer of Du et al.'s network, and how little it moves.

For f(x) = (1/sqrt(m)) sum_r a_r relu(<w_r, x>) with a fixed (approx.ntk.two_layer_relu), Du,
Zhai, Poczos & Singh (2019) show that GD on the first layer drives the training loss to zero at
a linear rate while every w_r stays within R = O(sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)) of its
start: the wider the network, the less any weight moves ("lazy training", Chizat, Oyallon &
Bach 2019), and the fewer ReLUs change their on/off pattern on the data (their Lemma 3.2).

``train_first_layer`` runs that GD with either engine, updating W1 only (a and the zero biases
stay where they are). Our loss is approx.losses "mse", L = (1/n) ||u - y||^2 = (2/n) L_Du with
L_Du = (1/2) ||u - y||^2, so a step eta on L is a step eta_Du = 2 eta / n on L_Du, and their
bound reads L(k) <= (1 - eta_Du lambda_0 / 2)^k L(0) = (1 - eta lambda_0 / n)^k L(0).
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd
import torch
from torch import Tensor

from .network import Network
from .train import engine_function

__all__ = ["train_first_layer", "weight_movement", "weight_movement_rms", "activation_flips", "du_rate_bound"]


def train_first_layer(net: Network, x: Tensor, y: Tensor, *, lr: float, steps: int,
                      engine: str = "backprop", log_steps: Iterable[int] = ()) -> tuple[Network, pd.DataFrame]:
    """GD theta <- theta - lr dL/dW1 on the mse loss, all other parameters frozen.

    net: a Network or an ensemble (all members share x (n, d) and y (n, 1)). Logs the loss at
    step 0, at ``log_steps`` and at the end; a member whose loss turns non-finite is frozen at
    its last finite parameters and recorded with status "diverged" (the others carry on).
    Returns the trained Network and a DataFrame (step, member, loss, status).
    """
    if steps < 0 or lr <= 0:
        raise ValueError(f"need steps >= 0 and lr > 0; got steps={steps}, lr={lr}")
    loss_and_grad = engine_function(engine)
    log_at = {0, steps, *[int(s) for s in log_steps if 0 <= s <= steps]}
    n_members = net.ensemble or 1
    params = net.parameters()
    alive = torch.ones(n_members, dtype=torch.bool, device=net.device)
    status = ["running"] * n_members
    rows = []
    for t in range(steps + 1):
        value, grads = loss_and_grad(net.with_parameters(params), x, y)
        losses = value.reshape(-1) if isinstance(value, Tensor) else torch.tensor([value])
        newly_bad = ~torch.isfinite(losses.to(alive.device)) & alive
        for e in torch.nonzero(newly_bad).flatten().tolist():
            status[e] = "diverged"
            rows.append((t, e, losses[e].item(), "diverged"))
        alive &= ~newly_bad
        if t in log_at:
            done = "completed" if t == steps else "running"
            rows.extend((t, e, losses[e].item(), done) for e in range(n_members) if bool(alive[e]))
        if t == steps or not bool(alive.any()):
            break
        step = lr * grads[0]  # (m, d) or (E, m, d): only W1 moves
        if net.ensemble is not None:
            step = step * alive.to(step.dtype).view(-1, 1, 1)
        params = [params[0] - step, *params[1:]]
    history = pd.DataFrame(rows, columns=["step", "member", "loss", "status"])
    return net.with_parameters(params), history


def weight_movement(before: Network, after: Network) -> Tensor:
    """max_r ||w_r(after) - w_r(before)||_2 over the first-layer rows: a float tensor () or (E,)."""
    return (after.layers[0].weight - before.layers[0].weight).norm(dim=-1).amax(dim=-1)


def weight_movement_rms(before: Network, after: Network) -> Tensor:
    """sqrt(mean_r ||w_r(after) - w_r(before)||^2) over the first-layer rows: () or (E,).

    Each w_r's gradient carries the factor 1/sqrt(m), so a typical row moves O(m^-1/2); the max
    over m rows (``weight_movement``) adds the largest of m such draws, about sqrt(2 log m) standard
    deviations for Gaussian-like tails, which tilts its fitted slope above -1/2. The RMS has no such
    factor.
    """
    return (after.layers[0].weight - before.layers[0].weight).square().sum(dim=-1).mean(dim=-1).sqrt()


def activation_flips(before: Network, after: Network, x: Tensor) -> Tensor:
    """Fraction of (unit r, point i) pairs with 1{<w_r, x_i> > 0} changed: () or (E,)."""
    on_before = (x @ before.layers[0].weight.transpose(-1, -2)) > 0  # (n, m) or (E, n, m)
    on_after = (x @ after.layers[0].weight.transpose(-1, -2)) > 0
    return (on_before != on_after).to(x.dtype).mean(dim=(-2, -1))


def du_rate_bound(lr: float, lambda_0: float, n: int) -> float:
    """Du et al.'s per-step contraction of the mse loss, 1 - eta_Du lambda_0 / 2 with eta_Du = 2 lr / n."""
    return 1.0 - lr * lambda_0 / n

