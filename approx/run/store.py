"""The per-point store of a sweep: one file per finished point, so a killed run can resume.

A sweep's points live in ``OUT/.points/NAME/KEY.json``, where NAME is the output name and KEY
is a stable hash of

    (experiment name, the whole resolved Config, the point dict)

as canonical JSON (sorted keys, no spaces; floats in Python's shortest round-trip form). The
whole Config is in the key, device and seed included, on purpose: a point is reused only by a
run that would compute exactly the same thing. Results on a GPU differ from the CPU's in the
last bits and timings differ entirely, so a point computed with ``device="cuda"`` is never
mixed into a CPU run; the executor (in-process, processes, dask) is not in the key, because it
does not change results. The store knows nothing about code changes: a run without
``--resume`` clears the experiment's store first, so stale points never leak into new results.

Each file holds the point, its key and the DataFrame column by column with its dtypes (JSON
floats round-trip float64 exactly; float32 columns are restored as float32), so a resumed run
writes a CSV byte-identical to an uninterrupted one. Files are written atomically.

Each file also holds ``frame_sha256``, the SHA-256 of the canonical JSON of its key and frame,
checked on loading: a frame edited after it was stored (a column added or dropped, a value
changed) is refused, naming the file, instead of being merged into the CSV. A point's columns
cannot be checked against the experiment's otherwise: sweeps such as depth_separation give each
part its own columns, so neither "the columns of the other points" nor "of a fresh point" is a
rule. The checksum guards against accidents, not against someone who recomputes it. JSON nested
too deep for Python's parser (a RecursionError) is refused like any other corrupt file.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd

from ..files import is_temporary, write_atomic

__all__ = ["FORMAT", "StoreError", "canonical_json", "point_key", "PointStore", "frame_checksum",
           "frame_to_record", "frame_from_record"]

FORMAT = "approx-point/2"  # /2: frame_sha256 (a /1 store is refused: rerun without --resume)


class StoreError(ValueError):
    """A stored point that cannot be read back (truncated, edited, or from another key)."""


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def point_key(experiment: str, config: dict, point: dict) -> str:
    """20 hex digits of SHA-256 over the canonical JSON of (experiment, config, point)."""
    try:
        blob = canonical_json({"experiment": experiment, "config": config, "point": point})
    except TypeError as err:
        raise TypeError(f"{experiment}: points and Config values must be JSON scalars, lists or "
                        f"dicts; point {point!r}: {err}") from None
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def frame_checksum(key: str, frame_record: dict) -> str:
    """SHA-256 of the canonical JSON of (key, frame record): the seal of one stored point."""
    return hashlib.sha256(canonical_json({"key": key, "frame": frame_record}).encode("utf-8")).hexdigest()


def frame_to_record(frame: pd.DataFrame) -> dict:
    """Columns, dtype names and values as plain Python lists (JSON-ready, exact for floats)."""
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": [str(t) for t in frame.dtypes],
        # pandas' missing value of nullable dtypes (Int64, boolean) is pd.NA, which JSON cannot
        # hold; None reads back as pd.NA under the recorded dtype
        "values": [[None if v is pd.NA else v for v in frame[c].tolist()] for c in frame.columns],
    }


def frame_from_record(record: dict) -> pd.DataFrame:
    columns, dtypes, values = record["columns"], record["dtypes"], record["values"]
    if not (len(columns) == len(dtypes) == len(values)) or len({len(v) for v in values}) > 1:
        raise ValueError("columns, dtypes and values disagree in length")
    if len(set(columns)) != len(columns):
        raise ValueError(f"repeated column names in {columns}")
    return pd.DataFrame({c: pd.Series(v, dtype=t) for c, t, v in zip(columns, dtypes, values)},
                        columns=columns)


class PointStore:
    """Finished points of one sweep, one JSON file per point key, in ``directory``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> pd.DataFrame | None:
        """The stored frame for ``key``; None when absent; StoreError when unreadable."""
        found = self.load_with_info(key)
        return None if found is None else found[0]

    def load_with_info(self, key: str) -> tuple[pd.DataFrame, dict] | None:
        """(frame, info) stored for ``key``; None when absent; StoreError when unreadable."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format") != FORMAT or record.get("key") != key:
                raise ValueError(f"expected format {FORMAT} and key {key}")
            if record.get("frame_sha256") != frame_checksum(key, record["frame"]):
                raise ValueError("its frame does not match the checksum stored with it (edited?)")
            return frame_from_record(record["frame"]), dict(record.get("info") or {})
        except RecursionError:
            raise StoreError(f"corrupt stored point {path}: JSON nested too deep to read; allowed: "
                             "delete it, or run without --resume to start afresh") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise StoreError(f"corrupt stored point {path}: {err}; allowed: delete it, or run "
                             "without --resume to start afresh") from None

    def save(self, key: str, point: dict, frame: pd.DataFrame, info: dict | None = None) -> None:
        """Store one finished point (atomically); ``info`` records where and how it ran."""
        frame_record = frame_to_record(frame)
        record = {"format": FORMAT, "key": key, "point": point, "info": info or {}, "frame": frame_record,
                  "frame_sha256": frame_checksum(key, frame_record)}
        write_atomic(self.path(key), json.dumps(record) + "\n")

    def keys(self) -> list[str]:
        """Keys of the points stored now (leftover temporary files are not points)."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if not is_temporary(p))

    def remove_temporaries(self) -> None:
        """Delete what a killed ``write_atomic`` left behind."""
        if self.directory.is_dir():
            for p in self.directory.iterdir():
                if is_temporary(p):
                    p.unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget every stored point (a fresh run without --resume starts here)."""
        shutil.rmtree(self.directory, ignore_errors=True)
