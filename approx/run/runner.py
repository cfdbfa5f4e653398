"""The runner: from "run this experiment" to its files, written once for every experiment.

    Request ──plan_run──▶ Plan ──execute──▶ OUT/NAME.csv .png .pdf .json, OUT/README.md
             (validates everything;   (computes the points that are not stored yet, storing
              writes nothing)          each as it arrives; then CSV, figure, record, gallery)

``plan_run`` loads the module, builds the Config (preset, --seed/--device, --set; see
approx.run.configs), checks the device, the executor spec, that --out is a folder it can write in,
and with --resume every stored point (with --plot-only the CSV, and that its record holds the
requested Config), and raises UsageError naming the bad value before any file exists.
``execute`` connects the executor (an unreachable scheduler is still a UsageError, raised before
any write), clears the point store unless resuming, and hands each missing point to the
executor as ``compute_point(module name, cfg, point)``. A non-sweep experiment is one point,
``run(cfg)``, so it resumes and runs on any executor the same way. Rows come out in ``points()`` order whatever
order the points finished in. Killing a run loses at most the points in flight. The result
files are made in a staging folder and moved into OUT together: if plot() raises, a write fails
or Ctrl-C comes, none of them appears (RunInterrupted says so; --resume then recomputes nothing),
and the next run of the experiment removes what a killed one left.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import importlib.metadata
import io
import json
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import catalog
from .configs import build_config, flat_values
from ..device import resolve_device
from .executors import ExecutorSpec, choose_executor, compute_point, is_worker_failure, open_executor, parse_executor
from ..files import (check_writable, is_temporary, move_together, remove_leftovers, sha256_of, staging_folder,
                    write_atomic)
from .gallery import GALLERY_NAME, gallery_text
from .provenance import environment
from .results import RESULT_FORMAT, paths, read_result, write_csv, write_record
from .store import PointStore, canonical_json, point_key

__all__ = ["UsageError", "RunInterrupted", "Request", "Plan", "Outcome", "plan_run", "execute",
           "run_experiment", "POINTS_DIR"]

POINTS_DIR = ".points"
GALLERY_LEFTOVER_S = 600.0  # a gallery temporary this old is a killed run's (writing one takes ms)


class UsageError(ValueError):
    """Bad input from the user (one line, no traceback, exit status 2); nothing was written."""


class RunInterrupted(RuntimeError):
    """A run stopped before its last point (Ctrl-C or a lost worker), or before its result files
    (plot() raised, a write failed); finished points are stored. ``by_user``: Ctrl-C."""

    def __init__(self, message: str, by_user: bool):
        super().__init__(message)
        self.by_user = by_user


def one_line(err: BaseException) -> str:
    """The error's message on one line (whitespace and newlines collapsed): how every error is shown."""
    return " ".join(str(err).split())


@dataclass(frozen=True)
class Request:
    """What the user asked for (the ``approx run`` flags)."""
    name: str
    preset: str = "default"
    seed: int | None = None
    device: str | None = None
    assignments: tuple[str, ...] = ()   # "key=value" texts from --set
    out: Path = Path("results")
    resume: bool = False
    plot_only: bool = False
    quiet: bool = False
    executor: str = "inprocess"
    package: str | None = None          # experiments package; None: APPROX_EXPERIMENTS or "experiments"
    argv: tuple[str, ...] | None = None  # the command line as typed, for the record

    def command(self) -> str:
        """The shortest ``approx run`` command that computes the same result."""
        parts = ["approx", "run", self.name]
        if self.preset != "default":
            parts += ["--preset", self.preset]
        if self.seed is not None:
            parts += ["--seed", str(self.seed)]
        if self.device is not None:
            parts += ["--device", self.device]
        for assignment in self.assignments:
            parts += ["--set", assignment]
        return shlex.join(parts)


@dataclass
class Plan:
    """A validated request: the Config, the points (keyed) and whatever is already stored."""
    request: Request
    module: ModuleType
    cfg: Any
    output: str                                  # file stem in OUT: NAME or module.output_name(cfg)
    executor: ExecutorSpec
    units: list[tuple[str, dict | None]]         # (key, point) in points() order; None: run(cfg)
    stored: dict[str, pd.DataFrame]              # --resume: frames found in the store
    stored_info: dict[str, dict] = dataclasses.field(default_factory=dict)  # ... and where they ran
    frame: pd.DataFrame | None = None            # --plot-only: the CSV

    @property
    def out_dir(self) -> Path:
        return Path(self.request.out)

    @property
    def store(self) -> PointStore:
        return PointStore(self.out_dir / POINTS_DIR / self.output)


