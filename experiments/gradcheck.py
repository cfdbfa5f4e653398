"""The hand-written backprop engine gives the gradients autograd and finite differences give.

    approx run gradcheck                  # default: 300 architectures, < 60 s on a 2-core CPU
    approx run gradcheck --preset smoke   # seconds; what the tests run

Backpropagation (Linnainmaa 1970; Rumelhart, Hinton & Williams 1986) computes every partial
derivative df/du by the lemma in the notes; ``approx.backprop.loss_and_grad`` does it with
hand-derived rules and no torch autodiff. We draw random architectures (depth 1-6, widths 1-64,
input dimension 1-10, every activation and mixtures, three initialisations, both losses,
ensembles with shared or per-member data) and compare in float64:

    err_autograd = max |g_backprop - g_autograd| / max |g_autograd|       (must be <= 1e-10)
    err_fd       = max_i |g_i - (L(theta + h e_i) - L(theta - h e_i)) / 2h| / max |g_autograd|

over ``fd_coordinates`` random coordinates i per architecture. Central differences err by
O(h^2 L''') + O(eps L / h), about 1e-9 here with h = 1e-6, so ``fd_tolerance`` = 1e-6 accepts
right gradients; every row also records the same comparison for the gradient scaled by 1.01
(``err_fd_control``), which must fail it. Finite differences need a differentiable point: a relu
or ramp unit whose pre-activation at some data point lies within ``kink_margin`` of a kink has
its bias shifted by the least amount that clears every point (``n_units_shifted``).

A second panel trains one seeded network for ``trajectory_steps`` full-batch GD steps with
``approx.train.fit`` on each engine and records both loss curves and their relative difference.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from approx import activations, autograd, backprop, checks, losses
from approx.device import DEVICES, resolve_device, threads
from approx.network import Network, affine
from approx.plotting import figure, save
from approx.train import TRAINING_ENGINES, fit

from ._limits import MAX_DEPTH, MAX_DIM, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_WIDTH

__all__ = ["Config", "PRESETS", "run", "plot", "describe", "AUTOGRAD_TOLERANCE",
           "TRAJECTORY_TOLERANCE"]

AUTOGRAD_TOLERANCE = 1e-10  # relative bound on hand-written vs autograd gradients, float64
TRAJECTORY_TOLERANCE = 1e-9  # bound on the relative difference of the two loss curves
KINKS = {"relu": (0.0,), "ramp": (0.0, 1.0)}  # where finite differences are meaningless


@dataclass(frozen=True)
class Config:
    n_architectures: int = 300  # random architectures checked
    max_depth: int = 6  # layers with weights: 1 (a linear model) .. max_depth
    max_width: int = 64  # hidden widths drawn log-uniformly from 1 .. max_width
    max_input_dim: int = 10  # input dimension drawn from 1 .. max_input_dim
    max_output_dim: int = 3  # output dimension drawn from 1 .. max_output_dim
    batch: int = 8  # data points per architecture
    ensemble_fraction: float = 0.3  # share of architectures drawn as ensembles of 2-4 networks
    mixed_fraction: float = 0.15  # share with a different activation in every hidden layer
    fd_coordinates: int = 24  # parameters checked by central differences per architecture
    # (the largest gradient entry and fd_coordinates - 1 uniformly drawn ones)
    fd_step: float = 1e-6  # h of the central differences
    fd_tolerance: float = 1e-6  # err_fd bound (central-difference error is ~1e-9 at h = 1e-6)
    kink_margin: float = 1e-4  # shift a relu/ramp unit's bias if a pre-activation is this close
    # to a kink (by the least amount that puts all of them 2 * kink_margin away)
    trajectory_sizes: tuple[int, ...] = (1, 32, 32, 1)  # network trained on both engines
    trajectory_activation: str = "tanh"  # its hidden activation
    trajectory_steps: int = 1000  # full-batch GD steps on each engine
    trajectory_lr: float = 0.05  # GD learning rate; at 0.1 this network reaches the edge of
    # stability (the loss rises at times) and GD's chaos amplifies rounding in either engine
    trajectory_points: int = 64  # training points of sin(3x) on [-1, 1]
    seed: int = 0  # seeds every draw
    device: str = "cpu"  # auto | cpu | cuda (float64 throughout)

    def __post_init__(self):
        checks.integer("n_architectures", self.n_architectures, low=1, high=100_000)  # 50x full's
        checks.integer("max_depth", self.max_depth, low=1, high=MAX_DEPTH)
        checks.integer("max_width", self.max_width, low=1, high=MAX_WIDTH)
        checks.integer("max_input_dim", self.max_input_dim, low=1, high=MAX_DIM)
        checks.integer("max_output_dim", self.max_output_dim, low=1, high=MAX_DIM)
        checks.integer("batch", self.batch, low=1, high=MAX_POINTS)
        for name in ("ensemble_fraction", "mixed_fraction"):
            checks.number(name, getattr(self, name), low=0, high=1)
        checks.integer("fd_coordinates", self.fd_coordinates, low=1, high=10_000)  # 150x full's
        for name in ("fd_step", "fd_tolerance", "kink_margin", "trajectory_lr"):
            checks.number(name, getattr(self, name), low=0, low_open=True)
        # sin(3x) on [-1, 1]: one input, one output; hidden sizes may repeat
        sizes = checks.integers("trajectory_sizes", self.trajectory_sizes, low=1, high=MAX_WIDTH,
                                min_len=2, distinct=False)
        if sizes[0] != 1 or sizes[-1] != 1:
            raise ValueError(f"trajectory_sizes must start and end with 1 (sin(3x): one input, one "
                             f"output), got {sizes!r}")
        checks.choice("trajectory_activation", self.trajectory_activation, activations.names())
        checks.integer("trajectory_steps", self.trajectory_steps, low=1, high=MAX_STEPS)
        checks.integer("trajectory_points", self.trajectory_points, low=1, high=MAX_POINTS)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        # the largest tensors: a weight matrix of a 4-member ensemble, its activations on the batch
        checks.product_at_most("a weight matrix", {"ensemble members": 4,
                                                   "max_width^2": self.max_width**2}, MAX_NUMBERS)
        widest = max(self.max_width, self.max_input_dim, self.max_output_dim)
        checks.product_at_most("an activation", {"ensemble members": 4, "batch": self.batch,
                                                 "widest layer": widest}, MAX_NUMBERS)
        checks.product_at_most("a trajectory weight matrix", {"max(trajectory_sizes)^2": max(sizes)**2},
                               MAX_NUMBERS)


PRESETS = {
    "smoke": {"n_architectures": 12, "fd_coordinates": 4, "max_width": 16,
              "trajectory_steps": 50},
    "default": {},
    "full": {"n_architectures": 2000, "fd_coordinates": 64},
}


# ---------------------------------------------------------------------- one architecture
def _draw_architecture(rng: random.Random, cfg: Config) -> dict:
    depth = rng.randint(1, cfg.max_depth)
    hidden = [int(round(math.exp(rng.uniform(0, math.log(cfg.max_width)))))
              for _ in range(depth - 1)]  # log-uniform: small widths as often as large ones
    sizes = [rng.randint(1, cfg.max_input_dim), *hidden, rng.randint(1, cfg.max_output_dim)]
    names = [n for n in activations.names() if n != "identity"] + ["identity"]
    if depth > 1 and rng.random() < cfg.mixed_fraction:
        per_layer, label = [rng.choice(names) for _ in hidden], "mixed"
    else:
        label = rng.choice(names)
        per_layer = [label] * (depth - 1)
    ensemble = rng.randint(2, 4) if rng.random() < cfg.ensemble_fraction else None
    return {"sizes": sizes, "activations": per_layer + ["identity"], "activation": label,
            "loss": rng.choice(losses.names()), "init": rng.choice(["standard", "he", "ntk"]),
            "ensemble": ensemble, "per_member": bool(ensemble) and rng.random() < 0.5}


def _shift_off_kinks(net: Network, x: torch.Tensor, margin: float) -> tuple[Network, int]:
    """The network with the bias of every relu/ramp unit whose pre-activations come within
    ``margin`` of a kink shifted by the smallest amount that clears them all (layer by layer,
    since a shift changes what the later layers see); also the number of units shifted."""
    layers, h, n_shifted = [], x, 0
    for layer in net.layers:
        kinks = KINKS.get(layer.activation, ())
        if kinks:
            z = affine(h, layer)  # (batch, out) or (E, batch, out)
            bias = layer.bias.clone()
            for unit in zip(*np.nonzero(_too_close(z, kinks, margin).cpu().numpy())):
                # unit = (out,) or (E, out); the unit's pre-activations over the batch
                values = z[unit[0], :, unit[1]] if z.ndim == 3 else z[:, unit[0]]
                bias[unit] += _smallest_clearing_shift(values.tolist(), kinks, margin)
                n_shifted += 1
            layer = replace(layer, bias=bias)
        layers.append(layer)
        h = activations.get(layer.activation).value(affine(h, layer))
    return Network(layers), n_shifted


def _too_close(z: torch.Tensor, kinks, margin: float) -> torch.Tensor:
    """(out,) or (E, out): does any point's pre-activation lie within margin of a kink?"""
    near = torch.zeros_like(z, dtype=torch.bool)
    for kink in kinks:
        near |= (z - kink).abs() < margin
    return near.any(dim=-2)


