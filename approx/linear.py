"""Closed-form references for the networks without a hidden layer, and random-features regression.

With no hidden layer a Network [d, 1] with identity output is the linear model f(x) = <w, x> + b.
Write theta = (w, b) and X for the design matrix [x, 1] (n, p = d + 1). Then:

* **Least squares.** L(theta) = (1/n) ||X theta - y||^2 (approx.losses "mse") is a convex
  quadratic with Hessian H = (2/n) X^T X. Gradient descent theta_{t+1} = theta_t - eta grad L
  moves the error e_t = theta_t - theta* by e_{t+1} = (I - eta H) e_t, so with eta = 1/lambda_max(H)

      ||theta_t - theta*|| <= (1 - eta lambda_min(H))^t ||theta_0 - theta*||,
      L(theta_t) - L*      <= (1 - eta lambda_min(H))^(2t) (L(theta_0) - L*),

  the linear rate set by the condition number kappa = lambda_max / lambda_min (``gd_rate``).
  theta* is the closed-form solution (``least_squares``, minimum norm via the SVD).
* **Separable logistic regression.** L(theta) = mean softplus(X theta) - y X theta has no
  minimiser; GD drives it to 0 and theta_t / ||theta_t|| converges to the hard-margin SVM
  direction argmin ||theta|| s.t. s_i <theta, X_i> >= 1 (s_i = 2 y_i - 1), with an angle that
  decays like 1/log t (Soudry, Hoffer, Nacson, Gunasekar & Srebro 2018). ``max_margin`` solves
  that quadratic programme exactly by Lawson & Hanson's (1974, ch. 23) reduction of least
  distance programming to non-negative least squares (scipy.optimize.nnls, a finite active-set
  method), so no tolerance of an iterative QP solver enters the reference.
* **Non-separable logistic regression.** L is strictly convex with a unique minimiser, which
  ``logistic_optimum`` finds by Newton's method with backtracking (quadratic convergence; it
  stops at a gradient norm of ``tol``).
* **Random features** (Rahimi & Recht 2007; Belkin, Hsu, Ma & Mandal 2019): a first layer
  drawn at random and frozen, features phi(x) = relu(x W^T + b) (n, N), and an output layer
  solved in closed form: the minimum-norm least-squares solution, or with a ridge
  argmin (1/n) ||Phi v - y||^2 + ridge ||v||^2 = V diag(s / (s^2 + n ridge)) U^T y.
  Without a ridge the test error peaks where the features can first interpolate, N = n.

Everything is float64-friendly torch on the tensors' device, except the NNLS (SciPy, on CPU).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import nnls
from torch import Tensor

from .network import Layer, Network

__all__ = [
    "design_matrix", "least_squares", "LinearRate", "gd_rate", "linear_network",
    "max_margin", "logistic_optimum", "angle", "random_features", "minimum_norm_fit",
    "fit_output_layer",
]


def design_matrix(x: Tensor, bias: bool = True) -> Tensor:
    """X = [x, 1] (n, d + 1) when ``bias``, else x (n, d): the model is X theta."""
    _check_matrix(x, "x")
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1) if bias else x


def least_squares(x: Tensor, y: Tensor, *, bias: bool = True, ridge: float = 0.0) -> Tensor:
    """theta* = argmin (1/n) ||X theta - y||^2 + ridge ||theta||^2 of minimum norm, via the SVD.

    x: (n, d); y: (n,) or (n, k). Returns (p,) or (p, k) with p = d + bias.
    """
    return minimum_norm_fit(design_matrix(x, bias), y, ridge=ridge)


def minimum_norm_fit(features: Tensor, y: Tensor, *, ridge: float = 0.0) -> Tensor:
    """v = V diag(s / (s^2 + n ridge)) U^T y for features = U diag(s) V^T (n, p).

    With ridge = 0 this is pinv(features) y, singular values below max(n, p) eps s_max counted
    as zero (numpy's and torch's pinv cut-off): the minimum-norm least-squares solution.
    """
    _check_matrix(features, "features")
    n = features.shape[0]
    if y.shape[0] != n or y.ndim not in (1, 2):
        raise ValueError(f"y must be ({n},) or ({n}, k) to match features {tuple(features.shape)}; got {tuple(y.shape)}")
    if not (ridge >= 0 and math.isfinite(ridge)):
        raise ValueError(f"ridge must be a finite number >= 0; got {ridge}")
    u, s, vh = torch.linalg.svd(features, full_matrices=False)
    cutoff = max(features.shape) * torch.finfo(features.dtype).eps * s.max()
    keep = s > cutoff
    inv = torch.where(keep, s / (s.square() + n * ridge), torch.zeros_like(s))
    coef = u.T @ y.to(features.dtype)  # (r,) or (r, k)
    coef = coef * (inv if y.ndim == 1 else inv[:, None])
    return vh.T @ coef


@dataclass(frozen=True)
class LinearRate:
    """GD on (1/n) ||X theta - y||^2: Hessian H = (2/n) X^T X, step ``lr``, contraction ``rate``."""

    lambda_min: float  # smallest eigenvalue of H (the smallest nonzero one if X is rank deficient)
    lambda_max: float  # largest eigenvalue of H
    lr: float  # eta
    rate: float  # max_i |1 - eta lambda_i|: ||theta_t - theta*|| <= rate^t ||theta_0 - theta*||

    @property
    def condition_number(self) -> float:
        return self.lambda_max / self.lambda_min

    def bound(self, steps) -> np.ndarray:
        """rate^t for t in ``steps``: the predicted decay of ||theta_t - theta*|| / ||theta_0 - theta*||."""
        return self.rate ** np.asarray(steps, dtype=float)


def gd_rate(x: Tensor, *, bias: bool = True, lr: float | None = None) -> LinearRate:
    """The linear rate of GD on least squares; ``lr=None`` takes eta = 1 / lambda_max(H).

    For eta <= 1 / lambda_max the rate is 1 - eta lambda_min; for a larger eta it is
    max(|1 - eta lambda_min|, |1 - eta lambda_max|) (>= 1 means GD diverges).
    """
    X = design_matrix(x, bias).to(torch.float64)
    eig = torch.linalg.eigvalsh(2.0 / X.shape[0] * X.T @ X)
    lam_max = eig[-1].item()
    nonzero = eig[eig > X.shape[1] * torch.finfo(torch.float64).eps * lam_max]
    lam_min = nonzero[0].item()
    eta = 1.0 / lam_max if lr is None else float(lr)
    if not eta > 0:
        raise ValueError(f"lr must be > 0; got {lr}")
    rate = max(abs(1 - eta * lam_min), abs(1 - eta * lam_max))
    return LinearRate(lam_min, lam_max, eta, rate)


def linear_network(theta: Tensor, d: int, *, bias: bool = True) -> Network:
    """The Network [d, 1] (identity output) computing <w, x> + b for theta = (w, b) or w."""
    if theta.shape != (d + bias,):
        raise ValueError(f"theta must have shape ({d + bias},) for d = {d}, bias = {bias}; got {tuple(theta.shape)}")
    w = theta[:d].reshape(1, d).clone()
    b = theta[d:].clone() if bias else theta.new_zeros(1)
    return Network([Layer(w, b, "identity")])


def max_margin(x: Tensor, signs: Tensor, *, bias: bool = True) -> tuple[Tensor, float]:
    """(direction, margin) of the hard-margin SVM on X = design_matrix(x, bias), labels +-1.

    Solves min ||theta|| s.t. s_i <X_i, theta> >= 1 by least distance programming
    (Lawson & Hanson 1974, Algorithm LDP): with G = diag(s) X and E = [G^T; 1^T] (p + 1, n),
    u = argmin_{u >= 0} ||E u - e_{p+1}|| (NNLS), r = E u - e_{p+1}, theta = -r_{1:p} / r_{p+1}.
    Returns theta / ||theta|| and the geometric margin 1 / ||theta||. Raises ValueError if the
    data are not linearly separable (then r = 0).
    """
    X = design_matrix(x, bias)
    s = _check_signs(signs, X.shape[0])
    G = (s.to(X.dtype)[:, None] * X).detach().cpu().numpy().astype(np.float64)  # (n, p)
    p = G.shape[1]
    E = np.vstack([G.T, np.ones((1, G.shape[0]))])  # (p + 1, n)
    f = np.zeros(p + 1)
    f[p] = 1.0
    u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    r = E @ u - f
    if abs(r[p]) < 1e-12:
        raise ValueError("the data are not linearly separable by <theta, X_i>: no max-margin direction exists")
    theta = torch.as_tensor(-r[:p] / r[p], dtype=X.dtype, device=X.device)
    norm = theta.norm()
    return theta / norm, 1.0 / norm.item()


def logistic_optimum(x: Tensor, y: Tensor, *, bias: bool = True, tol: float = 1e-12,
                     max_iter: int = 100) -> Tensor:
    """argmin_theta mean(softplus(X theta) - y X theta) for y in {0, 1}, by damped Newton.

    Raises ValueError on separable data (no minimiser) or when Newton does not reach a gradient
    norm of ``tol`` within ``max_iter`` steps.
    """
    X = design_matrix(x, bias).to(torch.float64)
    y = y.reshape(-1).to(X)
    if y.shape[0] != X.shape[0] or not bool(((y == 0) | (y == 1)).all()):
        raise ValueError(f"y must hold {X.shape[0]} labels in {{0, 1}}")
    try:
        max_margin(x.to(torch.float64), 2 * y - 1, bias=bias)
    except ValueError:
        pass  # not separable: a minimiser exists
    else:
        raise ValueError("the data are linearly separable: the logistic loss has no minimiser")

    def loss(theta: Tensor) -> float:
        z = X @ theta
        return (torch.nn.functional.softplus(z) - y * z).mean().item()

    theta = X.new_zeros(X.shape[1])
    n = X.shape[0]
    for _ in range(max_iter):
        prob = torch.sigmoid(X @ theta)
        grad = X.T @ (prob - y) / n
        if grad.norm().item() <= tol:
            return theta.to(x.dtype)
        hess = (X.T * (prob * (1 - prob))) @ X / n
        step = torch.linalg.solve(hess, grad)
        t, current = 1.0, loss(theta)
        while loss(theta - t * step) > current - 0.25 * t * (grad @ step).item() and t > 1e-10:
            t /= 2  # Armijo backtracking
        theta = theta - t * step
    raise ValueError(f"Newton did not reach a gradient norm of {tol} in {max_iter} steps")


def angle(u: Tensor, v: Tensor) -> float:
    """The angle between u and v in radians, 2 atan2(|u^ - v^|, |u^ + v^|) (accurate near 0)."""
    u, v = u.reshape(-1) / u.norm(), v.reshape(-1) / v.norm()
    return 2.0 * math.atan2((u - v).norm().item(), (u + v).norm().item())


def random_features(d: int, n_features: int, *, seed: int = 0, lo: float = 0.0, hi: float = 1.0,
                    dtype=torch.float64, device="cpu") -> Network:
    """A Network [d, N, 1] with a random, frozen relu first layer whose kinks cut the data cube.

    Unit r computes relu(<w_r, x - c_r>) with w_r ~ N(0, I_d) and c_r ~ U([lo, hi]^d): its kink
    (the hyperplane <w_r, x> = <w_r, c_r>) passes through the cube where the data live, so no
    feature is identically zero or affine on the data (with torch.nn.Linear's init many would
    be, and the effective number of features would not be N). Seeded; the output layer is zero
    until ``fit_output_layer`` solves it.
    """
    if d < 1 or n_features < 1 or not hi > lo:
        raise ValueError(f"need d >= 1, n_features >= 1 and lo < hi; got d={d}, n_features={n_features}, [{lo}, {hi}]")
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n_features, d, generator=gen, dtype=torch.float64)  # (N, d)
    c = lo + (hi - lo) * torch.rand(n_features, d, generator=gen, dtype=torch.float64)  # (N, d)
    b = -(w * c).sum(dim=1)  # (N,)
    hidden = Layer(w.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype), "relu")
    out = torch.zeros(1, n_features, dtype=dtype, device=device)
    return Network([hidden, Layer(out, out.new_zeros(1), "identity")])


def fit_output_layer(net: Network, x: Tensor, y: Tensor, *, ridge: float = 0.0) -> Network:
    """``net`` with its last layer solved by ``minimum_norm_fit`` on the frozen hidden features."""
    if net.ensemble is not None or net.depth < 2 or net.sizes[-1] != 1:
        raise ValueError(f"need a single network with a hidden layer and one output; got {net!r}")
    h = x
    for layer in net.layers[:-1]:
        h = Network([layer])(h)  # (n, width) features of the frozen layers
    v = minimum_norm_fit(h, y.reshape(-1), ridge=ridge)
    params = net.parameters()
    params[-2] = v.reshape(1, -1).to(params[-2])
    params[-1] = torch.zeros_like(params[-1])
    return net.with_parameters(params)


def _check_matrix(t: Tensor, name: str) -> None:
    if not isinstance(t, Tensor) or t.ndim != 2 or t.shape[0] < 1 or not t.is_floating_point():
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a float tensor of shape (n, d) with n >= 1; got {got}")


def _check_signs(signs: Tensor, n: int) -> Tensor:
    s = torch.as_tensor(signs).reshape(-1)
    if s.shape[0] != n or not bool(((s == 1) | (s == -1)).all()):
        raise ValueError(f"signs must hold {n} labels in {{-1, +1}}")
    return s
