"""Online Adam: every step on a fresh sample from the input distribution, so that the training
error measures approximation, not generalization.

    net, history = online_adam(net, sample, steps=600, lrs=[3e-3, 1e-2], log_every=50)

``sample(t)`` returns step t's batch (x_t, y_t), drawn afresh from mu (and f). At step t the
engine gives the batch loss L_t = mean_i (N_theta_t(x_i) - y_i)^2 and its gradient, and Adam
(approx.optim, Kingma & Ba 2015) moves theta_t to theta_{t+1}. Because x_t is independent of
theta_t (no point is seen twice), E[L_t | theta_t] = E_{x~mu} (N_theta_t(x) - f(x))^2, the
population error of the network at step t: progressive validation (Blum, Kalai & Langford
1999). There is no training set to overfit, hence no generalization gap; the logged loss is
the mean of L_s over the steps since the previous log, which lowers its variance.

A fixed training set of n points, trained full batch (what this part did before), measures
something else once the network can fit n points: at d = 32 a network reached training
MSE/Var 0.0013 with test MSE/Var 0.587.

Divergence, as ``approx.train.fit`` judges it: member e has diverged when L_t is NaN or inf or
exceeds DIVERGENCE_FACTOR * max(L_0, mean y_0^2) (its loss at the start, and the loss of
predicting 0: the targets' scale); it is then frozen at its parameters of the step before, its
row shows the offending loss with status "diverged", and the others train on. The rest end
"completed".
"""
from __future__ import annotations

from typing import Callable

import pandas as pd
import torch
from torch import Tensor

from approx import optim as _optim
from approx.fit_options import DIVERGENCE_FACTOR
from approx.network import Network
from approx.train import engine_function

__all__ = ["online_adam"]

Sampler = Callable[[int], tuple[Tensor, Tensor]]  # step t -> (x (batch, d_0), y (batch, 1))


def online_adam(net: Network, sample: Sampler, steps: int, lrs: list[float], *, log_every: int,
                engine: str = "autograd",
                divergence_factor: float = DIVERGENCE_FACTOR) -> tuple[Network, pd.DataFrame]:
    """Train the ensemble ``net`` (E members, member e at rate lrs[e]) with Adam for ``steps``
    steps, each on the fresh batch ``sample(t)`` shared by every member.

    Returns the trained ensemble and its history: one row per (logged step, member) with step,
    member, loss (the mean fresh-batch loss over the steps since the previous log: at step 0,
    L_0) and status (running, completed, diverged). Steps 0, log_every, 2 log_every, ... and
    ``steps`` are logged; the loss at ``steps`` is measured on one more fresh batch, after the
    last update.
    """
    if not net.ensemble:
        raise ValueError("online_adam trains an ensemble (Network.random with a list of seeds); got a single network")
    if not (isinstance(steps, int) and steps >= 1 and isinstance(log_every, int) and log_every >= 1):
        raise ValueError(f"steps and log_every must be integers >= 1, got {steps!r} and {log_every!r}")
    if not divergence_factor >= 1:
        raise ValueError(f"divergence_factor must be a number >= 1, got {divergence_factor!r}")
    n_members = net.ensemble
    loss_and_grad = engine_function(engine)
    rate = _optim.member_rates(list(lrs), n_members, net.dtype, net.device)  # (E,)
    adam = _optim.make("adam")
    params = net.parameters()
    state = adam.init(params)
    previous = params  # theta_(t-1), where a member that diverges at step t is frozen
    running = torch.ones(n_members, dtype=torch.bool)  # on the CPU: read every step anyway
    upper = None  # (E,) divergence thresholds, set at step 0
    window, n_window = torch.zeros(n_members, dtype=torch.float64), 0
    rows = []
    for t in range(steps + 1):
        x, y = sample(t)
        losses, grads = loss_and_grad(net.with_parameters(params), x, y, "mse")  # (E,), per member
        losses = losses.detach().to("cpu", torch.float64)
        if upper is None:
            zero = y.detach().to("cpu", torch.float64).square().mean().item()  # L(0): predict 0
            upper = divergence_factor * torch.clamp(losses.nan_to_num(nan=0.0), min=zero)
        window += torch.where(running, losses, 0.0)
        n_window += 1
        blown = running & ~(losses <= upper)  # NaN and inf fail <=
        logged = t % log_every == 0 or t == steps
        for e in range(n_members):
            if running[e] and (logged or blown[e]):
                status = "diverged" if blown[e] else "completed" if t == steps else "running"
                rows.append([t, e, window[e].item() / n_window, status])
        if logged:
            window.zero_()
            n_window = 0
        if blown.any():  # back to theta_(t-1), the last parameters with a fine loss
            back = blown.to(params[0].device)
            params = [torch.where(back.view(-1, *[1] * (p.ndim - 1)), old, p) for p, old in zip(params, previous)]
        running &= ~blown
        if t == steps or not running.any():
            break
        previous = params
        stepped = adam.step(params, grads, rate, state)
        keep = running.to(params[0].device)
        params = [torch.where(keep.view(-1, *[1] * (old.ndim - 1)), new, old) for new, old in zip(stepped, params)]
    return net.with_parameters(params), pd.DataFrame(rows, columns=["step", "member", "loss", "status"])