def _smallest_clearing_shift(values: list[float], kinks, margin: float) -> float:
    """The s of least |s| with |v + s - kink| >= 2 margin for every value v and kink."""
    candidates = sorted([0.0] + [k - v + sign * 2 * margin for v in values for k in kinks
                                 for sign in (1.0, -1.0)], key=abs)
    return next(s for s in candidates
                if all(abs(v + s - k) >= 2 * margin * (1 - 1e-9) for v in values for k in kinks))


def _data(arch: dict, gen: torch.Generator, batch: int, device):
    lead = (arch["ensemble"],) if arch["per_member"] else ()
    x = torch.randn(*lead, batch, arch["sizes"][0], generator=gen, dtype=torch.float64)
    y = torch.randn(batch, arch["sizes"][-1], generator=gen, dtype=torch.float64)
    if arch["loss"] == "logistic":
        y = (y > 0).double()
    return x.to(device), y.to(device)


def _member_losses(net: Network, x, y, loss: str) -> torch.Tensor:
    """Each member's loss, (E,) for an ensemble or () for one network, by the forward pass."""
    pred = net(x)
    return losses.get(loss).value(pred, y.expand_as(pred), net.ensemble is not None)


def _finite_differences(net, x, y, arch, grads, rng: random.Random, cfg: Config):
    """Central differences at random coordinates: (numeric, hand-written) pairs, float64."""
    params = net.parameters()
    numeric, hand = [], []
    sizes = [p.numel() for p in params]
    # the first coordinate is the largest gradient entry, so that the 1.01 control always has
    # a 1% difference of the gradient's own scale to show; the rest are uniform at random
    largest = max(range(len(grads)), key=lambda k: grads[k].abs().max().item())
    coordinates = [(largest, int(grads[largest].abs().argmax()))]
    for _ in range(cfg.fd_coordinates - 1):
        k = rng.choices(range(len(params)), weights=sizes)[0]
        coordinates.append((k, rng.randrange(sizes[k])))
    for k, i in coordinates:
        member = int(np.unravel_index(i, params[k].shape)[0]) if arch["ensemble"] else None
        values = []
        for sign in (1.0, -1.0):
            shifted = params[k].clone()
            shifted.view(-1)[i] += sign * cfg.fd_step
            L = _member_losses(net.with_parameters(params[:k] + [shifted] + params[k + 1:]), x, y,
                               arch["loss"])
            values.append((L[member] if member is not None else L).item())
        numeric.append((values[0] - values[1]) / (2 * cfg.fd_step))
        hand.append(grads[k].reshape(-1)[i].item())
    return np.array(numeric), np.array(hand)


