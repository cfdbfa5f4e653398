"""Target functions on [0, 1]^d, each with the constants the approximation bounds need.

A ``Target`` is a callable with a documented shape convention, a formula, and exact constants:

    sup_norm   = max |f|                       (attained; computed by formula)
    lipschitz  = sup |f'|  (1-D) or sup |grad f| (None where f is not Lipschitz)
    max_f2     = max |f''| (1-D), max spectral norm of the Hessian (d-D) (None if not C^2)
    omega(dt)  = a modulus of continuity: sup_{|x - y| <= dt} |f(x) - f(y)| <= omega(dt),
                 non-decreasing and subadditive (exact where the docstring says so)
    barron     = Barron's (1993) constant C_{f,B} on the cube B = [0, 1]^d around its centre c:
                 C_{f,B} = int sup_{x in B} |w . (x - c)| |F(dw)| = int |w|_1 / 2 |F(dw)|,
                 with f(x) = int e^{i w.x} F(dw); inf where it is not finite, None if unknown.
    kinks      = the points of (0, 1) where a piecewise-linear target's slope changes (abs,
                 triangle); None for targets that are not piecewise linear.

Shapes: points are rows, x (n, d) -> f(x) (n, 1), matching a network's output. The 1-D catalogue
is elementwise, so it maps any tensor to a tensor of the same shape (x (n,) -> (n,)); the
d-dimensional targets (any d >= 1) map x (..., d) to (..., 1).

    >>> from approx import targets
    >>> f = targets.get("sin3")            # or targets.get("sin", k=3)
    >>> x, y = targets.sample(f, 256, noise=0.1, seed=0)

Catalogue: sin (sin 2 pi k x), gaussian, square, abs, triangle, step, weierstrass (1-D), and
gaussian_nd, ridge_nd, ball_nd on [0, 1]^d for Barron's theorem.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from . import checks
from .device import resolve_device

__all__ = ["Target", "get", "names", "sample", "NAMES"]

NAMES = ("sin", "gaussian", "square", "abs", "triangle", "step", "weierstrass",
         "gaussian_nd", "ridge_nd", "ball_nd")
KINDS = ("smooth", "lipschitz", "discontinuous", "rough")


@dataclass(frozen=True)
class Target:
    """A named function on [0, 1]^dim with its sup norm, Lipschitz constant, max|f''| and modulus."""

    name: str
    fn: Callable[[Tensor], Tensor]  # the formula: on entries if elementwise, else on rows (..., d)
    dim: int
    kind: str  # one of KINDS
    formula: str
    sup_norm: float
    lipschitz: float | None  # None: not Lipschitz
    max_f2: float | None  # None: not twice differentiable
    omega: Callable[[np.ndarray | float], np.ndarray | float] | None = None
    barron: float | None = None  # C_{f,B} on [0, 1]^d; math.inf if not finite; None if unknown
    elementwise: bool = True  # fn acts on each entry (the 1-D catalogue); else on rows (..., d)
    params: dict = field(default_factory=dict)  # the formula's parameters, for constructions
    # piecewise-linear targets: the points of (0, 1) where the slope changes, f affine between
    # them (sup errors of ReLU networks are then exact, approx.sup_error); None: not piecewise linear
    kinks: tuple[float, ...] | None = None

    @property
    def smooth(self) -> bool:
        return self.kind == "smooth"

    def __call__(self, x: Tensor) -> Tensor:
        """Elementwise targets: same shape out. The others: x (..., d) -> (..., 1)."""
        if self.elementwise:
            return self.fn(x)
        if x.shape[-1] != self.dim:
            raise ValueError(f"target {self.name} takes points (n, {self.dim}); got {tuple(x.shape)}")
        return self.fn(x).unsqueeze(-1)


# ---------------------------------------------------------------------- 1-D targets
def _sin(k: int = 1) -> Target:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"sin needs a positive integer frequency k, got {k!r}")
    w = 2 * math.pi * k
    # |sin a - sin b| = 2 |cos((a+b)/2)| |sin((a-b)/2)|; k whole periods on [0, 1] let the cosine
    # factor reach 1, so the modulus is exactly 2 sin(min(pi k dt, pi/2)).
    return Target(f"sin{k}", lambda x: torch.sin(w * x), 1, "smooth", f"sin(2 pi {k} x)",
                  sup_norm=1.0, lipschitz=w, max_f2=w * w,
                  omega=lambda dt: 2 * np.sin(np.minimum(np.pi * k * np.asarray(dt), np.pi / 2)))


def _gaussian(center: float = 0.5, width: float = 0.1) -> Target:
    if not 0 < width <= min(center, 1 - center):
        raise ValueError(f"gaussian needs 0 < width <= distance of center to the ends; got "
                         f"width={width!r}, center={center!r}")
    s, c = width, center
    # f' = -(x-c)/s^2 f peaks at |x - c| = s; f'' = ((x-c)^2/s^2 - 1) f/s^2 peaks at x = c
    # (the other extremum, at (x-c)^2 = 3 s^2, is 2 e^{-3/2} / s^2 < 1 / s^2).
    lip = math.exp(-0.5) / s
    osc = 1 - math.exp(-max(c, 1 - c) ** 2 / (2 * s * s))
    return Target("gaussian", lambda x: torch.exp(-(x - c).square() / (2 * s * s)), 1, "smooth",
                  f"exp(-(x - {c:g})^2 / (2 * {s:g}^2))", sup_norm=1.0, lipschitz=lip,
                  max_f2=1 / (s * s), omega=lambda dt: np.minimum(lip * np.asarray(dt), osc))


def _square() -> Target:
    # (x + dt)^2 - x^2 = 2 x dt + dt^2 is largest at x = 1 - dt: exactly 2 dt - dt^2 on [0, 1].
    return Target("square", torch.square, 1, "smooth", "x^2", sup_norm=1.0, lipschitz=2.0,
                  max_f2=2.0, omega=lambda dt: np.where(np.asarray(dt) < 1,
                                                        2 * np.asarray(dt) - np.square(dt), 1.0))


def _abs(center: float = 0.5) -> Target:
    if not 0 <= center <= 1:
        raise ValueError(f"abs needs center in [0, 1], got {center!r}")
    c = center
    return Target("abs", lambda x: (x - c).abs(), 1, "lipschitz", f"|x - {c:g}|",
                  sup_norm=max(c, 1 - c), lipschitz=1.0, max_f2=None,
                  omega=lambda dt: np.minimum(np.asarray(dt, dtype=float), max(c, 1 - c)),
                  kinks=(c,) if 0 < c < 1 else ())


def _triangle() -> Target:
    # Slope +-4 on pieces of length 1/4: the modulus is exactly min(4 dt, 1).
    return Target("triangle", lambda x: torch.relu(1 - 4 * (x - 0.5).abs()), 1, "lipschitz",
                  "max(0, 1 - 4 |x - 1/2|)", sup_norm=1.0, lipschitz=4.0, max_f2=None,
                  omega=lambda dt: np.minimum(4 * np.asarray(dt, dtype=float), 1.0),
                  kinks=(0.25, 0.5, 0.75))


def _step(at: float = 0.5) -> Target:
    if not 0 < at < 1:
        raise ValueError(f"step needs its jump inside (0, 1), got at={at!r}")
    return Target("step", lambda x: (x >= at).to(x.dtype), 1, "discontinuous", f"1[x >= {at:g}]",
                  sup_norm=1.0, lipschitz=None, max_f2=None,
                  omega=lambda dt: np.where(np.asarray(dt) > 0, 1.0, 0.0))


def _weierstrass(a: float = 0.5, b: int = 5, n_terms: int = 5) -> Target:
    """W(x) = sum_{j < J} a^j cos(b^j pi x) (Weierstrass 1872, truncated).

    W(0) = sum a^j is the sup norm and |W''(0)| = pi^2 sum (a b^2)^j is max|W''| (every cosine is
    1 at 0). For b = 1 mod 4 every sin(b^j pi / 2) is 1, so |W'(1/2)| = pi sum (a b)^j attains the
    Lipschitz bound; we require it so that the constant is exact. The modulus uses
    |cos u - cos v| <= min(2, |u - v|): omega(dt) = sum a^j min(2, pi b^j dt).
    """
    if not 0 < a < 1:
        raise ValueError(f"weierstrass needs 0 < a < 1, got a={a!r}")
    if isinstance(b, bool) or not isinstance(b, int) or b < 1 or b % 4 != 1:
        raise ValueError(f"weierstrass needs an integer b = 1 mod 4 (5, 9, 13, ...), got b={b!r}")
    n_terms = checks.integer("n_terms of weierstrass", n_terms, low=1)
    amp = [a**j for j in range(n_terms)]
    freq = [math.pi * b**j for j in range(n_terms)]

    def fn(x: Tensor) -> Tensor:
        return sum(A * torch.cos(w * x) for A, w in zip(amp, freq))

    def omega(dt):
        dt = np.asarray(dt, dtype=float)
        return sum(A * np.minimum(2.0, w * dt) for A, w in zip(amp, freq))

    return Target("weierstrass", fn, 1, "rough", f"sum_(j<{n_terms}) {a:g}^j cos({b}^j pi x)",
                  sup_norm=sum(amp), lipschitz=sum(A * w for A, w in zip(amp, freq)),
                  max_f2=sum(A * w * w for A, w in zip(amp, freq)), omega=omega)


# ---------------------------------------------------------------------- d-dimensional targets
def _gaussian_nd(d: int = 2, width: float | None = None) -> Target:
    """exp(-|x - c|^2 / (2 s^2)), c the cube's centre, s = width (default 0.25 sqrt(d)).

    Its Fourier measure is the N(0, I/s^2) density, so C_{f,B} = E|w|_1 / 2 = d / (s sqrt(2 pi)).
    """
    d = checks.integer("dimension d", d, low=1)
    s = 0.25 * math.sqrt(d) if width is None else float(width)
    if not s > 0:
        raise ValueError(f"gaussian_nd needs width > 0, got {width!r}")
    # |grad f| = r e^{-r^2/2s^2} / s^2 with r = |x - c| <= sqrt(d)/2 grows until r = s.
    r = min(s, math.sqrt(d) / 2)
    return Target("gaussian_nd", lambda x: torch.exp(-(x - 0.5).square().sum(-1) / (2 * s * s)),
                  d, "smooth", f"exp(-|x - c|^2 / (2 * {s:.4g}^2)), d={d}", sup_norm=1.0,
                  lipschitz=r * math.exp(-r * r / (2 * s * s)) / (s * s), max_f2=1 / (s * s),
                  barron=d / (s * math.sqrt(2 * math.pi)), elementwise=False)


def ridge_directions(d: int, n_ridges: int, seed: int = 0) -> Tensor:
    """n_ridges unit vectors in R^d, uniform on the sphere, fixed by the seed: (n_ridges, d)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n_ridges, d, generator=g, dtype=torch.float64)
    return w / w.norm(dim=1, keepdim=True)


