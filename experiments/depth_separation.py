"""Depth versus width: functions a small deep network represents and a shallow one cannot.

    approx run depth_separation                  # default preset -> results/depth_separation.*
    approx run depth_separation --preset smoke   # seconds on CPU; what the tests run

Four parts, one tidy DataFrame with a ``part`` column:

(a) constructed. Telgarsky's sawtooth t^k (2^k pieces) is k hidden layers of width 2, 6k + 1
    parameters; one hidden layer needs 2^k units, 3 * 2^k + 1 parameters (minimal:
    approx.constructions.depth.sawtooth_shallow_width). Yarotsky's x^2 to error 2^(-2m-2):
    12m - 2 parameters deep, 3 * 2^m + 1 shallow, and any one-hidden-layer network reaching
    it needs >= 2^(m - 1/2) pieces (a piece of length h costs h^2/8). Linear versus exponential.
(b) trained on t^k: deep narrow networks (L = k or 2k hidden layers) and one-hidden-layer
    networks of matched and of much larger size, several seeds and a learning-rate grid (one
    ensemble), Adam. Errors are exact (both functions are piecewise linear: the sup and L2
    distances are read off the union of their breakpoints), and approx.pieces counts the
    pieces each trained network realises, against 2^k and the (2m)^L bound.
(c) Telgarsky (2015)'s 2^k alternating points: zero error for the sawtooth; error >= 1/6 for
    any network with l layers of m <= 2^((k-3)/l - 1) units. Trained deep and shallow networks,
    with the floor (n - t - 1)/(2n) implied by each network's own piece count t.
(d) a radial target in d dimensions (Eldan & Shamir 2016; Safran & Shamir 2017): a smoothed
    indicator of the unit ball, 2-layer (one hidden) versus 3-layer (two hidden) networks with
    equal parameter counts, test error versus size and versus training steps.

``run`` is the concatenation of ``run_point`` over ``points`` (one per part and k or d).
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from approx.constructions.depth import (
    alternating_error_floor, alternating_error_floor_width, alternating_points, sawtooth,
    sawtooth_shallow, square_interpolant_shallow, tooth_power, yarotsky_square,
)
from approx.device import resolve_device
from approx.network import INITS, Network
from approx.pieces import breakpoints, count_regions
from approx.plotting import figure, save
from approx.train import ENGINES, fit

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "plot", "describe"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
PARTS = ("a", "b", "c", "d")


@dataclass(frozen=True)
class Config:
    constructed_ks: tuple[int, ...] = tuple(range(1, 13))  # (a) k of t^k and m of Yarotsky's x^2
    ks: tuple[int, ...] = (1, 2, 3, 4, 5)  # (b) train on t^k for these k
    deep_widths: tuple[int, ...] = (8,)  # (b) widths of the deep networks
    depth_factors: tuple[int, ...] = (1,)  # (b) deep networks have factor * k hidden layers
    shallow_factors: tuple[int, ...] = (1, 8)  # (b) one-hidden-layer widths factor * 2^k ...
    max_width: int = 1024  # ... capped here (plus one matched to each deep network's size)
    points_per_piece: int = 4  # (b, c) training grid x = j / (points_per_piece * 2^k)
    classify_ks: tuple[int, ...] = (5, 7)  # (c) n = 2^k alternating points
    classify_deep_width: int = 4  # (c) deep networks: k hidden layers of this width
    radial_dims: tuple[int, ...] = (2, 8, 32)  # (d) input dimensions d
    radial_widths: tuple[int, ...] = (8, 32)  # (d) widths of the 3-layer networks
    radial_band: float = 0.2  # (d) the target falls from 1 to 0 over |x| in 1 -+ band/2
    n_radial_train: int = 1000  # (d) training points
    n_radial_test: int = 2000  # (d) test points
    steps: int = 2000  # (b, c) Adam steps, full batch
    radial_steps: int = 600  # (d) Adam steps, full batch
    lrs: tuple[float, ...] = (3e-3, 1e-2)  # learning-rate grid; the best (by final training loss) is kept
    n_seeds: int = 2  # initialisations per configuration
    init: str = "kinks"  # (b, c): "kinks" = He weights, first-layer kinks uniform in [0, 1]; or an INITS name
    radial_init: str = "standard"  # (d): an approx.network.INITS name
    engine: str = "autograd"  # approx.train.ENGINES
    dtype: str = "float32"  # training dtype; pieces and errors are always computed in float64
    threads: int = 1  # CPU intra-op threads while a point runs (restored afterwards): the tensors are small
    seed: int = 0  # member seeds are seed, seed + 1, ...
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        for name in ("constructed_ks", "ks", "deep_widths", "depth_factors", "shallow_factors",
                     "classify_ks", "radial_dims", "radial_widths"):
            values = getattr(self, name)
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{name} must hold integers >= 1, got {values!r}")
        for name in ("max_width", "points_per_piece", "classify_deep_width", "n_radial_train",
                     "n_radial_test", "steps", "radial_steps", "n_seeds", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.lrs or min(self.lrs) <= 0:
            raise ValueError(f"lrs must be positive learning rates, got {self.lrs!r}")
        if not 0 < self.radial_band < 2:
            raise ValueError(f"radial_band must lie in (0, 2), got {self.radial_band!r}")
        if self.init not in ("kinks", *INITS):
            raise ValueError(f"unknown init {self.init!r}; allowed: kinks, {', '.join(INITS)}")
        if self.radial_init not in INITS:
            raise ValueError(f"unknown radial_init {self.radial_init!r}; allowed: {', '.join(INITS)}")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; allowed: {', '.join(ENGINES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; allowed: {', '.join(DTYPES)}")


PRESETS = {
    "smoke": {"constructed_ks": (1, 2, 3, 4), "ks": (2,), "shallow_factors": (1, 4),
              "classify_ks": (4,), "radial_dims": (2,), "radial_widths": (4,), "steps": 60,
              "radial_steps": 30, "n_radial_train": 128, "n_radial_test": 128, "n_seeds": 1},
    "default": {},
    "full": {"ks": (1, 2, 3, 4, 5, 6, 7, 8), "deep_widths": (4, 8), "depth_factors": (1, 2),
             "max_width": 4096, "classify_ks": (5, 7, 9), "radial_dims": (2, 4, 8, 16, 32),
             "radial_widths": (8, 16, 32, 64), "n_radial_train": 4000, "n_radial_test": 4000,
             "steps": 10000, "radial_steps": 4000, "lrs": (1e-3, 3e-3, 1e-2), "n_seeds": 4},
}


def points(cfg: Config) -> list[dict]:
    return ([{"part": "a"}] + [{"part": "b", "k": k} for k in cfg.ks]
            + [{"part": "c", "k": k} for k in cfg.classify_ks]
            + [{"part": "d", "d": d} for d in cfg.radial_dims])


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _run_part(cfg, point)
    finally:
        torch.set_num_threads(threads_before)


def _run_part(cfg: Config, point: dict) -> pd.DataFrame:
    part = point.get("part")
    if part == "a":
        return _constructed(cfg)
    if part == "b":
        return _trained_sawtooth(cfg, int(point["k"]))
    if part == "c":
        return _classification(cfg, int(point["k"]))
    if part == "d":
        return _radial(cfg, int(point["d"]))
    raise ValueError(f"unknown part {part!r}; allowed: {', '.join(PARTS)}")


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


# ---------------------------------------------------------------------- (a) constructed
def _constructed(cfg: Config) -> pd.DataFrame:
    """Parameters needed, deep versus one hidden layer, for t^k exactly and x^2 to 2^(-2m-2)."""
    rows = []
    for k in cfg.constructed_ks:
        knots = (torch.arange(2 ** k + 1, dtype=torch.float64) / 2 ** k).unsqueeze(1)
        for arch, net in (("deep", sawtooth(k)), ("shallow", sawtooth_shallow(k))):
            # both are piecewise linear with kinks among j / 2^k: the sup distance sits on a knot
            err = (net(knots) - tooth_power(knots, k)).abs().max().item()
            rows.append(_constructed_row("sawtooth", k, arch, net, err, 0.0))
        mid = ((torch.arange(2 ** k, dtype=torch.float64) + 0.5) / 2 ** k).unsqueeze(1)
        eps = 2.0 ** (-2 * k - 2)
        for arch, net in (("deep", yarotsky_square(k)), ("shallow", square_interpolant_shallow(3 * 2 ** k + 1))):
            # interpolants of x^2 at j / 2^k: the worst error is at the midpoints
            err = (net(mid) - mid.square()).abs().max().item()
            rows.append(_constructed_row("square", k, arch, net, err, eps))
        # any one-hidden-layer network within eps has >= 2^(k - 1/2) pieces, so >= that - 1 units
        n_units = math.ceil(2 ** (k - 0.5) - 1e-9) - 1
        rows.append({"part": "a", "target": "square", "k": k, "arch": "shallow_lower_bound",
                     "n_params": 3 * n_units + 1, "width": n_units, "n_hidden": 1,
                     "err_sup": eps, "err_target": eps, "n_pieces": n_units + 1})
    return pd.DataFrame(rows)


def _constructed_row(target: str, k: int, arch: str, net: Network, err: float, eps: float) -> dict:
    return {"part": "a", "target": target, "k": k, "arch": arch, "n_params": net.n_params,
            "width": max(net.sizes[1:-1]), "n_hidden": net.depth - 1, "err_sup": err,
            "err_target": eps, "n_pieces": len(breakpoints(net, 0.0, 1.0)) + 1}


# ---------------------------------------------------------------------- training helpers
def _members(cfg: Config) -> list[tuple[int, float]]:
    """(seed, lr) of every ensemble member: all seeds times all learning rates."""
    return list(itertools.product(range(cfg.seed, cfg.seed + cfg.n_seeds), cfg.lrs))


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


def _train(cfg: Config, net: Network, x, y, steps: int, loss: str = "mse", metrics=None,
           log_every: int | None = None):
    members = _members(cfg)
    start = time.perf_counter()
    trained, history = fit(net, (x, y), engine=cfg.engine, loss=loss, optimizer="adam",
                           lr=[lr for _, lr in members], steps=steps, seed=[s for s, _ in members],
                           log_every=log_every or steps, metrics=metrics)
    return trained, history, time.perf_counter() - start


def _final(history: pd.DataFrame) -> pd.DataFrame:
    """The last logged row of every member."""
    return history.sort_values("step").groupby("member").tail(1).set_index("member").sort_index()


def _mark_best_lr(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """best_lr = True on the row with the lowest final training loss per configuration and seed."""
    best = df.groupby(keys + ["seed"], dropna=False)["train_loss"].idxmin()
    df["best_lr"] = False
    df.loc[best.values, "best_lr"] = True
    return df


def _pl_errors(net: Network, k: int) -> tuple[float, float]:
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
        err_sup, err_l2 = _pl_errors(member, k)
        rows.append({"n_pieces": len(breakpoints(member, 0.0, 1.0)) + 1,
                     "n_regions": int(count_regions(member, 0.0, 1.0)),
                     "err_sup": err_sup, "err_l2": err_l2})
    return rows


def _pieces_bound(sizes: list[int]) -> float:
    """(2m)^L for L hidden layers of width <= m (Telgarsky 2015, Lemma 2.1)."""
    hidden = sizes[1:-1]
    return float((2 * max(hidden)) ** len(hidden))


# ---------------------------------------------------------------------- (b) trained on t^k
def _architectures(cfg: Config, k: int) -> list[tuple[str, list[int]]]:
    """(arch, sizes): deep narrow nets, one-hidden-layer nets matched to each, and wide ones."""
    deep = [[1] + [w] * (f * k) + [1] for f in cfg.depth_factors for w in cfg.deep_widths]
    matched = {max(1, round((Network.random(s, "relu").n_params - 1) / 3)) for s in deep}
    wide = {min(f * 2 ** k, cfg.max_width) for f in cfg.shallow_factors}
    shallow = [[1, w, 1] for w in sorted(matched | wide)]
    return [("deep", s) for s in deep] + [("shallow", s) for s in shallow]


def _trained_sawtooth(cfg: Config, k: int) -> pd.DataFrame:
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    n = cfg.points_per_piece * 2 ** k
    x = (torch.arange(n + 1, dtype=torch.float64) / n).unsqueeze(1)  # (n + 1, 1), holds every kink
    y = tooth_power(x, k)
    x, y = x.to(device, dtype), y.to(device, dtype)
    members = _members(cfg)
    rows = []
    for arch, sizes in _architectures(cfg, k):
        net = _network_1d(cfg, sizes, [s for s, _ in members], device, dtype)
        trained, history, seconds = _train(cfg, net, x, y, cfg.steps)
        final = _final(history)
        for e, ((seed, lr), extra) in enumerate(zip(members, _piece_rows(trained.to("cpu", torch.float64), k))):
            rows.append({"part": "b", "target": "sawtooth", "k": k, "arch": arch,
                         "n_hidden": len(sizes) - 2, "width": max(sizes[1:-1]),
                         "n_params": trained.n_params, "seed": seed, "lr": lr,
                         "train_loss": final.loc[e, "loss"], "status": final.loc[e, "status"],
                         "step": int(final.loc[e, "step"]), **extra, "n_pieces_target": 2 ** k,
                         "pieces_bound": _pieces_bound(sizes), "time_s": seconds / len(members)})
    return _mark_best_lr(pd.DataFrame(rows), ["k", "arch", "n_hidden", "width"])


# ---------------------------------------------------------------------- (c) alternating points
def _classification(cfg: Config, k: int) -> pd.DataFrame:
    """Telgarsky's n-ap: the sawtooth (error 0), trained deep and shallow networks (MSE on 0/1)."""
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    x64, y64 = alternating_points(k)
    n = x64.shape[0]
    x, y = x64.to(device, dtype), y64.to(device, dtype)
    bound_width = alternating_error_floor_width(k, 1)
    constructed = sawtooth(k)
    rows = [{"part": "c", "target": "alternating", "k": k, "arch": "constructed", "n_hidden": k,
             "width": 2, "n_params": constructed.n_params, "seed": np.nan, "lr": np.nan,
             "class_err": _class_error(constructed, x64, y64)[0],
             "n_pieces": len(breakpoints(constructed, 0.0, 1.0)) + 1, "err_floor_pieces": 0.0,
             "telgarsky_width": bound_width, "best_lr": True}]
    widths = sorted({w for w in (bound_width, 2 ** (k - 2), 2 ** k) if w >= 1})
    archs = [("deep", [1] + [cfg.classify_deep_width] * k + [1])] + [("shallow", [1, w, 1]) for w in widths]
    members = _members(cfg)
    for arch, sizes in archs:
        net = _network_1d(cfg, sizes, [s for s, _ in members], device, dtype)
        trained, history, seconds = _train(cfg, net, x, y, cfg.steps)
        final = _final(history)
        trained64 = trained.to("cpu", torch.float64)
        errors = _class_error(trained64, x64, y64)
        for e, (seed, lr) in enumerate(members):
            member = trained64.member(e)
            n_pieces = len(breakpoints(member, 0.0, 1.0)) + 1
            rows.append({"part": "c", "target": "alternating", "k": k, "arch": arch,
                         "n_hidden": len(sizes) - 2, "width": max(sizes[1:-1]),
                         "n_params": trained.n_params, "seed": seed, "lr": lr,
                         "train_loss": final.loc[e, "loss"], "status": final.loc[e, "status"],
                         "class_err": errors[e], "n_pieces": n_pieces,
                         "err_floor_pieces": alternating_error_floor(n_pieces, k),
                         "telgarsky_width": bound_width, "pieces_bound": _pieces_bound(sizes),
                         "n_points": n, "time_s": seconds / len(members)})
    df = pd.DataFrame(rows)
    trained_rows = df[df["arch"] != "constructed"].copy()
    trained_rows = _mark_best_lr(trained_rows, ["k", "arch", "n_hidden", "width"])
    return pd.concat([df[df["arch"] == "constructed"], trained_rows], ignore_index=True)