def _check_architecture(index: int, cfg: Config, device) -> dict:
    rng = random.Random(f"{cfg.seed}-{index}")
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + index)
    arch = _draw_architecture(rng, cfg)
    net = Network.random(arch["sizes"], arch["activations"], init=arch["init"],
                         seed=rng.randrange(2**31), ensemble=arch["ensemble"], device=device)
    x, y = _data(arch, gen, cfg.batch, device)
    # finite differences need a differentiable point: move relu/ramp units off their kinks
    net, n_shifted = _shift_off_kinks(net, x, cfg.kink_margin)
    value, grads = backprop.loss_and_grad(net, x, y, arch["loss"])
    ref_value, ref = autograd.loss_and_grad(net, x, y, arch["loss"])
    scale = max(g.abs().max().item() for g in ref) or 1.0
    err_autograd = max((g - r).abs().max().item() for g, r in zip(grads, ref)) / scale
    numeric, hand = _finite_differences(net, x, y, arch, grads, rng, cfg)
    err_fd = np.abs(hand - numeric).max() / scale
    err_fd_control = np.abs(1.01 * hand - numeric).max() / scale
    value_diff = (torch.as_tensor(value) - torch.as_tensor(ref_value)).abs().max().item()
    return {
        "panel": "architecture", "arch": index, "depth": len(arch["sizes"]) - 1,
        "sizes": "-".join(map(str, arch["sizes"])), "input_dim": arch["sizes"][0],
        "max_width": max(arch["sizes"][1:-1], default=0), "activation": arch["activation"],
        "loss": arch["loss"], "init": arch["init"], "ensemble": arch["ensemble"] or 0,
        "per_member_data": arch["per_member"], "n_params": net.n_params * (arch["ensemble"] or 1),
        "n_units_shifted": n_shifted, "grad_scale": scale, "err_autograd": err_autograd,
        "err_fd": float(err_fd), "err_fd_control": float(err_fd_control),
        "loss_abs_diff": value_diff,
        "pass_autograd": err_autograd <= AUTOGRAD_TOLERANCE,
        "pass_fd": bool(err_fd <= cfg.fd_tolerance < err_fd_control),
        "fd_tolerance": cfg.fd_tolerance,
    }


