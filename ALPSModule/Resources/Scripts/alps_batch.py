"""Headless DTI-ALPS through the ALPS module's logic (never its widget).

    Slicer --no-main-window --python-script alps_batch.py -- DWI --out DIR [options of `glymph alps`]

Loads the DWI (NIfTI + FSL bval/bvec, or NRRD), the optional mask and ROI markups into MRML
nodes, runs ``ALPSLib.AlpsNodeLogic`` on them and writes exactly the files of `glymph alps`. Exits
with status 0 on success, 2 on a user error (message on stderr), 1 on anything else. Also runs
with plain Python where the slicer-core wheel provides the MRML classes.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _make_importable() -> None:
    """Inside an installed extension everything is on sys.path; from a source checkout, add it."""
    module_dir = Path(__file__).resolve().parents[2]
    for folder in (module_dir, module_dir.parent / "ALPSExtension"):
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


if __name__ == "__main__":
    _make_importable()
    from ALPSLib.batch import work

    from glymph_mrml.batch import exit_with, run, script_arguments

    exit_with(run("alps", script_arguments(), work))
