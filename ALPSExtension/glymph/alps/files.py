"""An ALPS result folder: ``alps.csv``, ``alps.json``, the ROIs (markups and label map), tensors,
FA and the QC picture, written atomically; and read back (``read_alps``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from glymph.alps.index import CSV_COLUMNS
from glymph.alps.markups import read_markups, write_markups
from glymph.alps.pipeline import AlpsResult, alps_from_rois
from glymph.alps.qc import alps_qc_figure
from glymph.alps.rois import LABELS, RoiSet, roi_label_map
from glymph.dti.pipeline import DTIResult
from glymph.errors import GlymphError
from glymph.image_io import read_volume, write_nifti
from glymph.outputs import result_folder, write_csv, write_sidecar
from glymph.registration import Registration
from glymph.templates import template_provenance
from glymph.volume import axis_codes

ALPS_FILES = ("alps.csv", "alps.json", "rois.mrk.json", "rois.nii.gz", "tensor.nii.gz", "fa.nii.gz", "qc_alps.png")


def alps_table_row(result: AlpsResult) -> dict[str, object]:
    """One CSV row: subject, the FSL-script-compatible columns, then FA, MD, voxel counts and quality
    (aligned fraction, dispersion, lambda2 / lambda3) per ROI, and the frame."""
    index = result.index
    row: dict[str, object] = {"subject": result.subject, **index.columns()}
    for measure in ("fa", "md", "n_voxels"):
        for label in LABELS:
            row[f"{'n' if measure == 'n_voxels' else measure}_{label}"] = getattr(index.rois[label], measure)
    for measure, column in (("aligned_fraction", "aligned"), ("dispersion_deg", "dispersion_deg"), ("l2_l3", "l2_l3")):
        for label in LABELS:
            row[f"{column}_{label}"] = getattr(index.rois[label], measure)
    row["frame"] = index.frame
    return row


def write_alps(
    result: AlpsResult,
    out: str | os.PathLike,
    *,
    inputs: dict | None = None,
    parameters: dict | None = None,
    started: float | None = None,
    force: bool = False,
) -> Path:
    """Write ``alps.csv``, ``alps.json``, ``rois.mrk.json``, ``rois.nii.gz``, ``tensor.nii.gz``,
    ``fa.nii.gz`` and ``qc_alps.png`` into ``out`` (atomically)."""
    started = time.perf_counter() if started is None else started
    with result_folder(out, ALPS_FILES, force) as tmp:
        write_csv(tmp / "alps.csv", [alps_table_row(result)])
        write_markups(result.rois, tmp / "rois.mrk.json")
        write_nifti(result.dti.mask.with_data(roi_label_map(result.roi_masks)), tmp / "rois.nii.gz", np.uint8)
        write_nifti(result.dti.tensor, tmp / "tensor.nii.gz")
        write_nifti(result.dti.fa(), tmp / "fa.nii.gz")
        alps_qc_figure(result, tmp / "qc_alps.png")
        results = {
            "subject": result.subject,
            "alps": {
                "frame_in_csv": result.frame,
                "image": result.image.as_dict(),
                "anatomical": result.anatomical.as_dict() if result.anatomical else None,
            },
            "rois": {
                "placement": result.placement,
                "set": result.mni_rois.name if result.mni_rois else "manual",
                "diameter_mm": result.rois.diameter_mm,
                "subject_ras_mm": {k: [round(v, 3) for v in c] for k, c in result.rois.centres.items()},
                "mni_ras_mm": result.mni_rois.centres if result.mni_rois else None,
                "detector": {k: v for k, v in result.detection.items() if k != "model"} if result.detection else None,
            },
            "registration": result.registration.as_dict() if result.registration else None,
            "dti": result.dti.describe(),
            "image": {
                "shape": list(result.dti.mask.shape),
                "voxel_mm": result.dti.mask.spacing.round(4).tolist(),
                "storage": axis_codes(result.dti.affine),
            },
            "csv_columns": ["subject", *CSV_COLUMNS],
        }
        models = {"template": template_provenance()}
        if result.detection:
            models["roi_detector"] = result.detection.get("model")
        write_sidecar(tmp / "alps.json", "alps", started, inputs, parameters, models, **results)
    return Path(out)


def read_alps(out: str | os.PathLike) -> AlpsResult:
    """An ALPS result folder read back (e.g. after the command ran in another process): the index is
    recomputed from its tensors, ROI markups and registration, so it equals the one written."""
    import json

    out = Path(out)
    missing = [name for name in ("alps.json", "tensor.nii.gz", "rois.mrk.json") if not (out / name).is_file()]
    if missing:
        raise GlymphError(f"{out} is not a complete ALPS result folder (no {', '.join(missing)})")
    sidecar = json.loads((out / "alps.json").read_text())
    rois = sidecar["rois"]
    subject_rois = read_markups(out / "rois.mrk.json", rois["diameter_mm"])
    mni = rois["mni_ras_mm"]
    mni_rois = (
        RoiSet({k: tuple(v) for k, v in mni.items()}, rois["diameter_mm"], "MNI152", rois["set"]) if mni else None
    )
    registration = Registration.from_dict(sidecar["registration"]) if sidecar["registration"] else None
    return alps_from_rois(
        DTIResult.from_tensor(read_volume(out / "tensor.nii.gz", "tensors")),
        RoiSet(subject_rois.centres, rois["diameter_mm"], "subject", rois["set"]),
        registration,
        sidecar["alps"]["frame_in_csv"],
        sidecar["subject"],
        rois["placement"],
        mni_rois,
        rois.get("detector"),
    )
