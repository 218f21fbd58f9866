"""The DTI and DTI-ALPS workflows as typed functions: DWI in, result objects out, files written.

``fit_dti`` -> ``DTIResult``; ``run_alps`` -> ``AlpsResult`` (registration, ROIs, the index in
both frames); ``alps_from_rois`` recomputes the index from moved ROIs without registering again;
``write_dti`` and ``write_alps`` write a result folder atomically with its JSON sidecar.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glymph.alps import CSV_COLUMNS, AlpsIndex, alps_index, check_frame
from glymph.dwi import DWI
from glymph.errors import GlymphError
from glymph.progress import step
from glymph.registration import Registration
from glymph.rois import DEFAULT_DIAMETER_MM, LABELS, RoiSet, builtin_roi_set, roi_label_map, sphere_masks
from glymph.tensor import FSL_ORDER, TensorFit, TensorModel
from glymph.volume import Volume, axis_codes, mask_on_grid

DEFAULT_MAX_B = 1500.0  # s/mm^2: the tensor is fitted on shells up to this b-value
DTI_FILES = ("tensor.nii.gz", "fa.nii.gz", "md.nii.gz", "colour_fa.nii.gz", "mask.nii.gz", "dti.json")
ALPS_FILES = ("alps.csv", "alps.json", "rois.mrk.json", "rois.nii.gz", "tensor.nii.gz", "fa.nii.gz", "qc_alps.png")


@dataclass(frozen=True)
class DTIResult:
    """A tensor fit on the DWI grid: tensors (FSL order, RAS frame, mm^2/s), FA, MD, colour-FA, mask."""

    fit: TensorFit
    affine: np.ndarray
    bvals_used: np.ndarray
    mask_source: str  # "auto (median_otsu)" or the mask file
    iterations: int

    def _volume(self, data: np.ndarray) -> Volume:
        return Volume(data, self.affine)

    @property
    def tensor(self) -> Volume:
        return self._volume(self.fit.tensor)

    @property
    def mask(self) -> Volume:
        return self._volume(self.fit.mask)

    @property
    def grid(self) -> Volume:
        """The voxel grid (holding the mask)."""
        return self._volume(self.fit.mask)

    @classmethod
    def from_tensor(cls, tensor: Volume, mask: Volume | None = None) -> DTIResult:
        """Wrap tensors fitted elsewhere (e.g. a Slicer DTI node): (I, J, K, 6), FSL order, RAS, mm^2/s.

        Without ``mask`` the fitted voxels are those with a non-zero tensor.
        """
        data = np.asarray(tensor.data, dtype=np.float32)
        if data.ndim != 4 or data.shape[3] != 6:
            raise GlymphError("tensors must be a 4D image with 6 components (xx, xy, xz, yy, yz, zz)")
        inside = np.any(data != 0, axis=3) if mask is None else mask_on_grid(mask, tensor, "tensors").data
        if not inside.any():
            raise GlymphError("the tensor volume is empty (all zero)")
        fit = TensorFit(
            np.where(inside[..., None], data, 0.0).astype(np.float32), np.zeros(inside.shape, np.float32), inside
        )
        return cls(fit, tensor.affine, np.zeros(0), "given" if mask is not None else "non-zero tensors", 0)

    def fa(self) -> Volume:
        return self._volume(self.fit.fa().astype(np.float32))

    def md(self) -> Volume:
        return self._volume(self.fit.md().astype(np.float32))

    def colour_fa(self) -> Volume:
        return self._volume(self.fit.colour_fa().astype(np.float32))

    def describe(self) -> dict:
        return {
            "fit": f"weighted linear least squares: OLS start, {self.iterations} reweighting(s) by the predicted signal",
            "tensor_file_order": ",".join(FSL_ORDER),
            "tensor_frame": "RAS world (scanner) axes",
            "units": "mm^2/s",
            "volumes_used": int(self.bvals_used.size),
            "b_values_used": sorted({round(float(b)) for b in self.bvals_used}),
            "mask": self.mask_source,
            "mask_voxels": int(self.fit.mask.sum()),
        }


@dataclass(frozen=True)
class AlpsResult:
    """The DTI-ALPS index of one scan in both frames, with everything needed to check it."""

    subject: str
    dti: DTIResult
    rois: RoiSet  # subject space, RAS mm
    roi_masks: dict[str, np.ndarray] = field(repr=False)
    registration: Registration | None
    image: AlpsIndex
    anatomical: AlpsIndex | None
    frame: str  # the frame reported in the CSV
    placement: str  # "atlas" or "manual"
    mni_rois: RoiSet | None = None

    @property
    def index(self) -> AlpsIndex:
        """The index in the chosen frame."""
        return self.anatomical if self.frame == "anatomical" else self.image  # type: ignore[return-value]


def fit_dti(
    dwi: DWI,
    mask: Volume | None = None,
    max_b: float = DEFAULT_MAX_B,
    iterations: int = 1,
    mask_source: str | None = None,
) -> DTIResult:
    """Fit tensors by WLS on shells up to ``max_b`` s/mm^2, inside ``mask`` or an automatic brain mask."""
    from glymph.mask import brain_mask_from_b0

    used = dwi.up_to_b(max_b)
    if mask is None:
        with step("brain mask from the b0"):
            mask = brain_mask_from_b0(used.mean_b0())
        mask_source = "auto: dipy median_otsu (radius 2, 1 pass) on the mean b0, largest component, holes filled"
    else:
        mask = mask_on_grid(mask, dwi.volume, "DWI")
    inside = np.asarray(mask.data, dtype=bool)
    with step(f"fitting tensors in {int(inside.sum()):,} voxels ({used.bvals.size} volumes)"):
        fit = TensorModel(used.bvals, used.bvecs, iterations=iterations).fit(used.data, inside)
    return DTIResult(fit, dwi.affine, used.bvals, mask_source or "given", iterations)


def map_rois_to_subject(roi_set: RoiSet, registration: Registration) -> RoiSet:
    """MNI152 ROI centres mapped into the subject through the registration."""
    return roi_set.mapped(registration.transform.to_subject(roi_set.array()), "subject")


def alps_from_rois(
    dti: DTIResult,
    rois: RoiSet,
    registration: Registration | None,
    frame: str = "image",
    subject: str = "subject",
    placement: str = "manual",
    mni_rois: RoiSet | None = None,
) -> AlpsResult:
    """The ALPS index for subject-space ROIs (no registration is run here).

    The anatomical frame needs ``registration``; without it only the image frame is computed and
    asking for ``frame='anatomical'`` is an error.
    """
    if frame == "anatomical" and registration is None:
        raise GlymphError("--frame anatomical needs a registration to the template, which failed or was not run")
    masks = sphere_masks(rois, dti.grid, dti.fit.mask)
    fa, md = dti.fit.fa(), dti.fit.md()
    image = alps_index(dti.fit.tensor, fa, md, masks, "image")
    anatomical = (
        alps_index(dti.fit.tensor, fa, md, masks, "anatomical", registration.transform.rotation)
        if registration
        else None
    )
    return AlpsResult(subject, dti, rois, masks, registration, image, anatomical, frame, placement, mni_rois)


def register_dti(dti: DTIResult, contrast: str = "fa", b0: Volume | None = None) -> Registration:
    """Affine registration of the FA (or of ``b0``) to MNI152, with the DTI's brain mask."""
    from glymph.registration import register_to_mni

    if contrast == "b0" and b0 is None:
        raise GlymphError("registration on the b0 needs the DWI; with tensors only, register the FA")
    with step(f"affine registration of the {contrast.upper()} to MNI152"):
        image = dti.fa() if contrast == "fa" else b0
        return register_to_mni(image, dti.mask, contrast)  # type: ignore[arg-type]