@dataclass(frozen=True)
class Outcome:
    output: str
    files: dict[str, Path]
    n_rows: int
    n_points: int
    n_resumed: int
    wall_time_s: float
    executor: str = "inprocess"  # where the points ran (str of the run's ExecutorSpec)

    def summary(self) -> str:
        stem = self.files["csv"].with_suffix("")
        where = "" if self.executor == "inprocess" else f" on {self.executor}"
        return (f"{self.output}: {self.n_rows} rows, {self.n_points} points ({self.n_resumed} resumed){where}, "
                f"{self.wall_time_s:.1f} s -> {stem}.{{csv,png,pdf,json}}")


def plan_run(request: Request) -> Plan:
    """Validate a request completely; UsageError (one line) on any bad input; writes nothing."""
    try:
        plan = _plan(request)
    except ValueError as err:
        raise UsageError(one_line(err)) from None
    plan.executor = _executor_for(plan)
    return plan


def _executor_for(plan: Plan) -> ExecutorSpec:
    """``--executor auto`` made concrete for this run (approx.run.executors.choose_executor): by the
    points still to compute, the device they run on and the CPU threads each takes."""
    threads = getattr(plan.cfg, "threads", 1)  # a study's threads per point (the benchmark's, a tuple, is one point's)
    device = resolve_device(getattr(plan.cfg, "device", "cpu")).type  # validated by _plan
    return choose_executor(plan.executor, len(plan.units) - len(plan.stored), device,
                           threads if isinstance(threads, int) else 1)


def _plan(request: Request) -> Plan:
    module = catalog.load_experiment(request.name, request.package)
    if request.device is not None:
        resolve_device(request.device)
    cfg = build_config(request.name, module, request.preset,
                       fields_from_flags={"seed": request.seed, "device": request.device},
                       assignments=request.assignments)
    if hasattr(cfg, "device"):
        resolve_device(cfg.device)
    spec = parse_executor(request.executor)
    output = module.output_name(cfg) if hasattr(module, "output_name") else request.name
    if not output or Path(output).name != output or output.startswith("."):
        raise ValueError(f"output name {output!r} of {request.name} is not a plain file name")
    _check_out(Path(request.out), output)
    if request.plot_only:
        frame, record = read_result(Path(request.out), output)
        _check_same_config(request, cfg, output, record)
        return Plan(request, module, cfg, output, spec, units=[], stored={}, frame=frame)
    config = dataclasses.asdict(cfg)
    points = list(module.points(cfg)) if catalog.is_sweep(module) else [None]
    units = [(point_key(request.name, config, p), p) for p in points]
    if len({key for key, _ in units}) != len(units):
        raise ValueError(f"points({request.name}) returned the same point twice")
    plan = Plan(request, module, cfg, output, spec, units=units, stored={})
    if request.resume:
        for key, _ in units:
            found = plan.store.load_with_info(key)
            if found is not None:
                plan.stored[key], plan.stored_info[key] = found
    return plan


def _check_out(out_dir: Path, output: str) -> None:
    """--out must be a folder where files can be created, and nothing in the way of the files a
    run writes there may be of the wrong kind (checked now: otherwise it shows after the work)."""
    try:
        check_writable(out_dir)
    except ValueError as err:
        raise ValueError(f"unusable --out: {err}") from None
    for name in [*_result_names(output)[:4], GALLERY_NAME]:
        if (out_dir / name).is_dir():
            raise ValueError(f"{out_dir / name} is a folder, where {output}'s result file goes; "
                             "allowed: move it away, or choose another --out")
    for folder in (out_dir / POINTS_DIR, out_dir / POINTS_DIR / output):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder} is a file, where the stored points of {output} go; "
                             "allowed: move it away, or choose another --out")


