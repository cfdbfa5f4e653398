"""Where a sweep's points run: in this process, in a local process pool, or on a Dask cluster.

The runner hands each point to a ``concurrent.futures.Executor`` as ``compute_point(module_name,
cfg, point)`` and stores each result as it arrives, so every executor resumes the same way and
gives the same CSV (rows always in ``points()`` order; float64 CPU results are identical).

    --executor inprocess          the default of `approx run`: points run one after another in
                                  this process
    --executor auto               the default of `approx reproduce`: a sweep whose points run on
                                  the CPU gets a process pool of one worker per core (cores //
                                  cfg.threads, at most one per point); everything else runs in
                                  this process: a one-point experiment (the timing studies,
                                  backprop_cost, ensembles and benchmark, are, so none is timed
                                  beside other work; a sweep's own wall-time columns, such as
                                  training_gap's, are measured with the other cores busy), and a
                                  study on CUDA, unless there are several GPUs, one worker each
                                  (``choose_executor``)
    --executor processes[:N]      N worker processes (default: one per core this process may
                                  use, its affinity mask), started with
                                  "spawn" (CUDA is never initialised in the parent before they
                                  start), one torch thread each; on a machine with G > 1 GPUs
                                  worker i sees only GPU i mod G (CUDA_VISIBLE_DEVICES). Workers
                                  exit when the runner dies, even by SIGKILL (see
                                  ``_exit_with_parent``), and the resource tracker with them
    --executor dask://HOST:PORT   a running dask.distributed scheduler (``pip install -e
    --executor dask               ".[cluster]"``); plain "dask" reads APPROX_DASK_ADDRESS.
                                  APPROX_DASK_TIMEOUT (seconds, default 10) bounds the connect.

On a cluster, start one scheduler and, on each machine, one single-threaded worker per GPU
(or per core), each pinned to its device, with dask's own command line:

    dask scheduler --port 8786                                   # on the head node
    CUDA_VISIBLE_DEVICES=0 dask worker tcp://HEAD:8786 --nthreads 1 --nworkers 1 &
    CUDA_VISIBLE_DEVICES=1 dask worker tcp://HEAD:8786 --nthreads 1 --nworkers 1 &
    approx run overparam --executor dask://HEAD:8786 --device auto

Workers need the same approx checkout installed (``pip install -e ".[cluster]"``); "auto"
then resolves on each worker to the GPU it was given. A worker that dies mid-point loses only
that point: the scheduler retries it on another worker, and ``--resume`` finishes any run.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool
import contextlib
import ctypes
import importlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import pandas as pd

__all__ = ["ExecutorSpec", "parse_executor", "choose_executor", "open_executor", "compute_point", "InProcessExecutor",
           "is_worker_failure", "DASK_ADDRESS_ENV", "DASK_TIMEOUT_ENV"]

DASK_ADDRESS_ENV = "APPROX_DASK_ADDRESS"
DASK_TIMEOUT_ENV = "APPROX_DASK_TIMEOUT"
ALLOWED = "inprocess, auto, processes, processes:N, dask, dask://HOST:PORT"
CLUSTER_EXTRA = 'pip install -e ".[cluster]"'


def compute_point(module_name: str, cfg: Any, point: dict | None) -> tuple[pd.DataFrame, dict]:
    """Run one point (``point=None``: the whole ``run(cfg)`` of a non-sweep experiment).

    Runs wherever the executor puts it; ``module_name`` is the experiment module the Plan loaded
    (``experiments.NAME``), imported on a worker as it was here. It is not read off the Config's
    class: a study that is a package keeps its Config in ``NAME/config.py``. Seeds every
    generator with ``cfg.seed`` first and applies the Config's TF32 setting, so a point's result
    does not depend on where it ran. Returns the frame and a record of where it ran (stored
    beside the point, not in the CSV).
    """
    import torch

    from ..device import device_name, precision, resolve_device, seed_everything

    module = importlib.import_module(module_name)
    seed_everything(getattr(cfg, "seed", 0))
    start = time.perf_counter()
    with precision(bool(getattr(cfg, "tf32", False))):
        frame = module.run(cfg) if point is None else module.run_point(cfg, point)
    device = resolve_device(getattr(cfg, "device", "cpu"))  # as this worker resolves "auto"
    info = {"host": socket.gethostname(), "pid": os.getpid(), "torch_threads": torch.get_num_threads(),
            "device": f"{device} ({device_name(device)})", "seconds": round(time.perf_counter() - start, 6),
            "compile_s": frame.attrs.get("compile_s", 0.0)}  # a study's run_point may record it
    return frame, info


class InProcessExecutor(cf.Executor):
    """Runs each submitted call at once, in the caller: the simplest path, and the default."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - delivered through the future, like any executor
            future.set_exception(err)
        return future


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str                    # "inprocess" | "auto" | "processes" | "dask"
    n_workers: int | None = None  # processes: pool size
    address: str | None = None   # dask: scheduler address, tcp://HOST:PORT

    def __str__(self) -> str:
        if self.kind == "processes":
            return f"processes:{self.n_workers}"
        return f"dask://{self.address.removeprefix('tcp://')}" if self.kind == "dask" else self.kind