def _class_error(net: Network, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Fraction of points with 1[f(x) >= 1/2] != y, one value per member."""
    wrong = ((net(x) >= 0.5).to(y.dtype) != y).to(torch.float64)  # (n, 1) or (E, n, 1)
    return wrong.reshape(net.ensemble or 1, -1).mean(1).tolist()


# ---------------------------------------------------------------------- (d) radial target
def _radial_data(cfg: Config, d: int, n: int, seed: int):
    """x = r u with u uniform on the sphere and r ~ U(0, 2); y = clamp(1/2 + (1 - |x|)/band, 0, 1).

    The radius is uniform, so every d puts half the mass inside the unit ball and samples the
    boundary band equally; the target is a Lipschitz-smoothed indicator of the ball.
    """
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    r = 2 * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    x = r * u
    y = (0.5 + (1 - r) / cfg.radial_band).clamp(0, 1)
    return x, y


def _radial(cfg: Config, d: int) -> pd.DataFrame:
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    x, y = (t.to(device, dtype) for t in _radial_data(cfg, d, cfg.n_radial_train, cfg.seed + 1000 * d))
    x_test, y_test = (t.to(device, dtype) for t in _radial_data(cfg, d, cfg.n_radial_test, cfg.seed + 1000 * d + 1))
    variance = y_test.var().item()

    def test_rel_mse(net: Network) -> torch.Tensor:  # (E,) test MSE / Var(y): unexplained variance
        return (net(x_test) - y_test).square().mean(dim=(1, 2)) / variance

    members = _members(cfg)
    seeds = [s for s, _ in members]
    rows = []
    for w3 in cfg.radial_widths:
        three = Network.random([d, w3, w3, 1], "relu", seed=seeds, init=cfg.radial_init, dtype=dtype, device=device)
        w2 = max(1, round((three.n_params - 1) / (d + 2)))  # equal parameter count, one hidden layer
        two = Network.random([d, w2, 1], "relu", seed=seeds, init=cfg.radial_init, dtype=dtype, device=device)
        for arch, net in (("2-layer", two), ("3-layer", three)):
            trained, history, seconds = _train(cfg, net, x, y, cfg.radial_steps,
                                               metrics={"test_rel_mse": test_rel_mse},
                                               log_every=max(1, cfg.radial_steps // 20))
            for e, (seed, lr) in enumerate(members):
                for _, h in history[history["member"] == e].iterrows():
                    rows.append({"part": "d", "target": "radial", "d": d, "arch": arch,
                                 "n_hidden": net.depth - 1, "width": max(net.sizes[1:-1]),
                                 "n_params": net.n_params, "budget_width": w3, "seed": seed,
                                 "lr": lr, "step": int(h["step"]), "train_loss": h["loss"],
                                 "train_rel_mse": h["loss"] / variance,
                                 "test_rel_mse": h["test_rel_mse"], "status": h["status"],
                                 "final": False, "time_s": seconds / len(members)})
                rows[-1]["final"] = True
    df = pd.DataFrame(rows)
    final = df[df["final"]].copy()
    final = _mark_best_lr(final, ["d", "arch", "budget_width"])
    df["best_lr"] = False
    best = final.index[final["best_lr"]]
    key = ["d", "arch", "budget_width", "seed", "lr"]
    chosen = set(map(tuple, df.loc[best, key].itertuples(index=False, name=None)))
    df["best_lr"] = [tuple(r) in chosen for r in df[key].itertuples(index=False, name=None)]
    return df


# ---------------------------------------------------------------------- summaries, plot, text
CONSTANT_FIT = 1 / math.sqrt(12)  # L2 distance from t^k to its mean 1/2: "learned nothing"


def _best(df: pd.DataFrame, part: str, keys: list[str], value: str) -> pd.DataFrame:
    """Median, min and max over seeds of ``value`` at the best learning rate, per configuration."""
    rows = df[(df["part"] == part) & df["best_lr"].astype(bool)]
    if part == "d":
        rows = rows[rows["final"].astype(bool)]
    return (rows.groupby(keys)[value].agg(["median", "min", "max"])
            .join(rows.groupby(keys)["n_params"].first()).reset_index())


def plot(df: pd.DataFrame, path: Path) -> None:
    fig, axes = figure(2, 3, width=4.2, height=3.3)
    _plot_constructed(axes[0, 0], df[df["part"] == "a"])
    if (df["part"] == "b").any():
        _plot_trained(axes[0, 1], axes[0, 2], df)
    if (df["part"] == "c").any():
        _plot_classification(axes[1, 0], df)
    if (df["part"] == "d").any():
        _plot_radial(axes[1, 1], axes[1, 2], df)
    save(fig, path)


def _plot_constructed(ax, a: pd.DataFrame) -> None:
    styles = {("sawtooth", "deep"): ("C0", "-", "t^k deep (k layers x 2)"),
              ("sawtooth", "shallow"): ("C0", "--", "t^k one hidden layer (2^k units)"),
              ("square", "deep"): ("C3", "-", "x^2 to 2^(-2m-2), deep (Yarotsky)"),
              ("square", "shallow"): ("C3", "--", "x^2 to 2^(-2m-2), one hidden layer"),
              ("square", "shallow_lower_bound"): ("C3", ":", "x^2: any one hidden layer needs")}
    for (target, arch), (color, ls, label) in styles.items():
        rows = a[(a["target"] == target) & (a["arch"] == arch)].sort_values("k")
        ax.plot(rows["k"], rows["n_params"], ls, color=color, marker="o", label=label)
    ax.set(yscale="log", xlabel="k (teeth) or m (square)", ylabel="parameters",
           title="(a) constructed: parameters for the same accuracy")
    ax.legend(loc="upper left")


def _plot_trained(ax_err, ax_pieces, df: pd.DataFrame) -> None:
    err = _best(df, "b", ["k", "arch", "n_hidden", "width"], "err_l2")
    for i, k in enumerate(sorted(err["k"].unique())):
        for arch, marker, ls in (("shallow", "o", "--"), ("deep", "^", "-")):
            rows = err[(err["k"] == k) & (err["arch"] == arch)].sort_values("n_params")
            ax_err.errorbar(rows["n_params"], rows["median"], yerr=[rows["median"] - rows["min"], rows["max"] - rows["median"]],
                            color=f"C{i}", marker=marker, ls=ls if arch == "shallow" else "none", capsize=2,
                            label=f"k={int(k)}" if arch == "shallow" else None)
    ax_err.axhline(CONSTANT_FIT, color="gray", ls=":", label="constant fit 1/sqrt(12)")
    ax_err.set(xscale="log", xlabel="parameters", ylabel="L2 error to t^k (median, min-max)",
               title="(b) trained on t^k (o: 1 hidden layer, ^: deep)")
    ax_err.legend(ncol=2)

    pieces = _best(df, "b", ["k", "arch", "n_hidden", "width"], "n_pieces")
    ks = np.array(sorted(pieces["k"].unique()))
    ax_pieces.plot(ks, 2.0 ** ks, "k-", marker="*", label="t^k and its constructions: 2^k")
    deep = pieces[pieces["arch"] == "deep"]
    for j, ((n_hidden_factor, width), rows) in enumerate(deep.assign(f=deep["n_hidden"] // deep["k"]).groupby(["f", "width"])):
        rows = rows.sort_values("k")
        ax_pieces.plot(rows["k"], rows["median"], "-^", color=f"C{j}",
                       label=f"trained deep, {int(n_hidden_factor)}k x {int(width)}")
        bound = df[(df["part"] == "b") & (df["arch"] == "deep") & (df["width"] == width)
                   & (df["n_hidden"] == n_hidden_factor * df["k"])].groupby("k")["pieces_bound"].first()
        ax_pieces.plot(bound.index, bound.values, ":", color=f"C{j}",
                       label=f"(2m)^L bound, {int(n_hidden_factor)}k x {int(width)}")
    shallow = pieces[pieces["arch"] == "shallow"]
    widest = shallow.loc[shallow.groupby("k")["width"].idxmax()].sort_values("k")
    ax_pieces.plot(widest["k"], widest["median"], "--o", color="C7", label="trained, widest one hidden layer")
    ax_pieces.set(yscale="log", xlabel="k", ylabel="linear pieces on [0, 1] (median over seeds)",
                  title="(b) pieces realised (approx.pieces)")
    ax_pieces.legend(fontsize=7)


def _plot_classification(ax, df: pd.DataFrame) -> None:
    c = df[df["part"] == "c"]
    err = _best(c.assign(part="c"), "c", ["k", "arch", "n_hidden", "width"], "class_err")
    for i, k in enumerate(sorted(err["k"].unique())):
        for arch, marker, ls in (("shallow", "o", "--"), ("deep", "^", "none"), ("constructed", "*", "none")):
            rows = err[(err["k"] == k) & (err["arch"] == arch)].sort_values("n_params")
            ax.errorbar(rows["n_params"], rows["median"], yerr=[rows["median"] - rows["min"], rows["max"] - rows["median"]],
                        color=f"C{i}", marker=marker, ls=ls, capsize=2, markersize=8 if arch == "constructed" else 4,
                        label=f"k={int(k)} (n={2 ** int(k)})" if arch == "shallow" else None)
        width = c[c["k"] == k]["telgarsky_width"].iloc[0]
        if width >= 1:
            ax.axvline(3 * width + 1, color=f"C{i}", ls=":", lw=1)
    ax.axhline(1 / 6, color="gray", ls="--", label="1/6: floor for m <= 2^((k-3)/l-1) (dotted)")
    ax.set(xscale="log", xlabel="parameters", ylabel="classification error",
           title="(c) alternating points: o shallow, ^ deep, * sawtooth")
    ax.legend()


def _plot_radial(ax_size, ax_steps, df: pd.DataFrame) -> None:
    err = _best(df, "d", ["d", "arch", "budget_width"], "test_rel_mse")
    dims = sorted(err["d"].unique())
    for i, d in enumerate(dims):
        for arch, ls, marker in (("2-layer", "--", "o"), ("3-layer", "-", "s")):
            rows = err[(err["d"] == d) & (err["arch"] == arch)].sort_values("n_params")
            ax_size.plot(rows["n_params"], rows["median"], ls, marker=marker, color=f"C{i}",
                         label=f"d={int(d)}, {arch}")
    ax_size.set(xscale="log", yscale="log", xlabel="parameters (equal for each pair)",
                ylabel="test MSE / Var(y) (median over seeds)", title="(d) radial target: 2 vs 3 layers")
    ax_size.legend(ncol=2, fontsize=7)
    d_rows = df[(df["part"] == "d") & df["best_lr"].astype(bool)]
    for i, d in enumerate(dims):
        rows = d_rows[(d_rows["d"] == d) & (d_rows["budget_width"] == d_rows[d_rows["d"] == d]["budget_width"].max())]
        for arch, ls in (("2-layer", "--"), ("3-layer", "-")):
            curve = rows[rows["arch"] == arch].groupby("step")["test_rel_mse"].median()
            ax_steps.plot(curve.index, curve.values, ls, color=f"C{i}", label=f"d={int(d)}, {arch}")
    ax_steps.set(yscale="log", xlabel="Adam steps", ylabel="test MSE / Var(y) (median)",
                 title="(d) largest size: error vs training steps")
    ax_steps.legend(ncol=2, fontsize=7)


def describe(df: pd.DataFrame) -> str:
    """The gallery paragraph: theorem, prediction, measurement, every number read from df."""
    parts = [_describe_constructed(df[df["part"] == "a"])]
    if (df["part"] == "b").any():
        parts.append(_describe_trained(df))
    if (df["part"] == "c").any():
        parts.append(_describe_classification(df))
    if (df["part"] == "d").any():
        parts.append(_describe_radial(df))
    return "\n\n".join(p for p in parts if p)


def _describe_constructed(a: pd.DataFrame) -> str:
    if a.empty:
        return ""
    k = int(a["k"].max())

    def params(target, arch):
        return int(a[(a["target"] == target) & (a["arch"] == arch) & (a["k"] == k)]["n_params"].iloc[0])

    saw = a[a["target"] == "sawtooth"]
    exact = (saw["err_sup"] <= 1e-9).all() and (saw["n_pieces"] == 2 ** saw["k"]).all()
    sq = a[(a["target"] == "square") & (a["arch"] != "shallow_lower_bound")]
    worst = (sq["err_sup"] / sq["err_target"] - 1).abs().max()
    return (
        f"**(a) Constructed.** Telgarsky: t^k (the tooth composed k times) has 2^k linear pieces. "
        f"As k hidden layers of width 2 it costs 6k + 1 parameters; one hidden layer needs 2^k units "
        f"(each unit adds one kink, and the first slope 2^k is not a sum of the kinks' slope changes "
        f"+-2^(k+1)). At k = {k}: {params('sawtooth', 'deep')} parameters deep versus "
        f"{params('sawtooth', 'shallow')} shallow; both networks {'equal' if exact else 'DO NOT equal'} "
        f"t^k exactly with exactly 2^k pieces (counted by approx.pieces) for every k measured. "
        f"Yarotsky: x^2 to sup error 2^(-2m-2) costs 12m - 2 parameters deep "
        f"({params('square', 'deep')} at m = {k}) versus {params('square', 'shallow')} for the "
        f"one-hidden-layer interpolant, and any one-hidden-layer network needs at least "
        f"{params('square', 'shallow_lower_bound')} (a piece of length h costs h^2/8); measured sup "
        f"errors match 2^(-2m-2) to a relative {worst:.1e}. Linear versus exponential in k."
    )


def _describe_trained(df: pd.DataFrame) -> str:
    b = df[df["part"] == "b"]
    err = _best(df, "b", ["k", "arch", "n_hidden", "width"], "err_l2")
    pieces = _best(df, "b", ["k", "arch", "n_hidden", "width"], "n_pieces")
    best = b[b["best_lr"].astype(bool)]
    n_seeds, n_lrs = best["seed"].nunique(), b["lr"].nunique()
    lines = []
    for k in sorted(int(v) for v in err["k"].unique()):
        e, p = err[err["k"] == k], pieces[pieces["k"] == k]
        deep = e[e["arch"] == "deep"].sort_values("median").iloc[0]
        deep_p = p[(p["arch"] == "deep") & (p["width"] == deep["width"]) & (p["n_hidden"] == deep["n_hidden"])].iloc[0]
        shallow = e[(e["arch"] == "shallow") & (e["n_params"] <= deep["n_params"] * 1.1)]
        shallow_txt = (f"one hidden layer with as many parameters {shallow['median'].min():.3f}"
                       if not shallow.empty else "no matched one-hidden-layer net")
        widest = e[e["arch"] == "shallow"].sort_values("width").iloc[-1]
        lines.append(
            f"k = {k}: deep {int(deep['n_hidden'])}x{int(deep['width'])} ({int(deep['n_params'])} "
            f"parameters) L2 error {deep['median']:.3f} with {deep_p['median']:.0f} pieces "
            f"(t^k has {2 ** k}); {shallow_txt}; widest one hidden layer ({int(widest['width'])} "
            f"units, {int(widest['n_params'])} parameters) {widest['median']:.3f}")
    deep_best = best[best["arch"] == "deep"]
    found = deep_best[deep_best["err_l2"] < 0.01]
    failed_k = sorted(int(k) for k in err[err["arch"] == "deep"].groupby("k")["median"].min().loc[lambda m: m >= 0.01].index)
    deep_wins = sum(
        err[(err["k"] == k) & (err["arch"] == "deep")]["median"].min()
        < err[(err["k"] == k) & (err["arch"] == "shallow")
              & (err["n_params"] <= 1.1 * err[(err["k"] == k) & (err["arch"] == "deep")]["n_params"].max())]["median"].min()
        for k in err["k"].unique())
    if failed_k:
        realised = pieces[(pieces["arch"] == "deep") & pieces["k"].isin(failed_k)].groupby("k")["median"].max()
        ratio = realised.values / 2.0 ** realised.index.values
        why = ("so the failure is not a shortage of pieces but where they sit: gradient descent does "
               "not find the composition" if ratio.min() >= 1 else
               "fewer than t^k has in some cases, and misplaced in all: gradient descent does not find "
               "the composition")
        failure = (
            f" For k = {', '.join(map(str, failed_k))} the median deep run missed t^k (L2 error >= 0.01 "
            f"for every deep architecture), although a width-2 network represents it: these networks "
            f"realise {', '.join(f'{v:.0f}' for v in realised.values)} pieces against 2^k = "
            f"{', '.join(str(2 ** k) for k in failed_k)} ({ratio.min():.1f} to {ratio.max():.1f} times), {why}.")
    else:
        failure = " Every k was fit by some deep network (median L2 error < 0.01)."
    over = (b["n_pieces"] > b["pieces_bound"]).sum()
    return (
        f"**(b) Trained on t^k** (Adam, best of {n_lrs} learning rates by training loss, median over "
        f"{n_seeds} seeds; L2 errors exact, 1/sqrt(12) = {CONSTANT_FIT:.3f} means the constant fit). "
        f"Prediction: a deep network of O(k) parameters can represent t^k exactly, a shallow one needs "
        f"2^k units. Measured: " + "; ".join(lines) + ". "
        f"Deep networks reached L2 error < 0.01 in {len(found)} of {len(deep_best)} best-rate runs "
        f"(k = {', '.join(str(int(v)) for v in sorted(found['k'].unique())) or 'none'}), and beat the "
        f"one-hidden-layer networks of at most their size in {deep_wins} of {err['k'].nunique()} k."
        + failure + f" No trained network exceeds its (2m)^L bound ({over} of {len(b)}), as the theorem says."
    )


def _describe_classification(df: pd.DataFrame) -> str:
    c = df[df["part"] == "c"]
    err = _best(df, "c", ["k", "arch", "n_hidden", "width"], "class_err")
    lines = []
    for k in sorted(int(v) for v in err["k"].unique()):
        e = err[err["k"] == k]
        bound_width = int(c[c["k"] == k]["telgarsky_width"].iloc[0])
        constructed = e[e["arch"] == "constructed"]["median"].iloc[0]
        deep = e[e["arch"] == "deep"].iloc[0]
        shallow = e[e["arch"] == "shallow"].sort_values("width")
        sh = ", ".join(f"{int(r.width)} units {r.median:.3f}" for r in shallow.itertuples())
        guaranteed = (f"widths <= {bound_width} are guaranteed >= 1/6" if bound_width >= 1
                      else "no width is covered by the theorem at this k")
        lines.append(f"k = {k} (n = {2 ** k}): sawtooth {constructed:.3f}; trained deep "
                     f"{int(deep['n_hidden'])}x{int(deep['width'])} {deep['median']:.3f}; one hidden "
                     f"layer {sh} ({guaranteed})")
    trained = c[c["arch"] != "constructed"]
    below_floor = (trained["class_err"] < trained["err_floor_pieces"] - 1e-12).sum()
    covered = trained[(trained["arch"] == "shallow") & (trained["width"] <= trained["telgarsky_width"])]
    fitted = trained[trained["class_err"] == 0]
    return (
        f"**(c) Alternating points** (Telgarsky 2015, Thm 1.1: the 2^k points i/2^k with labels i mod 2 are "
        f"fit with zero error by the sawtooth, while l layers of m <= 2^((k-3)/l-1) units err on >= 1/6). "
        f"Median classification error at the best rate: " + "; ".join(lines) + ". "
        f"The networks the theorem covers erred on >= 1/6 in {(covered['class_err'] >= 1 / 6).sum()} of "
        f"{len(covered)} runs, and every trained network's error is at least the floor (n - t - 1)/(2n) "
        f"its own piece count t implies ({below_floor} violations in {len(trained)} runs). Training "
        f"fitted the labels exactly in {len(fitted)} of {len(trained)} runs: the deep solution exists "
        f"(the sawtooth) but gradient descent on the squared loss does not find it."
    )


def _describe_radial(df: pd.DataFrame) -> str:
    err = _best(df, "d", ["d", "arch", "budget_width"], "test_rel_mse")
    lines, wins, total = [], 0, 0
    for d in sorted(int(v) for v in err["d"].unique()):
        e = err[err["d"] == d]
        top = e[e["budget_width"] == e["budget_width"].max()]
        two = top[top["arch"] == "2-layer"].iloc[0]
        three = top[top["arch"] == "3-layer"].iloc[0]
        lines.append(f"d = {d}: 2-layer {two['median']:.3f} vs 3-layer {three['median']:.3f} "
                     f"({int(three['n_params'])} parameters)")
        for w in e["budget_width"].unique():
            pair = e[e["budget_width"] == w].set_index("arch")["median"]
            wins += int(pair["3-layer"] < pair["2-layer"])
            total += 1
    return (
        f"**(d) Radial target** (Eldan & Shamir 2016; Safran & Shamir 2017: some radial functions, such as "
        f"the ball's indicator, need width exponential in d (or in 1/eps) with one hidden layer but only "
        f"polynomial width with two, which can form |x|^2 as a sum of d one-dimensional functions). "
        f"Prediction: at equal parameter counts three layers beat two, increasingly with d. Measured "
        f"test MSE / Var(y), largest size: " + "; ".join(lines) + f". Three layers were better in "
        f"{wins} of {total} (d, size) pairs."
    )
