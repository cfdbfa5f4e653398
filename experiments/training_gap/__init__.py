"""Training reach: trained one-hidden-layer networks against the constructions of the same width,
with Adam, full-batch Adam, L-BFGS and Levenberg-Marquardt.

    approx run training_gap                  # default preset -> results/training_gap.{csv,png,pdf,json}
    approx run training_gap --preset smoke   # seconds on CPU; what the tests run

experiments/universal trains with one optimizer (Adam on mini-batches, float32) and finds the
trained networks 100 to 1,000 times above the ReLU interpolant of the same width. Adcock & Dexter
(2021) call this the gap between theory and practice, Grohs & Voigtlaender (2024) prove that some
such gap must exist, and Michaud, Liu & Tegmark (2023) trained 1-D networks close to float64
precision with second-order methods. This study measures how much of the gap is the optimizer.

For every 1-D target, activation (tanh, sigmoid, relu) and width n it trains networks
[1, n, 1] (n_seeds seeds x targets as one ensemble, the same starting networks for every setting)
on an even grid of n_train points, from each first-layer init of ``inits`` (inits.py: the steep
init of experiments/_shallow.py, PyTorch's and He's defaults, and data-aware inits that put each
unit's kink or centre inside [0, 1]; a setting whose ``every_init`` is off trains from the first
only), with each setting:
  * adam       Adam as in experiments/universal: mini-batches of 32, float32, cosine schedule;
  * adam_full  Adam on the full batch in float64 (optimizer "adam", told apart by the columns
               precision and batch_size);
  * lbfgs      L-BFGS with a strong-Wolfe line search, float64 (approx.lbfgs);
  * lm         Levenberg-Marquardt, float64 (approx.levenberg_marquardt),
each over its own budget grid (Adam: one run per budget, the cosine schedule spans the run;
L-BFGS and LM: one run, read at every budget), with the wall time of the ensemble recorded.
Errors are measured in float64 on [0, 1]: the sup error by approx.sup_error (exact for ReLU
networks on abs and triangle, from the breakpoints; otherwise the maximum over the grid and
the breakpoints, with a certified bound on what lies between, sup_error_bound) and the RMSE
on an even grid (l2_error). The references are the ReLU interpolant with n knots (n ReLUs) and
the ReLU ramp staircase (n/2 steps of 2 ReLUs) of experiments/universal, measured the same way.

The cost of one LM iteration is timed by its parts, in the primal and the dual (kernel) form of
its damped solve, at solve_cost_widths (solve_cost.py).

The default preset is sized for `approx reproduce` on a 2-core CPU (n <= 64, five targets, tanh
and ReLU, LM from two inits); `full` is the complete grid (six targets, three activations, every
init, n up to 1024, LM and L-BFGS up to 256), for a GPU; `wide` is LM alone at n = 128 and 256.
The Config is in config.py, the inits in inits.py, what figure and text share in analysis.py, the
figure in figure.py and the text in text.py.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from approx import targets as _targets
from approx.compiled_step import compile_seconds, records_compile_time
from approx.constructions import ramp_staircase, relu_interpolant
from approx.device import resolve_device, threads
from approx.metrics import grid
from approx.network import DTYPES, Network
from approx.sup_error import sup_error_interval
from approx.train import fit

from .._shallow import evaluate, train
from .analysis import budget_exponents, study_targets, width_slopes
from .config import FIRST_ORDER, INTERP, PRESETS, STAIRCASE, Config
from .figure import plot
from .inits import initial_ensemble
from .solve_cost import solve_cost
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "plot", "describe", "measure",
           "width_slopes", "budget_exponents", "study_targets"]


def points(cfg: Config) -> list[dict]:
    """The references, the cost of LM's solve, then one point per (activation, setting, init,
    width), and per Adam budget."""
    trained = []
    for activation in cfg.activations:
        for setting in cfg.settings():
            for init in cfg.inits_of(setting):
                for width in cfg.widths:
                    if not cfg.trains(setting, width):
                        continue
                    point = {"part": "trained", "activation": activation, "setting": setting, "init": init,
                             "width": width}
                    if setting in FIRST_ORDER:  # one run per budget: the schedule spans the run
                        trained += [{**point, "steps": b} for b in getattr(cfg, setting).budgets]
                    else:  # one run, read at every budget
                        trained.append(point)
    cost = [{"part": "solve_cost"}] if "lm" in cfg.optimizers else []
    return [{"part": "references"}] + cost + trained


@records_compile_time
def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    with threads(cfg.threads):
        if point["part"] == "references":
            return pd.DataFrame(_references(cfg))
        if point["part"] == "solve_cost":
            return pd.DataFrame(solve_cost(cfg))
        return pd.DataFrame(_trained(cfg, point["activation"], point["setting"], int(point["width"]),
                                     point.get("steps"), point.get("init", cfg.inits[0])))


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


def measure(net: Network, names: list[str], n_eval: int) -> list[dict]:
    """sup_error (the largest error over the grid, breakpoints and kinks), sup_error_bound (a
    certified upper bound, approx.sup_error) and l2_error (RMSE on the even grid) of member e of
    ``net`` (a single network: member 0) against target names[e], all in float64."""
    net = net.to(device="cpu", dtype=torch.float64)
    members = net.unstack() if net.ensemble is not None else [net]
    x = grid(n_eval)  # (n_eval, 1)
    rows = []
    for member, name in zip(members, names):
        t = _targets.get(name)
        lower, upper = sup_error_interval(member, t, n_grid=n_eval)
        rmse = (evaluate(member, x) - t(x)).square().mean().sqrt().item()
        rows.append({"sup_error": lower, "sup_error_bound": upper, "l2_error": rmse})
    return rows


def _curve_rows(method: str, width: int, x: torch.Tensor, y: torch.Tensor, **extra) -> list[dict]:
    return [{"table": "curve", "method": method, "width": width, "x": float(a), "y": float(b), **extra}
            for a, b in zip(x.reshape(-1).tolist(), y.reshape(-1).tolist())]


def _interpolant(name: str, width: int) -> Network:
    """The ReLU interpolant with ``width`` knots: width ReLUs, width - 1 intervals (as in universal)."""
    return relu_interpolant(_targets.get(name), np.linspace(0, 1, width))


def _references(cfg: Config) -> list[dict]:
    """The constructions of every width, measured like the trained networks, and the curves."""
    rows = []
    xc = grid(cfg.n_curve)
    for name in cfg.targets:
        t = _targets.get(name)
        for width in cfg.widths:
            for method, net in ((INTERP, _interpolant(name, width)), (STAIRCASE, ramp_staircase(t, width // 2))):
                rows.append({"table": "reference", "method": method, "target": name, "kind": t.kind,
                             "width": width, **measure(net, [name], cfg.n_eval)[0]})
                if name == cfg.curve_target and width in cfg.curve_widths and method == INTERP:
                    rows += _curve_rows(method, width, xc, net(xc), target=name)
        if name == cfg.curve_target:
            rows += _curve_rows("target", 0, xc, t(xc), target=name)
    return rows


def _trained(cfg: Config, activation: str, setting: str, width: int, steps: int | None, init: str) -> list[dict]:
    device = resolve_device(cfg.device)
    run_cfg = getattr(cfg, setting)
    dtype = DTYPES[run_cfg.dtype] if setting in FIRST_ORDER else torch.float64
    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]
    members = [(name, s) for name in cfg.targets for s in seeds]  # member e = (target, seed)
    names = [name for name, _ in members]
    x = torch.linspace(0, 1, cfg.n_train, dtype=torch.float64, device=device)[:, None]  # (n_train, 1)
    y = torch.stack([_targets.get(name)(x) for name in names])  # (E, n_train, 1)
    steepness = cfg.init_steepness * (2 if activation == "sigmoid" else 1)
    net = initial_ensemble(init, width, activation, [s for _, s in members], steepness=steepness,
                           mean_field=cfg.mean_field, dtype=dtype, device=device)
    if setting in FIRST_ORDER:
        batch = run_cfg.batch_size or None
        start, compiling = time.perf_counter(), compile_seconds()
        trained, loss, status = train(net, x, y, engine=cfg.engine, lr=run_cfg.lr, steps=steps,
                                      batch_size=batch, beta2=run_cfg.beta2, seed=cfg.seed, compile=cfg.compile)
        wall = time.perf_counter() - start - (compile_seconds() - compiling)  # training, not compiling
        reads = [(steps, trained, loss.tolist(), status, wall)]
        optimizer, batch_size = "adam", min(batch or cfg.n_train, cfg.n_train)
    else:
        reads = _second_order(cfg, net, x, y, setting)
        optimizer, batch_size = setting, cfg.n_train
    interp = {name: measure(_interpolant(name, width), [name], cfg.n_eval)[0]["sup_error"] for name in cfg.targets}
    common = {"table": "trained", "method": "trained", "activation": activation, "setting": setting, "init": init,
              "optimizer": optimizer, "precision": str(dtype).removeprefix("torch."), "batch_size": batch_size,
              "width": width, "budget_width": width in cfg.budget_widths, "n_params": net.n_params, "n_members": len(members), "n_train": cfg.n_train,
              "init_steepness": steepness, "engine": cfg.engine}
    rows = []
    for budget, network, losses, statuses, wall in reads:
        for e, m in enumerate(measure(network, names, cfg.n_eval)):
            name, s = members[e]
            rows.append({**common, "target": name, "kind": _targets.get(name).kind, "seed": s, "steps": budget,
                         **m, "train_loss": losses[e], "interpolant_sup_error": interp[name],
                         "status": statuses[e], "wall_s": wall})
    budget, network, _, statuses, _ = reads[-1]  # the largest budget: curves of the first seed
    if width in cfg.curve_widths and cfg.curve_target in cfg.targets:
        e = members.index((cfg.curve_target, seeds[0]))
        xc = grid(cfg.n_curve)
        rows += _curve_rows("trained", width, xc, evaluate(network.member(e), xc).cpu(), target=cfg.curve_target,
                            activation=activation, setting=setting, init=init, steps=budget, status=statuses[e])
    return rows


def _second_order(cfg: Config, net: Network, x: torch.Tensor, y: torch.Tensor, setting: str) -> list[tuple]:
    """One run of the largest budget, read at every budget: [(budget, network, losses (E,),
    statuses (E,), wall_s)]. The networks at the budgets are recorded by a fit metric whose
    value is the index of the copy it stored (a member frozen earlier keeps its last copy)."""
    budgets = sorted(getattr(cfg, setting).budgets)
    copies: list[Network] = []

    def snapshot(current: Network) -> torch.Tensor:
        copies.append(current.clone())
        return torch.full((net.ensemble,), float(len(copies) - 1))

    start = time.perf_counter()
    _, history = fit(net, (x, y), engine=cfg.engine, optimizer=setting, steps=budgets[-1],
                     log_steps=budgets, metrics={"snapshot": snapshot})
    # fit's time_s counts from its monitor's start; the setup before it (LM: the first Jacobian) is added
    setup = time.perf_counter() - start - float(history.time_s.max())
    reads = []
    for budget in budgets:
        upto = history[history.step <= budget]
        last = upto.sort_values("step").groupby("member").tail(1).sort_values("member")  # (E,) rows
        network = Network.stack([copies[int(k)].member(e) for e, k in zip(last.member, last.snapshot)])
        # a member still running at an intermediate budget has used that budget up
        statuses = ["completed" if s == "running" else s for s in last.status]
        reads.append((budget, network, last.loss.tolist(), statuses, setup + float(upto.time_s.max())))
    return reads