def parse_executor(text: str) -> ExecutorSpec:
    """Parse ``--executor``; ValueError names the allowed forms."""
    text = (text or "inprocess").strip()
    if text in ("inprocess", "auto"):
        return ExecutorSpec(text)
    if text == "processes" or text.startswith("processes:"):
        count = text.partition(":")[2] or str(_cpu_count())
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"bad worker count in executor {text!r}; allowed: processes:N with N >= 1")
        return ExecutorSpec("processes", n_workers=int(count))
    if text == "dask" or text.startswith("dask://"):
        address = text.removeprefix("dask://") if text != "dask" else os.environ.get(DASK_ADDRESS_ENV, "")
        if not address:
            raise ValueError(f"executor 'dask' needs a scheduler address: dask://HOST:PORT, or set "
                             f"{DASK_ADDRESS_ENV}")
        address = address.removeprefix("dask://")
        return ExecutorSpec("dask", address=address if "://" in address else f"tcp://{address}")
    raise ValueError(f"unknown executor {text!r}; allowed: {ALLOWED}")


def choose_executor(spec: ExecutorSpec, n_points: int, device: str, threads_per_point: int = 1) -> ExecutorSpec:
    """What ``auto`` means for one run: ``n_points`` points still to compute, on ``device``
    ("cpu" or "cuda", as the Config resolves), each using ``threads_per_point`` CPU threads.
    Any other spec is returned as it is.

    CPU: one worker per ``threads_per_point`` cores, at most one per point, and in this process
    when that is one worker (a pool's start, each worker a spawned interpreter importing torch,
    took yarotsky's 27 points of about 0.1 s from 3.1 to 6.5 s on a 2-core Intel Xeon, which a
    single point would not repay). CUDA: one worker per GPU where there
    are several, else in this process: workers sharing one GPU would each hold a CUDA context and
    contend for the same device.
    """
    if spec.kind != "auto":
        return spec
    if device == "cpu":
        workers = min(n_points, max(1, _cpu_count() // max(1, threads_per_point)))
    else:
        workers = min(n_points, len(_visible_gpus()))
    return ExecutorSpec("processes", n_workers=workers) if workers > 1 else ExecutorSpec("inprocess")


def _cpu_count() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


PR_SET_PDEATHSIG = 1   # from <linux/prctl.h>
PARENT_POLL_S = 0.5    # how often a worker checks that the runner is still alive


def _exit_with_parent(parent_pid: int) -> None:
    """Make this pool worker die with the runner process ``parent_pid`` that started it.

    A runner killed by SIGKILL runs no cleanup: its workers would wait for work on their call
    queue forever (holding about 650 MB each), and so would multiprocessing's resource tracker,
    which exits only when every process holding its pipe (the workers too) has gone. On Linux the
    kernel sends SIGKILL to this process when the thread that started it exits (prctl
    PR_SET_PDEATHSIG; the pool starts workers from the thread that submits, which outlives the
    pool). Everywhere, a daemon thread polls the parent pid, which also covers a runner that died
    before this ran, when the signal was no longer to come.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="approx-watch-parent", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:  # an orphan is re-parented (to init or a subreaper)
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # no cleanup to run: the points this worker held are lost either way


def _init_process_worker(counter, visible_gpus: list[str], parent_pid: int | None = None) -> None:
    """Initializer of each pool process: exits with ``parent_pid`` (the runner; None: the tests
    calling it in-process), one torch thread, pinned to one GPU if there are several."""
    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if len(visible_gpus) > 1:  # before anything in this process touches CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_gpus[index % len(visible_gpus)]
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only allowed before inter-op work has started
        torch.set_num_interop_threads(1)


def _visible_gpus() -> list[str]:
    """GPU ids this process may hand out, found without creating a CUDA context."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _dask_timeout_s() -> float:
    text = os.environ.get(DASK_TIMEOUT_ENV, "10")
    try:
        timeout_s = float(text)
    except ValueError:
        timeout_s = float("nan")
    if not timeout_s > 0:
        raise ValueError(f"bad {DASK_TIMEOUT_ENV}={text!r}; allowed: a number of seconds > 0")
    return timeout_s


async def _handshake(address: str, timeout_s: float) -> None:
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout_s)
    await comm.close()


def _dask_client(address: str, timeout_s: float):
    try:
        from dask.distributed import Client
    except ImportError:
        raise ValueError(f"executor dask://... needs dask.distributed, which is not installed; "
                         f"install the cluster extra: {CLUSTER_EXTRA}") from None
    try:
        # dask bounds the TCP connect but not the handshake read that follows it, so a port that
        # accepts and never answers would hang Client() forever: probe under a hard deadline first
        asyncio.run(asyncio.wait_for(_handshake(address, timeout_s), timeout_s))
        return Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, asyncio.TimeoutError, ValueError) as err:
        reason = " ".join(str(err).split()) or "it accepted the connection but never answered"
        raise ValueError(f"cannot reach the dask scheduler at {address} within {timeout_s:g} s "
                         f"({reason}); allowed: the address of a running `dask scheduler`") from None