def _ridge_nd(d: int = 2, n_ridges: int = 3, frequency: float = 1.0, seed: int = 0) -> Target:
    """(1/K) sum_k cos(2 pi nu w_k . (x - c)), unit directions w_k: a sum of ridge functions.

    F puts mass 1/(2K) at +-2 pi nu w_k, so C_{f,B} = (pi nu / K) sum_k |w_k|_1 (finite), and the
    Euclidean constant int |w| |F(dw)| = 2 pi nu is the same in every dimension.
    """
    d = checks.integer("dimension d", d, low=1)
    n_ridges = checks.integer("n_ridges of ridge_nd", n_ridges, low=1)
    if not frequency > 0:
        raise ValueError(f"ridge_nd needs frequency > 0, got {frequency!r}")
    w = ridge_directions(d, n_ridges, seed)  # (K, d)
    omega0 = 2 * math.pi * frequency

    def fn(x: Tensor) -> Tensor:
        proj = (x - 0.5) @ w.to(x.device, x.dtype).T  # (..., K)
        return torch.cos(omega0 * proj).mean(-1)

    # Each cosine is 1 at x = c, so max |f| = f(c) = 1; |grad f| <= 2 pi nu (attained for K = 1
    # and d = 1; an upper bound otherwise); each term's Hessian has norm <= (2 pi nu)^2, attained
    # at c when the directions coincide, so both are bounds, exact for K = 1.
    return Target("ridge_nd", fn, d, "smooth",
                  f"mean_k cos(2 pi {frequency:g} w_k . (x - c)), K={n_ridges}, d={d}",
                  sup_norm=1.0, lipschitz=omega0, max_f2=omega0**2,
                  barron=math.pi * frequency * w.abs().sum(1).mean().item(), elementwise=False,
                  params={"directions": w, "frequency": float(frequency)})


