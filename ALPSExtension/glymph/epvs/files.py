"""An EPVS result folder: summary and lesion tables, lesion and region label maps on the input T1
grid, ``epvs.json`` and the QC picture, written atomically; and read back (``read_epvs``)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glymph.epvs.pipeline import EPVSResult
from glymph.epvs.preprocess import ANALYSIS_SPACING_MM
from glymph.epvs.qc import epvs_qc_figure
from glymph.errors import GlymphError
from glymph.image_io import read_volume, write_nifti
from glymph.outputs import read_csv, result_folder, write_csv, write_sidecar
from glymph.templates import template_provenance
from glymph.volume import Volume

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
            "t2_vesselness": result.t2_vesselness,
            "contrast": result.contrast,
        }
        models = {"brain_extraction": result.brain_source, "template": template_provenance()}
        if result.network_source is not None:
            models["segmentation"] = result.network_source
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


@dataclass(frozen=True)
class EPVSFolder:
    """An EPVS result folder read back (``read_epvs``), e.g. after ``glymph epvs`` ran in another
    process: the tables and the label maps on the input T1 grid, with the methods of ``EPVSResult``
    that a viewer uses. The 1 mm analysis-grid arrays stay with the process that measured them."""

    subject: str
    summary_row: dict[str, object] = field(repr=False)
    lesion_table: list[dict[str, object]] = field(repr=False)
    labels: Volume = field(repr=False)  # lesion id per input-T1 voxel
    regions: Volume = field(repr=False)  # region label per input-T1 voxel
    sidecar: dict = field(repr=False)  # epvs.json

    def summary(self) -> dict[str, object]:
        """The ``epvs.csv`` row, as ``EPVSResult.summary`` returned it."""
        return dict(self.summary_row)

    def lesion_rows(self) -> list[dict[str, object]]:
        """The ``lesions.csv`` rows, as ``EPVSResult.lesion_rows`` returned them."""
        return [dict(row) for row in self.lesion_table]

    def labels_on_input_grid(self) -> Volume:
        return self.labels

    def regions_on_input_grid(self) -> Volume:
        return self.regions


def read_epvs(out: str | os.PathLike) -> EPVSFolder:
    """An EPVS result folder written by ``write_epvs``, read back."""
    out = Path(out)
    missing = [name for name in EPVS_FILES if name != "qc_epvs.png" and not (out / name).is_file()]
    if missing:
        raise GlymphError(f"{out} is not a complete EPVS result folder (no {', '.join(missing)})")
    summary = read_csv(out / "epvs.csv")
    if len(summary) != 1:
        raise GlymphError(f"{out / 'epvs.csv'} should hold one subject's row, not {len(summary)}")
    labels = read_volume(out / "epvs_seg.nii.gz", "EPVS label map")
    regions = read_volume(out / "regions.nii.gz", "region label map")
    return EPVSFolder(
        str(summary[0]["subject"]),
        summary[0],
        read_csv(out / "lesions.csv", ("subject", "region_name")),
        labels.with_data(np.rint(labels.data).astype(np.int32)),
        regions.with_data(np.rint(regions.data).astype(np.uint8)),
        json.loads((out / "epvs.json").read_text()),
    )