# ---------------------------------------------------------------------- the trajectory panel
def _trajectories(cfg: Config, device) -> list[dict]:
    x = torch.linspace(-1, 1, cfg.trajectory_points, dtype=torch.float64, device=device)[:, None]
    y = torch.sin(3 * x)
    curves, finals = {}, {}
    for engine in TRAINING_ENGINES:
        net = Network.random(list(cfg.trajectory_sizes), cfg.trajectory_activation, seed=cfg.seed,
                             device=device)
        trained, history = fit(net, (x, y), engine=engine, optimizer="gd", lr=cfg.trajectory_lr,
                               steps=cfg.trajectory_steps, log_every=1)
        curves[engine] = history.set_index("step").loss
        finals[engine] = trained.parameters()
    param_diff = max((a - b).abs().max().item() / b.abs().max().item()
                     for a, b in zip(finals["backprop"], finals["autograd"]))
    rows = []
    for step, loss_ag in curves["autograd"].items():
        loss_bp = curves["backprop"].loc[step]
        rows.append({"panel": "trajectory", "step": int(step), "loss_backprop": loss_bp,
                     "loss_autograd": loss_ag,
                     "loss_rel_diff": abs(loss_bp - loss_ag) / abs(loss_ag),
                     "param_rel_diff": param_diff if step == cfg.trajectory_steps else np.nan,
                     "sizes": "-".join(map(str, cfg.trajectory_sizes)),
                     "activation": cfg.trajectory_activation, "lr": cfg.trajectory_lr})
    return rows


def run(cfg: Config) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    # the problems are tiny: one thread avoids thread start-up and, on a busy machine, threads
    # that wait for each other, which can cost far more than the product itself
    with threads(1):
        rows = [_check_architecture(i, cfg, device) for i in range(cfg.n_architectures)]
        rows += _trajectories(cfg, device)
    return pd.DataFrame(rows)  # two panels in one table: each leaves the other's columns NaN


# ---------------------------------------------------------------------- figure and text
FLOOR = 1e-18  # an error of exactly 0 is drawn here on the log axis


def _strip(ax, df: pd.DataFrame, by: str, order: list, cfg_tol: float) -> None:
    jitter = np.random.default_rng(0)
    for k, key in enumerate(order):
        part = df[df[by] == key]
        for column, color, dx in (("err_autograd", "C0", -0.17), ("err_fd", "C1", 0.17)):
            values = part[column].clip(lower=FLOOR).to_numpy()
            xs = k + dx + jitter.uniform(-0.1, 0.1, len(values))
            ax.scatter(xs, values, s=6, color=color, alpha=0.5, linewidths=0,
                       label=None if k else {"err_autograd": "vs autograd",
                                             "err_fd": "vs finite differences"}[column])
            if len(values):
                ax.plot([k + dx - 0.15, k + dx + 0.15], [np.median(values)] * 2, color="k", lw=1)
    ax.axhline(AUTOGRAD_TOLERANCE, color="C0", ls="--", lw=1, label="1e-10 (autograd bound)")
    ax.axhline(cfg_tol, color="C1", ls=":", lw=1, label=f"{cfg_tol:.0e} (FD bound)")
    ax.set_xticks(range(len(order)), [str(o) for o in order])
    ax.set(yscale="log", ylabel="relative gradient error", ylim=(FLOOR / 3, 1e-2))