def _ball_nd(d: int = 2, radius: float | None = None) -> Target:
    """1[|x - c| <= r], r = sqrt(d / 12) by default (about half the cube's mass inside).

    An indicator of a ball is discontinuous: its Fourier transform decays like |w|^{-(d+1)/2},
    so Barron's constant int |w| |F(w)| dw is infinite (Barron 1993, Section IX).
    """
    d = checks.integer("dimension d", d, low=1)
    r = math.sqrt(d / 12) if radius is None else float(radius)
    if not r > 0:
        raise ValueError(f"ball_nd needs radius > 0, got {radius!r}")
    return Target("ball_nd", lambda x: ((x - 0.5).square().sum(-1) <= r * r).to(x.dtype), d,
                  "discontinuous", f"1[|x - c| <= {r:.4g}], d={d}", sup_norm=1.0, lipschitz=None,
                  max_f2=None, barron=math.inf, elementwise=False)


_BUILDERS: dict[str, Callable[..., Target]] = {
    "sin": _sin, "gaussian": _gaussian, "square": _square, "abs": _abs, "triangle": _triangle,
    "step": _step, "weierstrass": _weierstrass, "gaussian_nd": _gaussian_nd,
    "ridge_nd": _ridge_nd, "ball_nd": _ball_nd,
}


