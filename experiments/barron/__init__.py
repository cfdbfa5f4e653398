"""Barron's rate (Barron 1993): trained one-hidden-layer sigmoid networks in d = 1 .. 16
dimensions, squared L2 error against width n, for a target with a finite Barron constant and
one without.

    approx run barron                  # default preset -> results/barron.{csv,png,pdf,json}
    approx run barron --preset smoke   # seconds on CPU; what the tests run

Theorem (Barron 1993, Thm 1): if C_{f,B} = int sup_{x in B} |w.x| |F(dw)| is finite, then for
every n some network with n sigmoidal units has int_B (f - f_n)^2 dmu <= (2 C_{f,B})^2 / n, for
any probability measure mu on B: the exponent -1 does not depend on d. Series in n *fixed*
basis functions cannot do better than n^{-2/d} uniformly over the same class (Thm 6).

Families (approx.targets): ``ridge_nd`` = (1/3) sum_k cos(2 pi w_k . (x - c)), three unit
directions (finite C_{f,B}, computed exactly); ``ball_nd`` = the indicator of a ball holding
about half the cube (C = inf). Two kinds of networks:
  * trained: for each d, family and width, ``n_seeds`` networks trained by Adam on mini-batches
    of a large sample (so that the test error measures approximation and optimisation, not
    overfitting), tested on fresh points; a mean-field output layer (experiments/_shallow.py)
    lets one learning rate serve widths 4 .. 512; trained in float32, tested in float64;
  * trained by a second-order optimizer (``optimizers`` beyond adam: L-BFGS by default, or
    Levenberg-Marquardt): the same networks, from the same initialisation, trained in float64
    on the full batch of the first ``second_order_n_train`` training points for
    ``second_order_steps`` iterations, on a smaller grid (``second_order_dims``, ``_families``,
    ``_widths``), since an iteration costs batch x P (L-BFGS) or batch x P^2 (LM's Jacobian
    and QR), P = n (d + 2) + 1 per network. Rows are told apart by the column ``optimizer``,
    and each optimizer's slopes are fitted apart; ``train_mse_half`` (the training loss after
    half the iterations) tells a budget-limited run from one that has levelled off
    (analysis.second_order_limits). L-BFGS is the default, chosen by one measurement of this
    grid (ridge_nd, d = 1, 2, 4, 8, n = 4 .. 32, 3 seeds, 2048 points; shared 2-core CPU under
    load): 1,000 L-BFGS iterations took 57 s, 100 LM iterations 72 s; fitted slopes
    -0.91, -1.30, -1.91, -1.40 (L-BFGS) against -3.20, -2.84, -1.87, -0.41 (LM) at d = 1, 2,
    4, 8. Each reached -1 at three of the four d. LM fits 1-D far closer (test MSE 4e-8 at
    n = 16, L-BFGS 9e-6), but at d = 8 its 100 iterations ran out (n = 32 ended 8x above
    n = 16), 4 of its 48 runs stalled at n = 4, and its cost per iteration grows as P^2
    against L-BFGS's P: L-BFGS is the one that scales to the full preset's widths;
  * sampled: the network of Barron's proof (approx.constructions.barron.barron_sampled: n units
    drawn by Maurey's argument), ``n_draws`` draws per width, for the ridge family, whose
    expected error is at most ~V^2/n with V <= 2C.
Slopes of log test MSE on log n come from approx.metrics.loglog_slope (95% CI), per d, family
and method.

Two further measurements:
  * the step budget: at ``budget_dims`` and ``budget_widths`` the trained networks are trained
    again with ``step_budgets`` times the steps (column ``budget``; 1 for the main runs). Where
    more steps lower the error by FLOOR_FACTOR or more, the main runs' error is a budget floor,
    and their fitted "rate" is dropped from the text (rates are fitted on budget 1 only);
  * a fixed basis against adaptive units across d (Barron 1993, Thm 6): on one ridge
    ``ridge1_nd`` = cos(2 pi w . (x - c)) with a random unit direction w, ``random_features``
    rows fit the output layer of N random units (the trained networks' own initial first layer,
    drawn independently of w, frozen) by least squares (approx.random_features), for N in
    ``rf_widths``, beside sigmoid networks of the same widths trained as above (family
    ridge1_nd). Reported: slopes and the N that each needs for test MSE / Var f = RF_TARGET.

The Config is in config.py, what figure and text share in analysis.py, the figure in figure.py
and the text in text.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from approx import targets as _targets
from approx.compiled_step import records_compile_time
from approx.constructions.barron import barron_sampled, barron_sampled_bound, ridge_variation
from approx.device import resolve_device, threads
from approx.network import DTYPES
from approx.random_features import fit_output_layer
from approx.train import fit

from .._shallow import evaluate, shallow_ensemble, train
from .analysis import budget_effects, completed, main_budget, rates, relative_error_width, second_order_limits
from .config import FLOOR_FACTOR, PRESETS, RF_TARGET, RIDGE1, Config
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "completed", "main_budget", "rates",
           "budget_effects", "relative_error_width", "second_order_limits", "plot", "describe", "RIDGE1", "FLOOR_FACTOR", "RF_TARGET"]


def _grid(cfg: Config, optimizer: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (dims, widths) that an optimizer trains: Adam the main grid, the second-order
    optimizers the second_order_* one."""
    if optimizer == "adam":
        return cfg.dims, cfg.widths
    return cfg.second_order_dims, cfg.second_order_widths


