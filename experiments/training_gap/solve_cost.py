"""The cost of one Levenberg-Marquardt iteration of experiments/training_gap, by its parts and by
the form of the damped solve (approx.levenberg_marquardt): the Jacobian, the QR of [J r] that the
primal form needs once per Jacobian, and one solve of the damped problem, primal ((2), the
stacked (m + P) x P problem, ~2 (m + P) P^2 flops) or dual ((3), the (P + m) x m kernel form,
~2 (P + m) m^2), per width, for networks [1, n, 1] (P = 3n + 1) on the study's m = n_train points
and on m = solve_cost_batches points (the cost against the batch).

An accepted iteration costs Jacobian + factor + solve (primal) or Jacobian + solve (dual);
approx.levenberg_marquardt takes the dual where m < P, the primal otherwise, which the column
``chosen`` records. Timings are the fastest of ``REPEATS`` runs (the least disturbed by other
work on the machine), on an ensemble of at most ``MAX_MEMBERS`` members, per member."""
from __future__ import annotations

import time

import torch

from approx.device import resolve_device
from approx.jacobian import jacobian
from approx.levenberg_marquardt import _factor, solve_damped

from .config import Config
from .inits import initial_ensemble

__all__ = ["solve_cost", "REPEATS", "MAX_MEMBERS"]

REPEATS = 3  # timings: the fastest of this many runs
MAX_MEMBERS = 8  # members timed together (the cost is linear in them: batched over members)


def solve_cost(cfg: Config) -> list[dict]:
    """One row per (m, width in cfg.solve_cost_widths, form), m = n_train first, then each of
    cfg.solve_cost_batches: seconds per member for the Jacobian, the factorisation and one damped
    solve, and their sum, iteration_s."""
    device = resolve_device(cfg.device)
    members = min(MAX_MEMBERS, len(cfg.targets) * cfg.n_seeds)
    activation = cfg.activations[0]
    rows = []
    for m in dict.fromkeys((cfg.n_train, *cfg.solve_cost_batches)):  # the study's m first
        rows += _rows_at(cfg, m, members, activation, device)
    return rows


def _rows_at(cfg: Config, n_train: int, members: int, activation: str, device) -> list[dict]:
    """solve_cost's rows for m = n_train residuals."""
    x = torch.linspace(0, 1, n_train, dtype=torch.float64, device=device)[:, None]  # (m, 1)
    rows = []
    for width in cfg.solve_cost_widths:
        net = initial_ensemble(cfg.inits[0], width, activation, list(range(cfg.seed, cfg.seed + members)),
                               steepness=cfg.init_steepness, mean_field=cfg.mean_field, device=device)
        jac_s, jac = _fastest(lambda: jacobian(net, x, engine=cfg.engine).reshape(members, n_train, -1))
        r = torch.sin(3 * x[:, 0]).expand(members, -1).contiguous()  # (E, m): any residual costs the same
        scale = jac.norm(dim=1).clamp(min=1.0)  # (E, P): D, as LM's first Jacobian gives it
        lam = torch.full((members,), 1e-3, dtype=jac.dtype, device=device)
        factor_s, (r_factor, qtr) = _fastest(lambda: _factor_primal(jac, r))
        primal_s, _ = _fastest(lambda: solve_damped(r_factor, qtr, scale, lam, form="primal"))
        dual_s, _ = _fastest(lambda: solve_damped(jac, r, scale, lam, form="dual"))
        chosen = "dual" if n_train < net.n_params else "primal"
        common = {"table": "solve_cost", "width": width, "n_params": net.n_params, "n_train": n_train,
                  "n_members": members, "activation": activation, "engine": cfg.engine}
        for form, factor, solve in (("primal", factor_s, primal_s), ("dual", 0.0, dual_s)):
            rows.append({**common, "form": form, "chosen": form == chosen, "jacobian_s": jac_s / members,
                         "factor_s": factor / members, "solve_s": solve / members,
                         "iteration_s": (jac_s + factor + solve) / members})
    return rows


def _factor_primal(jac: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The primal form's R and Q^T r, also where m < P (where LM itself skips this QR)."""
    if jac.shape[-2] >= jac.shape[-1]:
        return _factor(jac, r)
    aug = torch.linalg.qr(torch.cat([jac, r.unsqueeze(-1)], dim=-1), mode="r")[1]  # (E, m, P + 1)
    return aug[..., :-1], aug[..., -1]


def _fastest(work) -> tuple[float, object]:
    """(the fastest wall time of REPEATS calls, the last result)."""
    best, result = float("inf"), None
    for _ in range(REPEATS):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = work()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result