def names() -> list[str]:
    """The catalogue's names ("sin" also answers to "sin1", "sin2", ...)."""
    return list(NAMES)


def get(name: str, **params) -> Target:
    """The target called ``name``, with optional parameters (e.g. get("sin", k=3), get("ridge_nd", d=8)).

    "sinK" is short for get("sin", k=K). Unknown names and parameters raise a ValueError.
    """
    if not isinstance(name, str):
        raise ValueError(f"target name must be a string, got {name!r}")
    match = re.fullmatch(r"sin(\d+)", name)
    if match:
        name, params = "sin", {"k": int(match.group(1)), **params}
    if name not in _BUILDERS:
        raise ValueError(f"unknown target {name!r}; allowed: {', '.join(NAMES)} (and sin1, sin2, ...)")
    try:
        return _BUILDERS[name](**params)
    except TypeError as err:  # an unknown keyword
        raise ValueError(f"bad parameters {params} for target {name!r}: {err}") from None


def sample(target: Target, n: int, noise: float = 0.0, seed: int = 0, *, grid: bool = False,
           dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """A data set (x, y): x (n, d) on [0, 1]^d, y = f(x) + noise * N(0, 1) of shape (n, 1).

    grid=False draws x uniformly at random; grid=True takes the grid with m points per axis
    (n = m^d, endpoints included). Everything is drawn in float64 on the CPU from one seeded
    generator and then cast and moved, so a seed gives the same data on every device.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"sample needs n >= 1 points, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    d = target.dim
    gen = torch.Generator().manual_seed(seed)
    if grid:
        m = round(n ** (1 / d))
        if m**d != n or m < 2:
            raise ValueError(f"a grid in d={d} needs n = m^d with m >= 2, got n={n} "
                             f"(nearest: {max(m, 2) ** d})")
        axis = torch.linspace(0, 1, m, dtype=torch.float64)
        x = torch.cartesian_prod(*[axis] * d).reshape(n, d)
    else:
        x = torch.rand(n, d, generator=gen, dtype=torch.float64)
    y = target(x).reshape(n, 1)
    if noise > 0:
        y = y + noise * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    device = resolve_device(device)
    return x.to(device, dtype), y.to(device, dtype)
