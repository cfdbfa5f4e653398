"""The computations of experiments/depth_separation, one function per part: constructed,
trained_sawtooth, alternating, radial.

Each takes the experiment's Config (config.py) and returns a tidy DataFrame of its rows; the
package's __init__.py (points, the runner contract), figure.py and text.py live beside it.
Columns (a part leaves the others empty):

    part, target, arch            which part (its name), which function, which architecture
    k, d                          teeth / alternating-points exponent; input dimension (radial)
    n_hidden, width, n_params     hidden layers, the widest of them, parameters of one network
    seed, lr, best_lr             member's initialisation and Adam rate; True on the rate with
                                  the lowest final training loss for its configuration and seed
    optimizer                     sawtooth, alternating: adam, lbfgs or lm (lr NaN for these)
    train_loss, status, step      final (or, in radial, logged) training loss and fit status
    n_points                      training points (sawtooth, alternating)
    err_sup, err_l2               exact distances to t^k on [0, 1] (sawtooth), or the constructed
                                  network's sup error and err_target = 2^(-2m-2) (constructed)
    n_pieces, n_regions           realised linear pieces and activation regions (approx.pieces)
    n_pieces_target, pieces_bound 2^k, and (2m)^L for L hidden layers of width <= m
    class_err, err_floor_pieces   classification error at threshold 1/2; (n - t - 1)/(2n)
    telgarsky_width               largest width with the 1/6 guarantee for one hidden layer
    train_rel_mse                 radial: mean fresh-batch MSE / Var(y) since the previous logged
                                  step (online training: an estimate of the population error)
    test_rel_mse, test_rel_mse_se radial, last row of a run: MSE / Var(y) of the trained network on
                                  n_test fresh points, and its standard error
    batch, n_test, var_y          radial: fresh points per step, test points, Var(y) = 1/4 - band/12
    budget_width, final           radial: the 3-layer width that sets the parameter budget;
                                  True on each member's last logged row
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import torch

from approx.constructions.depth import (
    alternating_error_floor,
    alternating_error_floor_width,
    alternating_points,
    sawtooth,
    sawtooth_shallow,
    square_interpolant_shallow,
    tooth_power,
    yarotsky_square,
)
from approx.device import resolve_device
from approx.network import DTYPES, Network
from approx.pieces import breakpoints, count_regions
from approx.train import fit

from .config import Config
from .online import online_adam

__all__ = ["alternating", "constructed", "pl_errors", "radial", "radial_variance", "trained_sawtooth"]

# ---------------------------------------------------------------------- constructed
def constructed(cfg: Config) -> pd.DataFrame:
    """Parameters needed, deep versus one hidden layer, for t^k exactly and x^2 to 2^(-2m-2)."""
    rows = []
    for k in cfg.constructed.ks:
        knots = (torch.arange(2 ** k + 1, dtype=torch.float64) / 2 ** k).unsqueeze(1)
        for arch, net in (("deep", sawtooth(k)), ("shallow", sawtooth_shallow(k))):
            # both are piecewise linear with kinks among j / 2^k: the sup distance sits on a knot
            err = (net(knots) - tooth_power(knots, k)).abs().max().item()
            rows.append(_constructed_row("sawtooth", k, arch, net, err, 0.0))
        mid = ((torch.arange(2 ** k, dtype=torch.float64) + 0.5) / 2 ** k).unsqueeze(1)
        eps = 2.0 ** (-2 * k - 2)
        shallow = square_interpolant_shallow(3 * 2 ** k + 1)  # 2^k units: the same error
        for arch, net in (("deep", yarotsky_square(k)), ("shallow", shallow)):
            # interpolants of x^2 at j / 2^k: the worst error is at the midpoints
            err = (net(mid) - mid.square()).abs().max().item()
            rows.append(_constructed_row("square", k, arch, net, err, eps))
        # any one-hidden-layer network within eps has >= 2^(k - 1/2) pieces, so >= that - 1 units
        n_units = math.ceil(2 ** (k - 0.5) - 1e-9) - 1
        rows.append({"part": "constructed", "target": "square", "k": k, "arch": "shallow_lower_bound",
                     "n_params": 3 * n_units + 1, "width": n_units, "n_hidden": 1,
                     "err_sup": eps, "err_target": eps, "n_pieces": n_units + 1})
    return pd.DataFrame(rows)


def _constructed_row(target: str, k: int, arch: str, net: Network, err: float, eps: float) -> dict:
    return {"part": "constructed", "target": target, "k": k, "arch": arch, "n_params": net.n_params,
            "width": max(net.sizes[1:-1]), "n_hidden": net.depth - 1, "err_sup": err,
            "err_target": eps, "n_pieces": len(breakpoints(net, 0.0, 1.0)) + 1}


# ---------------------------------------------------------------------- training helpers
def _members(cfg: Config, radial: bool = False) -> list[tuple[int, float]]:
    """(seed, lr) of every ensemble member: all seeds times all learning rates (radial's own);
    with lbfgs or lm (sawtooth, alternating) one member per seed, lr NaN: they take no rate."""
    n_seeds, lrs = (cfg.radial.n_seeds, cfg.radial.lrs) if radial else (cfg.n_seeds, cfg.lrs)
    if not radial and cfg.optimizer != "adam":
        lrs = (math.nan,)
    return list(itertools.product(range(cfg.seed, cfg.seed + n_seeds), lrs))


def _network_1d(cfg: Config, sizes: list[int], seeds: list[int], device, dtype) -> Network:
    """An ensemble for inputs in [0, 1]; "kinks" puts each first-layer kink at c ~ U(0, 1).

    He weights with zero biases would put every first-layer kink at x = 0, making the network
    linear on [0, 1] at initialisation; drawing the kinks inside the data interval is the
    usual data-aware start for 1-D ReLU fits.
    """
    if cfg.init != "kinks":
        return Network.random(sizes, "relu", seed=seeds, init=cfg.init, dtype=dtype, device=device)
    net = Network.random(sizes, "relu", seed=seeds, init="he", dtype=torch.float64)
    params = net.parameters()
    gen = torch.Generator().manual_seed(int(seeds[0]) * 7919 + sum(sizes))
    kinks = torch.rand(params[1].shape, generator=gen, dtype=torch.float64)  # (E, width)
    params[1] = -params[0][..., 0] * kinks
    return net.with_parameters(params).to(device, dtype)


def _train(cfg: Config, net: Network, x, y, steps: int, members: list[tuple[int, float]],
           metrics=None, log_every: int | None = None, optimizer: str = "adam"):
    """Adam at each member's rate (compiled as cfg.compile says), or lbfgs / lm (no rate, no
    mini-batches, never compiled: seed and compile unused)."""
    if optimizer != "adam":
        return fit(net, (x, y), engine=cfg.engine, loss="mse", optimizer=optimizer, steps=steps,
                   log_every=log_every or steps, metrics=metrics)
    return fit(net, (x, y), engine=cfg.engine, loss="mse", optimizer="adam",
               lr=[lr for _, lr in members], steps=steps, seed=[s for s, _ in members],
               log_every=log_every or steps, metrics=metrics, compile=cfg.compile)


def _final(history: pd.DataFrame) -> pd.DataFrame:
    """The last logged row of every member."""
    return history.sort_values("step").groupby("member").tail(1).set_index("member").sort_index()


def _mark_best_lr(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """best_lr = True on the row with the lowest final training loss per configuration and seed."""
    best = df.groupby(keys + ["seed"], dropna=False)["train_loss"].idxmin()
    df["best_lr"] = False
    df.loc[best.values, "best_lr"] = True
    return df


def pl_errors(net: Network, k: int) -> tuple[float, float]:
    """Exact (sup, L2) distance on [0, 1] between a piecewise-linear network and t^k.

    Both are affine between consecutive points of the union of their breakpoints, so the sup
    is attained at one of those points and the squared L2 distance on a piece [a, b] with end
    differences u, v is (b - a)(u^2 + uv + v^2)/3.
    """
    x = np.union1d(breakpoints(net, 0.0, 1.0), np.arange(2 ** k + 1) / 2 ** k)
    xt = torch.as_tensor(x).unsqueeze(1)
    diff = (net(xt) - tooth_power(xt, k)).reshape(-1).numpy()
    u, v, h = diff[:-1], diff[1:], np.diff(x)
    return float(np.abs(diff).max()), float(np.sqrt(np.sum(h * (u * u + u * v + v * v) / 3)))


def _piece_rows(net64: Network, k: int) -> list[dict]:
    """Per member: realised pieces, activation regions and the exact errors against t^k."""
    rows = []
    for member in net64.unstack():
        err_sup, err_l2 = pl_errors(member, k)
        rows.append({"n_pieces": len(breakpoints(member, 0.0, 1.0)) + 1,
                     "n_regions": int(count_regions(member, 0.0, 1.0)),
                     "err_sup": err_sup, "err_l2": err_l2})
    return rows


def _pieces_bound(sizes: list[int]) -> float:
    """(2m)^L for L hidden layers of width <= m: the most pieces (Telgarsky 2015, 2016)."""
    hidden = sizes[1:-1]
    return float((2 * max(hidden)) ** len(hidden))


def _serra_bound(sizes: list[int]) -> float:
    """prod over hidden layers of (m_l + 1): the most linear regions of a ReLU network with one
    input (Serra, Tjandraatmadja & Ramalingam 2018, Theorem 1 with n_0 = 1: each layer's factor
    sum_{j <= 1} C(m_l, j) = m_l + 1). At most (2m)^L, and tighter: it counts every layer's width."""
    return float(np.prod([m + 1 for m in sizes[1:-1]], dtype=np.float64))


