"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every result file (CSV, JSON, README, stored sweep points) is written to a temporary file in the
same directory, flushed to disk, then renamed over the target with ``os.replace``, which POSIX
and Windows both perform atomically within one file system. A run killed mid-write leaves the
previous file intact; the temporary file is removed on any exception (a SIGKILL can still leave
one behind: its name starts with "." and ends in ".tmp", and readers ignore such names).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "sha256_of", "is_temporary"]

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