def points(cfg: Config) -> list[dict]:
    trained = [{"part": "trained", "optimizer": o, "d": d, "width": w} for o in cfg.optimizers
               for d in _grid(cfg, o)[0] for w in _grid(cfg, o)[1]]
    sampled = [{"part": "sampled", "d": d} for d in cfg.dims] if "ridge_nd" in cfg.families else []
    # the step budgets, where each optimizer's grid meets budget_dims x budget_widths
    budgets = [{"part": "trained", "optimizer": o, "d": d, "width": w, "budget": b} for o in cfg.optimizers
               for b in cfg.step_budgets for d in cfg.budget_dims for w in cfg.budget_widths
               if d in _grid(cfg, o)[0] and w in _grid(cfg, o)[1]]
    ridge1 = ([{"part": "trained", "d": d, "width": w, "family": RIDGE1} for d in cfg.dims for w in cfg.rf_widths]
              if "adam" in cfg.optimizers else [])
    features = [{"part": "random_features", "d": d} for d in cfg.dims] if cfg.rf_widths else []
    return trained + sampled + budgets + ridge1 + features


def _family(name: str, d: int):
    """The target of a family name: approx.targets' d-dimensional families, or the single ridge."""
    return _targets.get("ridge_nd", d=d, n_ridges=1) if name == RIDGE1 else _targets.get(name, d=d)


def _random_features(cfg: Config, d: int) -> pd.DataFrame:
    """Random features on the single ridge: the first layer of shallow_ensemble (as the trained
    networks start), frozen, and the least-squares output layer; N = rf_widths, one per seed."""
    device = resolve_device(cfg.device)
    target = _family(RIDGE1, d)
    x, _ = _targets.sample(target, cfg.n_train, seed=cfg.seed * 1000 + d)  # the trained nets' points
    xt = _test_points(cfg, target, cfg.n_test, "cpu")
    y, yt = target(x), target(xt)
    rows = []
    for activation in cfg.rf_activations:
        for width in cfg.rf_widths:
            for k in range(cfg.n_seeds):
                start = shallow_ensemble(d, width, activation, [cfg.seed + k], init_steepness=cfg.init_steepness,
                                         dtype=torch.float64, device="cpu")
                net = fit_output_layer(start.member(0), x, y)
                rows.append({"method": "random_features", "activation": activation, "d": d, "family": RIDGE1,
                             "width": width, "seed": cfg.seed + k,
                             "test_mse": (net(xt) - yt).square().mean().item(),
                             "train_mse": (net(x) - y).square().mean().item(),
                             "target_var": float(yt.var()), "barron_constant": target.barron,
                             "barron_bound": (2 * target.barron) ** 2 / width, "budget": 1.0,
                             "n_train": cfg.n_train})
    del device  # least squares in float64 on the CPU: (n_train, N) is small
    return pd.DataFrame(rows)


def _test_points(cfg: Config, target, n: int, device) -> torch.Tensor:
    """Fresh uniform test points, the same for every width and method of this d."""
    return _targets.sample(target, n, seed=cfg.seed * 1000 + target.dim + 500, device=device)[0]


def _sampled(cfg: Config, d: int) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    target = _targets.get("ridge_nd", d=d)
    xt = _test_points(cfg, target, cfg.n_test, device)
    yt = target(xt)
    rows = []
    for width in cfg.sampled_widths:
        for draw in range(cfg.n_draws):
            net = barron_sampled(target, width, seed=cfg.seed * 1000 + draw, device=device)
            rows.append({"method": "sampled", "d": d, "family": target.name, "width": width,
                         "seed": cfg.seed * 1000 + draw,
                         "test_mse": (net(xt) - yt).square().mean().item(),
                         "target_var": float(yt.var()), "barron_constant": target.barron,
                         "barron_bound": (2 * target.barron) ** 2 / width,
                         "sampled_bound": barron_sampled_bound(target, width),
                         "variation": ridge_variation(target), "budget": 1.0, "activation": "sigmoid"})
    return pd.DataFrame(rows)


