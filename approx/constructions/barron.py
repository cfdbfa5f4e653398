"""Barron's theorem made constructive: a sigmoid network of n units sampled as in the proof.

Barron (1993) proves err^2 <= (2C)^2 / n by Maurey's sampling argument (Pisier 1981): write f
as an average of bounded units, f = b0 + E[V s H(w . (x - c) - tau)], draw n units independently,
and the mean of n draws has variance <= V^2 / n, in *every* dimension. For the ridge sums of
``approx.targets`` (f = (1/K) sum_k g(w_k . (x - c)), g(t) = cos(a t), a = 2 pi nu) the average
is explicit: on the cube, t_k = w_k . (x - c) lies in [-r_k, r_k] with r_k = |w_k|_1 / 2, and, as
in Barron's proof, anchored at the centre (g(0) = 1),

    g(t) = g(0) + int_0^{r_k} g'(tau) H(t - tau) d tau - int_{-r_k}^0 g'(tau) H(tau - t) d tau,

so each unit steps *outward* from the centre and is off near it, where w_k . (x - c) mostly
lies. With V_k = int |g'| over [-r_k, r_k] and V = (1/K) sum_k V_k, the probability of (k, tau)
is |g'(tau)| / (K V) and the unit is sign(tau) sign(g'(tau)) H(sign(tau) (t - tau)), b0 = 1.
Steps H become steep sigmoids sigma(S u). In expectation over the draw, for x uniform on [0, 1]^d,

    E ||f - f_n||^2 <= (V / sqrt(n) + V sqrt(p (2 ln 2 - 1) / S))^2,

where the second term is the sigmoid's L2 distance to the step, int (sigma(S u) - H(u))^2 du =
(2 ln 2 - 1)/S, times p, a bound on the density of w_k . x (<= 1 / max_i |w_ki|). V <= 2 C_{f,B},
so this is Barron's (2C)^2 / n up to the vanishing steepness term.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import checks
from ..device import resolve_device
from ..network import Layer, Network

__all__ = ["barron_sampled", "barron_sampled_bound", "ridge_variation"]


def _ridge(target) -> tuple[np.ndarray, float]:
    params = getattr(target, "params", {})
    if "directions" not in params or "frequency" not in params:
        raise ValueError(f"barron_sampled needs a ridge_nd target (directions and frequency); "
                         f"got {getattr(target, 'name', target)!r}")
    return params["directions"].cpu().double().numpy(), float(params["frequency"])


def _variations(w: np.ndarray, frequency: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(r_k, V_k, a): half-ranges of the projections and the total variation of g on them."""
    a = 2 * math.pi * frequency
    r = np.abs(w).sum(1) / 2  # (K,)
    u = a * r
    m = np.floor(u / math.pi)
    # int_{-r}^{r} a |sin(a tau)| d tau = 2 int_0^{a r} |sin v| dv = 2 (2 m + 1 - cos(u - m pi))
    return r, 2 * (2 * m + 1 - np.cos(u - m * math.pi)), a


def ridge_variation(target) -> float:
    """V = (1/K) sum_k V_k, the mass of the sampling measure; V <= 2 C_{f,B}."""
    w, frequency = _ridge(target)
    return float(_variations(w, frequency)[1].mean())


def barron_sampled(target, n: int, *, seed: int = 0, steepness: float | None = None,
                   dtype=torch.float64, device="cpu") -> Network:
    """n sigmoid units drawn from Barron's sampling measure (module docstring); [d, n, 1].

    steepness S defaults to 1000 n, which makes the sigmoid term ~3e-4 of the V^2/n term.
    """
    n = checks.integer("n", n, low=1)
    s_ = 1000.0 * n if steepness is None else checks.number("steepness", steepness, low=0, low_open=True)
    w, frequency = _ridge(target)
    r, v_k, a = _variations(w, frequency)
    rng = np.random.default_rng(seed)
    k = rng.choice(len(r), size=n, p=v_k / v_k.sum())  # (n,) which ridge
    tau = np.empty(n)
    todo = np.arange(n)
    while todo.size:  # rejection: tau ~ U(-r_k, r_k), kept with probability |sin(a tau)|
        proposal = rng.uniform(-r[k[todo]], r[k[todo]])
        keep = rng.uniform(size=todo.size) < np.abs(np.sin(a * proposal))
        tau[todo[keep]] = proposal[keep]
        todo = todo[~keep]
    slope_sign = -np.sign(np.sin(a * tau))  # sign of g'(tau) = -a sin(a tau)
    outward = np.where(tau >= 0, 1.0, -1.0)  # H(t - tau) right of the centre, H(tau - t) left
    c = np.full(w.shape[1], 0.5)
    w1 = (s_ * outward)[:, None] * w[k]  # (n, d)
    b1 = -s_ * outward * (w[k] @ c + tau)  # (n,)
    w2 = (v_k.mean() / n * outward * slope_sign)[None, :]  # (1, n)
    b2 = np.array([1.0])  # g(0) = cos(0)
    device = resolve_device(device)
    to = lambda t: torch.as_tensor(t, dtype=torch.float64).to(device, dtype)  # noqa: E731
    return Network([Layer(to(w1), to(b1), "sigmoid"), Layer(to(w2), to(b2), "identity")])


def barron_sampled_bound(target, n: int, steepness: float | None = None) -> float:
    """(V / sqrt(n) + V sqrt(p (2 ln 2 - 1) / S))^2, the expected squared L2 error bound above."""
    w, frequency = _ridge(target)
    s_ = 1000.0 * n if steepness is None else float(steepness)
    mass = ridge_variation(target)
    density = float(np.max(1 / np.abs(w).max(1)))  # density of w_k . x <= 1 / max_i |w_ki|
    return (mass / math.sqrt(n) + mass * math.sqrt(density * (2 * math.log(2) - 1) / s_)) ** 2