# ---------------------------------------------------------------------- sawtooth: trained on t^k
def _architectures(cfg: Config, k: int) -> list[tuple[str, list[int]]]:
    """(arch, sizes): deep narrow nets, one-hidden-layer nets matched to each, and wide ones."""
    deep = [[1] + [w] * (f * k) + [1] for f in cfg.sawtooth.depth_factors for w in cfg.sawtooth.deep_widths]
    matched = {max(1, round((Network.random(s, "relu").n_params - 1) / 3)) for s in deep}
    wide = {min(f * 2 ** k, cfg.sawtooth.max_width) for f in cfg.sawtooth.shallow_factors}
    shallow = [[1, w, 1] for w in sorted(matched | wide)]
    return [("deep", s) for s in deep] + [("shallow", s) for s in shallow]


def trained_sawtooth(cfg: Config, k: int) -> pd.DataFrame:
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    n = cfg.sawtooth.points_per_piece * 2 ** k
    x = (torch.arange(n + 1, dtype=torch.float64) / n).unsqueeze(1)  # (n + 1, 1), holds every kink
    y = tooth_power(x, k)
    x, y = x.to(device, dtype), y.to(device, dtype)
    members = _members(cfg)
    rows = []
    for arch, sizes in _architectures(cfg, k):
        net = _network_1d(cfg, sizes, [s for s, _ in members], device, dtype)
        trained, history = _train(cfg, net, x, y, cfg.steps, members, optimizer=cfg.optimizer)
        final = _final(history)
        measured = _piece_rows(trained.to("cpu", torch.float64), k)
        for e, ((seed, lr), extra) in enumerate(zip(members, measured)):
            rows.append({"part": "sawtooth", "target": "sawtooth", "k": k, "arch": arch,
                         "n_hidden": len(sizes) - 2, "width": max(sizes[1:-1]),
                         "n_params": trained.n_params, "seed": seed, "lr": lr, "optimizer": cfg.optimizer,
                         "train_loss": final.loc[e, "loss"], "status": final.loc[e, "status"],
                         "step": int(final.loc[e, "step"]), **extra, "n_pieces_target": 2 ** k,
                         "pieces_bound": _pieces_bound(sizes), "serra_bound": _serra_bound(sizes),
                         "n_points": n + 1})
    return _mark_best_lr(pd.DataFrame(rows), ["k", "arch", "n_hidden", "width"])


