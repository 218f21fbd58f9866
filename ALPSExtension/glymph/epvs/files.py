"""An EPVS result folder: summary and lesion tables, lesion and region label maps on the input T1
grid, ``epvs.json`` and the QC picture, written atomically."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from glymph.epvs.pipeline import EPVSResult
from glymph.epvs.preprocess import ANALYSIS_SPACING_MM
from glymph.epvs.qc import epvs_qc_figure
from glymph.image_io import write_nifti
from glymph.outputs import result_folder, write_csv, write_sidecar
from glymph.templates import template_provenance

EPVS_FILES = ("epvs.csv", "lesions.csv", "epvs_seg.nii.gz", "regions.nii.gz", "epvs.json", "qc_epvs.png")
LESION_COLUMNS = [
    "subject",
    "id",
    "region",
    "region_name",
    "volume_mm3",
    "length_mm",
    "max_diameter_mm",
    "centroid_x",
    "centroid_y",
    "centroid_z",
    "n_voxels",
]


def write_epvs(
    result: EPVSResult,
    out: str | os.PathLike,
    *,
    inputs: dict | None = None,
    parameters: dict | None = None,
    started: float | None = None,
    force: bool = False,
) -> Path:
    """Write the EPVS result files (``EPVS_FILES``) into ``out``, atomically."""
    started = time.perf_counter() if started is None else started
    with result_folder(out, EPVS_FILES, force) as tmp:
        summary = result.summary()
        write_csv(tmp / "epvs.csv", [summary])
        write_csv(tmp / "lesions.csv", result.lesion_rows(), LESION_COLUMNS)
        write_nifti(result.labels_on_input_grid(), tmp / "epvs_seg.nii.gz", np.uint16)
        write_nifti(result.regions_on_input_grid(), tmp / "regions.nii.gz", np.uint8)
        epvs_qc_figure(result, tmp / "qc_epvs.png")
        parameters = {
            **(parameters or {}),
            "method": result.method,
            "min_length_mm": result.min_length_mm,
            "analysis_spacing_mm": ANALYSIS_SPACING_MM,
            "with_t2": result.with_t2,
        }
        models = {"brain_extraction": result.brain_source, "template": template_provenance()}
        write_sidecar(
            tmp / "epvs.json",
            "epvs",
            started,
            inputs,
            parameters,
            models,
            subject=result.subject,
            summary=summary,
            short_components_removed=result.n_short_removed,
            definitions={
                "lesion": "26-connected component of the segmentation on the 1 mm analysis grid",
                "length_mm": "largest distance between two voxel centres of the lesion + 1 voxel",
                "max_diameter_mm": "largest extent across the length axis + 1 voxel",
                "fraction_X_of_region": "EPVS volume in region X / volume of region X",
                "fraction_X_of_brain": "EPVS volume in region X / brain volume",
                "regions": "glymph/data/regions/README.md",
                "labels_file": "epvs_seg.nii.gz holds lesion ids (lesions.csv) on the input T1 grid",
            },
            registration=result.registration.as_dict(),
        )
    return Path(out)