@contextlib.contextmanager
def open_executor(spec: ExecutorSpec) -> Iterator[tuple[cf.Executor, int]]:
    """(executor, how many points to keep in flight). Connects (dask) before yielding, so an
    unreachable scheduler is a ValueError raised before the runner writes anything."""
    if spec.kind == "auto":
        raise ValueError("executor 'auto' is resolved per run by choose_executor before it is opened")
    if spec.kind == "inprocess":
        yield InProcessExecutor(), 1
    elif spec.kind == "processes":
        context = multiprocessing.get_context("spawn")
        counter = context.Value("i", 0)
        pool = cf.ProcessPoolExecutor(spec.n_workers, mp_context=context,
                                      initializer=_init_process_worker,
                                      initargs=(counter, _visible_gpus(), os.getpid()))
        try:
            yield pool, 2 * spec.n_workers
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        timeout_s = _dask_timeout_s()
        client = _dask_client(spec.address, timeout_s)
        try:
            # pure=False: a point is a computation to run, not a value dask may deduplicate
            yield client.get_executor(pure=False), 1_000_000
        finally:
            client.close()


def _worker_failures() -> tuple[type[BaseException], ...]:
    failures: list[type[BaseException]] = [BrokenProcessPool]
    with contextlib.suppress(ImportError):
        from distributed.scheduler import KilledWorker

        failures.append(KilledWorker)
    return tuple(failures)


def is_worker_failure(err: BaseException) -> bool:
    """A lost worker process (not an error in the experiment): the run can be resumed."""
    return isinstance(err, _worker_failures())
