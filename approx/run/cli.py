"""The ``approx`` command (also ``python -m approx``).

    approx list                                   experiments, with what each shows
    approx run NAME [--preset smoke|default|full] [--device auto|cpu|cuda] [--seed N]
                    [--set key=value ...] [--out DIR] [--resume] [--plot-only] [--quiet]
                    [--executor inprocess|auto|processes[:N]|dask://HOST:PORT]
    approx reproduce [--preset default] [--out DIR] [--device ...] [--executor ...] [--resume]
    approx gallery [--out DIR]                    rebuild OUT/README.md from the results in OUT
    approx bench [run options]                    the same as `approx run benchmark ...`
    python -m experiments.NAME [run options]      the same as `approx run NAME ...`

Bad input (an unknown experiment, preset, key or executor, a value of the wrong type, a value
the Config rejects, --device cuda without CUDA, an --out where files cannot be written, a
corrupt or edited stored point or CSV, --plot-only over another Config's CSV) prints one line
``approx: ...`` naming the bad value and what is allowed, writes nothing, and exits with 2.
A run stopped by Ctrl-C (130), a lost worker (1) or a plot() that raised (1; no result file is
written) says how to resume it.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from . import catalog
from .allocator import keep_freed_memory
from .reproduce import reproduce
from .runner import Request, RunInterrupted, UsageError, execute, one_line, plan_run
from .gallery import write_gallery

__all__ = ["main", "main_for_module", "build_parser"]

COMMANDS = ("list", "run", "reproduce", "gallery", "bench")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (raised, so ``main`` decides how to print it)."""

    def error(self, message: str):
        raise UsageError(message)


def _add_execution_flags(parser: argparse.ArgumentParser, executor: str) -> None:
    parser.add_argument("--device", help="auto (CUDA when present), cpu or cuda; sets cfg.device")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    parser.add_argument("--resume", action="store_true", help="skip the points already stored in OUT/.points")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no summary line")
    parser.add_argument("--executor", default=executor,
                        help=f"inprocess, auto (a CPU sweep's points on one worker process per core), "
                             f"processes[:N], dask://HOST:PORT or dask (address from APPROX_DASK_ADDRESS); "
                             f"default: {executor}")


def build_parser() -> Parser:
    parser = Parser(prog="approx", description="How and why neural networks approximate functions, "
                    "shown by running code. Experiments come from the package named by "
                    f"{catalog.EXPERIMENTS_ENV} (default: experiments).",
                    epilog="`approx bench [run options]` is `approx run benchmark [run options]`.")
    commands = parser.add_subparsers(dest="command", metavar="{list,run,reproduce,gallery,bench}")
    commands.add_parser("list", help="list the experiments")
    run = commands.add_parser(
        "run", help="run one experiment and write its files",
        description="Run one experiment; write OUT/NAME.csv, .png, .pdf, .json and OUT/README.md.",
        epilog="--set values are parsed by the Config field's type: int (12, 1e4), float, bool "
               "(true/false/1/0), str, tuple (comma-separated: 2,4,8), Optional (none), Literal "
               "(one of its values); a field of a group of fields takes a dotted key (radial.dims=2,8). "
               "Sweeps store each finished point in OUT/.points/NAME; a run without --resume clears "
               "that store first.")
    run.add_argument("name", help="experiment name (see `approx list`)")
    run.add_argument("--preset", default="default", help="smoke, default or full (default: default)")
    run.add_argument("--seed", type=int, help="sets cfg.seed")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                     help="override a Config field, parsed by its type (tuples: 2,4,8; a group's field: "
                          "GROUP.FIELD); repeatable")
    run.add_argument("--plot-only", action="store_true", help="redraw the figure from the existing CSV")
    _add_execution_flags(run, "inprocess")
    again = commands.add_parser("reproduce", help="run every experiment, then write OUT/README.md")
    again.add_argument("--preset", default="default", help="preset for every experiment (default: default)")
    _add_execution_flags(again, "auto")
    gallery = commands.add_parser("gallery", help="rebuild OUT/README.md from the results in OUT")
    gallery.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    return parser


def _list() -> None:
    names = catalog.experiment_names()
    width = max((len(n) for n in names), default=0)
    for name in names:
        print(f"{name:<{width}}  {catalog.summary(name)}".rstrip())


def _run(args: argparse.Namespace, argv: list[str]) -> None:
    request = Request(args.name, args.preset, seed=args.seed, device=args.device,
                      assignments=tuple(args.assignments), out=args.out, resume=args.resume,
                      plot_only=args.plot_only, quiet=args.quiet, executor=args.executor,
                      argv=("approx", *argv))
    outcome = execute(plan_run(request))
    if not args.quiet:
        if args.plot_only:
            print(f"{outcome.output}: redrew {outcome.files['png']} and .pdf from {outcome.files['csv']}")
        else:
            print(outcome.summary())


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``approx`` and ``python -m approx``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # A CUDA build of torch on a machine without the CUDA runtime logs "No CUDA runtime is
    # found, using CUDA_HOME=..." when anything imports torch.utils.cpp_extension (scipy.optimize
    # does). approx compiles no extensions, and errors here must stay one line.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    keep_freed_memory()  # a step's freed tensors stay in the process: approx.run.allocator
    if argv[:1] == ["bench"]:
        argv = ["run", "benchmark", *argv[1:]]
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError(f"missing command; allowed: {', '.join(COMMANDS)}")
        if args.command == "list":
            try:
                _list()
            except ValueError as err:
                raise UsageError(one_line(err)) from None
        elif args.command == "run":
            _run(args, argv)
        elif args.command == "reproduce":
            reproduce(args.out, preset=args.preset, device=args.device, executor=args.executor,
                      resume=args.resume, quiet=args.quiet, argv=("approx", *argv))
        else:
            print(write_gallery(args.out))
    except UsageError as err:
        print(f"approx: {one_line(err)}", file=sys.stderr)
        return 2
    except RunInterrupted as err:
        print(f"approx: {one_line(err)}", file=sys.stderr)
        return 130 if err.by_user else 1
    except SystemExit as exit_:  # --help and --version exit through argparse
        return exit_.code if isinstance(exit_.code, int) else 0
    return 0


def main_for_module(module_name: str, argv: list[str] | None = None) -> int:
    """``python -m PACKAGE.NAME [options]``: exactly ``approx run NAME [options]``, with the
    experiments taken from PACKAGE; returns the exit status. Every experiment module ends with

        if __name__ == "__main__":
            from approx.run.cli import main_for_module
            raise SystemExit(main_for_module(__spec__.name))

    Under ``-m`` the module runs as ``__main__``, and the runner imports it once more by its real
    name. That second import is harmless (experiment modules do nothing at import) and needed:
    the Config then belongs to ``PACKAGE.NAME``, which worker processes can import to unpickle it.
    A study that is a package (``PACKAGE/NAME/__init__.py``) has the same lines in its
    ``__main__.py``, whose name ``PACKAGE.NAME.__main__`` stands for ``PACKAGE.NAME``.
    """
    package, _, name = module_name.removesuffix(".__main__").rpartition(".")
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = os.environ.get(catalog.EXPERIMENTS_ENV)
    os.environ[catalog.EXPERIMENTS_ENV] = package  # the runner, its workers and the gallery see PACKAGE
    try:
        return main(["run", name, *argv])
    finally:
        if previous is None:
            del os.environ[catalog.EXPERIMENTS_ENV]
        else:
            os.environ[catalog.EXPERIMENTS_ENV] = previous
