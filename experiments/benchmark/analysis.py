"""What the benchmark table says, computed from the table alone: ratios, crossovers, targets.

Every ratio divides two times measured in the same run (and, for GPU/CPU, on the same cell).

    speedups          GPU/CPU speed-up per cell: CPU time (most threads measured) / CUDA time
    crossover         per batch, the smallest width from which the GPU wins at every larger width
    ensemble_speedups loop time / batched time for the same E networks (per model: the same ratio)
    engine_ratios     hand-written / autograd (and / nn.Module) step time per cell
    reverse_forward   reverse / forward per row that timed its parts (approx.bench.measure)
    ratio_table       the same, one column per engine, one row per size: the ratio against size
    peer_table        the peer cells: per model-step time of each engine (eager, compiled, JAX)
                      per (E, width), the best of approx's against JAX's, hand-written / autograd
    peer_phases       the peer cells' eager rows: forward, reverse and update per model-step
    targets           the benchmark's targets next to the measured values, with a verdict
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ok_rows", "speedups", "crossover", "ensemble_speedups", "engine_ratios",
           "reverse_forward", "ratio_table", "peer_table", "peer_phases", "targets", "ARITHMETIC_MS"]

CELL = ["sweep", "engine", "mode", "precision", "depth", "width", "batch", "d_in", "ensemble"]
SIZE = ["depth", "width", "batch", "d_in", "ensemble"]
ARITHMETIC_MS = 1.0  # a forward pass at least this long is arithmetic, not fixed per-call costs


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that hold a measurement (status "ok")."""
    return df[df["status"] == "ok"]


