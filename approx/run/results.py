"""An experiment's result files in OUT: NAME.csv, NAME.png, NAME.pdf and NAME.json.

The CSV is tidy (one row per measurement) and byte-stable: no index, "\\n" line ends, floats in
the shortest form that reads back to the same float64 (Python's repr, pandas' default), no
timestamps, so the same seeded command run twice on a CPU writes identical bytes. NAME.json
is written last and records how the CSV was made and its SHA-256; reading a result checks that
checksum, so a truncated or edited CSV is reported, never silently plotted.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from ..files import sha256_of, write_atomic

__all__ = ["RESULT_FORMAT", "csv_bytes", "paths", "write_csv", "write_record", "read_record", "read_result"]

RESULT_FORMAT = "approx-result/1"


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def paths(out_dir: Path, output: str) -> dict[str, Path]:
    return {ext: out_dir / f"{output}.{ext}" for ext in ("csv", "png", "pdf", "json")}


def write_csv(out_dir: Path, output: str, frame: pd.DataFrame) -> Path:
    path = paths(out_dir, output)["csv"]
    write_atomic(path, csv_bytes(frame))
    return path


def write_record(out_dir: Path, output: str, record: dict) -> Path:
    path = paths(out_dir, output)["json"]
    write_atomic(path, json.dumps(record, indent=2, sort_keys=False) + "\n")
    return path


def read_record(path: Path) -> dict:
    """A NAME.json record; ValueError if it is not one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("format") != RESULT_FORMAT:
            raise ValueError(f"not an {RESULT_FORMAT} record")
        return record
    except RecursionError:  # not a ValueError: JSON nested deeper than Python's parser goes
        raise ValueError(f"corrupt result record {path}: JSON nested too deep to read") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"corrupt result record {path}: {err}") from None


def read_result(out_dir: Path, output: str) -> tuple[pd.DataFrame, dict]:
    """(frame, record) of a finished result; ValueError naming the file when missing or corrupt."""
    files = paths(out_dir, output)
    rerun = f"allowed: rerun `approx run` for {output} without --plot-only"
    for kind in ("csv", "json"):
        if not files[kind].exists():
            raise ValueError(f"no result file {files[kind]}; {rerun}")
    record = read_record(files["json"])
    if record.get("csv_sha256") != sha256_of(files["csv"]):
        raise ValueError(f"corrupt result file {files['csv']}: its checksum does not match "
                         f"{files['json'].name} (truncated or edited); {rerun}")
    try:
        frame = pd.read_csv(io.BytesIO(files["csv"].read_bytes()))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"corrupt result file {files['csv']}: {err}; {rerun}") from None
    return frame, record
