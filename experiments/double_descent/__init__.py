"""Does it generalize? Double descent (Belkin et al. 2019), random and corrupted labels (Zhang et al. 2017).

    approx run double_descent                  # default preset -> results/double_descent.{csv,png,pdf,json}
    approx run double_descent --preset smoke   # seconds on CPU; what the tests run

The notes: "heavily overparametrized ... then GD -> OPT. (But does it generalize?!)" Four answers:

(a) Random-features regression (Rahimi & Recht 2007): a frozen random ReLU layer of N units
    (approx.linear.random_features, kinks through the data cube) and the output layer solved by
    minimum-norm least squares. The test error against N/n rises to a peak at the interpolation
    threshold N = n, where the square feature matrix is nearly singular and the interpolant's
    norm explodes, then falls again as N grows (Belkin, Hsu, Ma & Mandal 2019). A small ridge
    removes the peak (the "with and without a small ridge" curves).
(b) Fully trained one-hidden-layer ReLU networks, by full-batch GD from the standard
    initialisation and from a small one (the same networks scaled by ``small_scale``), test error
    against p/n.
(c) Random labels: the same networks trained on +-1 labels drawn at random reach zero training
    error once p is large enough (Zhang, Bengio, Hardt, Recht & Vinyals 2017); their Theorem 1
    network (approx.constructions.memorizer, 2n + d weights) fits the same labels exactly. Their
    test error on fresh random labels is at chance by construction: a check, not a finding.
(d) Label corruption (Zhang et al. 2017, Fig. 1): ``corruption_n`` points on the unit sphere in R^d
    labelled sign(x_1), a fraction p of the labels replaced by coin flips (``corrupt``; nested
    sets). Du et al.'s network (approx.ntk.two_layer_relu, width ``corruption_width``, first layer
    trained by GD as in approx.lazy) runs until it classifies every training point correctly: the
    steps it takes, its test error on clean labels, and Arora, Du, Hu, Li & Wang's (2019)
    complexity sqrt(2 y^T (H^inf)^-1 y / n) (approx.generalization) per p, with the Spearman
    rank correlation of complexity and test error (analysis.complexity_spearman).

Data: n points uniform on [0, 1]^d, y = f(x) + noise with f = approx.targets "gaussian_nd"; the
test error is the mean squared error against the noise-free f on ``n_test`` fresh points (the
excess risk; the noise variance is ``noise``^2). Networks see x rescaled to [-1, 1]^d. float64.

The points are computed here; the Config is in config.py, what figure and text share in
analysis.py, the figure in figure.py and the text in text.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from approx import lazy, linear, ntk, targets
from approx.constructions import memorizer
from approx.constructions.memorize import memorizer_weight_count
from approx.device import resolve_device, threads
from approx.generalization import arora_complexity
from approx.network import Network
from approx.train import fit

from .analysis import complexity_spearman, corruption_summary, peak
from .config import PRESETS, Config
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "plot", "describe", "peak", "corrupt",
           "corruption_summary", "complexity_spearman"]

DTYPE = torch.float64
INITS = ("standard", "small")


def points(cfg: Config) -> list[dict]:
    out = [{"part": "random_features", "ridge": r} for r in cfg.ridges]
    out += [{"part": "trained", "init": i, "width": w} for i in INITS for w in cfg.widths]
    out += [{"part": "random_labels", "width": w} for w in cfg.random_widths]
    out += [{"part": "memorizer"}]
    return out + [{"part": "corruption", "corruption": c} for c in cfg.corruptions]


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    with threads(cfg.threads):
        part = point["part"]
        if part == "random_features":
            return _random_features(cfg, point["ridge"], device)
        if part == "trained":
            return _trained(cfg, point["init"], point["width"], device)
        if part == "random_labels":
            return _random_labels(cfg, point["width"], device)
        if part == "corruption":
            return _corruption(cfg, point["corruption"], device)
        return _memorizer(cfg, device)


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)


def _data(cfg: Config, device):
    """(x, y, x_test, f(x_test)) on [0, 1]^d, y noisy, the test targets noise-free."""
    f = targets.get("gaussian_nd", d=cfg.d)
    x, y = targets.sample(f, cfg.n, noise=cfg.noise, seed=cfg.seed, device=device)
    x_test, y_test = targets.sample(f, cfg.n_test, noise=0.0, seed=cfg.seed + 1, device=device)
    return x, y, x_test, y_test


def _random_labels_data(cfg: Config, device):
    """The training inputs with +-1 labels drawn at random, and fresh test points and labels."""
    x, _, x_test, _ = _data(cfg, device)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    signs = lambda k: (torch.randint(0, 2, (k, 1), generator=gen).to(DTYPE) * 2 - 1).to(device)  # noqa: E731
    return 2 * x - 1, signs(cfg.n), 2 * x_test - 1, signs(cfg.n_test)


# ---------------------------------------------------------------------------- (a) random features
def _random_features(cfg: Config, ridge: float, device) -> pd.DataFrame:
    x, y, x_test, y_test = _data(cfg, device)
    rows = []
    for n_features in cfg.features:
        for s in range(cfg.rf_seeds):
            net = linear.random_features(cfg.d, n_features, seed=cfg.seed + 10_000 * s + n_features,
                                         dtype=DTYPE, device=device)
            net = linear.fit_output_layer(net, x, y, ridge=ridge)
            rows.append((n_features, s, _mse(net, x, y), _mse(net, x_test, y_test),
                         net.layers[-1].weight.norm().item()))
    df = pd.DataFrame(rows, columns=["n_features", "member", "train_error", "test_error", "output_norm"])
    df.insert(0, "part", "random_features")
    return df.assign(ridge=ridge, n_over=df.n_features / cfg.n, n=cfg.n)


def _mse(net: Network, x, y) -> float:
    return (net(x) - y).square().mean().item()


# ---------------------------------------------------------------------------- (b) trained networks
def _gd_rate(net: Network, x) -> torch.Tensor:
    """eta = n / (2 lambda_max(Theta_0)) per member: 1/lambda_max of the linearised Hessian."""
    return x.shape[0] / (2 * torch.linalg.eigvalsh(ntk.empirical_ntk(net, x))[:, -1])


def _train(cfg: Config, width: int, scale: float, x, y, device):
    """An ensemble of ``seeds`` [d, width, 1] ReLU networks (standard init times ``scale``) after GD.

    The step is that of the standard-scale network, so the small start is the only difference.
    """
    sizes = [cfg.d, width, 1]
    seed = cfg.seed + 100 * width
    lr = _gd_rate(Network.random(sizes, "relu", seed=seed, ensemble=cfg.seeds, device=device), x)
    net = Network.random(sizes, "relu", seed=seed, ensemble=cfg.seeds, device=device, init_scale=scale)
    trained, hist = fit(net, (x, y), lr=lr, steps=cfg.steps, max_loss=1e6, log_every=cfg.steps)
    last = hist.groupby("member").last()
    return trained, last, net.n_params


def _trained(cfg: Config, init: str, width: int, device) -> pd.DataFrame:
    x, y, x_test, y_test = _data(cfg, device)
    x, x_test = 2 * x - 1, 2 * x_test - 1
    scale = 1.0 if init == "standard" else cfg.small_scale
    trained, last, n_params = _train(cfg, width, scale, x, y, device)
    test = (trained(x_test) - y_test).square().mean(dim=(1, 2))  # (E,)
    return pd.DataFrame({
        "part": "trained", "init": init, "width": width, "member": range(cfg.seeds), "n_params": n_params,
        "p_over_n": n_params / cfg.n, "train_error": last.loss.to_numpy(), "test_error": test.cpu().numpy(),
        "status": last.status.to_numpy(), "n": cfg.n, "steps": cfg.steps,
    })


# ---------------------------------------------------------------------------- (c) random labels
def _random_labels(cfg: Config, width: int, device) -> pd.DataFrame:
    x, y, x_test, y_test = _random_labels_data(cfg, device)
    trained, last, n_params = _train(cfg, width, 1.0, x, y, device)
    wrong = lambda xs, ys: (torch.sign(trained(xs)) != ys).to(DTYPE).mean(dim=(1, 2)).cpu().numpy()  # noqa: E731
    return pd.DataFrame({
        "part": "random_labels", "width": width, "member": range(cfg.seeds), "n_params": n_params,
        "p_over_n": n_params / cfg.n, "train_error": last.loss.to_numpy(),
        "train_misclassified": wrong(x, y), "test_misclassified": wrong(x_test, y_test),
        "status": last.status.to_numpy(), "n": cfg.n, "steps": cfg.steps, "n_test": cfg.n_test,
    })


def _memorizer(cfg: Config, device) -> pd.DataFrame:
    x, y, x_test, y_test = _random_labels_data(cfg, device)
    net = memorizer(x, y[:, 0], seed=cfg.seed)
    wrong = lambda xs, ys: (torch.sign(net(xs)) != ys).to(DTYPE).mean().item()  # noqa: E731
    n_weights = memorizer_weight_count(cfg.n, cfg.d)
    return pd.DataFrame([{
        "part": "memorizer", "member": 0, "n_params": n_weights, "p_over_n": n_weights / cfg.n,
        "train_error": _mse(net, x, y), "train_max_error": (net(x) - y).abs().max().item(),
        "train_misclassified": wrong(x, y), "test_misclassified": wrong(x_test, y_test), "n": cfg.n,
    }])


# ---------------------------------------------------------------------------- (d) label corruption
CHECK_EVERY = 10  # GD steps between checks of the training error: steps_to_fit's resolution


def _half_space(x: torch.Tensor) -> torch.Tensor:
    """The clean labels sign(x_1), as a column (n, 1) of +-1 (x_1 = 0 has probability 0; it gets +1)."""
    return torch.where(x[:, :1] >= 0, 1.0, -1.0).to(x.dtype)


def corrupt(clean: torch.Tensor, fraction: float, order: torch.Tensor, coins: torch.Tensor) -> torch.Tensor:
    """Zhang et al.'s corrupted labels: the first round(fraction * n) points of ``order`` get the
    coin flips ``coins`` (+-1) in place of their clean labels. A coin matches the clean label half
    the time, so about fraction / 2 of the labels end up wrong. With one order and one set of coins
    for every fraction the corrupted sets are nested: fraction 0.5 corrupts what 0.25 does and more.

    clean: (n, 1); order: a permutation of range(n); coins: (n,). Returns (n, 1).
    """
    k = round(fraction * clean.shape[0])
    labels = clean.clone()
    chosen = order[:k].to(clean.device)
    labels[chosen, 0] = coins.to(device=clean.device, dtype=clean.dtype)[chosen]
    return labels


def _corruption_data(cfg: Config, device):
    """(x, clean labels, x_test, clean test labels, order, coins): unit-sphere inputs in R^d."""
    x = ntk.unit_sphere(cfg.corruption_n, cfg.d, seed=cfg.seed + 3, device=device)
    x_test = ntk.unit_sphere(cfg.n_test, cfg.d, seed=cfg.seed + 4, device=device)
    gen = torch.Generator().manual_seed(cfg.seed + 5)
    order = torch.randperm(cfg.corruption_n, generator=gen)
    coins = torch.randint(0, 2, (cfg.corruption_n,), generator=gen).to(DTYPE) * 2 - 1
    return x, _half_space(x), x_test, _half_space(x_test), order, coins


def _misclassified(net: Network, x, y) -> np.ndarray:
    """Fraction of points with sign(f(x)) != y, per member: (E,)."""
    return (torch.sign(net(x)) != y).to(DTYPE).mean(dim=(1, 2)).cpu().numpy()


def _corruption(cfg: Config, fraction: float, device) -> pd.DataFrame:
    """Du et al.'s network (approx.ntk.two_layer_relu, first layer trained by GD as approx.lazy) on
    labels with ``fraction`` corrupted, until every member classifies the training set without an
    error (checked every CHECK_EVERY steps) or the budget ends. The same initial networks for every
    fraction: only the labels differ. eta = n / (2 lambda_max(Theta_0)), the largest over members."""
    x, clean, x_test, clean_test, order, coins = _corruption_data(cfg, device)
    y = corrupt(clean, fraction, order, coins)  # (n, 1)
    net = ntk.two_layer_relu(cfg.corruption_width, cfg.d, seed=cfg.seed + 7, ensemble=cfg.seeds, device=device)
    theta = ntk.empirical_ntk(net, x, trainable=ntk.DU_TRAINABLE)  # (E, n, n)
    lr = cfg.corruption_n / (2 * torch.linalg.eigvalsh(theta)[:, -1].max().item())
    steps_to_fit = np.where(_misclassified(net, x, y) == 0, 0.0, np.nan)  # (E,)
    step, diverged = 0, set()
    while step < cfg.corruption_steps and np.isnan(steps_to_fit).any():
        chunk = min(CHECK_EVERY, cfg.corruption_steps - step)
        net, hist = lazy.train_first_layer(net, x, y, lr=lr, steps=chunk)
        diverged |= set(hist.member[hist.status == "diverged"])
        step += chunk
        steps_to_fit[np.isnan(steps_to_fit) & (_misclassified(net, x, y) == 0)] = step
    train_error = (net(x) - y).square().mean(dim=(1, 2)).cpu().numpy()
    return pd.DataFrame({
        "part": "corruption", "corruption": fraction, "member": range(cfg.seeds), "n": cfg.corruption_n,
        "width": cfg.corruption_width, "n_params": cfg.corruption_width * cfg.d,
        "n_corrupted": round(fraction * cfg.corruption_n), "n_wrong_labels": int((y != clean).sum()),
        "complexity": arora_complexity(x, y), "lr": lr, "train_error": train_error,
        "train_misclassified": _misclassified(net, x, y), "test_misclassified": _misclassified(net, x_test, clean_test),
        "steps_to_fit": steps_to_fit, "steps": step, "n_test": cfg.n_test,
        "status": ["diverged" if e in diverged else "completed" for e in range(cfg.seeds)],
    })
