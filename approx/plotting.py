"""One look for every figure, and byte-stable, atomic saving.

Figures are drawn from a DataFrame by each experiment's ``plot``; they use ``figure()`` for the
shared style (labelled axes, readable at README size) and ``save()`` to write PNG and PDF.
Saving strips the metadata matplotlib would stamp in (software version, creation date), so the
same data gives the same bytes, and writes through a temporary file and a rename, so an
interrupted run never leaves half a figure.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on CI or the GPU machines; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

from .files import write_atomic  # noqa: E402

__all__ = ["STYLE", "figure", "save"]

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "svg.hashsalt": "approx",
}


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.0, height: float = 3.2, **kwargs):
    """(fig, axes) in the shared style; width and height are per panel, in inches."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
            constrained_layout=True, **kwargs,
        )
    return fig, axes


def save(fig, path: str | Path) -> None:
    """Write ``path`` (.png) and the same figure as .pdf beside it, atomically; close the figure."""
    path = Path(path)
    targets = [(path.with_suffix(".png"), {"Software": None}),
               (path.with_suffix(".pdf"), {"CreationDate": None, "Producer": None, "Creator": None})]
    try:
        with plt.rc_context(STYLE):
            for target, metadata in targets:
                buffer = io.BytesIO()  # render fully before touching the file
                fig.savefig(buffer, metadata=metadata, format=target.suffix[1:])
                write_atomic(target, buffer.getvalue())
    finally:
        plt.close(fig)