@records_compile_time
def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    if point["part"] == "sampled":
        with threads(cfg.threads):
            return _sampled(cfg, int(point["d"]))
    if point["part"] == "random_features":
        with threads(cfg.threads):
            return _random_features(cfg, int(point["d"]))
    d, width = int(point["d"]), int(point["width"])
    budget = float(point.get("budget", 1.0))
    optimizer = point.get("optimizer", "adam")
    adam = optimizer == "adam"  # lbfgs and lm: full batch of the first second_order_n_train points, float64
    steps = max(1, round((cfg.steps if adam else cfg.second_order_steps) * budget))
    device = resolve_device(cfg.device)
    names = ([point["family"]] if "family" in point else list(cfg.families) if adam
             else list(cfg.second_order_families))
    families = [_family(name, d) for name in names]
    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]
    members = [(f, s) for f in families for s in seeds]  # member e = (family, seed)
    # The same training points for every width of this d (seeded by d).
    x, _ = _targets.sample(families[0], cfg.n_train, seed=cfg.seed * 1000 + d, device=device)
    n_train = cfg.n_train if adam else cfg.second_order_n_train
    x = x[:n_train]  # (n_train, d)
    xt = _test_points(cfg, families[0], cfg.n_test, device)
    y = torch.stack([f(x) for f, _ in members])  # (E, n_train, 1)
    yt = torch.stack([f(xt) for f, _ in members])  # (E, n_test, 1)
    dtype = cfg.dtype if adam else "float64"
    half = torch.full((len(members),), float("nan"))  # the training loss after half the iterations
    with threads(cfg.threads):
        net = shallow_ensemble(d, width, cfg.activation, [s for _, s in members],
                               init_steepness=cfg.init_steepness, mean_field=cfg.mean_field,
                               dtype=DTYPES[dtype], device=device)
        if adam:
            net, loss, status = train(net, x, y, engine=cfg.engine, lr=cfg.lr, steps=steps,
                                      batch_size=cfg.batch_size, beta2=cfg.beta2, seed=cfg.seed,
                                      optimizer=optimizer, compile=cfg.compile)
        else:
            net, loss, half, status = _second_order(net, x, y, optimizer, steps, cfg.engine)
        test = (evaluate(net, xt) - yt).square().mean(dim=(1, 2)).cpu()  # (E,), float64
    rows = []
    for e, (f, s) in enumerate(members):
        constant = f.barron
        rows.append({"method": "trained", "d": d, "family": names[e // len(seeds)], "width": width, "seed": s,
                     "test_mse": float(test[e]), "train_mse": float(loss[e]),
                     "target_var": float(yt[e].var()), "barron_constant": constant,
                     "barron_bound": (2 * constant) ** 2 / width, "status": status[e],
                     "optimizer": optimizer, "steps": steps, "budget": budget, "activation": cfg.activation,
                     "batch_size": cfg.batch_size if adam else n_train, "n_train": n_train,
                     "lr": cfg.lr if adam else np.nan, "mean_field": cfg.mean_field, "train_dtype": dtype,
                     "train_mse_half": float(half[e])})
    return pd.DataFrame(rows)


def _second_order(net, x: torch.Tensor, y: torch.Tensor, optimizer: str, steps: int, engine: str):
    """``steps`` iterations of L-BFGS or Levenberg-Marquardt (approx.train.fit) on the full batch;
    returns (trained net, final training loss (E,), training loss after steps // 2 iterations
    (E,), statuses). The second is what tells a budget-limited run (still falling) from one at a
    minimum of its optimizer (analysis.second_order_limits)."""
    trained, history = fit(net, (x, y), engine=engine, optimizer=optimizer, steps=steps,
                           log_every=steps, log_steps=(steps // 2,))
    history = history.sort_values(["member", "step"])
    # a member that stopped before steps // 2 (converged, stalled) logs no row there: its loss then
    # is its final one
    half = history[history.step <= steps // 2].groupby("member").tail(1).set_index("member").loss
    last = history.groupby("member").tail(1).set_index("member")
    return (trained, torch.tensor(last.loss.to_numpy()), torch.tensor(half.reindex(last.index).to_numpy()),
            list(last.status))


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)
