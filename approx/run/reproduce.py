"""``approx reproduce``: every experiment at one preset, in a fixed order, then the gallery.

All requests are planned (validated) before anything runs, so a bad flag fails at once with
nothing written. An experiment that raises, or whose module does not import, is reported on
stderr with its traceback (a bug to fix) and the others still run; at the end RunInterrupted
(exit status 1) lists what failed, and the gallery shows everything that succeeded. Ctrl-C
stops the whole run; ``approx reproduce --resume`` then continues where it stopped.
"""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from . import catalog
from .gallery import write_gallery
from .runner import Outcome, Request, RunInterrupted, UsageError, execute, one_line, plan_run

__all__ = ["reproduce"]


def reproduce(out: Path = Path("results"), *, preset: str = "default", device: str | None = None,
              executor: str = "auto", resume: bool = False, quiet: bool = False,
              package: str | None = None, argv: tuple[str, ...] | None = None) -> list[Outcome]:
    """Every experiment at ``preset``, in catalog order, then OUT/README.md."""
    start = time.perf_counter()
    try:
        names = catalog.experiment_names(package)
    except ValueError as err:
        raise UsageError(one_line(err)) from None
    plans, failed = [], []
    for name in names:
        request = Request(name, preset, device=device, out=Path(out), resume=resume, quiet=quiet,
                          executor=executor, package=package, argv=argv)
        try:
            plans.append(plan_run(request))
        except UsageError:
            raise
        except Exception:  # noqa: BLE001 - a module that fails to import is reported, not fatal
            traceback.print_exc()
            print(f"approx: {name} could not be loaded; continuing with the others", file=sys.stderr)
            failed.append(name)
    outcomes = []
    for plan in plans:
        try:
            outcome = execute(plan, gallery=False)
        except UsageError:
            raise  # the executor could not start (e.g. no scheduler): the same for every experiment
        except RunInterrupted as err:
            if err.by_user:
                write_gallery(out, package)
                raise
            print(f"approx: {err}", file=sys.stderr)
            failed.append(plan.output)
            continue
        except Exception:  # noqa: BLE001 - one broken experiment must not stop the others
            traceback.print_exc()
            print(f"approx: {plan.output} failed; continuing with the others", file=sys.stderr)
            failed.append(plan.output)
            continue
        outcomes.append(outcome)
        if not quiet:
            print(outcome.summary(), flush=True)
    write_gallery(out, package)
    if not quiet:
        print(f"reproduce: {len(outcomes)} of {len(names)} experiments in "
              f"{time.perf_counter() - start:.0f} s -> {Path(out) / 'README.md'}", flush=True)
    if failed:
        raise RunInterrupted(f"{len(failed)} of {len(names)} experiments failed: {', '.join(failed)}",
                             by_user=False)
    return outcomes
