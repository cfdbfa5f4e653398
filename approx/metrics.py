"""Errors of an approximant on a grid, and convergence rates fitted on log-log axes.

    err_sup = max_i |g(x_i) - f(x_i)|                 (sup norm on the grid)
    err_l2  = sqrt(mean_i (g(x_i) - f(x_i))^2)        (L2 norm on [lo, hi] by the midpoint rule,
                                                       normalised by the interval's length)

A rate is the slope of log(err) against log(n): err ~ C n^slope. ``loglog_slope`` fits it by
least squares and returns a confidence interval from Student's t distribution with n_points - 2
degrees of freedom, so "O(1/n)" becomes the testable claim "slope = -1 lies in the interval".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from scipy import stats
from torch import Tensor

__all__ = ["grid", "errors", "sup_error", "l2_error", "Rate", "loglog_slope"]


def grid(n: int = 10_001, lo: float = 0.0, hi: float = 1.0, *, dtype=torch.float64, device="cpu") -> Tensor:
    """n equally spaced points of [lo, hi], as a column (n, 1)."""
    if n < 2:
        raise ValueError(f"a grid needs n >= 2 points, got {n}")
    if not hi > lo:
        raise ValueError(f"need lo < hi, got [{lo}, {hi}]")
    return torch.linspace(lo, hi, n, dtype=dtype, device=device).unsqueeze(1)


def _residual(approximant: Callable[[Tensor], Tensor], f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    g, target = approximant(x), f(x)  # (n, 1) or (n,) each
    if g.numel() != target.numel():
        raise ValueError(f"approximant gives {tuple(g.shape)} but the target gives {tuple(target.shape)}")
    return g.reshape(-1) - target.reshape(-1)


def errors(approximant: Callable[[Tensor], Tensor], f: Callable[[Tensor], Tensor], x: Tensor) -> dict[str, float]:
    """{"err_sup", "err_l2"} of ``approximant`` against ``f`` on the points x (n, d)."""
    r = _residual(approximant, f, x).detach()
    return {"err_sup": r.abs().max().item(), "err_l2": r.square().mean().sqrt().item()}


def sup_error(approximant, f, x: Tensor) -> float:
    return errors(approximant, f, x)["err_sup"]


def l2_error(approximant, f, x: Tensor) -> float:
    return errors(approximant, f, x)["err_l2"]


@dataclass(frozen=True)
class Rate:
    """err ~ C n^slope, fitted on log-log axes; [lo, hi] is a ``level`` confidence interval."""

    slope: float
    lo: float
    hi: float
    intercept: float  # log C
    n_points: int
    level: float

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"{self.slope:.2f} [{self.lo:.2f}, {self.hi:.2f}]"


def loglog_slope(n: Sequence[float], err: Sequence[float], level: float = 0.95) -> Rate:
    """Least-squares slope of log(err) on log(n), with a Student-t confidence interval.

    Points with err <= 0 (exact fits) or a non-finite err carry no rate information and are
    dropped. With two points the slope is exact and the interval is infinite; with fewer, or
    with a single distinct n (no slope to fit), a ValueError is raised, as for an n that is not
    a finite number > 0 or a level outside (0, 1).
    """
    n = np.asarray(n, dtype=float)
    err = np.asarray(err, dtype=float)
    if n.shape != err.shape or n.ndim != 1:
        raise ValueError(f"n and err must be two sequences of one length, got shapes {n.shape} and {err.shape}")
    if not (np.isfinite(n) & (n > 0)).all():
        raise ValueError(f"every n must be a finite number > 0, got {n[~(np.isfinite(n) & (n > 0))].tolist()}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    keep = (err > 0) & np.isfinite(err)
    lx, ly = np.log(n[keep]), np.log(err[keep])
    k = lx.size
    if k < 2:
        raise ValueError(f"a rate needs >= 2 points with positive error, got {k}")
    if np.unique(lx).size < 2:
        raise ValueError(f"a rate needs >= 2 distinct n among the points with positive error, got only n = {n[keep][0]:g}")
    slope, intercept = np.polyfit(lx, ly, 1)
    if k == 2:
        return Rate(float(slope), -np.inf, np.inf, float(intercept), k, level)
    resid = ly - (slope * lx + intercept)
    s2 = resid @ resid / (k - 2)
    se = np.sqrt(s2 / np.sum((lx - lx.mean()) ** 2))
    half = stats.t.ppf(0.5 + level / 2, k - 2) * se
    return Rate(float(slope), float(slope - half), float(slope + half), float(intercept), k, level)
