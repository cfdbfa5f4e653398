"""Ensembles: E tiny networks trained as one batched computation vs a Python loop, per model.

    approx run ensembles                  # default: < 60 s on a 2-core CPU -> results/ensembles-cpu.*
    approx run ensembles --preset smoke   # seconds; what the tests run
    approx run ensembles --device cuda    # the same on a GPU -> results/ensembles-cuda.*

A tiny network (1 -> width -> 1, tanh, 64 points, full-batch GD) is all Python overhead: each
step launches a few dozen small kernels whose cost barely depends on their size. An ensemble
(``Network.random(..., ensemble=E)``) runs the E members' steps as one batched kernel each, so
the overhead is paid once per step for all E, and until the kernels grow compute-bound the
time per model falls like 1/E. Training is end to end through ``approx.train.fit`` on both
engines, so the numbers include the training loop's own overhead. The loop's time per model
does not depend on E (the models are independent and identical in cost), so the loop trains
min(E, loop_max) networks and reports the time per model; the ensemble always trains all E.
Each cell is timed ``repeats`` times, interleaved, and summarised by its median and range.

Both ways run eagerly (``compile="off"``) and compiled (``compile="on"``: approx.compiled_step,
the whole step as one graph of fused kernels, a large ensemble in cache-sized groups of
approx.member_groups). Every shape is compiled once, in a warm-up fit before any timing, so the
timed fits reuse the compiled step; the seconds that warm-up spent compiling are the rows'
``compile_s``, apart from the timings. Compiling helps the two ways very differently: a single
network's step is overhead (Python, the call into the graph) whatever its kernels, while an
ensemble's step is arithmetic that fusing shortens. The speed-up a user gets is therefore the
fastest loop against the fastest ensemble (``best_speedups``), besides the speed-up within each
mode (``speedups``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from approx import checks, compiled_step
from approx.device import DEVICES, resolve_device, synchronize, threads
from approx.network import DTYPES, Network
from approx.plotting import figure, save
from approx.train import TRAINING_ENGINES, fit

from ._limits import MAX_COUNT, MAX_ENSEMBLE, MAX_NUMBERS, MAX_POINTS, MAX_STEPS, MAX_THREADS, MAX_WIDTH

COMPILE_MODES = ("off", "on")  # fit's compile= values a cell can be timed with ("auto" picks one)

__all__ = ["Config", "PRESETS", "COMPILE_MODES", "run", "plot", "describe", "output_name", "speedups",
           "best_speedups", "auto_model_check"]


@dataclass(frozen=True)
class Config:
    ensemble_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # E, networks per batched run
    engines: tuple[str, ...] = TRAINING_ENGINES  # backprop (hand-written), autograd
    compile: tuple[str, ...] = ("off", "on")  # fit's compile= values timed (COMPILE_MODES)
    width: int = 16  # hidden units of each 1 -> width -> 1 tanh network
    n_points: int = 64  # training points (full batch)
    steps: int = 100  # GD steps per fit
    lr: float = 0.05  # GD learning rate
    loop_max: int = 8  # the loop times at most this many single networks per cell
    repeats: int = 3  # timings per cell (median and range are reported)
    threads: int = 1  # CPU intra-op threads during the timings (restored afterwards)
    dtype: str = "float64"  # float32 | float64
    seed: int = 0  # member e of a run has seed seed + e
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        checks.integers("ensemble_sizes", self.ensemble_sizes, low=1, high=MAX_ENSEMBLE)
        checks.choices("engines", self.engines, TRAINING_ENGINES)
        checks.choices("compile", self.compile, COMPILE_MODES)
        checks.integer("width", self.width, low=1, high=MAX_WIDTH)
        checks.integer("n_points", self.n_points, low=1, high=MAX_POINTS)
        checks.integer("steps", self.steps, low=1, high=MAX_STEPS)
        checks.number("lr", self.lr, low=0, low_open=True)
        checks.integer("loop_max", self.loop_max, low=1, high=MAX_ENSEMBLE)
        checks.integer("repeats", self.repeats, low=1, high=MAX_COUNT)
        checks.integer("threads", self.threads, low=1, high=MAX_THREADS)
        checks.choice("dtype", self.dtype, DTYPES)
        checks.seed(self.seed)
        checks.choice("device", self.device, DEVICES)
        checks.product_at_most("the largest ensemble's hidden activation", {
            "max(ensemble_sizes)": max(self.ensemble_sizes), "n_points": self.n_points, "width": self.width},
            MAX_NUMBERS)


PRESETS = {
    # eager only: compiling takes seconds per shape (tests/experiments/test_ensembles.py compiles)
    "smoke": {"ensemble_sizes": (1, 4, 16), "steps": 5, "loop_max": 2, "repeats": 1, "compile": ("off",)},
    "default": {},
    "full": {"ensemble_sizes": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), "steps": 200,
             "loop_max": 16, "repeats": 5},
}


def output_name(cfg: Config) -> str:
    """ensembles-cpu or ensembles-cuda: the device the run resolves to."""
    return f"ensembles-{resolve_device(cfg.device).type}"


def _fit(net: Network, data, cfg: Config, engine: str, compile: str, device: torch.device):
    """(wall seconds, seconds spent compiling) of one fit of ``net``."""
    synchronize(device)
    start = time.perf_counter()
    _, history = fit(net, data, engine=engine, lr=cfg.lr, steps=cfg.steps, log_every=cfg.steps,
                     compile=compile)
    synchronize(device)
    return time.perf_counter() - start, history.attrs["compile_s"]


def _network(cfg: Config, n_members: int | None, seed: int, dtype, device) -> Network:
    return Network.random([1, cfg.width, 1], "tanh", seed=seed, ensemble=n_members, dtype=dtype,
                          device=device)


def run(cfg: Config) -> pd.DataFrame:
    device, dtype = resolve_device(cfg.device), DTYPES[cfg.dtype]
    x = torch.linspace(-1, 1, cfg.n_points, dtype=dtype, device=device)[:, None]  # (n, 1)
    data = (x, torch.sin(3 * x))
    rows = []
    with threads(cfg.threads):
        # Warm-up, untimed: the first calls allocate and load kernels, and a compiled cell's
        # first fit of each shape compiles it (single networks: one shape; ensembles: one per E).
        compile_s = {}  # (engine, compile, "loop" or E) -> seconds its first fit compiled
        for engine in cfg.engines:
            for mode in cfg.compile:
                compile_s[engine, mode, "loop"] = _fit(_network(cfg, None, cfg.seed, dtype, device),
                                                  data, cfg, engine, mode, device)[1]
                for n_members in cfg.ensemble_sizes if mode == "on" else ():
                    compile_s[engine, mode, n_members] = _fit(
                        _network(cfg, n_members, cfg.seed, dtype, device), data, cfg, engine, mode,
                        device)[1]
        for repeat in range(cfg.repeats):
            for n_members in cfg.ensemble_sizes:
                for engine in cfg.engines:
                    for mode in cfg.compile:
                        ensemble = _network(cfg, n_members, cfg.seed, dtype, device)
                        n_loop = min(n_members, cfg.loop_max)
                        singles = [_network(cfg, None, cfg.seed + e, dtype, device) for e in range(n_loop)]
                        timings = [
                            ("ensemble", n_members, _fit(ensemble, data, cfg, engine, mode, device)[0],
                             compile_s.get((engine, mode, n_members), 0.0)),
                            ("loop", n_loop, sum(_fit(s, data, cfg, engine, mode, device)[0] for s in singles),
                             compile_s[engine, mode, "loop"])]
                        for way, n_timed, seconds, compiling in timings:
                            rows.append({"engine": engine, "compile": mode, "mode": way,
                                         "n_members": n_members, "repeat": repeat, "n_timed": n_timed,
                                         "time_s": seconds, "time_per_model_ms": 1e3 * seconds / n_timed,
                                         "time_per_model_step_us": 1e6 * seconds / n_timed / cfg.steps,
                                         "compile_s": compiling, "steps": cfg.steps, "width": cfg.width,
                                         "n_points": cfg.n_points, "dtype": cfg.dtype,
                                         "threads": cfg.threads, "device": device.type})
    frame = pd.DataFrame(rows)
    frame.attrs["compile_s"] = round(sum(compile_s.values()), 3)  # into the study's JSON (approx.run)
    return frame


def _with_compile(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its compile columns: results written before the study timed compiled cells
    (the H100 run in results/ensembles-cuda) ran every fit eagerly."""
    return df if "compile" in df else df.assign(compile="off", compile_s=0.0)


def speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Per (engine, compile, E): median per-model time of loop and ensemble, their ratio and ranges."""
    df = _with_compile(df)
    stats = (df.groupby(["engine", "compile", "n_members", "mode"], sort=False).time_per_model_ms
             .agg(["median", "min", "max"]).unstack("mode"))
    out = pd.DataFrame({
        "loop_ms": stats[("median", "loop")], "ensemble_ms": stats[("median", "ensemble")],
        "loop_min_ms": stats[("min", "loop")], "loop_max_ms": stats[("max", "loop")],
        "ensemble_min_ms": stats[("min", "ensemble")], "ensemble_max_ms": stats[("max", "ensemble")],
    })
    out["speedup"] = out.loop_ms / out.ensemble_ms
    return out.reset_index()


def best_speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Per (engine, E): the faster loop (eager or compiled) against the faster ensemble, by medians;
    ``loop_compile`` and ``ensemble_compile`` say which mode each was."""
    table = speedups(df)
    rows = []
    for (engine, n_members), part in table.groupby(["engine", "n_members"], sort=False):
        loop, ensemble = part.loc[part.loop_ms.idxmin()], part.loc[part.ensemble_ms.idxmin()]
        rows.append({"engine": engine, "n_members": n_members, "loop_ms": loop.loop_ms,
                     "loop_compile": loop["compile"], "ensemble_ms": ensemble.ensemble_ms,
                     "ensemble_compile": ensemble["compile"], "speedup": loop.loop_ms / ensemble.ensemble_ms})
    return pd.DataFrame(rows)


