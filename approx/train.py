"""The training loop: ``fit`` trains a Network (or an ensemble of E) on either engine.

    net, history = fit(net, (x, y), engine="backprop", optimizer="gd", lr=0.1, steps=1000)

One loop serves every engine and optimizer: at step t = 0, 1, ..., steps the engine returns the
loss L(theta_t) and its gradient, the optimizer (``approx.optim``) turns them into theta_{t+1}
with rate eta * schedule(t) (``approx.schedules``). Because both engines feed the same loop,
their trajectories can be compared step by step: in float64 the losses of 1,000 GD steps agree
to 1e-9 relative (tests/test_train.py; ~1e-15 in practice) while GD is stable. At the edge of
stability (eta near 2 / sharpness; Cohen et al. 2021) GD amplifies any rounding difference
exponentially, and two summation orders part ways: that is the dynamics, not an engine bug.

Second order: ``optimizer="lbfgs"`` (L-BFGS with a strong-Wolfe line search, approx.lbfgs;
mse or logistic) and ``optimizer="lm"`` (Levenberg-Marquardt from per-example Jacobians,
approx.levenberg_marquardt; mse only) run in the same loop, on either engine, with the same
monitor and history: a step is one of their iterations, always on all the data (no
batch_size, lr or schedule: the line search and the damping set the step), and the history
gains their own columns (lbfgs: step_size, evaluations; lm: damping, accepted, jacobians).

Ensembles: for an ensemble of E networks every member has its own loss, gradient, learning
rate (``lr`` may hold E values), mini-batch stream and stopping status, but the E members run
as one batched computation; the result equals training them one at a time (to rounding).

History: a DataFrame with one row per (logged step, member) and the columns step, member (0
for a single network), loss (the training loss on all the data at theta_step), status, time_s
(wall clock since the start, compiling included), the optimizer's own columns and one column
per metric, and in ``attrs`` "compiled" and "compile_s" (approx.compiled_step). Step 0
and each member's last step are always logged. Statuses:

    running      an intermediate row
    completed    the step budget was used up
    converged    the loss reached ``target_loss``; the member is frozen there
    diverged     the loss was NaN, inf, above ``max_loss``, or above ``divergence_factor``
                 times its reference (below); the member is frozen at its last parameters
                 with a fine loss (the row shows the offending loss), and the others carry
                 on: a sweep never crashes on one bad run. lbfgs and lm also diverge where
                 the gradient or Jacobian is not finite at a finite loss (frozen there)
    stalled      lbfgs or lm can lower the loss no further (lm: its damping exceeded
                 ``max_damping``; lbfgs: a line search found no point with sufficient decrease,
                 or the gradient is exactly 0): a minimum to working precision, or a flat
                 region; the member is frozen there
    time_budget  ``time_budget_s`` seconds of wall clock ran out

Divergence by growth: a loss that stays finite can still have blown up (Adam at lr = 1e6 gives
losses of 1e4 to 1e13). Member e diverges when its loss exceeds

    divergence_factor * max(L_e(theta_0), L_e(0), tiny)        (default factor 1e4)

where L_e(theta_0) is its full training loss at step 0 and L_e(0) the loss of predicting 0
everywhere (mean y^2 for mse, log 2 for logistic): the second term sets the targets' scale, so a
run that starts at an exact fit (a construction, L_e(theta_0) = 0) may drift by rounding or
weight decay without counting as blown up; tiny (the dtype's smallest normal number) keeps the
threshold positive when both are 0. Honest runs never come near it: training lowers the loss,
and a mini-batch loss is at most n / batch_size times the full loss of the same parameters.
``divergence_factor=None`` turns the rule off (NaN, inf and ``max_loss`` still count); each
member of an ensemble has its own reference, so an ensemble stops members as single runs would.

Stopping checks read the loss on the host, which on CUDA is a device synchronisation; they run
every ``check_every`` steps (default: every step, except for first-order ensembles on CUDA,
every 16; a second-order iteration reads its losses on the host anyway) and at
every logged step, so the loop adds little per step. A member frozen between checks is frozen
at the last check at which it was fine.

The pieces: ``approx.fit_options.FitOptions`` holds and checks every option (fit's keyword
arguments are its fields); a *stepper* takes the steps (``approx.first_order.FirstOrder`` for
gd, sgd and adam); ``approx.fit_monitor.Monitor`` judges the loss, logs and rolls back; and
``_train`` below is the loop that joins them.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd
from torch import Tensor

from . import optim as _optim
from .first_order import FirstOrder
from .lbfgs import LBFGS
from .levenberg_marquardt import LevenbergMarquardt
from .fit_monitor import BASE_COLUMNS, STATUSES, Monitor
from .fit_options import DEFAULT_LR, DIVERGENCE_FACTOR, FitOptions, with_overrides
from .fit_options import TRAINING_ENGINES
from .network import Network

__all__ = ["fit", "FitOptions", "TRAINING_ENGINES", "STATUSES", "BASE_COLUMNS", "DIVERGENCE_FACTOR"]


def engine_function(engine: str) -> Callable:
    """``loss_and_grad`` of the engine called ``engine`` ("backprop" or "autograd")."""
    if engine == "autograd":
        from .autograd import loss_and_grad
    elif engine == "backprop":
        from .backprop import loss_and_grad
    else:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(TRAINING_ENGINES)}")
    return loss_and_grad


def fit(
    net: Network,
    data: tuple[Tensor, Tensor],
    options: FitOptions | None = None,
    *,
    metrics: dict[str, Callable[[Network], float | Tensor]] | None = None,
    **overrides,
) -> tuple[Network, pd.DataFrame]:
    """Train ``net`` on ``data`` = (x, y); return the trained Network and the history.

    x is (n, d_0), shared by all members of an ensemble, or (E, n, d_0), one data set per
    member; y is (n, d_L) or (E, n, d_L). Data are moved to the network's device and dtype.

    options: a FitOptions (approx.fit_options), and/or its fields as keyword arguments, which
    replace the options' own (``fit(net, data, steps=100)``; an unknown name is a ValueError):

    engine: "backprop" (hand-written) or "autograd". loss: "mse" or "logistic".
    optimizer: "gd", "sgd" (heavy-ball ``momentum``, optionally ``nesterov``) or "adam"
        (``betas``, ``eps``); ``weight_decay`` adds an L2 term to the gradient. See approx.optim.
        "lbfgs" (``memory``, ``c1``, ``c2``, ``max_evaluations``) or "lm" (``damping``,
        ``max_damping``, ``max_jacobian_bytes``; mse only): see the module docstring. A field
        that the optimizer does not read must keep its default (approx.fit_options).
    lr: one rate, or E rates for an ensemble (member e uses lr[e]); None: 0.1 (gd, sgd, adam;
        lbfgs and lm take none); multiplied by ``schedule(t, steps)``: "constant", "step",
        "cosine" or a callable.
    batch_size: None for full-batch gradients; else each step uses batch_size points drawn
        without replacement from a fresh permutation every epoch (approx.first_order), member
        e in the order seeded by ``seed`` + e (or seed[e] for a list), so runs repeat bit for
        bit and member e sees the batches a single run with its seed sees.
    target_loss / max_loss / divergence_factor / time_budget_s: stopping rules (see the module
        docstring); with mini-batches, target_loss is judged on the full training loss at
        logged steps, and divergence on the mini-batch loss at check steps (and on the full
        loss at logged steps). divergence_factor: None, or a number >= 1 (default 1e4).
    log_every / log_steps: log every log_every steps and/or at the listed steps (default:
        about 100 rows per member); step 0 and the last step are always logged.
    check_every: steps between stopping checks (module docstring).
    metrics: name -> callable(net) -> float (single network) or tensor (E,) (ensemble),
        evaluated on the current network at every logged step.
    compile: "off" (the default), "on" or "auto": compile gd, sgd and adam's whole step with
        torch.compile, reused across steps and fits of the same shapes; "auto" compiles where
        the planned steps repay the compile (approx.compiled_step). The history's attrs say
        whether it did ("compiled") and how long this fit spent compiling ("compile_s").
    """
    options = with_overrides(options, overrides)
    x, y = _check_data(net, data)
    stepper = _stepper(net, x, y, options)
    monitor = Monitor(net, y, options, metrics, stepper.columns)
    trained, history = _train(stepper, monitor, options.steps)
    history.attrs["compiled"] = getattr(stepper, "compiled", None) is not None
    history.attrs["compile_s"] = getattr(stepper, "compile_s", 0.0)
    return trained, history


def _stepper(net: Network, x: Tensor, y: Tensor, options: FitOptions):
    """The optimizer's half of the loop, for ``options.optimizer``."""
    if options.optimizer == "lm":
        return LevenbergMarquardt(net, x, y, options)
    if options.optimizer == "lbfgs":
        return LBFGS(net, x, y, options, engine_function(options.engine))
    lr = DEFAULT_LR if options.lr is None else options.lr
    rate = _optim.member_rates(lr, net.ensemble, net.dtype, net.device)
    return FirstOrder(net, x, y, options, engine_function(options.engine), rate)


