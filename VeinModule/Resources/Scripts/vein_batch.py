"""Headless superficial-vein analysis through the Vein module's logic (never its widget).

    Slicer --no-main-window --python-script vein_batch.py -- SWI --out DIR [options of `glymph vein`]

Loads the SWI (and optional mask) into MRML nodes, runs ``VeinLib.VeinNodeLogic`` on them and
writes exactly the files of `glymph vein`. Exits with status 0 on success, 2 on a user error
(message on stderr), 1 on anything else. Also runs with plain Python where the slicer-core wheel
provides the MRML classes.
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
    from VeinLib.batch import work

    from glymph_mrml.batch import exit_with, run, script_arguments

    exit_with(run("vein", script_arguments(), work))
