"""OUT/README.md: a gallery of every result in OUT, rebuilt from the result files alone.

For each NAME.json record in OUT (in the experiments' fixed order), the gallery shows a heading,
the experiment's one-line summary, the figure NAME.png, the paragraph ``describe(df)`` writes
from NAME.csv, and the command that made it. It is rebuilt after every ``approx run``,
``--plot-only`` and ``approx reproduce``, and on its own by ``approx gallery``; nothing is
rerun. A result that cannot be described (its CSV is corrupt, or its module is gone or raises)
gets an entry saying so, rather than vanishing or hiding the others. ``gallery_text`` can also
read a run's staged result files as if they were already in OUT, so the runner can write the
page into its staging folder and move it into place together with the results.
"""
from __future__ import annotations

from pathlib import Path

from . import catalog
from ..files import write_atomic
from .results import read_record, read_result

__all__ = ["write_gallery", "gallery_text", "GALLERY_NAME"]

GALLERY_NAME = "README.md"


def _records(out_dir: Path, staged: Path | None) -> list[tuple[dict, Path]]:
    """(record, the folder holding its files): a staged record replaces its namesake in OUT."""
    found = {path.name: path for path in sorted(out_dir.glob("*.json"))}
    if staged is not None:
        found.update({path.name: path for path in sorted(staged.glob("*.json"))})
    records = []
    for path in found.values():
        try:
            record = read_record(path)
        except ValueError:
            continue  # not ours (or corrupt): ``approx run --plot-only`` reports the latter
        if record.get("output") == path.stem:
            records.append((record, path.parent))
    return sorted(records, key=lambda r: (catalog.order_key(r[0].get("experiment", "")), r[0]["output"]))


def _describe(folder: Path, record: dict, package: str | None) -> str:
    try:
        module = catalog.load_experiment(record["experiment"], package or record.get("package"))
        frame, _ = read_result(folder, record["output"])
        # keep the paragraph breaks and tables describe() wrote; drop indentation, which
        # markdown would read as a code block
        lines = [line.strip() for line in module.describe(frame).strip().splitlines()]
        return "\n".join(lines)
    except Exception as err:  # noqa: BLE001 - one broken entry must not hide the others
        return f"*Could not describe this result ({type(err).__name__}: {err}); rerun the command below.*"


def _footnote(record: dict) -> str:
    env = record.get("environment", {})
    commit = (env.get("git_commit") or "unknown")[:10] + ("+dirty" if env.get("git_dirty") else "")
    resumed = record.get("n_points_resumed") or 0
    timing = f"{record.get('compute_s', 0):.1f} s computing {record.get('n_points')} point(s)"
    if resumed:
        timing += f", {resumed} of them resumed from an earlier run"
    return (f"<sub>preset {record.get('preset')}, {record.get('n_rows')} rows, {timing}, "
            f"{record.get('wall_time_s', 0):.1f} s wall, on {env.get('device_name')} ({env.get('device')}), "
            f"executor {record.get('executor')}, commit {commit}, {record.get('started_utc')}</sub>")


def write_gallery(out_dir: str | Path, package: str | None = None) -> Path:
    """Write OUT/README.md from the results in OUT; returns its path."""
    path = Path(out_dir) / GALLERY_NAME
    write_atomic(path, gallery_text(out_dir, package))
    return path


def gallery_text(out_dir: str | Path, package: str | None = None, staged: Path | None = None) -> str:
    """The text of OUT/README.md; result files in ``staged`` count as if already in OUT."""
    out_dir = Path(out_dir)
    records = _records(out_dir, staged)
    lines = ["# Results", "",
             "Every figure below was made by the command under it; `approx reproduce` remakes all of "
             "them and this page (`approx gallery` rebuilds the page alone). Each NAME.csv holds the "
             "data, NAME.pdf the figure as a vector file, NAME.json the configuration, the machine "
             "and the git commit.", ""]
    if not records:
        lines += ["No results yet: run `approx reproduce`.", ""]
    for record, folder in records:
        output = record["output"]
        lines += [f"## {output}", ""]
        if record.get("summary"):
            lines += [f"*{record['summary']}*", ""]
        lines += [f"![{output}]({output}.png)", "", _describe(folder, record, package), "",
                  "```bash", record.get("command", f"approx run {record.get('experiment')}"), "```", "",
                  _footnote(record), ""]
    return "\n".join(lines)