def alps_from_dti(
    dti: DTIResult,
    *,
    b0: Volume | None = None,
    roi_set: str = "chen2025",
    rois: RoiSet | None = None,
    roi_diameter_mm: float = DEFAULT_DIAMETER_MM,
    frame: str = "image",
    contrast: str = "fa",
    subject: str = "subject",
) -> AlpsResult:
    """DTI-ALPS from fitted tensors: registration to MNI152, ROI placement, the index in both frames.

    ``rois`` (subject space, e.g. from ``read_markups``) replaces the atlas placement of
    ``roi_set``; the registration still runs for the anatomical frame, and if it fails with
    manual ROIs only the image frame is reported (with a warning).
    """
    import logging

    check_frame(frame)
    mni_rois = None if rois is not None else builtin_roi_set(roi_set, roi_diameter_mm)
    try:
        registration: Registration | None = register_dti(dti, contrast, b0)
    except GlymphError as error:
        if rois is None:
            raise
        logging.getLogger("glymph").warning("%s; reporting the image frame only", error)
        registration = None
    if rois is None:
        rois = map_rois_to_subject(mni_rois, registration)  # type: ignore[arg-type]
        placement = "atlas"
    else:
        rois = RoiSet(rois.centres, roi_diameter_mm, "subject", rois.name)
        placement = "manual"
    return alps_from_rois(dti, rois, registration, frame, subject, placement, mni_rois)