def _check_same_config(request: Request, cfg: Any, output: str, record: dict) -> None:
    """--plot-only redraws only the CSV that this very command would have computed."""
    wanted = json.loads(canonical_json(dataclasses.asdict(cfg)))  # tuples as JSON lists, like the record
    found = record.get("config")
    if record.get("experiment") == request.name and found == wanted:
        return
    if record.get("experiment") != request.name:
        differences = f"experiment {record.get('experiment')!r}, not {request.name!r}"
    else:
        # a group's fields by their dotted keys (radial.dims), as --set names them
        found, wanted = flat_values(found if isinstance(found, dict) else {}), flat_values(wanted)
        keys = [k for k in wanted if found.get(k, "(absent)") != wanted[k]] + [k for k in found if k not in wanted]
        differences = "; ".join(f"{k}={found.get(k, '(absent)')!r} there, {wanted.get(k, '(absent)')!r} asked"
                                for k in keys[:3]) + ("; ..." if len(keys) > 3 else "")
    raise ValueError(f"--plot-only: {request.out}/{output}.csv comes from another configuration "
                     f"({differences}); allowed: its own command with --plot-only "
                     f"({record.get('command')}), or run without --plot-only")


def _compute(plan: Plan, executor: cf.Executor, window: int, frames: dict, infos: list) -> None:
    """Run the points not in ``frames``, at most ``window`` in flight; store each as it arrives."""
    store, request = plan.store, plan.request
    pending = iter([(k, p) for k, p in plan.units if k not in frames])
    progress = tqdm(total=len(plan.units), initial=len(frames), desc=plan.output, unit="point",
                    file=sys.stderr, disable=request.quiet or not sys.stderr.isatty())
    in_flight: dict[cf.Future, tuple[str, dict | None]] = {}
    failure: BaseException | None = None
    try:
        while True:
            while failure is None and len(in_flight) < window:
                unit = next(pending, None)
                if unit is None:
                    break
                in_flight[executor.submit(compute_point, plan.module.__name__, plan.cfg, unit[1])] = unit
            if not in_flight:
                break
            done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            for future in done:
                key, point = in_flight.pop(future)
                if future.cancelled():
                    continue
                try:
                    frame, info = future.result()
                except Exception as err:  # noqa: BLE001 - keep the points that still finish
                    if failure is None:
                        failure = err
                        for other in in_flight:
                            other.cancel()
                    continue
                store.save(key, point, frame, info)
                frames[key] = frame
                infos.append(info)
                progress.update()
    except KeyboardInterrupt:
        for future in in_flight:
            future.cancel()
        raise RunInterrupted(_stopped(plan, frames, "interrupted"), by_user=True) from None
    finally:
        progress.close()
    if failure is not None:
        if is_worker_failure(failure):
            reason = f"a worker died: {type(failure).__name__}: {one_line(failure)}"
            raise RunInterrupted(_stopped(plan, frames, reason), by_user=False) from failure
        raise failure


def _stopped(plan: Plan, frames: dict, reason: str) -> str:
    return (f"{plan.output}: stopped after {len(frames)} of {len(plan.units)} points ({reason}); "
            f"finished points are stored in {plan.store.directory}; rerun the same command "
            "with --resume to compute only the rest")


def _versions(spec: ExecutorSpec) -> dict[str, str | None]:
    names = ["approx", "pandas", "matplotlib", "scipy", "tqdm"] + (["distributed"] if spec.kind == "dask" else [])
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            module = sys.modules.get(name)
            versions[name] = getattr(module, "__version__", None)
    return versions


def _record(plan: Plan, frame: pd.DataFrame, csv_path: Path, started_utc: str, wall_time_s: float,
            n_resumed: int, infos: list[dict]) -> dict:
    request, cfg = plan.request, plan.cfg
    device = resolve_device(cfg.device) if hasattr(cfg, "device") else torch.device("cpu")
    env = environment(device, bool(getattr(cfg, "tf32", False)))
    env["versions"] = _versions(plan.executor)
    return {
        "format": RESULT_FORMAT,
        "experiment": request.name,
        "output": plan.output,
        "package": catalog.experiments_package(request.package),
        "summary": catalog.summary(request.name, request.package),
        "command": request.command(),
        "argv": list(request.argv) if request.argv is not None else None,
        "preset": request.preset,
        "seed": getattr(cfg, "seed", None),
        "config": dataclasses.asdict(cfg),
        "executor": str(plan.executor),
        "n_points": len(plan.units),
        "n_points_resumed": n_resumed,
        "compute_s": round(sum(i.get("seconds", 0.0) for i in [*infos, *plan.stored_info.values()]), 3),
        # of which compiling fit's steps (approx.compiled_step), where the study records it
        "compile_s": round(sum(i.get("compile_s", 0.0) for i in [*infos, *plan.stored_info.values()]), 3),
        "workers": {name: sorted({info[key] for info in infos})  # where the fresh points ran
                    for name, key in (("hosts", "host"), ("devices", "device"), ("torch_threads", "torch_threads"))},
        "n_rows": len(frame),
        "columns": [str(c) for c in frame.columns],
        "csv_sha256": sha256_of(csv_path),
        "started_utc": started_utc,
        "wall_time_s": round(wall_time_s, 3),
        "environment": env,
    }


