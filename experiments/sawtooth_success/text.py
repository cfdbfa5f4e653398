"""The gallery text of experiments/sawtooth_success, every number read from its DataFrame (the figure is
in figure.py). The piece bound holds by theorem and is labelled a check; P(success), the piece
counts and the failure modes are measurements. The papers that explain them are named only where
the measurement they explain is there, as explanations consistent with it, not as findings."""
from __future__ import annotations

import pandas as pd

from .analysis import CONSTANT_REL, SUCCESS_L2, at_constant, pieces_table, succeeded, success_table

__all__ = ["describe", "HANIN_ROLNICK_PER_NEURON", "MOSTLY"]

HANIN_ROLNICK_PER_NEURON = 2.0  # median pieces per neuron at or below this: "near the number of neurons"
MOSTLY = 0.25  # a failure mode named as an explanation covers at least this fraction of the failures


def describe(df: pd.DataFrame) -> str:
    table = success_table(df)
    texts = [_setup(df), _checks(df), _success(df, table), _pieces(df), _failures(df, table)]
    return " ".join(t for t in texts if t)


def _setup(df: pd.DataFrame) -> str:
    ks = sorted(df.k.unique())
    per_piece = "/".join(str(p) for p in sorted({int(r.n_points - 1) >> int(r.k) for r in df.itertuples()}))
    opts = []
    for optimizer, g in df.groupby("optimizer", sort=False):
        budget = f"{int(g.steps.iloc[0])} {'steps at lr ' + format(g.lr.iloc[0], 'g') if optimizer == 'adam' else 'iterations'}"
        cells = g.groupby(["width", "depth", "k"]).ngroups
        opts.append(f"{optimizer} ({budget}, {cells} cells, P <= {int(g.n_params.max())})")
    return (f"**Setup.** Networks [1, m x L, 1] with m = {', '.join(map(str, sorted(df.width.unique())))} and "
            f"L = {' and '.join(f'{f}k' if f > 1 else 'k' for f in sorted(df.depth_factor.unique()))} hidden layers, "
            f"trained on t^k for k = {ks[0]}..{ks[-1]} from {df.groupby(['optimizer', 'width', 'depth', 'k']).size().min()} "
            f"seeds per cell (He weights, first-layer kinks uniform on [0, 1]), full batch in float64 on the even "
            f"grid of {per_piece} points per piece of t^k (every kink among them), with {'; '.join(opts)}. A run succeeded when its exact L2 distance to t^k is "
            f"below {SUCCESS_L2:g}; P(success) with 95% Wilson intervals.")


def _checks(df: pd.DataFrame) -> str:
    below = int((df.pieces_after <= df.serra_bound).sum())
    under = int((df.serra_bound <= df.pieces_bound).sum())
    return (f"**Check (holds by theorem).** {below} of {len(df)} trained networks have at most prod (m_l + 1) = "
            f"(m + 1)^L pieces (Serra, Tjandraatmadja & Ramalingam 2018, one input), which is at most (2m)^L in "
            f"{under} of {len(df)} rows.")


def _cell_text(r) -> str:
    return f"{r.n_success}/{r.n_runs} = {r.p_success:.2f} [{r.p_lo:.2f}, {r.p_hi:.2f}] (m = {r.width}, L = {r.depth})"


def _success(df: pd.DataFrame, table: pd.DataFrame) -> str:
    parts = []
    for optimizer, t in table.groupby("optimizer", sort=False):
        found = t[t.n_success > 0]
        if found.empty:
            parts.append(f"{optimizer}: no success in {int(t.n_runs.sum())} runs (every cell's upper bound "
                         f"<= {t.p_hi.max():.3f})")
            continue
        best = found.sort_values("p_success", ascending=False).groupby("k").head(1).sort_values("k")
        text = f"{optimizer}: best cell at " + "; ".join(f"k = {r.k}: {_cell_text(r)}" for r in best.itertuples())
        beyond = t[t.k > found.k.max()]
        if len(beyond):
            text += (f"; 0 successes in all {int(beyond.n_runs.sum())} runs at k >= {int(beyond.k.min())} "
                     f"({len(beyond)} cells; each cell's upper bound <= {beyond.p_hi.max():.3f})")
        own = t[(t.width == 2) & (t.depth_factor == 1)].sort_values("k")
        if len(own):
            text += ("; the construction's own shape (m = 2, L = k): "
                     + ", ".join(f"{r.n_success}/{r.n_runs}" for r in own.itertuples())
                     + f" at k = {', '.join(map(str, own.k))}")
        parts.append(text)
    return "**P(success), measured.** " + ". ".join(parts) + "." + _depth_and_optimizer(table)