def run_alps(
    dwi: DWI,
    *,
    mask: Volume | None = None,
    roi_set: str = "chen2025",
    rois: RoiSet | None = None,
    roi_diameter_mm: float = DEFAULT_DIAMETER_MM,
    frame: str = "image",
    contrast: str = "fa",
    max_b: float = DEFAULT_MAX_B,
    subject: str = "subject",
    mask_source: str | None = None,
) -> AlpsResult:
    """DTI-ALPS from a DWI: tensor fit (``fit_dti``), then ``alps_from_dti``."""
    check_frame(frame)
    dti = fit_dti(dwi, mask, max_b, mask_source=mask_source)
    return alps_from_dti(
        dti,
        b0=dwi.mean_b0(),
        roi_set=roi_set,
        rois=rois,
        roi_diameter_mm=roi_diameter_mm,
        frame=frame,
        contrast=contrast,
        subject=subject,
    )


def write_dti(
    dti: DTIResult,
    out: str | os.PathLike,
    *,
    inputs: dict | None = None,
    parameters: dict | None = None,
    started: float | None = None,
    force: bool = False,
) -> Path:
    """Write tensor, FA, MD, colour-FA and mask NIfTIs and ``dti.json`` into ``out``."""
    from glymph.image_io import write_nifti, write_rgb_nifti
    from glymph.outputs import atomic_out_dir, write_sidecar

    started = time.perf_counter() if started is None else started
    with step(f"writing results to {out}"), atomic_out_dir(out, DTI_FILES, force) as tmp:
        write_nifti(dti.tensor, tmp / "tensor.nii.gz")
        write_nifti(dti.fa(), tmp / "fa.nii.gz")
        write_nifti(dti.md(), tmp / "md.nii.gz")
        write_rgb_nifti(dti.colour_fa(), tmp / "colour_fa.nii.gz")
        write_nifti(dti.mask, tmp / "mask.nii.gz", np.uint8)
        write_sidecar(tmp / "dti.json", "dti", started, inputs, parameters, dti=dti.describe())
    return Path(out)


def alps_table_row(result: AlpsResult) -> dict[str, object]:
    """One CSV row: subject, the FSL-script-compatible columns, then FA, MD and voxel counts per ROI, and the frame."""
    index = result.index
    row: dict[str, object] = {"subject": result.subject, **index.columns()}
    for measure in ("fa", "md", "n_voxels"):
        for label in LABELS:
            row[f"{'n' if measure == 'n_voxels' else measure}_{label}"] = getattr(index.rois[label], measure)
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
    from glymph.image_io import write_nifti
    from glymph.markups import write_markups
    from glymph.outputs import atomic_out_dir, write_csv, write_sidecar
    from glymph.qc import alps_qc_figure
    from glymph.templates import template_provenance

    started = time.perf_counter() if started is None else started
    with step(f"writing results to {out}"), atomic_out_dir(out, ALPS_FILES, force) as tmp:
        write_csv(tmp / "alps.csv", [alps_table_row(result)])
        write_markups(result.rois, tmp / "rois.mrk.json")
        write_nifti(result.dti.grid.with_data(roi_label_map(result.roi_masks)), tmp / "rois.nii.gz", np.uint8)
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
            },
            "registration": result.registration.as_dict() if result.registration else None,
            "dti": result.dti.describe(),
            "image": {
                "shape": list(result.dti.grid.shape),
                "voxel_mm": result.dti.grid.spacing.round(4).tolist(),
                "storage": axis_codes(result.dti.affine),
            },
            "csv_columns": ["subject", *CSV_COLUMNS],
        }
        models = {"template": template_provenance()}
        write_sidecar(tmp / "alps.json", "alps", started, inputs, parameters, models, **results)
    return Path(out)