def _train(stepper, monitor: Monitor, steps: int) -> tuple[Network, pd.DataFrame]:
    """The loop: the loss at theta_t, judged at check steps, then one step to theta_{t+1}.

    ``stepper`` is the optimizer's half (approx.first_order.FirstOrder, lbfgs.LBFGS,
    levenberg_marquardt.LevenbergMarquardt): ``evaluate(t)`` gives the loss at the current
    parameters theta_t (and keeps whatever the step needs, such as the gradient); ``stops()``
    its own verdicts there (member -> "diverged" or "stalled"; a step with any is checked);
    ``update(t)`` moves the running members to theta_{t+1}. The monitor reads the loss at
    check steps, logs (with the stepper's ``columns`` from ``values``, and the metrics of
    ``network()``), and asks the stepper to roll back (``snapshot``, ``restore``) and
    ``freeze`` members that stop; with mini-batches (``mini_batch``) it asks for
    ``full_loss()`` where it needs the full training loss. ``result()`` is the trained network.
    """
    for t in range(steps + 1):
        value = stepper.evaluate(t)
        own = stepper.stops()
        final = t == steps or monitor.out_of_time()
        if own or monitor.due(t, final):
            monitor.check(t, final, value, stepper, own)
            if final or monitor.all_stopped:
                break
        stepper.update(t)
    return stepper.result(), monitor.history()


# ---------------------------------------------------------------------------- input checks
def _check_data(net: Network, data) -> tuple[Tensor, Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2
            and all(isinstance(d, Tensor) for d in data)):
        raise ValueError(f"data must be a pair of tensors (x, y); got {type(data).__name__}")
    x, y = (d.to(device=net.device, dtype=net.dtype) for d in data)
    net.check_input(x)
    ensemble, d_out = net.ensemble, net.sizes[-1]
    ok_ndim = (2, 3) if ensemble else (2,)
    if y.ndim not in ok_ndim or y.shape[-1] != d_out or (y.ndim == 3 and y.shape[0] != ensemble):
        want = f"(n, {d_out})" + (f" or ({ensemble}, n, {d_out})" if ensemble else "")
        raise ValueError(f"targets y must have shape {want}; got {tuple(y.shape)}")
    if x.shape[-2] != y.shape[-2] or x.shape[-2] < 1:
        raise ValueError(f"x has {x.shape[-2]} points but y has {y.shape[-2]}; need the same n >= 1")
    return x, y