def plot(df: pd.DataFrame, path: Path) -> None:
    arch = df[df.panel == "architecture"]
    traj = df[df.panel == "trajectory"].sort_values("step")
    tol = float(arch.fd_tolerance.iloc[0])
    fig, axes = figure(2, 2, width=4.6, height=3.3)
    names = [n for n in activations.names() + ["mixed"] if n in set(arch.activation)]
    _strip(axes[0, 0], arch, "activation", names, tol)
    arch = arch.astype({"depth": int})
    axes[0, 0].set(xlabel="hidden activation",
                   title=f"{len(arch)} random architectures, float64 (0 drawn at 1e-18)")
    axes[0, 0].legend(loc="upper left", ncol=2, fontsize=7)
    _strip(axes[0, 1], arch, "depth", sorted(set(arch.depth)), tol)
    axes[0, 1].set(xlabel="depth (layers with weights)", title="the same errors by depth")
    ax = axes[1, 0]
    ax.plot(traj.step, traj.loss_backprop, color="C0", lw=2.5, label="backprop (hand-written)")
    ax.plot(traj.step, traj.loss_autograd, color="C3", lw=1, ls="--", label="autograd")
    first = traj.iloc[0]
    ax.set(yscale="log", xlabel="GD step", ylabel="training loss (mse)",
           title=f"{first.sizes} {first.activation}, GD lr {first.lr:g}, both engines")
    ax.legend()
    ax = axes[1, 1]
    ax.scatter(traj.step, traj.loss_rel_diff.clip(lower=FLOOR), s=2, color="k", linewidths=0,
               label="each step")
    ax.plot(traj.step, traj.loss_rel_diff.cummax().clip(lower=FLOOR), color="C0", lw=1.5,
            label="running maximum")
    ax.axhline(TRAJECTORY_TOLERANCE, color="C3", ls="--", lw=1, label="1e-9 bound")
    ax.set(yscale="log", xlabel="GD step", ylabel="|L_backprop - L_autograd| / L_autograd",
           title="loss-curve difference (0 drawn at 1e-18)", ylim=(FLOOR / 3, 1e-6))
    ax.legend()
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    arch = df[df.panel == "architecture"]
    traj = df[df.panel == "trajectory"]
    worst = arch.loc[arch.err_autograd.idxmax()]
    n_ens = int((arch.ensemble > 0).sum())
    final = traj.loc[traj.step.idxmax()]
    return (
        f"The hand-written engine against autograd on {len(arch)} random architectures "
        f"(depth {arch.depth.min():.0f}-{arch.depth.max():.0f}, widths up to "
        f"{arch.max_width.max():.0f}, input dimension {arch.input_dim.min():.0f}-"
        f"{arch.input_dim.max():.0f}, activations "
        f"{', '.join(sorted(set(arch.activation)))}, {n_ens} ensembles, both losses, float64). "
        f"Largest relative error vs autograd: {arch.err_autograd.max():.2g} "
        f"({worst.sizes}, {worst.activation}); {int(arch.pass_autograd.sum())}/{len(arch)} within "
        f"the 1e-10 bound. Against central finite differences (h = 1e-6, kinks avoided): largest "
        f"error {arch.err_fd.max():.2g}, median {arch.err_fd.median():.2g}; "
        f"{int(arch.pass_fd.sum())}/{len(arch)} within {arch.fd_tolerance.iloc[0]:g}, while the "
        f"gradient scaled by 1.01 fails that test in "
        f"{int((arch.err_fd_control > arch.fd_tolerance).sum())}/{len(arch)} cases. Training one "
        f"network ({final.sizes}, {final.activation}, lr {final.lr:g}) for {int(final.step)} GD "
        f"steps on each engine: {_difference(traj.loss_rel_diff.max(), 'the loss curves')} and "
        f"{_difference(final.param_rel_diff, 'the final parameters')} (the bound is a relative "
        "difference of 1e-9)."
    )


def _difference(value: float, what: str) -> str:
    if value == 0:
        return f"{what} are identical bit for bit"
    return f"{what} differ by at most {value:.2g} (relative)"


if __name__ == "__main__":  # python -m experiments.gradcheck [options] is approx run gradcheck [options]
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