# ---------------------------------------------------------------------- alternating points
def alternating(cfg: Config, k: int) -> pd.DataFrame:
    """Telgarsky's n-ap: the sawtooth (error 0), trained deep and shallow networks (MSE on 0/1)."""
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    x64, y64 = alternating_points(k)
    n = x64.shape[0]
    x, y = x64.to(device, dtype), y64.to(device, dtype)
    bound_width = alternating_error_floor_width(k, 1)
    constructed = sawtooth(k)
    rows = [{"part": "alternating", "target": "alternating", "k": k, "arch": "constructed", "n_hidden": k,
             "width": 2, "n_params": constructed.n_params, "seed": np.nan, "lr": np.nan,
             "class_err": _class_error(constructed, x64, y64)[0],
             "n_pieces": len(breakpoints(constructed, 0.0, 1.0)) + 1, "err_floor_pieces": 0.0,
             "telgarsky_width": bound_width, "best_lr": True}]
    widths = sorted({w for w in (bound_width, 2 ** (k - 2), 2 ** k) if w >= 1})
    archs = [("deep", [1] + [cfg.alternating.deep_width] * k + [1])]
    archs += [("shallow", [1, w, 1]) for w in widths]
    members = _members(cfg)
    for arch, sizes in archs:
        net = _network_1d(cfg, sizes, [s for s, _ in members], device, dtype)
        trained, history = _train(cfg, net, x, y, cfg.steps, members, optimizer=cfg.optimizer)
        final = _final(history)
        trained64 = trained.to("cpu", torch.float64)
        errors = _class_error(trained64, x64, y64)
        for e, (seed, lr) in enumerate(members):
            member = trained64.member(e)
            n_pieces = len(breakpoints(member, 0.0, 1.0)) + 1
            rows.append({"part": "alternating", "target": "alternating", "k": k, "arch": arch,
                         "n_hidden": len(sizes) - 2, "width": max(sizes[1:-1]),
                         "n_params": trained.n_params, "seed": seed, "lr": lr, "optimizer": cfg.optimizer,
                         "train_loss": final.loc[e, "loss"], "status": final.loc[e, "status"],
                         "class_err": errors[e], "n_pieces": n_pieces,
                         "err_floor_pieces": alternating_error_floor(n_pieces, k),
                         "telgarsky_width": bound_width, "pieces_bound": _pieces_bound(sizes),
                         "serra_bound": _serra_bound(sizes), "n_points": n})
    df = pd.DataFrame(rows)
    trained_rows = df[df["arch"] != "constructed"].copy()
    trained_rows = _mark_best_lr(trained_rows, ["k", "arch", "n_hidden", "width"])
    return pd.concat([df[df["arch"] == "constructed"], trained_rows], ignore_index=True)


