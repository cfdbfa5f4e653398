"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every result file (CSV, JSON, README, stored sweep points) is written to a temporary file in the
same directory, flushed to disk, then renamed over the target with ``os.replace``, which POSIX
and Windows both perform atomically within one file system. A run killed mid-write leaves the
previous file intact; the temporary file is removed on any exception (a SIGKILL can still leave
one behind: its name starts with "." and ends in ".tmp", and readers ignore such names).

Files that belong together (a run's CSV, figures, record and gallery page) are written into a
hidden staging folder beside their targets (``staging_folder``) and moved into place one
after another (``move_together``), with Ctrl-C held back until the last is in place, so a
failure while making them leaves none of them, and the old set stays whole. The record goes
last: a SIGKILL between two renames leaves a CSV that its old record's checksum rejects.
``check_writable`` probes a folder before any work; ``remove_leftovers`` deletes what a killed
run left beside its targets.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

__all__ = ["write_atomic", "sha256_of", "is_temporary", "check_writable", "staging_folder",
           "move_together", "remove_leftovers"]

TEMP_SUFFIX = ".tmp"


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text is UTF-8 with "\\n" line ends) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not reach the disk before the bytes
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (recorded in NAME.json to detect a corrupt CSV)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def is_temporary(path: Path) -> bool:
    """True for the leftovers of an interrupted ``write_atomic`` (".NAME.xxxx.tmp")."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def check_writable(folder: str | Path) -> None:
    """ValueError (one line, naming ``folder``) unless files can be created in ``folder``.

    Creates the missing folders, creates and removes one temporary file, then removes the
    folders it created: a regular file, a path under a file, a read-only or virtual file system
    (/proc, /sys) are found before any work, and the file system is left as it was.
    """
    folder = Path(folder)
    existing = next(p for p in [folder, *folder.parents] if p.exists() or p.is_symlink())
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"is under the file {existing}"
        raise ValueError(f"{folder} {where}; allowed: a writable folder (created if missing)")
    created = [p for p in [folder, *folder.parents] if not (p.exists() or p.is_symlink())]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".approx-probe.", suffix=TEMP_SUFFIX, dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"cannot create files in {folder} ({err.strerror or err}); allowed: a "
                         "writable folder (created if missing)") from None
    finally:
        for path in created:  # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()


@contextlib.contextmanager
def staging_folder(folder: str | Path, stem: str) -> Iterator[Path]:
    """A hidden folder ``.STEM.staging.XXXX.tmp`` in ``folder`` (the same file system, so moving
    out of it is a rename), removed with whatever is left in it on exit."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{stem}.staging.", suffix=TEMP_SUFFIX, dir=folder))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def move_together(staging: Path, folder: Path, names: list[str]) -> None:
    """Rename ``staging/NAME`` over ``folder/NAME`` for each name, in order.

    A Ctrl-C arriving meanwhile is held back and delivered after the last rename, so it cannot
    leave half a set. (A SIGKILL can: put the file that vouches for the others last.)
    """
    with _sigint_held_back():
        for name in names:
            os.replace(staging / name, folder / name)


@contextlib.contextmanager
def _sigint_held_back() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals (and may set handlers)
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)  # now, to whichever handler was there before


def remove_leftovers(folder: str | Path, names: list[str], older_than_s: float = 0.0) -> None:
    """Delete the temporaries a killed run left in ``folder`` for these target names:
    ``.NAME.XXXX.tmp`` files of ``write_atomic`` and ``.NAME.XXXX.tmp`` folders of
    ``staging_folder`` (whose NAME is its stem plus ".staging"). ``older_than_s`` spares younger
    ones, for a target that another process may be writing right now."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    pattern = re.compile("|".join(rf"\.{re.escape(name)}\.[^./]+{re.escape(TEMP_SUFFIX)}" for name in names))
    now = time.time()
    for path in folder.iterdir():
        if not pattern.fullmatch(path.name):
            continue
        with contextlib.suppress(OSError):
            if now - path.lstat().st_mtime < older_than_s:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
