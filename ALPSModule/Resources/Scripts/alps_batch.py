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


def work(args, scene):
    """The DWI, mask and ROI markups as nodes, through the module logic: the ALPS result."""
    from ALPSLib import AlpsNodeLogic, AlpsOptions

    from glymph.cli.requests import alps_roi_set, alps_subject, read_alps_request
    from glymph_mrml import dwi_to_node, mask_to_node, rois_to_markups_node

    dwi, mask, rois = read_alps_request(args)
    subject = alps_subject(args)
    dwi_node = dwi_to_node(dwi, scene, subject)
    mask_node = mask_to_node(mask, scene, f"{subject} mask") if mask is not None else None
    markups_node = rois_to_markups_node(rois, scene, f"{subject} ROIs") if rois else None
    options = AlpsOptions(
        roi_set=alps_roi_set(args),
        roi_diameter_mm=args.roi_diameter,
        frame=args.frame,
        placement="markups" if rois else args.placement,
        model_dir=args.model_dir,
        registration_contrast=args.registration_contrast,
        max_b=args.max_b,
        subject=subject,
    )
    result, _ = AlpsNodeLogic(scene).run(dwi_node, options, mask_node, markups_node)
    return result


if __name__ == "__main__":
    _make_importable()
    from glymph_mrml.batch import exit_with, run, script_arguments

    exit_with(run("alps", script_arguments(), work))