def auto_model_check(df: pd.DataFrame) -> pd.DataFrame:
    """Per (engine, E): the seconds per step that compiling saved an ensemble, measured here, and
    what the model behind ``fit(compile="auto")`` predicts (approx.compiled_step):

        saving_per_step = SAVING_FIXED_S[engine] + SAVING_PER_MAC_S[engine] * E * P * n

    with P = 3 width + 1 parameters per member of a 1 -> width -> 1 network and n its points;
    measured = E (eager - compiled ensemble time per model) / steps, from the medians. Where the
    prediction falls short, "auto" waits for more steps than the compile needs to repay itself."""
    table = speedups(df)
    first = df.iloc[0]
    n_params, n_points, steps = 3 * int(first.width) + 1, int(first.n_points), int(first.steps)
    rows = []
    for (engine, n_members), part in table.groupby(["engine", "n_members"], sort=False):
        ms = part.set_index("compile").ensemble_ms
        predicted = (compiled_step.SAVING_FIXED_S[engine]
                     + compiled_step.SAVING_PER_MAC_S[engine] * n_members * n_params * n_points)
        rows.append({"engine": engine, "n_members": n_members,
                     "measured_saving_us": 1e3 * n_members * (ms["off"] - ms["on"]) / steps,
                     "predicted_saving_us": 1e6 * predicted})
    return pd.DataFrame(rows)


COLORS = {"backprop": "C0", "autograd": "C3"}
MARKERS = {"off": "o", "on": "s"}  # eager, compiled