def _depth_and_optimizer(table: pd.DataFrame) -> str:
    """Pooled over widths at k = 1: depth k against 2k; and Adam against LM on the cells both ran."""
    text = []
    first = table[table.k == table.k.min()]
    if first.depth_factor.nunique() > 1:
        pooled = first.groupby("depth_factor")[["n_success", "n_runs"]].sum()
        text.append(f"At k = {int(first.k.iloc[0])}, pooled over widths and optimizers: "
                    + ", ".join(f"{'L = k' if f == 1 else f'L = {f}k'} {int(r.n_success)}/{int(r.n_runs)}"
                                for f, r in pooled.iterrows()))
    if table.optimizer.nunique() > 1:
        both = table.groupby(["width", "depth_factor", "k"]).filter(lambda g: g.optimizer.nunique() > 1)
        pooled = both.groupby("optimizer", sort=False)[["n_success", "n_runs"]].sum()
        text.append(f"on the {both.groupby(['width', 'depth_factor', 'k']).ngroups} cells both optimizers ran: "
                    + ", ".join(f"{o} {int(r.n_success)}/{int(r.n_runs)}" for o, r in pooled.iterrows()))
    return (" " + "; ".join(text) + ".") if text else ""


def _pieces(df: pd.DataFrame) -> str:
    p = pieces_table(df)
    per = "; ".join(f"{r.optimizer}, L = {'k' if r.depth_factor == 1 else f'{r.depth_factor}k'}: "
                    f"{r.init_per_neuron:.2f} at init, {r.after_per_neuron:.2f} trained (largest "
                    f"{r.max_after_per_neuron:.2f}; median {r.of_bound:.1e} of (2m)^L)" for r in p.itertuples())
    wins = df[succeeded(df.l2_after)]
    needed = df.pieces_target / df.neurons
    text = (f"**Pieces, measured** (approx.pieces, exact on [0, 1]): median pieces per neuron {per}. t^k needs "
            f"2^k pieces, {needed.min():.2f} to {needed.max():.2f} per neuron in these architectures")
    if len(wins):
        lo, hi = int(wins.pieces_after.min()), int(wins.pieces_after.max())
        text += (f"; the {len(wins)} successful network{'s' if len(wins) > 1 else ''} "
                 f"{'have' if len(wins) > 1 else 'has'} {lo if lo == hi else f'{lo} to {hi}'} pieces")
    text += "."
    if p.after_per_neuron.max() <= HANIN_ROLNICK_PER_NEURON and p.init_per_neuron.max() <= HANIN_ROLNICK_PER_NEURON:
        text += (" At initialisation and after training the count stays near or below the number of neurons, far "
                 "below (2m)^L, as Hanin & Rolnick (2019, \"Complexity of linear regions in deep networks\"; \"Deep "
                 "ReLU networks have surprisingly few activation patterns\") observe.")
    return text


def _failures(df: pd.DataFrame, table: pd.DataFrame) -> str:
    failed = df[~succeeded(df.l2_after)]
    if failed.empty:
        return ""
    constant = at_constant(failed.l2_after, failed.l2_constant)
    affine_init = (df.pieces_init == 1).groupby([df.width, df.depth]).mean()
    narrow = int(df.width.min())
    by_depth = affine_init.loc[narrow].sort_index()
    affine_after = float((failed.pieces_after == 1).mean())
    text = (f"**Failures, measured.** {constant.mean():.0%} of the {len(failed)} failed runs ended within "
            f"{CONSTANT_REL:.0%} of the L2 distance of the best constant on the grid (sqrt(1/12) = 0.289 for the "
            f"constant 1/2), and "
            f"{affine_after:.0%} are affine on [0, 1] (one piece). Affine already at initialisation, width {narrow}: "
            + ", ".join(f"{v:.0%} at L = {d}" for d, v in by_depth.items())
            + (f"; width {int(df.width.max())}: at most {affine_init.loc[int(df.width.max())].max():.0%}"
               if df.width.nunique() > 1 else "") + ".")
    explain = []
    if table.k.max() > max(table[table.n_success > 0].k, default=0):
        explain.append("That success vanishes as k grows, while t^k stays exactly representable at width 2 and "
                       "depth k, is consistent with Malach & Shalev-Shwartz (2019, \"Is deeper better only when "
                       "shallow is good?\"), who show, on fractal distributions, that "
                       "gradient-based training of deep networks succeeds only where shallow networks approximate "
                       "the target well; one hidden layer "
                       "needs 2^k units for t^k")
    if constant.mean() >= MOSTLY:
        explain.append("runs that end at the constant are consistent with the spectral bias of Rahaman et al. "
                       "(2019, \"On the spectral bias of neural networks\"): networks fit low frequencies first, "
                       "and t^k, periodic with period 2^(1-k), has no component below frequency 2^(k-1) but its "
                       "mean 1/2")
    if len(by_depth) > 1 and by_depth.iloc[-1] > by_depth.iloc[0] and by_depth.iloc[-1] >= MOSTLY:
        explain.append("the growth with depth of networks affine at initialisation is consistent with Lu et al. "
                       "(2020, \"Dying ReLU and initialization\"), who prove that a deep narrow ReLU network is "
                       "born dead with a probability that tends to 1 as the depth grows")
    return text + ((" " + "; ".join(explain) + ". These are explanations consistent with the measurement, "
                    "not tested here.") if explain else "")
