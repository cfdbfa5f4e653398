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

All computation in float64 (gaps of 1e-8 and below need it), on cfg.device. The points are
computed here; the Config is in config.py, the slopes in analysis.py, the figure in figure.py
and the text in text.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from approx import lazy, linear, ntk, targets
from approx.device import resolve_device, threads
from approx.network import Network
from approx.train import fit

from .analysis import slopes
from .config import PRESETS, Config
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "plot", "describe", "slopes"]

DTYPE = torch.float64
LABELS = ("target", "random")


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
