"""An ALPS result folder: ``alps.csv``, ``alps.json``, the ROIs (markups and label map), tensors,
FA and the QC picture, written atomically; and read back (``read_alps``)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
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
from glymph.parallel import thread_map
from glymph.registration import Registration
from glymph.templates import template_provenance
from glymph.volume import axis_codes

ALPS_FILES = ("alps.csv", "alps.json", "rois.mrk.json", "rois.nii.gz", "tensor.nii.gz", "fa.nii.gz", "qc_alps.png")
SAVED_FOR_REANALYSIS = ("alps.json", "tensor.nii.gz", "rois.mrk.json")  # what read_alps_folder reads


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
    extra: dict | None = None,
) -> Path:
    """Write ``alps.csv``, ``alps.json``, ``rois.mrk.json``, ``rois.nii.gz``, ``tensor.nii.gz``,
    ``fa.nii.gz`` and ``qc_alps.png`` into ``out`` (atomically). ``extra`` entries replace or join
    the sections of ``alps.json`` (a reanalysis keeps the original fit's ``dti`` section)."""
    started = time.perf_counter() if started is None else started
    with result_folder(out, ALPS_FILES, force) as tmp:
        write_csv(tmp / "alps.csv", [alps_table_row(result)])
        write_markups(result.rois, tmp / "rois.mrk.json")
        writes = [
            lambda: alps_qc_figure(result, tmp / "qc_alps.png"),  # the longest first
            lambda: write_nifti(result.dti.tensor, tmp / "tensor.nii.gz"),
            lambda: write_nifti(result.dti.fa(), tmp / "fa.nii.gz"),
            lambda: write_nifti(
                result.dti.mask.with_data(roi_label_map(result.roi_masks)), tmp / "rois.nii.gz", np.uint8
            ),
        ]
        thread_map(lambda write: write(), writes)  # ISA-L compresses without the GIL, beside the picture
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
                "min_fa": result.min_fa,
                "voxels_in_sphere": result.sphere_voxels,
                "voxels_used": {label: int(mask.sum()) for label, mask in result.roi_masks.items()},
                "diameter_sensitivity": list(result.sensitivity),
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
            **(extra or {}),
        }
        models = {"template": template_provenance()}
        if result.detection:
            models["roi_detector"] = result.detection.get("model")
        write_sidecar(tmp / "alps.json", "alps", started, inputs, parameters, models, **results)
    return Path(out)


@dataclass(frozen=True)
class SavedAlps:
    """What an ALPS result folder holds for recomputing the index: its ``alps.json``, the tensors,
    the subject-space ROIs, the MNI152 ROIs (atlas or detector placement) and the registration."""

    folder: Path
    sidecar: dict
    dti: DTIResult
    rois: RoiSet
    mni_rois: RoiSet | None
    registration: Registration | None

    @property
    def placement(self) -> str:
        return self.sidecar["rois"]["placement"]

    @property
    def detection(self) -> dict | None:
        """What the ROI detector found, with its model's provenance (detector placements only)."""
        found = self.sidecar["rois"].get("detector")
        return {**found, "model": self.sidecar.get("models", {}).get("roi_detector")} if found else None


def read_alps_folder(out: str | os.PathLike) -> SavedAlps:
    """Read an ALPS result folder's tensors, ROIs and registration (nothing is recomputed)."""
    out = Path(out)
    if not out.is_dir():
        raise GlymphError(f"{out} is not a folder; give the --out folder of an earlier `glymph alps` run")
    missing = [name for name in SAVED_FOR_REANALYSIS if not (out / name).is_file()]
    if missing:
        raise GlymphError(f"{out} is not a complete ALPS result folder (no {', '.join(missing)})")
    try:
        sidecar = json.loads((out / "alps.json").read_text())
        rois = sidecar["rois"]
        diameter = rois["diameter_mm"]
    except (ValueError, KeyError, TypeError):
        raise GlymphError(f"{out / 'alps.json'} is not the sidecar of a `glymph alps` run") from None
    subject_rois = read_markups(out / "rois.mrk.json", diameter)
    mni = rois.get("mni_ras_mm")
    mni_rois = RoiSet({k: tuple(v) for k, v in mni.items()}, diameter, "MNI152", rois["set"]) if mni else None
    registration = Registration.from_dict(sidecar["registration"]) if sidecar.get("registration") else None
    return SavedAlps(
        out,
        sidecar,
        DTIResult.from_tensor(read_volume(out / "tensor.nii.gz", "tensors")),
        RoiSet(subject_rois.centres, diameter, "subject", rois["set"]),
        mni_rois,
        registration,
    )


def read_alps(out: str | os.PathLike) -> AlpsResult:
    """An ALPS result folder read back (e.g. after the command ran in another process): the index is
    recomputed from its tensors, ROI markups and registration, so it equals the one written."""
    saved = read_alps_folder(out)
    rois = saved.sidecar["rois"]
    return alps_from_rois(
        saved.dti,
        saved.rois,
        saved.registration,
        saved.sidecar["alps"]["frame_in_csv"],
        saved.sidecar["subject"],
        saved.placement,
        saved.mni_rois,
        saved.detection,
        rois.get("min_fa"),
        [row["diameter_mm"] for row in rois.get("diameter_sensitivity", [])],
    )
