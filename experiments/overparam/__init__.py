"""GD -> OPT: without a hidden layer at the linear rate, and with hidden layers once overparameterized.

    approx run overparam                  # default preset -> results/overparam.{csv,png,pdf,json}
    approx run overparam --preset smoke   # seconds on CPU; what the tests run

The notes: "If no hidden layer then GD -> OPT. If hidden layers, heavily overparametrized, more
parameters than data, then GD -> OPT." Three studies, each a set of sweep points:

1. No hidden layer (a Network [d, 1], identity output), full-batch GD on both engines.
   Least squares: the gap ||theta_t - theta*|| to the closed-form solution against the
   theorem's (1 - eta lambda_min)^t, eta = 1/lambda_max of the Hessian (2/n) X^T X
   (approx.linear). Separable logistic regression: the loss -> 0 and the angle to the hard-margin
   direction -> 0 like 1/log t (Soudry et al. 2018). Non-separable: the loss gap to the Newton optimum.
2. Interpolation threshold: n points on the unit sphere with a catalogue target plus noise
   (approx.targets "ridge_nd") or random +-1 labels; one- and two-hidden-layer ReLU networks
   (He init) with p parameters from p < n to p >> n, GD with eta = n / (2 lambda_max(Theta_0))
   per member (1/lambda_max of the linearised Hessian). Final training loss against p/n, and
   the steps each run needs to reach the target loss (numerically zero).
3. Lazy training (Du, Zhai, Poczos & Singh 2019): f(x) = (1/sqrt(m)) sum_r a_r relu(w_r.x),
   a fixed, first layer trained (approx.lazy). The empirical NTK at init against H^inf
   (approx.ntk; error ~ m^-1/2), the loss against (1 - eta_Du lambda_0/2)^t, and the largest
   weight movement and the fraction of flipped activation patterns against m (slopes ~ -1/2).

All computation in float64 (gaps of 1e-8 and below need it), on cfg.device.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from approx import checks, lazy, linear, ntk, targets
from approx.device import DEVICES, resolve_device, threads
from approx.network import Network
from approx.train import ENGINES, fit

from .._limits import MAX_COUNT, MAX_DIM, MAX_GRAM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "plot", "describe"]

DTYPE = torch.float64
LABELS = ("target", "random")


@dataclass(frozen=True)
class Config:
    # 1. no hidden layer
    n_linear: int = 100  # data points for the linear and logistic problems
    d_linear: int = 5  # input dimension there
    steps_lstsq: int = 400  # GD steps on least squares
    steps_logistic: int = 5000  # GD steps on logistic regression (logged on a log grid)
    engines: tuple[str, ...] = ("backprop", "autograd")  # approx.train.ENGINES
    # 2. interpolation threshold
    n_interp: int = 30  # training points on the unit sphere
    d_interp: int = 5  # their dimension
    noise: float = 0.1  # label noise of the target labels (std)
    widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # one hidden layer
    deep_widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)  # two hidden layers of this width
    seeds: int = 3  # networks per width and label kind (one ensemble of 2 * seeds per width)
    steps_interp: int = 4000  # GD step budget per run
    target_loss: float = 1e-8  # "numerically zero" training loss (labels are O(1))
    # 3. lazy training
    n_ntk: int = 20  # points on the unit sphere
    d_ntk: int = 10  # their dimension
    ntk_widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)  # m
    ntk_seeds: int = 5  # networks per width (one ensemble)
    steps_ntk: int = 300  # GD steps on the first layer
    seed: int = 0
    device: str = "auto"
    threads: int = 1  # CPU intra-op threads (the steps are overhead-bound; more threads only contend)

    def __post_init__(self):
        checks.integer("n_linear", self.n_linear, low=1, high=MAX_POINTS)
        # n x n kernels and their eigenvalues; one point is fitted exactly at every width (a zero
        # loss, which the log-scaled figure cannot show)
        checks.integer("n_interp", self.n_interp, low=2, high=MAX_GRAM)
        checks.integer("n_ntk", self.n_ntk, low=1, high=MAX_GRAM)
        for name in ("d_linear", "d_interp", "d_ntk"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_DIM)
        for name in ("steps_lstsq", "steps_logistic", "steps_interp", "steps_ntk"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_STEPS)
        checks.choices("engines", self.engines, ENGINES)
        checks.number("noise", self.noise, low=0)
        checks.integers("widths", self.widths, low=1, high=MAX_WIDTH)
        checks.integers("deep_widths", self.deep_widths, low=1, high=MAX_WIDTH, min_len=0)
        checks.integers("ntk_widths", self.ntk_widths, low=1, high=MAX_WIDTH, min_len=3)  # a slope
        for name in ("seeds", "ntk_seeds"):
            checks.integer(name, getattr(self, name), low=1, high=MAX_COUNT)
        checks.number("target_loss", self.target_loss, low=0, low_open=True)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        # the largest tensors: the empirical NTK's Jacobians, (members, n, parameters)
        w, deep = max(self.widths), max(self.deep_widths, default=0)
        checks.product_at_most("the interpolation Jacobian", {
            "2 x seeds": 2 * self.seeds, "n_interp": self.n_interp,
            "parameters of the largest network": max((self.d_interp + 2) * w, (self.d_interp + 2 + deep) * deep)},
            MAX_NUMBERS)
        checks.product_at_most("the lazy-training Jacobian", {
            "ntk_seeds": self.ntk_seeds, "n_ntk": self.n_ntk,
            "(d_ntk + 1) max(ntk_widths)": (self.d_ntk + 1) * max(self.ntk_widths)}, MAX_NUMBERS)
        checks.product_at_most("the logistic data", {"n_linear": self.n_linear, "d_linear": self.d_linear},
                               MAX_NUMBERS)


PRESETS = {
    "smoke": {"n_linear": 40, "steps_lstsq": 150, "steps_logistic": 300, "n_interp": 12,
              "widths": (1, 4, 32), "deep_widths": (2, 8), "seeds": 2, "steps_interp": 300,
              "n_ntk": 8, "d_ntk": 4, "ntk_widths": (64, 256, 1024), "ntk_seeds": 3, "steps_ntk": 60},
    "default": {},
    "full": {"widths": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, 512), "seeds": 8,
             "steps_interp": 20000, "ntk_widths": (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384),
             "ntk_seeds": 10, "steps_logistic": 100000},
}


def points(cfg: Config) -> list[dict]:
    linear_parts = [{"part": p} for p in ("lstsq", "logistic_separable", "logistic_nonseparable")]
    interp = [{"part": "interpolation", "depth": 1, "width": w} for w in cfg.widths]
    interp += [{"part": "interpolation", "depth": 2, "width": w} for w in cfg.deep_widths]
    return linear_parts + interp + [{"part": "ntk", "m": m} for m in cfg.ntk_widths]


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    with threads(cfg.threads):
        if point["part"] == "interpolation":
            return _interpolation(cfg, point["depth"], point["width"], device)
        if point["part"] == "ntk":
            return _lazy(cfg, point["m"], device)
        return _no_hidden_layer(cfg, point["part"], device)


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


# ---------------------------------------------------------------------------- 1. no hidden layer
def _theta(net: Network) -> torch.Tensor:
    return torch.cat([net.layers[0].weight.reshape(-1), net.layers[0].bias.reshape(-1)])


def _linear_data(cfg: Config, device):
    """x (n, d) with feature scales 0.5..2; y = <w, x> + 0.3 + noise; separable and noisy 0/1 labels."""
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(cfg.n_linear, cfg.d_linear, generator=gen, dtype=DTYPE)
    x = x * torch.linspace(0.5, 2.0, cfg.d_linear, dtype=DTYPE)
    w = torch.randn(cfg.d_linear, generator=gen, dtype=DTYPE)
    y = x @ w + 0.3 + 0.5 * torch.randn(cfg.n_linear, generator=gen, dtype=DTYPE)
    # Bernoulli labels with P(y = 1) = sigmoid(<w, x> / |w|): many on the wrong side, not separable
    noisy = torch.rand(cfg.n_linear, generator=gen, dtype=DTYPE) < torch.sigmoid(x @ w / w.norm())
    return x.to(device), y.to(device), (x @ w > 0).to(DTYPE).to(device), noisy.to(DTYPE).to(device)


def _no_hidden_layer(cfg: Config, part: str, device) -> pd.DataFrame:
    """One problem, trained by GD on each engine from the same start; the reference is computed once."""
    x, y, separable, noisy = _linear_data(cfg, device)
    X = linear.design_matrix(x)
    extra: dict[str, float] = {}
    if part == "lstsq":
        theta_star = linear.least_squares(x, y)
        rate = linear.gd_rate(x)
        data, loss, lr, steps = (x, y[:, None]), "mse", rate.lr, cfg.steps_lstsq
        log = {"log_every": 1}
        metric = {"gap": lambda n: ((_theta(n) - theta_star).norm() / theta_star.norm()).item()}
        extra = {"rate": rate.rate, "condition_number": rate.condition_number}
    else:
        labels = separable if part == "logistic_separable" else noisy
        smoothness = torch.linalg.eigvalsh(X.T @ X).max().item() / (4 * x.shape[0])  # of the logistic L
        data, loss, lr, steps = (x, labels[:, None]), "logistic", 1 / smoothness, cfg.steps_logistic
        log = {"log_steps": sorted({int(s) for s in np.geomspace(1, cfg.steps_logistic, 60)})}
        if part == "logistic_separable":
            direction, extra["margin"] = linear.max_margin(x, 2 * labels - 1)
            metric = {"angle": lambda n: linear.angle(_theta(n), direction)}
        else:
            opt = linear.logistic_optimum(x, labels)
            z = X @ opt
            extra["best_loss"] = (torch.nn.functional.softplus(z) - labels * z).mean().item()
            metric = {"gap": lambda n: ((_theta(n) - opt).norm() / opt.norm()).item()}
    frames = []
    for engine in cfg.engines:
        net = Network.random([cfg.d_linear, 1], "identity", seed=cfg.seed + 1, device=device)
        _, hist = fit(net, data, engine=engine, loss=loss, lr=lr, steps=steps, metrics=metric, **log)
        # wall-clock columns would make the CSV differ between identical runs
        frames.append(hist.drop(columns="time_s").assign(engine=engine, **extra))
    out = pd.concat(frames, ignore_index=True)
    if part == "lstsq":
        out["predicted"] = rate.bound(out.step) * out.gap.iloc[0]
    if part == "logistic_nonseparable":
        out["loss_gap"] = out.loss - out.best_loss
    out.insert(0, "part", part)
    return out


# ---------------------------------------------------------------------------- 2. interpolation
def _interpolation_data(cfg: Config, device):
    """x on the unit sphere (n, d); labels (2 * seeds, n, 1): target + noise, then random +-1."""
    x = ntk.unit_sphere(cfg.n_interp, cfg.d_interp, seed=cfg.seed, device=device)
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    target = targets.get("ridge_nd", d=cfg.d_interp)
    y_target = target(x.cpu()).reshape(-1, 1) + cfg.noise * torch.randn(cfg.n_interp, 1, generator=gen, dtype=DTYPE)
    y_random = torch.randint(0, 2, (cfg.n_interp, 1), generator=gen).to(DTYPE) * 2 - 1
    y = torch.stack([y_target] * cfg.seeds + [y_random] * cfg.seeds).to(device)
    return x, y


def _interpolation(cfg: Config, depth: int, width: int, device) -> pd.DataFrame:
    x, y = _interpolation_data(cfg, device)
    n, n_members = cfg.n_interp, 2 * cfg.seeds
    net = Network.random([cfg.d_interp] + [width] * depth + [1], "relu", seed=cfg.seed + 100 * width,
                         ensemble=n_members, init="he", device=device)
    eig = torch.linalg.eigvalsh(ntk.empirical_ntk(net, x))  # (E, n)
    lr = n / (2 * eig[:, -1])  # 1/lambda_max of the linearised Hessian (2/n) Theta_0
    trained, hist = fit(net, (x, y), lr=lr, steps=cfg.steps_interp, target_loss=cfg.target_loss,
                        max_loss=1e6, log_every=cfg.steps_interp)
    last = hist.groupby("member").last()
    return pd.DataFrame({
        "part": "interpolation", "depth": depth, "width": width, "member": range(n_members),
        "labels": [LABELS[e // cfg.seeds] for e in range(n_members)],
        "n_params": net.n_params, "p_over_n": net.n_params / n, "final_loss": last.loss.to_numpy(),
        "status": last.status.to_numpy(), "target_loss": cfg.target_loss, "steps_budget": cfg.steps_interp,
        "steps_to_target": np.where(last.status == "converged", last.step, np.nan),
        "lr": lr.cpu().numpy(),
        # rank of Theta_0 (eigenvalues above n eps lambda_max): below n the linearised model cannot interpolate
        "ntk_rank": (eig > n * torch.finfo(DTYPE).eps * eig[:, -1:]).sum(1).cpu().numpy(),
        "ntk_lambda_min": eig[:, 0].cpu().numpy(), "ntk_lambda_max": eig[:, -1].cpu().numpy(),
    })


# ---------------------------------------------------------------------------- 3. lazy training
def _lazy(cfg: Config, m: int, device) -> pd.DataFrame:
    x = ntk.unit_sphere(cfg.n_ntk, cfg.d_ntk, seed=cfg.seed, device=device)
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    y = (torch.randint(0, 2, (cfg.n_ntk, 1), generator=gen).to(DTYPE) * 2 - 1).to(device)
    h = ntk.h_infinity(x)
    eig_h = torch.linalg.eigvalsh(h)
    lambda_0, lambda_max = eig_h[0].item(), eig_h[-1].item()
    lr = cfg.n_ntk / (2 * lambda_max)  # eta_Du = 2 lr / n = 1 / lambda_max(H^inf)
    net = ntk.two_layer_relu(m, cfg.d_ntk, seed=cfg.seed + 1000 * m, ensemble=cfg.ntk_seeds, device=device)
    theta = ntk.empirical_ntk(net, x, trainable=ntk.DU_TRAINABLE)  # (E, n, n), hand-written engine
    check = ntk.empirical_ntk(net.member(0), x, engine="torch.func", trainable=ntk.DU_TRAINABLE)
    engine_diff = ((theta[0] - check).abs().max() / check.abs().max()).item()
    log_steps = range(0, cfg.steps_ntk + 1, max(1, cfg.steps_ntk // 30))
    trained, hist = lazy.train_first_layer(net, x, y, lr=lr, steps=cfg.steps_ntk, log_steps=log_steps)
    rho = lazy.du_rate_bound(lr, lambda_0, cfg.n_ntk)
    start = hist[hist.step == 0].set_index("member").loss
    curve = hist.assign(part="ntk_curve", m=m, bound=lambda f: start[f.member].to_numpy() * rho ** f.step)
    last = hist.groupby("member").last()
    summary = pd.DataFrame({
        "part": "ntk", "m": m, "member": range(cfg.ntk_seeds),
        "kernel_error": ((theta - h).norm(dim=(1, 2)) / h.norm()).cpu().numpy(),
        "lambda_min_theta": torch.linalg.eigvalsh(theta)[:, 0].cpu().numpy(),
        "lambda_0": lambda_0, "engine_diff": engine_diff,
        "movement": lazy.weight_movement(net, trained).cpu().numpy(),
        "flips": lazy.activation_flips(net, trained, x).cpu().numpy(),
        "final_loss": last.loss.to_numpy(), "status": last.status.to_numpy(),
        "bound_holds": [bool((g.loss <= g.bound * (1 + 1e-9)).all()) for _, g in curve.groupby("member")],
    })
    return pd.concat([summary, curve], ignore_index=True)


# ---------------------------------------------------------------------------- reading the results
def slopes(df: pd.DataFrame) -> dict:
    """log-log slopes against m of the kernel error, the weight movement and the flip fraction."""
    from approx.metrics import loglog_slope

    s = df[df.part == "ntk"]
    return {c: loglog_slope(s.m, s[c]) for c in ("kernel_error", "movement", "flips")}


def plot(df: pd.DataFrame, path: Path) -> None:
    from .figure import draw

    draw(df, path, slopes(df))


def describe(df: pd.DataFrame) -> str:
    from .figure import paragraph

    return paragraph(df, slopes(df))