def plot(df: pd.DataFrame, path: Path) -> None:
    df = _with_compile(df)
    table, best = speedups(df), best_speedups(df)
    modes = list(dict.fromkeys(df["compile"]))
    fig, axes = figure(1, len(modes) + 1, width=4.2)
    first = df.iloc[0].to_dict()
    for ax, mode in zip(axes[0], modes):
        for engine, part in table[table["compile"] == mode].groupby("engine", sort=False):
            for way, style in (("loop", "--"), ("ensemble", "-")):
                median = part[f"{way}_ms"]
                spread = [median - part[f"{way}_min_ms"], part[f"{way}_max_ms"] - median]
                ax.errorbar(part.n_members, median, yerr=spread, fmt=MARKERS[mode] + style,
                            color=COLORS.get(engine, "k"), capsize=2, label=f"{engine}, {way}")
        ax.set(xscale="log", yscale="log", xlabel="ensemble size E (networks)",
               ylabel="training time per model (ms)",
               title={"off": "eager", "on": "compiled"}[mode] + f" (compile={mode!r})")
        ax.legend()
    low = min(ax.get_ylim()[0] for ax in axes[0][:len(modes)])  # one scale for eager and compiled
    high = max(ax.get_ylim()[1] for ax in axes[0][:len(modes)])
    for ax in axes[0][:len(modes)]:
        ax.set_ylim(low, high)
    fig.suptitle(f"{first['steps']} GD steps, 1 -> {first['width']} -> 1 tanh, {first['n_points']} points, "
                 f"{first['dtype']}, {first['device']}, {first['threads']} thread(s)")
    right = axes[0][-1]
    for (engine, mode), part in table.groupby(["engine", "compile"], sort=False):
        right.plot(part.n_members, part.speedup, MARKERS[mode] + ":", color=COLORS.get(engine, "k"),
                   alpha=0.6, label=f"{engine}, compile={mode!r}")
    if len(modes) > 1:
        for engine, part in best.groupby("engine", sort=False):
            right.plot(part.n_members, part.speedup, "-", color=COLORS.get(engine, "k"), linewidth=2,
                       label=f"{engine}: fastest loop / fastest ensemble")
    right.axhline(10, color="grey", linestyle=":", label="10x")
    right.set(xscale="log", yscale="log", xlabel="ensemble size E (networks)",
              ylabel="speed-up per model (loop / ensemble)", title="medians over repeats")
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))  # beside the axes
    for ax in axes[0]:
        ax.xaxis.set_major_formatter("{x:g}")
    save(fig, path)


def describe(df: pd.DataFrame) -> str:
    df = _with_compile(df)
    table, best = speedups(df), best_speedups(df)
    first = df.iloc[0].to_dict()
    largest = table.n_members.max()
    at = table[table.n_members == largest]
    within = "; ".join(f"{r.engine}, compile={r.compile!r}: {r.ensemble_ms:.3g} ms per model as an "
                       f"ensemble vs {r.loop_ms:.3g} ms in a loop, {r.speedup:.3g}x"
                       for r in at.itertuples())
    text = (
        f"Training E tiny networks (1 -> {first['width']} -> 1, tanh, {first['n_points']} points, "
        f"{first['steps']} full-batch GD steps, {first['dtype']}, {first['device']}, {first['threads']} "
        f"thread(s)) as one ensemble instead of a Python loop of single `fit` calls. The loop's "
        f"cost per model is flat in E; the ensemble's falls like 1/E while the step is overhead-"
        f"bound. At E = {largest}: " + within + f" (medians of {df.repeat.nunique()} repeats; the "
        "dotted line marks the 10x target)."
    )
    if df["compile"].nunique() > 1:
        fastest = "; ".join(f"{r.engine} {r.speedup:.3g}x (loop compile={r.loop_compile!r}, "
                            f"ensemble compile={r.ensemble_compile!r})"
                            for r in best[best.n_members == largest].itertuples())
        compiled = df[df["compile"] == "on"].drop_duplicates(["engine", "mode", "n_members"])
        check = auto_model_check(df)
        saved = "; ".join(f"{r.engine} {r.measured_saving_us:.3g} us measured, {r.predicted_saving_us:.3g} "
                          "predicted" for r in check[check.n_members == largest].itertuples())
        text += (f" Fastest loop against fastest ensemble at E = {largest}: {fastest}. Compiling "
                 f"took {compiled.compile_s.min():.2g}-{compiled.compile_s.max():.2g} s per shape "
                 "in the warm-up (0 where an earlier shape's graph served), outside the timings. "
                 f"Time per step that compiling saved the ensemble of {largest}, against the "
                 f"model of fit(compile=\"auto\") (approx.compiled_step): {saved}.")
    return text + (" Every ensemble member's result equals its single run to 1e-12 in float64 "
                   "(tests/test_train.py), and a compiled fit the eager one to 1e-12 "
                   "(tests/test_compiled_step.py).")


if __name__ == "__main__":  # python -m experiments.ensembles [options] is approx run ensembles [options]
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