def _class_error(net: Network, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Fraction of points with 1[f(x) >= 1/2] != y, one value per member."""
    wrong = ((net(x) >= 0.5).to(y.dtype) != y).to(torch.float64)  # (n, 1) or (E, n, 1)
    return wrong.reshape(net.ensemble or 1, -1).mean(1).tolist()


# ---------------------------------------------------------------------- radial target
TEST_CHUNK = 8192  # test points per forward pass: (E, 8192, width) activations, not (E, n_test, width)


def _radial_sample(band: float, d: int, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of x = r u, u uniform on the sphere S^(d-1) and r ~ U(0, 2), with
    y = clamp(1/2 + (1 - |x|)/band, 0, 1), from ``gen``; (n, d) and (n, 1), float64.

    The radius is uniform, so every d puts half the mass inside the unit ball and samples the
    boundary band equally; the target is a Lipschitz-smoothed indicator of the ball.
    """
    u = torch.randn(n, d, generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    r = 2 * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    return r * u, (0.5 + (1 - r) / band).clamp(0, 1)


def radial_variance(band: float) -> float:
    """Var(y) of the radial target under its input distribution: 1/4 - band/12, for 0 < band <= 2.

    y depends on r ~ U(0, 2) alone: y = 1 on r < 1 - band/2 (probability 1/2 - band/4), 0 above
    1 + band/2, and 1/2 + s on the band, s = (1 - r)/band uniform on [-1/2, 1/2] there
    (probability band/2). By symmetry E y = 1/2; E y^2 = 1/2 - band/4 + (band/2) * 1/3, so
    Var(y) = 1/4 - band/12. The population error is divided by it: MSE / Var(y) = 1 is the
    constant fit's error, 0 a perfect one.
    """
    if not 0 < band <= 2:
        raise ValueError(f"band must be in (0, 2], got {band!r}")
    return 0.25 - band / 12


def _rel_mse_on(net: Network, x: torch.Tensor, y: torch.Tensor, variance: float) -> tuple[np.ndarray, np.ndarray]:
    """Per member: MSE / Var(y) on (x, y) and its standard error, s / sqrt(n) / Var(y) with s
    the standard deviation of the squared errors; evaluated TEST_CHUNK points at a time."""
    sq = torch.cat([(net(x[i:i + TEST_CHUNK]) - y[i:i + TEST_CHUNK]).square().reshape(net.ensemble, -1)
                    .to(torch.float64) for i in range(0, x.shape[0], TEST_CHUNK)], dim=1)  # (E, n)
    se = sq.std(dim=1) / math.sqrt(sq.shape[1]) if sq.shape[1] > 1 else torch.full((sq.shape[0],), math.nan)
    return (sq.mean(dim=1) / variance).cpu().numpy(), (se / variance).cpu().numpy()


def radial(cfg: Config, d: int) -> pd.DataFrame:
    """2- against 3-layer networks at equal parameter counts on the radial target in d dimensions,
    trained online (online.py): Adam on a fresh batch every
    step, so the training error is the population error; tested on n_test fresh points.

    Both architectures see the same stream (seed + 1000 d) and the same test set (another seed).
    """
    rc = cfg.radial
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    seed = cfg.seed + 1000 * d
    variance = radial_variance(rc.band)
    x_test, y_test = (t.to(device, dtype) for t in
                      _radial_sample(rc.band, d, rc.n_test, torch.Generator().manual_seed(seed + 1)))

    def stream():  # step t -> the next fresh batch; a new generator per run: every run sees the same stream
        gen = torch.Generator().manual_seed(seed)
        return lambda t: tuple(v.to(device, dtype) for v in _radial_sample(rc.band, d, rc.batch, gen))

    members = _members(cfg, radial=True)
    seeds = [s for s, _ in members]
    rows = []
    for w3 in rc.widths:
        draw = {"seed": seeds, "init": rc.init, "dtype": dtype, "device": device}
        three = Network.random([d, w3, w3, 1], "relu", **draw)
        w2 = max(1, round((three.n_params - 1) / (d + 2)))  # equal parameter count, one hidden layer
        two = Network.random([d, w2, 1], "relu", **draw)
        for arch, net in (("2-layer", two), ("3-layer", three)):
            trained, history = online_adam(net, stream(), rc.steps, [lr for _, lr in members],
                                           log_every=max(1, rc.steps // 20), engine=cfg.engine)
            test, test_se = _rel_mse_on(trained, x_test, y_test, variance)
            for e, (seed_e, lr) in enumerate(members):
                for _, h in history[history["member"] == e].iterrows():
                    rows.append({"part": "radial", "target": "radial", "d": d, "arch": arch,
                                 "n_hidden": net.depth - 1, "width": max(net.sizes[1:-1]),
                                 "n_params": net.n_params, "budget_width": w3, "seed": seed_e,
                                 "lr": lr, "step": int(h["step"]), "train_loss": h["loss"],
                                 "train_rel_mse": h["loss"] / variance, "status": h["status"],
                                 "batch": rc.batch, "n_test": rc.n_test, "var_y": variance, "final": False})
                rows[-1].update(final=True, test_rel_mse=test[e], test_rel_mse_se=test_se[e])
    df = pd.DataFrame(rows)
    final = df[df["final"]].copy()
    final = _mark_best_lr(final, ["d", "arch", "budget_width"])
    df["best_lr"] = False
    best = final.index[final["best_lr"]]
    key = ["d", "arch", "budget_width", "seed", "lr"]
    chosen = set(map(tuple, df.loc[best, key].itertuples(index=False, name=None)))
    df["best_lr"] = [tuple(r) in chosen for r in df[key].itertuples(index=False, name=None)]
    return df
