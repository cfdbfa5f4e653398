"""GD -> OPT: without a hidden layer at the linear rate, and with hidden layers once overparameterized.

    approx run overparam                  # default preset -> results/overparam.{csv,png,pdf,json}
    approx run overparam --preset smoke   # seconds on CPU; what the tests run

The notes: "If no hidden layer then GD -> OPT. If hidden layers, heavily overparametrized, more
parameters than data, then GD -> OPT." Three studies, each a set of sweep points:

1. No hidden layer (a Network [d, 1], identity output), full-batch GD on both engines.
   Least squares: the gap ||theta_t - theta*|| to the closed-form solution against the
   theorem's (1 - eta lambda_min)^t, eta = 1/lambda_max of the Hessian (2/n) X^T X
   (approx.linear). Separable logistic regression: the loss -> 0 and the angle to the hard-margin
   direction -> 0 like 1/log t (Soudry et al. 2018); the same problem for steps_soudry (1e6) steps in
   NumPy float64 (approx.implicit_bias), with their residual ||theta(t) - w_hat log t||, which their
   Theorem 3 proves bounded. Non-separable: the loss gap to the Newton optimum.
2. Interpolation threshold: n points on the unit sphere with a catalogue target plus noise
   (approx.targets "ridge_nd") or random +-1 labels; one- and two-hidden-layer ReLU networks
   (He init) with p parameters from p < n to p >> n, GD with eta = n / (2 lambda_max(Theta_0))
   per member (1/lambda_max of the linearised Hessian). Final training loss against p/n, and
   the steps each run needs to reach the target loss (numerically zero).
3. Lazy training (Du, Zhai, Poczos & Singh 2019): f(x) = (1/sqrt(m)) sum_r a_r relu(w_r.x),
   a fixed, first layer trained (approx.lazy). The empirical NTK at init against H^inf
   (approx.ntk; error ~ m^-1/2), the loss against (1 - eta_Du lambda_0/2)^t, and the largest
   weight movement (max and RMS over the units) and the fraction of flipped activation patterns against m
   (slopes ~ -1/2); beside every loss curve the linearized model's L(t) from Theta_0 (approx.linearized;
   Arora, Du, Hu, Li & Wang 2019), also at the end of every interpolation run. And one run inside both of
   Du et al.'s conditions, m = n^6 / (lambda_0^4 delta^3) and eta = lambda_0 / n^2 (du_n points).

All computation in float64 (gaps of 1e-8 and below need it), on cfg.device. The points are
computed here; the Config is in config.py, the slopes in analysis.py, the figure in figure.py
and the text in text.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from approx import implicit_bias, lazy, linear, linearized, ntk, targets
from approx.device import resolve_device, threads
from approx.network import Network
from approx.train import fit

from .._limits import MAX_NUMBERS

from .analysis import linearized_agreement, slopes, soudry_growth, widest_against_linearized
from .config import PRESETS, Config
from .figure import plot
from .text import describe

__all__ = ["Config", "PRESETS", "points", "run_point", "run", "plot", "describe", "slopes", "du_conditions",
           "soudry_growth", "linearized_agreement", "widest_against_linearized"]

DTYPE = torch.float64
LABELS = ("target", "random")


def points(cfg: Config) -> list[dict]:
    linear_parts = [{"part": p} for p in ("lstsq", "logistic_separable", "logistic_nonseparable")]
    interp = [{"part": "interpolation", "depth": 1, "width": w} for w in cfg.widths]
    interp += [{"part": "interpolation", "depth": 2, "width": w} for w in cfg.deep_widths]
    return (linear_parts + [{"part": "implicit_bias"}] + interp + [{"part": "ntk", "m": m} for m in cfg.ntk_widths]
            + [{"part": "du_inside"}])


def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    with threads(cfg.threads):
        if point["part"] == "interpolation":
            return _interpolation(cfg, point["depth"], point["width"], device)
        if point["part"] == "ntk":
            return _lazy(cfg, point["m"], device)
        if point["part"] == "du_inside":
            return _du_inside(cfg, device)
        if point["part"] == "implicit_bias":
            return _implicit_bias(cfg, device)
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


def _implicit_bias(cfg: Config, device) -> pd.DataFrame:
    """The separable problem for steps_soudry steps (NumPy float64, from the same start as the engines'
    runs): the angle to the max-margin direction and Soudry et al.'s residual ||theta(t) - w_hat log t||."""
    x, _, separable, _ = _linear_data(cfg, "cpu")
    X = linear.design_matrix(x).numpy()  # (n, d + 1)
    signs = (2 * separable - 1).numpy()
    direction, margin = linear.max_margin(x, 2 * separable - 1)
    w_hat = direction.numpy() / margin  # the SVM vector: margin 1 on the support vectors
    lr = 4 * cfg.n_linear / np.linalg.eigvalsh(X.T @ X).max()  # 1/beta of the mean loss, as for the engines
    theta0 = _theta(Network.random([cfg.d_linear, 1], "identity", seed=cfg.seed + 1)).numpy()
    record = {0, *(10 ** k for k in range(int(np.log10(cfg.steps_soudry)) + 1)), cfg.steps_soudry}
    record |= {int(t) for t in np.geomspace(1, cfg.steps_soudry, 200)}
    steps, thetas, losses = implicit_bias.logistic_gd(X, signs, theta0, lr=lr, record=record)
    margins = np.sort(signs[:, None] * X @ w_hat)  # 1 on the support vectors
    n_support = int(np.sum(margins < 1 + 1e-6))
    return pd.DataFrame({
        "part": "implicit_bias", "step": steps, "loss": losses,
        "angle": [linear.angle(torch.from_numpy(t), direction) for t in thetas],
        "residual": implicit_bias.residual(steps, thetas, w_hat),
        "theta_norm": np.linalg.norm(thetas, axis=1), "w_hat_norm": np.linalg.norm(w_hat), "margin": margin,
        "lr": lr, "lr_max": implicit_bias.max_lr(X), "n_support": n_support,
        # the smallest margin off the support vectors, in units of the SVM margin (Soudry et al.'s theta):
        # those points' share of the gradient dies like t^-theta
        "margin_ratio": margins[n_support] if n_support < len(margins) else np.nan,
    })


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
    kernel = ntk.empirical_ntk(net, x)  # Theta_0 (E, n, n)
    eig = torch.linalg.eigvalsh(kernel)  # (E, n)
    lr = n / (2 * eig[:, -1])  # 1/lambda_max of the linearised Hessian (2/n) Theta_0
    residual = (net(x) - y).squeeze(-1)  # r_0 (E, n)
    trained, hist = fit(net, (x, y), lr=lr, steps=cfg.steps_interp, target_loss=cfg.target_loss,
                        max_loss=1e6, log_every=cfg.steps_interp)
    last = hist.groupby("member").last()
    # the linearized model's loss at each run's last step (Arora et al. 2019): (E, 1 + steps_interp)
    curves = linearized.linearized_loss(kernel, residual, lr, range(cfg.steps_interp + 1)).cpu().numpy()
    return pd.DataFrame({
        "part": "interpolation", "depth": depth, "width": width, "member": range(n_members),
        "labels": [LABELS[e // cfg.seeds] for e in range(n_members)],
        "n_params": net.n_params, "p_over_n": net.n_params / n, "final_loss": last.loss.to_numpy(),
        "status": last.status.to_numpy(), "target_loss": cfg.target_loss, "steps_budget": cfg.steps_interp,
        "linearized_final_loss": curves[np.arange(n_members), last.step.to_numpy().astype(int)],
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
    residual = (net(x) - y).squeeze(-1)  # r_0 = u_0 - y (E, n)
    check = ntk.empirical_ntk(net.member(0), x, engine="torch.func", trainable=ntk.DU_TRAINABLE)
    engine_diff = ((theta[0] - check).abs().max() / check.abs().max()).item()
    log_steps = range(0, cfg.steps_ntk + 1, max(1, cfg.steps_ntk // 30))
    trained, hist = lazy.train_first_layer(net, x, y, lr=lr, steps=cfg.steps_ntk, log_steps=log_steps)
    rho = lazy.du_rate_bound(lr, lambda_0, cfg.n_ntk)
    start = hist[hist.step == 0].set_index("member").loss
    curve = hist.assign(part="ntk_curve", m=m, bound=lambda f: start[f.member].to_numpy() * rho ** f.step)
    # the linearized model's curve from Theta_0 (Arora et al. 2019): (E, logged steps)
    steps = sorted(curve.step.unique())
    predicted = linearized.linearized_loss(theta, residual, lr, steps).cpu().numpy()
    curve["linearized_loss"] = predicted[curve.member.to_numpy(), np.searchsorted(steps, curve.step)]
    last = hist.groupby("member").last()
    summary = pd.DataFrame({
        "part": "ntk", "m": m, "member": range(cfg.ntk_seeds),
        "kernel_error": ((theta - h).norm(dim=(1, 2)) / h.norm()).cpu().numpy(),
        "lambda_min_theta": torch.linalg.eigvalsh(theta)[:, 0].cpu().numpy(),
        "lambda_0": lambda_0, "engine_diff": engine_diff,
        # Du et al.'s conditions at delta = du_delta: these runs are far outside both
        "m_required": du_conditions(cfg.n_ntk, lambda_0, cfg.du_delta)[0], "eta": 2 * lr / cfg.n_ntk,
        "eta_allowed": du_conditions(cfg.n_ntk, lambda_0, cfg.du_delta)[1],
        "movement": lazy.weight_movement(net, trained).cpu().numpy(),
        "movement_rms": lazy.weight_movement_rms(net, trained).cpu().numpy(),
        "flips": lazy.activation_flips(net, trained, x).cpu().numpy(),
        "final_loss": last.loss.to_numpy(), "status": last.status.to_numpy(),
        "bound_holds": [bool((g.loss <= g.bound * (1 + 1e-9)).all()) for _, g in curve.groupby("member")],
    })
    return pd.concat([summary, curve], ignore_index=True)


def du_conditions(n: int, lambda_0: float, delta: float) -> tuple[float, float]:
    """Du et al.'s (2019, Theorem 4.1) width m = n^6 / (lambda_0^4 delta^3) and step eta = lambda_0 / n^2.

    The theorem states both up to constants (m = Omega(.), eta = O(.)); these are the expressions with
    the constants set to 1. eta is on their loss (1/2) ||u - y||^2: a step lr on our mse is eta = 2 lr / n.
    """
    return n ** 6 / (lambda_0 ** 4 * delta ** 3), lambda_0 / n ** 2


def _du_inside(cfg: Config, device) -> pd.DataFrame:
    """One run inside both of Du et al.'s conditions: du_n points in du_d dimensions (a large d brings
    lambda_0 near its maximum 1/2, which m needs as lambda_0^-4), m = ceil(n^6 / (lambda_0^4 delta^3)),
    eta = lambda_0 / n^2; GD on the first layer, its loss against (1 - eta lambda_0 / 2)^k L(0) and its
    largest weight movement against their R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)."""
    n, d = cfg.du_n, cfg.du_d
    x = ntk.unit_sphere(n, d, seed=cfg.seed, device=device)
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    y = (torch.randint(0, 2, (n,), generator=gen).to(DTYPE) * 2 - 1).to(device)
    lambda_0 = torch.linalg.eigvalsh(ntk.h_infinity(x))[0].item()
    m_required, eta_allowed = du_conditions(n, lambda_0, cfg.du_delta)
    m = int(np.ceil(m_required))
    if m * max(n, d) > MAX_NUMBERS:
        raise ValueError(f"du_n={n}, du_delta={cfg.du_delta} ask for m = {m} units ({m * d} first-layer weights); "
                         f"at most {MAX_NUMBERS} allowed: take a smaller du_n or a larger du_delta")
    net = ntk.two_layer_relu(m, d, seed=cfg.seed + 1, device=device)
    w0, a = net.layers[0].weight, net.layers[1].weight[0]  # (m, d), (m,)
    pre0 = x @ w0.T  # (n, m) pre-activations at init
    on = (pre0 > 0).to(DTYPE)
    gram = x @ x.T  # (n, n)
    h0 = gram * (on @ on.T) / m  # H(0) (n, n); their Lemma 3.1: lambda_min >= 3 lambda_0 / 4
    lr = eta_allowed * n / 2  # our mse step giving eta_Du = lambda_0 / n^2
    log_steps = set(range(0, cfg.du_steps + 1, max(1, cfg.du_steps // 30))) | {cfg.du_steps}
    # every gradient dL/dw_r = (2/n) m^-1/2 a_r sum_i (u_i - y_i) 1{w_r.x_i > 0} x_i lies in the span of
    # the n inputs, so w_r(t) = w_r(0) + sum_i beta_ri x_i exactly: GD on beta (m, n) costs m n per step
    # instead of m d (the same iterates, up to rounding)
    beta, rows = torch.zeros(m, n, dtype=DTYPE, device=device), []
    for t in range(cfg.du_steps + 1):
        pre = pre0 + gram @ beta.T  # (n, m)
        r = torch.relu(pre) @ a / np.sqrt(m) - y  # u - y (n,)
        if t == 0:
            r0 = r.norm().item()
        if t in log_steps:
            rows.append((t, r.square().mean().item()))
        if t < cfg.du_steps:
            beta -= (lr * 2 / (n * np.sqrt(m))) * a[:, None] * ((pre > 0).to(DTYPE) * r[:, None]).T
    moved = ((beta @ gram) * beta).sum(1).clamp(min=0).sqrt()  # ||w_r(T) - w_r(0)|| = sqrt(beta_r^T G beta_r)
    curve = pd.DataFrame(rows, columns=["step", "loss"])
    rho = lazy.du_rate_bound(lr, lambda_0, n)
    curve["bound"] = curve.loss.iloc[0] * rho ** curve.step
    return pd.concat([pd.DataFrame({
        "part": "du_inside", "n": n, "d": d, "m": m, "m_required": m_required, "delta": cfg.du_delta,
        "lambda_0": lambda_0, "eta": 2 * lr / n, "eta_allowed": eta_allowed,
        "h0_lambda_min": torch.linalg.eigvalsh(h0)[0].item(), "final_loss": curve.loss.iloc[-1],
        "bound_holds": bool((curve.loss <= curve.bound * (1 + 1e-9)).all()),
        "movement": moved.max().item(),
        "movement_bound": 4 * np.sqrt(n) * r0 / (np.sqrt(m) * lambda_0),
    }, index=[0]), curve.assign(part="du_curve", n=n, m=m)], ignore_index=True)
