"""The gallery text of experiments/yarotsky, every number read from its DataFrame (the figure is in
figure.py). What holds by theorem (each network meets its eps, the bound holds) is labelled a
check; the fitted growth rates are measurements of these constructions."""
from __future__ import annotations

import pandas as pd

from .analysis import FIT_MIN_EXPONENT, deep_fit, depth_rates, shallow_rate

__all__ = ["describe"]


def describe(df: pd.DataFrame) -> str:
    texts = [_checks(df), _square(df), _xy(df)]
    return "\n\n".join(t for t in texts if t)


def _range(rows: pd.DataFrame) -> str:
    return f"eps = 2^-{int(rows.eps_exponent.min())} to 2^-{int(rows.eps_exponent.max())}"


def _checks(df: pd.DataFrame) -> str:
    sq, xy = df[df.target == "square"], df[df.target == "xy"]
    parts = []
    if len(sq):
        met = int((sq.sup_error <= sq.eps_target).sum())
        exact = (sq.sup_error / sq.error_bound - 1).abs().max()
        pieces = int((sq.pieces == sq.n_pieces).sum())
        parts.append(f"{met} of the {len(sq)} networks for x^2 ({_range(sq)}, depths "
                     f"{', '.join(map(str, sorted(sq[sq.construction != 'yarotsky'].depth.unique())))} and "
                     f"Yarotsky's log2 N) meet their eps; their exact sup error (read off the breakpoints) is "
                     f"1/(4N^2) to within a relative {exact:.1e}, and {pieces} of them have exactly N pieces")
    if len(xy):
        within = int((xy.sup_error <= xy.error_bound).sum())
        bounded = int((xy.error_bound <= xy.eps_target).sum())
        parts.append(f"{within} of the {len(xy)} networks for xy stay within their bound 3 delta on the "
                     f"grid (largest grid error {xy.sup_error.div(xy.eps_target).max():.2f} eps), and "
                     f"{bounded} have 3 delta <= eps")
    above = df[df.params >= df.params_lower_bound]
    ratio = (df.params / df.params_lower_bound)
    worst = df.loc[ratio.idxmin()]
    parts.append(f"{len(above)} of {len(df)} have at least as many parameters as the lower bound at their "
                 f"depth (closest: {worst.params} against {worst.params_lower_bound:.1f} for "
                 f"{'x^2' if worst.target == 'square' else 'xy'} at L = {worst.depth}, eps = "
                 f"2^-{worst.eps_exponent})")
    return ("**Checks (hold by theorem).** " + "; ".join(parts) + ". The lower bound: a ReLU network with "
            "hidden widths m_1..m_L has at most prod (m_l + 1) pieces, and x^2 needs N_min = "
            "ceil(1/sqrt(8 eps)) of them (a piece of length h costs h^2/8), so a dense network needs "
            "(L + 1)(N_min^2 / 2^(L-1))^(1/(L+1)) parameters: the counting argument of Yarotsky's (2017) "
            "Theorem 6, whose bound for fixed depth is of the order eps^(-1/(2L)) weights, stated up to constants.")


def _square(df: pd.DataFrame) -> str:
    sq = df[df.target == "square"]
    if sq.eps_exponent.nunique() < 3:
        return ""
    shallow = shallow_rate(df)
    verdict = ("contains" if shallow.contains(0.5) else
               f"misses it by {min(abs(0.5 - shallow.lo), abs(0.5 - shallow.hi)):.3f}: the + 1 and the ceiling "
               "bend the log-log line at small N")
    one = sq[sq.construction == "interpolant"]
    exact_count = int((one.params == 3 * one.n_pieces + 1).sum())
    rates = depth_rates(df)
    fixed = "; ".join(f"L = {int(r.depth)}: {r.slope:.2f} [{r.lo:.2f}, {r.hi:.2f}] (bound's {r.bound_exponent:.2f}, "
                      f"Yarotsky's order {r.yarotsky_order:.2f})" for r in rates.itertuples() if r.depth > 1)
    deep = deep_fit(df)
    last = sq[sq.eps_exponent == sq.eps_exponent.max()].sort_values("params", ascending=False)
    at_last = ", ".join(f"{int(r.params)} at L = {int(r.depth)}" + (" (Yarotsky's)" if r.construction == "yarotsky" else "")
                        for r in last.itertuples())
    bounds = ", ".join(f"{r.params_lower_bound:.0f} at L = {int(r.depth)}" for r in last.itertuples())
    rate = deep["loglog_slope"]
    return (f"**x^2, measured on the constructions** (log-log fits over eps <= 2^-{FIT_MIN_EXPONENT}, 95% "
            f"intervals; the counts are deterministic, so an interval measures how far they are from a power "
            f"law). One hidden layer: parameters grow as (1/eps)^{shallow.slope:.3f} [{shallow.lo:.3f}, "
            f"{shallow.hi:.3f}], against the theory's 1/2 (the count is 3N + 1 with N = ceil(1/(2 sqrt eps)), "
            f"in {exact_count} of {len(one)} rows); the interval {verdict}. "
            f"Fixed depth, fewest-parameter bases: {fixed}; the bound's exponents are those of a lower "
            f"bound which every count stays above (the check above), not predictions of these slopes. "
            f"{_shapes(last)} Yarotsky's composition (depth log2 N): parameters = "
            f"{deep['intercept']:.1f} + {deep['per_bit']:.2f} log2(1/eps) (largest residual "
            f"{deep['max_residual']:.1f}; {deep['per_layer']:.0f} per layer), log-log slope "
            f"{rate.slope:.3f} [{rate.lo:.3f}, {rate.hi:.3f}]: logarithmic growth. At eps = "
            f"2^-{int(last.eps_exponent.iloc[0])}: {at_last} parameters; lower bounds {bounds}.")


def _xy(df: pd.DataFrame) -> str:
    xy = df[df.target == "xy"]
    if xy.empty:
        return ""
    last = xy[xy.eps_exponent == xy.eps_exponent.max()].sort_values("params", ascending=False)
    at_last = ", ".join(f"{int(r.params)} at L = {int(r.depth)}" + (" (Yarotsky's)" if r.construction == "yarotsky" else "")
                        for r in last.itertuples())
    text = (f"**xy by polarisation**, xy = 2 s((x+y)/2) - s(x)/2 - s(y)/2 with s the square network to "
            f"eps/3 (three copies side by side; error <= 3 delta by the triangle inequality), checked on a "
            f"grid, which bounds the sup from below only. At eps = 2^-{int(last.eps_exponent.iloc[0])}: {at_last} "
            f"parameters")
    if xy.eps_exponent.nunique() >= 3:
        shallow = shallow_rate(df, "xy")
        text += (f"; one hidden layer grows as (1/eps)^{shallow.slope:.3f} [{shallow.lo:.3f}, {shallow.hi:.3f}], "
                 f"Yarotsky's as {deep_fit(df, 'xy')['per_bit']:.1f} parameters per halving of eps")
    return text + "."


def _shapes(rows: pd.DataFrame) -> str:
    """The bases and widths the exact minimum picks at the smallest eps, for depths 2 to 4."""
    picked = rows[(rows.construction == "blocks") & rows.depth.between(2, 4)].sort_values("depth")
    if picked.empty:
        return ""
    shapes = ", ".join(f"L = {int(r.depth)}: bases {r.bases}, widths {r.widths}" for r in picked.itertuples())
    return f"The fewest-parameter shapes at eps = 2^-{int(rows.eps_exponent.iloc[0])}: {shapes}."