def speedups(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell measured on both devices: cpu_ms, cuda_ms, speedup = cpu_ms / cuda_ms."""
    rows = ok_rows(df)
    rows = rows[rows["mode"].isin(["eager", "loop"])]
    cpu = rows[rows["device"] == "cpu"].sort_values("threads").groupby(CELL, as_index=False).last()
    cuda = rows[rows["device"] == "cuda"]
    both = cpu[CELL + ["flops", "threads", "time_ms"]].merge(
        cuda[CELL + ["time_ms"]], on=CELL, suffixes=("_cpu", "_cuda"))
    both = both.rename(columns={"time_ms_cpu": "cpu_ms", "time_ms_cuda": "cuda_ms", "threads": "cpu_threads"})
    both["speedup"] = both["cpu_ms"] / both["cuda_ms"]
    return both


def crossover(speedup: pd.DataFrame) -> pd.DataFrame:
    """Per (sweep, engine, precision, batch): the smallest width from which the GPU is faster at
    every larger width measured (NaN: the CPU wins at the largest width)."""
    out = []
    for key, group in speedup.groupby(["sweep", "engine", "precision", "depth", "batch"]):
        group = group.sort_values("width")
        wins = group["speedup"].to_numpy() > 1
        tail = np.flip(np.logical_and.accumulate(np.flip(wins)))  # True where all larger widths win
        width = group["width"].to_numpy()[tail][0] if tail.any() else np.nan
        out.append(dict(zip(["sweep", "engine", "precision", "depth", "batch"], key),
                        crossover_width=width, widths=len(group)))
    return pd.DataFrame(out)


def ensemble_speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Per (device, engine, precision, E): loop_ms, batched_ms and speedup = loop_ms / batched_ms."""
    rows = ok_rows(df)
    rows = rows[rows["sweep"] == "ensemble"]
    keys = ["device", "threads", "engine", "precision"] + SIZE
    loop = rows[rows["mode"] == "loop"][keys + ["time_ms"]]
    batched = rows[rows["mode"] == "eager"][keys + ["time_ms"]]
    both = loop.merge(batched, on=keys, suffixes=("_loop", "_batched"))
    both = both.rename(columns={"time_ms_loop": "loop_ms", "time_ms_batched": "batched_ms"})
    both["speedup"] = both["loop_ms"] / both["batched_ms"]
    return both.sort_values(["device", "engine", "ensemble"]).reset_index(drop=True)


def engine_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Per eager single-network cell: backprop_ms / autograd_ms and backprop_ms / module_ms (the
    first benchmark's ReLU sweeps; the peer's tanh cells have peer_table), and autograd_products,
    module_products: the step's matrix products timed alone (products_ms) over that engine's step,
    about the least that backprop_per_autograd (or _module) could be (approx.bench.products: close
    to a floor, not a strict one); *_products_peak: the same from the FLOP model at torch's
    measured peak (its peak_fraction), a looser bound; *_floor: the products and the update
    theta <- theta - lr g, each timed alone (products_ms + descent_ms), over that engine's step:
    about the least that any engine taking the same descent step through torch spends (close to
    a floor, not a strict one, like the products alone)."""
    rows = ok_rows(df)
    rows = rows[(rows["mode"] == "eager") & (rows["ensemble"] == 1) & ~rows["sweep"].isin(["ensemble", "peer"])]
    keys = ["device", "threads", "sweep", "precision"] + SIZE
    wide = rows.pivot_table(index=keys, columns="engine", values="time_ms", aggfunc="first").reset_index()
    # the share of each step that its matrix products take: timed alone at the step's shapes
    # (products_ms, approx.bench.products), or where a row lacks that, the FLOP model at torch's
    # measured peak (peak_fraction, a looser bound): about the least share of the other's time an
    # engine running the same products through torch can take.
    nothing = pd.Series(np.nan, index=rows.index)
    timed = rows["products_ms"] / rows["time_ms"] if "products_ms" in rows else nothing
    # with the update's memory traffic (descent_ms; NaN in CSVs from before it was timed)
    floor = (rows["products_ms"] + rows["descent_ms"]) / rows["time_ms"] if "descent_ms" in rows else nothing
    rows = rows.assign(products_share=timed, floor_share=floor)
    for other in ("autograd", "module"):
        if "backprop" in wide and other in wide:
            wide[f"backprop_per_{other}"] = wide["backprop"] / wide[other]
            sources = ((f"{other}_products", "products_share"), (f"{other}_products_peak", "peak_fraction"),
                       (f"{other}_floor", "floor_share"))
            for column, source in sources:
                share = rows[rows["engine"] == other].set_index(keys)[source]
                share = share[~share.index.duplicated()]  # the first, as the pivot takes
                wide[column] = share.reindex(pd.MultiIndex.from_frame(wide[keys])).to_numpy()
    return wide


def reverse_forward(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that timed the forward pass, with ratio = reverse_ms / forward_ms (the width and
    batch sweeps; the peer's ensembles have peer_phases)."""
    if "forward_ms" not in df:
        return df.iloc[:0].assign(ratio=[])
    rows = ok_rows(df).dropna(subset=["forward_ms", "reverse_ms"])
    rows = rows[rows["sweep"] != "peer"]
    return rows.assign(ratio=rows["reverse_ms"] / rows["forward_ms"])


def ratio_table(df: pd.DataFrame, device: str, precision: str) -> pd.DataFrame:
    """reverse / forward on ``device`` in ``precision``: one row per size (sweep, depth, width,
    batch), ordered by the forward pass's time (forward_ms: the median over engines), one
    column per engine."""
    rf = reverse_forward(df)
    rf = rf[(rf["device"] == device) & (rf["precision"] == precision)]
    if rf.empty:
        return pd.DataFrame()
    keys = ["sweep", "depth", "width", "batch"]
    table = rf.pivot_table(index=keys, columns="engine", values="ratio", aggfunc="first")
    table.insert(0, "forward_ms", rf.groupby(keys)["forward_ms"].median())
    return table.sort_values("forward_ms").reset_index()


PEER_ENGINES = {  # column of peer_table -> (engine, mode)
    "backprop": ("backprop", "eager"), "autograd": ("autograd", "eager"),
    "backprop_compiled": ("backprop", "compiled-step"), "autograd_compiled": ("autograd", "compiled-step"),
    "backprop_scan": ("backprop", "compiled-scan"), "autograd_scan": ("autograd", "compiled-scan"),
    "jax": ("jax", "jit-vmap-scan"),
}


def peer_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per peer cell (E, width): each engine's time per model per step in microseconds
    (time_ms / E), ``best`` (approx's fastest engine and mode) and ``best_us``, ``best_per_jax``
    = best_us / jax, ``products_us`` (the FLOP model's products per model at torch's measured
    peak: no engine running them through torch is faster) and ``products_per_jax``, and
    hand-written / autograd eager and compiled. NaN where a row is missing."""
    rows = ok_rows(df)
    rows = rows[rows["sweep"] == "peer"]
    cells = rows[["ensemble", "width"]].drop_duplicates().sort_values(["ensemble", "width"])
    out = []
    for ensemble, width in cells.itertuples(index=False):
        cell = rows[(rows["ensemble"] == ensemble) & (rows["width"] == width)]
        entry = {"ensemble": int(ensemble), "width": int(width)}
        for column, (engine, mode) in PEER_ENGINES.items():
            match = cell[(cell["engine"] == engine) & (cell["mode"] == mode)]
            entry[column] = match["time_ms"].iloc[0] / ensemble * 1e3 if len(match) else np.nan
        # the FLOP model's products at torch's measured peak: the least time of an engine
        # running them through torch
        entry["products_us"] = (cell["flops"] / cell["peak_flops_per_s"]).iloc[0] / ensemble * 1e6
        ours = {c: entry[c] for c in PEER_ENGINES if c != "jax" and np.isfinite(entry[c])}
        entry["best"] = min(ours, key=ours.get) if ours else ""
        entry["best_us"] = ours[entry["best"]] if ours else np.nan
        entry["best_per_jax"] = entry["best_us"] / entry["jax"]
        entry["products_per_jax"] = entry["products_us"] / entry["jax"]
        entry["backprop_per_autograd"] = entry["backprop"] / entry["autograd"]
        entry["compiled_backprop_per_autograd"] = entry["backprop_compiled"] / entry["autograd_compiled"]
        out.append(entry)
    columns = ["ensemble", "width", *PEER_ENGINES, "best", "best_us", "best_per_jax", "products_us",
               "products_per_jax", "backprop_per_autograd", "compiled_backprop_per_autograd"]
    return pd.DataFrame(out, columns=columns)


def peer_phases(df: pd.DataFrame) -> pd.DataFrame:
    """The peer's eager rows with forward_us, reverse_us and update_us per model per step."""
    rows = ok_rows(df)
    rows = rows[(rows["sweep"] == "peer") & (rows["mode"] == "eager")].dropna(subset=["forward_ms"])
    rows = rows.sort_values(["width", "ensemble", "engine"])
    per_model = 1e3 / rows["ensemble"]
    return rows.assign(forward_us=rows["forward_ms"] * per_model, reverse_us=rows["reverse_ms"] * per_model,
                       update_us=rows["update_ms"] * per_model)[
        ["engine", "ensemble", "width", "forward_us", "reverse_us", "update_us"]].reset_index(drop=True)


def _ratio_where(group: pd.DataFrame) -> str:
    """Where the worst reverse / forward ratio is, and what it is where arithmetic dominates."""
    if group.empty:
        return ""
    worst = group.loc[group["ratio"].idxmax()]
    text = (f"worst of {len(group)} rows at width {int(worst['width'])}, batch {int(worst['batch'])}, "
            f"{worst['precision']} (forward {worst['forward_ms']:.3g} ms); median {_fmt(group['ratio'].median())}")
    large = group[group["forward_ms"] >= ARITHMETIC_MS]
    if len(large):
        text += (f"; {_fmt(large['ratio'].min())}-{_fmt(large['ratio'].max())} over the {len(large)} rows "
                 f"whose forward pass takes >= {ARITHMETIC_MS:g} ms")
    return text


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _verdict(value: float, limit: float, at_most: bool) -> str:
    if value is None or not np.isfinite(value):
        return "not measured"
    return "met" if (value <= limit if at_most else value >= limit) else "missed"


BANDS_MS = ((0.0, 0.5, 0.5), (0.5, 10.0, 0.85), (10.0, np.inf, 1.05))  # autograd step time -> limit


def targets(df: pd.DataFrame) -> pd.DataFrame:
    """Every target the benchmark checks, with the measured value: the worst case over the cells it covers
    ("not measured" where this run has no such cell, e.g. the GPU targets on a CPU-only run)."""
    out: list[dict] = []
    ok = ok_rows(df)

    def add(target: str, limit: float, at_most: bool, value: float = np.nan, where: str = "") -> None:
        out.append({"target": target, "measured": _fmt(value), "where": where,
                    "verdict": _verdict(value, limit, at_most)})

    ratios = engine_ratios(df)
    for other in ("autograd", "module"):
        column = f"backprop_per_{other}"
        cells = ratios[(ratios["device"] == "cpu") & (ratios["threads"] == 1)] if column in ratios else None
        for low, high, limit in BANDS_MS:
            band = cells[(cells[other] >= low) & (cells[other] < high)] if cells is not None else ratios.iloc[:0]
            value = band[column].max() if len(band) else np.nan
            add(f"CPU 1 thread: hand-written / {other} <= {limit:g} where {other}'s step takes "
                f"{low:g}-{high:g} ms", limit, True, value, _band_where(band, column, other))
    rf = reverse_forward(df)
    for engine in sorted(set(rf["engine"]) | {"backprop", "autograd", "module"}):
        for device in sorted(set(rf["device"]) | {"cpu"}):
            group = rf[(rf["engine"] == engine) & (rf["device"] == device)]
            add(f"{device}: reverse / forward <= 3, {engine}", 3.0, True,
                group["ratio"].max() if len(group) else np.nan, _ratio_where(group))
    ens = ensemble_speedups(df)
    for device, minimum, size in (("cpu", 10.0, None), ("cuda", 100.0, 1024)):
        rows = ens[ens["device"] == device]
        size = size or (int(rows["ensemble"].max()) if len(rows) else 1024)
        for engine in ("backprop", "autograd"):
            group = rows[(rows["engine"] == engine) & (rows["ensemble"] == size)]
            add(f"{device}: {size} small networks (width 16, 64 points) as one step >= {minimum:g}x faster "
                f"per model than a loop, {engine}", minimum, False,
                group["speedup"].min() if len(group) else np.nan, f"E = {size}")
    peer = peer_table(df)
    many = peer[peer["ensemble"] >= 64]
    add("CPU 1 thread, E >= 64: approx's best engine at or below JAX per model-step", 1.0, True,
        many["best_per_jax"].max() if len(many) else np.nan, _peer_where(many, "best_per_jax", products=True))
    one = peer[peer["ensemble"] == 1]
    add("CPU 1 thread, E = 1: approx's best engine within 5x of JAX", 5.0, True,
        one["best_per_jax"].max() if len(one) else np.nan, _peer_where(one, "best_per_jax"))
    ens = peer[peer["ensemble"] > 1]
    for column, what in (("backprop_per_autograd", "eager"), ("compiled_backprop_per_autograd", "compiled")):
        add(f"CPU 1 thread, every ensemble cell: hand-written / autograd <= 1.05, {what}", 1.05, True,
            ens[column].max() if len(ens) else np.nan, _peer_where(ens, column))
    cuda32 = ok[(ok["device"] == "cuda") & (ok["precision"] == "float32") & (ok["mode"] == "eager")
                & (ok["sweep"] != "ensemble")]
    largest = cuda32[cuda32["flops"] == cuda32["flops"].max()]
    add("cuda: largest size, float32 (TF32 off) >= 0.6 of the float32 matmul peak", 0.6, False,
        largest["peak_fraction"].max() if len(largest) else np.nan,
        f"best engine at {largest['flops'].iloc[0]:.3g} FLOP/step" if len(largest) else "")
    graphs = ok[ok["mode"] == "cuda-graph"]
    smallest = graphs[graphs["width"] == graphs["width"].min()]
    for engine in ("backprop", "autograd"):
        row = smallest[smallest["engine"] == engine]
        add(f"cuda: small network as a CUDA graph >= 5x faster than eager, {engine}", 5.0, False,
            (row["eager_ms"] / row["time_ms"]).min() if len(row) else np.nan,
            f"width {int(row['width'].iloc[0])}, same step eager vs replayed" if len(row) else "")
    cuda = ratios[ratios["device"] == "cuda"] if "backprop_per_autograd" in ratios else ratios.iloc[:0]
    add("cuda: hand-written within 1.1x of autograd", 1.1, True,
        cuda["backprop_per_autograd"].max() if len(cuda) else np.nan, f"worst of {len(cuda)} cells")
    return pd.DataFrame(out, columns=["target", "measured", "where", "verdict"])


def _band_where(band: pd.DataFrame, column: str, other: str) -> str:
    """Where the worst hand-written / other ratio of a band is, and the least it could be there."""
    text = f"worst of {len(band)} cells"
    if band.empty:
        return text
    worst = band.loc[band[column].idxmax()]
    text += f" at width {int(worst['width'])}, batch {int(worst['batch'])}, {worst['precision']}"
    timed, peak = worst.get(f"{other}_products", np.nan), worst.get(f"{other}_products_peak", np.nan)
    floor = worst.get(f"{other}_floor", np.nan)
    if np.isfinite(timed):
        text += f"; there the step's matrix products, timed alone, take {timed:.2f} of {other}'s step"
        if np.isfinite(floor):
            text += f", and with the update theta <- theta - lr g, also timed alone, {floor:.2f}"
    elif np.isfinite(peak):
        text += f"; there the products alone, at torch's peak, take {peak:.2f} of {other}'s step"
    return text


def _peer_where(rows: pd.DataFrame, column: str, products: bool = False) -> str:
    """Where the worst value of ``column`` is among the peer cells ``rows``."""
    rows = rows.dropna(subset=[column])
    if rows.empty:
        return ""
    worst = rows.loc[rows[column].idxmax()]
    text = f"worst of {len(rows)} cells at E = {int(worst['ensemble'])}, width {int(worst['width'])}"
    if products and np.isfinite(worst["products_per_jax"]):
        text += f"; there torch's products alone, at its peak, take {worst['products_per_jax']:.2f} of JAX's time"
    return text
