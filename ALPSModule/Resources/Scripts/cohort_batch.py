"""A whole cohort headless in Slicer, through the three modules' logic (no Dask needed).

    Slicer --no-main-window --python-script cohort_batch.py -- bids BIDS_DIR OUT_DIR participant [options]
    Slicer --no-main-window --python-script cohort_batch.py -- cohort LIST.csv OUT_DIR [options]

Options as for ``glymph bids`` / ``glymph cohort`` (``glymph_mrml.cohort``). Exit status 0 when
every subject has every measure, 1 when anything failed (``OUT_DIR/failed.csv``), 2 on a user error.
Also runs with plain Python where the slicer-core wheel provides the MRML classes.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _make_importable() -> None:
    """Inside an installed extension everything is on sys.path; from a source checkout, add it."""
    root = Path(__file__).resolve().parents[3]
    for folder in (*(root / m for m in ("ALPSModule", "EPVSModule", "VeinModule")), root / "ALPSExtension"):
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


if __name__ == "__main__":
    _make_importable()
    from glymph_mrml.batch import exit_with, script_arguments
    from glymph_mrml.cohort import run

    exit_with(run(script_arguments()))