@contextlib.contextmanager
def _all_or_none(plan: Plan, gallery: bool) -> Iterator[Path]:
    """A staging folder for the result files; on leaving the block, the gallery page is written
    beside them and all move into OUT together. If the block (or the page) fails, or Ctrl-C
    comes, nothing reaches OUT, and RunInterrupted says so in one line; the stored points stay."""
    out_dir, output = plan.out_dir, plan.output
    if plan.request.plot_only:
        kept = "nothing was written; the result files are as they were"
    else:
        kept = (f"no result file was written; all {len(plan.units)} points are stored in "
                f"{plan.store.directory}: rerun the same command with --resume to write them "
                "without recomputing")
    try:
        with staging_folder(out_dir, output) as staging:
            yield staging
            if gallery:
                write_atomic(staging / GALLERY_NAME, gallery_text(out_dir, plan.request.package, staged=staging))
            staged = sorted(p.name for p in staging.iterdir() if not is_temporary(p))
            # the record vouches for the CSV (its checksum), so it goes after it; the page last
            order = sorted(staged, key=lambda name: (name == GALLERY_NAME, name.endswith(".json")))
            move_together(staging, out_dir, order)
    except KeyboardInterrupt:
        raise RunInterrupted(f"{output}: interrupted while writing the result files; {kept}",
                             by_user=True) from None
    except Exception as err:  # noqa: BLE001 - plot() or a write failed: say so, keep the points
        raise RunInterrupted(f"{output}: writing the result files failed ({type(err).__name__}: "
                             f"{one_line(err)}); {kept}", by_user=False) from err


def _result_names(output: str) -> list[str]:
    """What a run writes in OUT, whose leftover temporaries the next run removes."""
    return [*(path.name for path in paths(Path(), output).values()), f"{output}.staging"]


def execute(plan: Plan, *, gallery: bool = True) -> Outcome:
    """Compute (or, with --plot-only, redraw) and write the result files of a planned run:
    all of them (CSV, PNG, PDF, JSON, and OUT/README.md) or, if anything fails, none."""
    request, out_dir = plan.request, plan.out_dir
    files = paths(out_dir, plan.output)
    start = time.perf_counter()
    remove_leftovers(out_dir, _result_names(plan.output))
    # the gallery page is shared by every run in OUT: another process may be writing it now
    remove_leftovers(out_dir, [GALLERY_NAME], older_than_s=GALLERY_LEFTOVER_S)
    if request.plot_only:
        with _all_or_none(plan, gallery) as staging:
            plan.module.plot(plan.frame, staging / files["png"].name)
        return Outcome(plan.output, files, len(plan.frame), 0, 0, time.perf_counter() - start)
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    frames: dict[str, pd.DataFrame] = dict(plan.stored)
    infos: list[dict] = []
    with contextlib.ExitStack() as stack:
        try:
            executor, window = stack.enter_context(open_executor(plan.executor))
        except ValueError as err:
            raise UsageError(one_line(err)) from None
        if not request.resume:
            plan.store.clear()
        plan.store.remove_temporaries()
        _compute(plan, executor, window, frames, infos)
    frame = pd.concat([frames[key] for key, _ in plan.units], ignore_index=True)
    with _all_or_none(plan, gallery) as staging:
        csv_path = write_csv(staging, plan.output, frame)
        # plot and describe read what the CSV holds, exactly as --plot-only and the gallery will
        plan.module.plot(pd.read_csv(io.BytesIO(csv_path.read_bytes())), staging / files["png"].name)
        wall_time_s = time.perf_counter() - start
        write_record(staging, plan.output,
                     _record(plan, frame, csv_path, started_utc, wall_time_s, len(plan.stored), infos))
    return Outcome(plan.output, files, len(frame), len(plan.units), len(plan.stored), wall_time_s, str(plan.executor))


def run_experiment(request: Request) -> Outcome:
    return execute(plan_run(request))
