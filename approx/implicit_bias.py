"""Gradient descent on separable logistic regression for millions of steps, and Soudry et al.'s residual.

Soudry, Hoffer, Nacson, Gunasekar & Srebro (2018, JMLR), "The implicit bias of gradient descent on
separable data", Theorem 3: for linearly separable data X (n, p) with labels s_i = +-1, a loss
sum_i l(s_i <theta, X_i>) with l positive, beta-smooth, decreasing to 0 with an exponential tail
(the logistic l(u) = log(1 + e^-u), beta = 1/4), any start and any step below 2 / (beta
sigma_max^2(X)), gradient descent satisfies

    theta(t) = w_hat log t + rho(t),   rho(t) bounded,

where w_hat = argmin ||w|| s.t. s_i <w, X_i> >= 1 is the hard-margin SVM vector (approx.linear.
max_margin's direction divided by its margin). Hence theta / ||theta|| -> w_hat / ||w_hat||, with an
angle that decays like 1/log t (their Theorem 5, for almost every data set).

Our loss is the mean, (1/n) sum_i l(s_i <theta, X_i>) (approx.losses "logistic"): a step lr on it is
a step lr / n on their sum, so the condition reads lr < 8 n / sigma_max^2(X) (``max_lr``).

``logistic_gd`` runs that GD in NumPy float64 (a (n, p) matrix-vector product per step: a million
steps take seconds, where a Network and an engine per step would take minutes) and returns theta at
chosen steps; ``residual`` is ||theta(t) - w_hat log t||.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy.special import expit

__all__ = ["max_lr", "logistic_gd", "residual", "growth_per_decade"]


def max_lr(X: np.ndarray) -> float:
    """Soudry et al.'s largest step on the mean logistic loss: 2 / (beta sigma_max^2 / n), beta = 1/4."""
    X = np.asarray(X, dtype=np.float64)
    return 8.0 * X.shape[0] / np.linalg.norm(X, 2) ** 2


def logistic_gd(X: np.ndarray, signs: np.ndarray, theta0: np.ndarray, *, lr: float,
                record: Iterable[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GD theta <- theta + lr (1/n) sum_i s_i X_i sigmoid(-s_i <theta, X_i>) on the mean logistic loss.

    X: (n, p); signs: (n,) in {-1, +1}; theta0: (p,); record: the steps t >= 0 at which to keep theta
    (the last one is the number of steps run). Returns (steps (T,), thetas (T, p), losses (T,)).
    """
    X = np.asarray(X, dtype=np.float64)
    s = np.asarray(signs, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or s.shape != (X.shape[0],) or not np.all(np.abs(s) == 1):
        raise ValueError(f"need X (n, p) and n signs in {{-1, +1}}; got X {X.shape}, signs {s.shape}")
    steps = np.array(sorted({int(t) for t in record}), dtype=np.int64)
    if len(steps) == 0 or steps[0] < 0:
        raise ValueError(f"record must hold steps t >= 0; got {list(record)}")
    if not 0 < lr < max_lr(X):
        raise ValueError(f"lr must be in (0, {max_lr(X):.6g}) (Soudry et al.'s 2 / (beta sigma_max^2)); got {lr}")
    G = s[:, None] * X  # (n, p): margins are G theta
    step_matrix = lr * G.T / X.shape[0]  # (p, n): theta += step_matrix @ sigmoid(-G theta)
    theta = np.array(theta0, dtype=np.float64).reshape(-1).copy()
    thetas, losses, t = [], [], 0
    for target in steps:
        for _ in range(target - t):
            theta += step_matrix @ expit(-(G @ theta))
        t = target
        thetas.append(theta.copy())
        losses.append(np.logaddexp(0.0, -(G @ theta)).mean())  # log(1 + e^-margin), no overflow
    return steps, np.array(thetas), np.array(losses)


def residual(steps: np.ndarray, thetas: np.ndarray, w_hat: np.ndarray) -> np.ndarray:
    """||theta(t) - w_hat log t|| for t >= 1 (T,); NaN at t = 0, where log t is undefined."""
    steps = np.asarray(steps, dtype=np.float64)
    logs = np.log(np.where(steps >= 1, steps, np.nan))
    return np.linalg.norm(thetas - logs[:, None] * np.asarray(w_hat)[None, :], axis=1)


def growth_per_decade(steps: np.ndarray, values: np.ndarray, scale: float) -> dict[int, float]:
    """{10^k: (values(10^k) - values(10^(k-1))) / (scale ln 10)} for every decade recorded at both ends.

    With values = ``residual`` and scale = ||w_hat||, this is the residual's growth per decade of t as a
    fraction of w_hat log t's: a bounded rho makes it shrink toward 0 (the increments of a bounded
    sequence of decades are summable), a wrong w_hat' leaves it near ||w_hat - w_hat'|| / ||w_hat||.
    """
    at = dict(zip(np.asarray(steps, dtype=np.int64).tolist(), np.asarray(values, dtype=np.float64).tolist()))
    out = {}
    k = 1
    while 10 ** k <= max(at):
        if 10 ** k in at and 10 ** (k - 1) in at:
            out[10 ** k] = (at[10 ** k] - at[10 ** (k - 1)]) / (scale * np.log(10.0))
        k += 1
    return out
