"""Optimizers: turn gradients from any engine into new parameters.

An optimizer here is a small object with two methods, used by ``approx.train.fit`` and usable by
hand:

    state = opt.init(params)                        # buffers (momentum, moments), per parameter
    params = opt.step(params, grads, lr, state)     # new tensors; the old ones are not modified

``params`` and ``grads`` are lists [W1, b1, W2, b2, ...] as returned by ``Network.parameters()``
and by every engine's ``loss_and_grad``. The step returns *new* tensors, so the caller can keep
the previous parameters for free (``fit`` rolls a diverged network back to them); the buffers in
``state`` are updated in place.

The learning rate eta is a float, or for an ensemble of E networks a tensor of E rates (one per
member), broadcast over each parameter's leading axis: member e moves by eta_e times its own
step, exactly as if it were trained alone with rate eta_e.

Update rules, with g the gradient (plus ``weight_decay`` * theta, an L2 penalty, when set):

    GD   (Cauchy 1847):            theta <- theta - eta g
    SGD with heavy-ball momentum (Polyak 1964), in PyTorch's convention:
                                   v <- mu v + g,            theta <- theta - eta v
         Nesterov's variant (Nesterov 1983; Sutskever et al. 2013):
                                   v <- mu v + g,            theta <- theta - eta (g + mu v)
    Adam (Kingma & Ba 2015, Algorithm 1), with t = 1, 2, ... counting steps:
                                   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
                                   m_hat = m / (1 - b1^t),   v_hat = v / (1 - b2^t),
                                   theta <- theta - eta m_hat / (sqrt(v_hat) + eps)

GD on a mini-batch gradient *is* SGD; the names say which update rule runs, and ``fit``'s
``batch_size`` says which gradient it sees. These rules agree with torch.optim.SGD and
torch.optim.Adam to rounding (tests/test_optim.py checks it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

__all__ = ["GD", "SGD", "Adam", "OPTIMIZERS", "make", "names", "member_rates"]

Rate = float | Tensor  # one learning rate, or one per ensemble member: (E,)


def _per_member(lr: Rate, p: Tensor) -> Rate:
    """A float stays a float; an (E,) tensor becomes (E, 1, ..., 1) to broadcast over p."""
    if isinstance(lr, Tensor):
        return lr.view(lr.shape[0], *([1] * (p.ndim - 1)))
    return lr


def _descend(p: Tensor, direction: Tensor, lr: Rate) -> Tensor:
    """p - lr * direction, as one fused kernel, for a float or a per-member rate."""
    if isinstance(lr, Tensor):
        return torch.addcmul(p, _per_member(lr, p), direction, value=-1.0)
    return torch.add(p, direction, alpha=-lr)


def _with_decay(p: Tensor, g: Tensor, weight_decay: float) -> Tensor:
    return g if weight_decay == 0.0 else torch.add(g, p, alpha=weight_decay)


@dataclass(frozen=True)
class GD:
    """Gradient descent: theta <- theta - eta (g + weight_decay theta)."""

    weight_decay: float = 0.0

    def init(self, params: Sequence[Tensor]) -> dict:
        return {}

    def step(self, params: Sequence[Tensor], grads: Sequence[Tensor], lr: Rate, state: dict) -> list[Tensor]:
        return [_descend(p, _with_decay(p, g, self.weight_decay), lr) for p, g in zip(params, grads)]


@dataclass(frozen=True)
class SGD:
    """Heavy-ball momentum (Polyak 1964): v <- mu v + g, theta <- theta - eta v.

    With ``nesterov=True``: theta <- theta - eta (g + mu v) (Sutskever et al. 2013's form of
    Nesterov 1983). mu = 0 is plain gradient descent.
    """

    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0

    def init(self, params: Sequence[Tensor]) -> dict:
        return {"velocity": [torch.zeros_like(p) for p in params]}

    def step(self, params: Sequence[Tensor], grads: Sequence[Tensor], lr: Rate, state: dict) -> list[Tensor]:
        out = []
        for p, g, v in zip(params, grads, state["velocity"]):
            g = _with_decay(p, g, self.weight_decay)
            v.mul_(self.momentum).add_(g)
            direction = torch.add(g, v, alpha=self.momentum) if self.nesterov else v
            out.append(_descend(p, direction, lr))
        return out


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015) with bias correction; see the module docstring for the rule."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0

    def init(self, params: Sequence[Tensor]) -> dict:
        return {"t": 0, "m": [torch.zeros_like(p) for p in params],
                "v": [torch.zeros_like(p) for p in params]}

    def step(self, params: Sequence[Tensor], grads: Sequence[Tensor], lr: Rate, state: dict) -> list[Tensor]:
        state["t"] += 1
        return self.corrected_step(params, grads, lr, state, *self.corrections(state["t"]))

    def corrections(self, t: int) -> tuple[float, float]:
        """(1 - b1^t, sqrt(1 - b2^t)): the bias corrections of step t = 1, 2, ..."""
        b1, b2 = self.betas
        return 1.0 - b1**t, math.sqrt(1.0 - b2**t)

    def corrected_step(self, params: Sequence[Tensor], grads: Sequence[Tensor], lr: Rate, state: dict,
                       correction1: float | Tensor, root_correction2: float | Tensor) -> list[Tensor]:
        """``step`` with the step count's corrections given (floats, or 0-d tensors where the step
        is compiled: approx.compiled_step passes them as tensors so that t is no constant of the
        graph); the moments m and v in ``state`` are updated in place."""
        b1, b2 = self.betas
        # theta - eta/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps): m_hat and v_hat folded in,
        # the same arithmetic as torch.optim.Adam.
        out = []
        for p, g, m, v in zip(params, grads, state["m"], state["v"]):
            g = _with_decay(p, g, self.weight_decay)
            m.lerp_(g, 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            denom = (v.sqrt() / root_correction2).add_(self.eps)
            out.append(_descend(p, m / denom, lr / correction1))
        return out


OPTIMIZERS = {"gd": GD, "sgd": SGD, "adam": Adam}


def names() -> list[str]:
    return list(OPTIMIZERS)


def make(name: str, *, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
         betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> GD | SGD | Adam:
    """The optimizer called ``name`` ("gd", "sgd" or "adam") with its hyperparameters checked."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    if name != "sgd" and (momentum != 0.0 or nesterov):
        raise ValueError(
            f"momentum={momentum!r}, nesterov={nesterov!r} only apply to optimizer 'sgd'; "
            f"got optimizer {name!r}"
        )
    if name == "gd":
        return GD(weight_decay)
    if name == "sgd":
        if not (0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        return SGD(float(momentum), bool(nesterov), weight_decay)
    b1, b2 = betas
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise ValueError(f"Adam betas must lie in [0, 1), got {betas!r}")
    if not eps > 0:
        raise ValueError(f"Adam eps must be > 0, got {eps!r}")
    return Adam((float(b1), float(b2)), float(eps), weight_decay)


def member_rates(lr: float | Sequence[float] | Tensor, ensemble: int | None,
                 dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> Rate:
    """Check a learning rate and shape it for a network (float) or an ensemble of E ((E,) tensor).

    ``lr`` is one positive number (shared by every member: stays a float, the cheapest update)
    or, for an ensemble, E positive numbers.
    """
    if isinstance(lr, bool):
        raise ValueError(f"lr must be a positive number or one per ensemble member, got {lr!r}")
    if isinstance(lr, (int, float)):
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        return float(lr)
    values = torch.as_tensor(lr, dtype=torch.float64).flatten().cpu()
    if values.numel() == 1 and ensemble is None:
        return member_rates(float(values[0]), ensemble)
    if ensemble is None or values.numel() != ensemble:
        want = "one number" if ensemble is None else f"one number or {ensemble} (one per member)"
        raise ValueError(f"lr must be {want}; got {values.numel()} values")
    if not (torch.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"every lr must be a finite number > 0, got {values.tolist()}")
    return values.to(device=device, dtype=dtype)
