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


def work(args, scene):
    """The SWI and mask as nodes, through the module logic: the vein result."""
    from VeinLib import VeinNodeLogic, VeinOptions

    from glymph.cli.requests import read_vein_request
    from glymph_mrml import mask_to_node, volume_to_node

    swi, mask, subject = read_vein_request(args)
    swi_node = volume_to_node(swi, scene, subject)
    mask_node = mask_to_node(mask, scene, f"{subject} mask") if mask is not None else None
    options = VeinOptions(slab_mm=args.slab_mm, slab_center_mm=args.slab_center_mm, method=args.method, subject=subject)
    result, _ = VeinNodeLogic(scene).run(swi_node, options, mask_node)
    return result


if __name__ == "__main__":
    _make_importable()
    from glymph_mrml.batch import exit_with, run, script_arguments

    exit_with(run("vein", script_arguments(), work))
