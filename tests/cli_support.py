"""Run an experiment's smoke preset through the real command line (shared by tests/experiments/)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from approx.run.cli import main


def run_smoke(name: str, out: Path, output: str | None = None) -> pd.DataFrame:
    """`approx run NAME --preset smoke --device cpu --quiet --out OUT`; assert it exits 0 and
    writes OUTPUT.{csv,png,pdf,json} (OUTPUT defaults to NAME); return the CSV."""
    output = output or name
    assert main(["run", name, "--preset", "smoke", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    written = {p.name for p in Path(out).iterdir()}
    assert {f"{output}.{ext}" for ext in ("csv", "png", "pdf", "json")} <= written
    return pd.read_csv(Path(out) / f"{output}.csv")
