"""Depth versus width: functions a small deep network represents and a shallow one cannot.

    approx run depth_separation                  # default preset -> results/depth_separation.*
    approx run depth_separation --preset smoke   # seconds on CPU; what the tests run

Four parts, one tidy DataFrame whose ``part`` column names them:

constructed
    Telgarsky's sawtooth t^k (2^k pieces) is k hidden layers of width 2, 6k + 1 parameters;
    one hidden layer needs 2^k units, 3 * 2^k + 1 parameters (minimal:
    approx.constructions.depth.sawtooth_shallow_width). Yarotsky's x^2 to error 2^(-2m-2):
    12m - 2 parameters deep, 3 * 2^m + 1 shallow, and any one-hidden-layer network reaching
    it needs >= 2^(m - 1/2) pieces (a piece of length h costs h^2/8). Linear versus exponential.
sawtooth
    Trained on t^k, k = 1..6 (1..8 in the full preset; at scale, with more seeds, widths and
    optimizers: experiments/sawtooth_success): deep narrow networks (L = k and 2k hidden layers of width 8) and
    one-hidden-layer networks matched to each in parameters, of 2^k units (enough to represent
    t^k) and of 4 * 2^k (up to 1024); all seeds times all learning rates as one ensemble, Adam,
    full batch on the kinks and midpoints j / 2^(k+1) (or --set optimizer=lbfgs or lm: L-BFGS
    or Levenberg-Marquardt, one run per seed). Errors are exact (both functions are
    piecewise linear: the sup and L2 distances are read off the union of their breakpoints),
    and approx.pieces counts the pieces each trained network realises, against 2^k and the
    (2m)^L bound.
alternating
    Telgarsky (2015)'s 2^k alternating points: zero error for the sawtooth; error >= 1/6 for
    any network with l layers of m <= 2^((k-3)/l - 1) units. Trained deep and shallow networks,
    with the floor (n - t - 1)/(2n) implied by each network's own piece count t.
radial
    A radial target in d dimensions (Eldan & Shamir 2016; Safran & Shamir 2017): a smoothed
    indicator of the unit ball, 2-layer (one hidden) versus 3-layer (two hidden) networks with
    equal parameter counts, trained online (online.py: Adam on fresh points every step, so the
    training error is the population error: approximation, not generalization) and tested on
    100,000 fresh points; error versus size and versus training steps.

The Config (config.py) groups each part's own fields, set with dotted keys:

    approx run depth_separation --set radial.dims=2,8 --set sawtooth.ks=1,2,3

``run`` is the concatenation of ``run_point`` over ``points`` (one per part and k or d). The
parts are computed in parts.py, drawn in figure.py and described in text.py.
"""
from __future__ import annotations

import pandas as pd

from approx.compiled_step import records_compile_time
from approx.device import threads

from . import parts
from .config import PARTS, PRESETS, Alternating, Config, Constructed, Radial, Sawtooth
from .figure import plot
from .text import describe

__all__ = ["PARTS", "PRESETS", "Config", "Constructed", "Sawtooth", "Alternating", "Radial", "describe", "plot",
           "points", "run", "run_point"]


def points(cfg: Config) -> list[dict]:
    return ([{"part": "constructed"}] + [{"part": "sawtooth", "k": k} for k in cfg.sawtooth.ks]
            + [{"part": "alternating", "k": k} for k in cfg.alternating.ks]
            + [{"part": "radial", "d": d} for d in cfg.radial.dims])


@records_compile_time
def run_point(cfg: Config, point: dict) -> pd.DataFrame:
    with threads(cfg.threads):
        return _run_part(cfg, point)


def _run_part(cfg: Config, point: dict) -> pd.DataFrame:
    part = point.get("part")
    if part == "constructed":
        return parts.constructed(cfg)
    if part == "sawtooth":
        return parts.trained_sawtooth(cfg, int(point["k"]))
    if part == "alternating":
        return parts.alternating(cfg, int(point["k"]))
    if part == "radial":
        return parts.radial(cfg, int(point["d"]))
    raise ValueError(f"unknown part {part!r}; allowed: {', '.join(PARTS)}")


def run(cfg: Config) -> pd.DataFrame:
    return pd.concat([run_point(cfg, p) for p in points(cfg)], ignore_index=True)
