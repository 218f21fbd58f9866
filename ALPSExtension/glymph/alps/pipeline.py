"""DTI-ALPS from a DWI or fitted tensors: registration to MNI152, ROI placement, the index in both frames.

``run_alps`` -> ``AlpsResult``; ``alps_from_dti`` starts from tensors; ``alps_from_rois``
recomputes the index from moved ROIs without registering again. ``glymph.alps.files`` writes a
result folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from glymph.alps.index import AlpsIndex, alps_index, check_frame
from glymph.alps.rois import RoiSet, builtin_roi_set, drop_low_fa, sphere_masks
from glymph.defaults import (
    AUTOMATIC_PLACEMENTS,
    DEVICE,
    FRAME,
    GRADIENT_CHECK,
    MAX_B,
    PLACEMENT,
    REGISTRATION_CONTRAST,
    ROI_DIAMETER_MM,
    ROI_SET,
    THREADS,
)
from glymph.dti.dwi import DWI
from glymph.dti.pipeline import DTIResult, fit_dti
from glymph.dti.preprocess import Preprocessing
from glymph.errors import GlymphError
from glymph.parallel import in_background
from glymph.progress import step
from glymph.registration import Registration, register_to_mni
from glymph.volume import Volume

log = logging.getLogger("glymph")


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
    placement: str  # "atlas", "detector", "atlas (detector fallback)" or "manual"
    mni_rois: RoiSet | None = None
    detection: dict | None = None  # what the ROI detector found (confidences, level, problems, model)
    min_fa: float | None = None  # ROI voxels below this FA were dropped (--roi-min-fa)
    sphere_voxels: dict[str, int] | None = None  # voxels in each sphere (and the brain) before the FA cut
    sensitivity: tuple[dict, ...] = ()  # the index for other ROI diameters (``diameter_sensitivity``)

    @property
    def index(self) -> AlpsIndex:
        """The index in the chosen frame."""
        return self.anatomical if self.frame == "anatomical" else self.image  # type: ignore[return-value]


def map_rois_to_subject(roi_set: RoiSet, registration: Registration) -> RoiSet:
    """MNI152 ROI centres mapped into the subject through the registration."""
    return roi_set.mapped(registration.transform.to_subject(roi_set.array()), "subject")


def sensitivity_diameters(diameters: Sequence[float]) -> tuple[float, ...]:
    """The diameters of the sensitivity table for the ROI diameters asked for (the first is the
    reported one): all of them when there are several, none for one."""
    return tuple(diameters) if len(diameters) > 1 else ()


def roi_masks(
    dti: DTIResult, rois: RoiSet, fa: np.ndarray, min_fa: float | None = None
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The four ROI masks on the DTI grid (inside the fitted brain, without voxels whose ``fa`` is
    below ``min_fa`` when given) and each sphere's voxel count before the FA cut."""
    masks = sphere_masks(rois, dti.mask, dti.fit.mask)
    counts = {label: int(mask.sum()) for label, mask in masks.items()}
    if min_fa is not None:
        masks = drop_low_fa(masks, fa, min_fa)
    return masks, counts


def _indices(
    dti: DTIResult, masks: dict[str, np.ndarray], registration: Registration | None, fa: np.ndarray, md: np.ndarray
) -> tuple[AlpsIndex, AlpsIndex | None]:
    """The index in the image frame and, with a registration, in the anatomical frame."""
    image = alps_index(dti.fit.tensor, fa, md, masks, "image")
    if registration is None:
        return image, None
    return image, alps_index(dti.fit.tensor, fa, md, masks, "anatomical", registration.transform.rotation)


def diameter_sensitivity(
    dti: DTIResult,
    rois: RoiSet,
    registration: Registration | None,
    diameters_mm: Sequence[float],
    min_fa: float | None = None,
) -> tuple[dict, ...]:
    """The index with the same ROI centres and each of ``diameters_mm``: per diameter, the voxels
    of each ROI and ``alps_L``, ``alps_R``, ``alps`` in the image (and anatomical) frame."""
    fa, md = dti.fit.fa(), dti.fit.md()
    rows = []
    for diameter in diameters_mm:
        masks, _ = roi_masks(dti, RoiSet(rois.centres, float(diameter), rois.space, rois.name), fa, min_fa)
        image, anatomical = _indices(dti, masks, registration, fa, md)
        row: dict = {"diameter_mm": float(diameter), "n_voxels": {k: int(m.sum()) for k, m in masks.items()}}
        for index in (image, anatomical):
            if index is not None:
                row[index.frame] = {"alps_L": index.alps_L, "alps_R": index.alps_R, "alps": index.alps}
        rows.append(row)
    return tuple(rows)


def alps_from_rois(
    dti: DTIResult,
    rois: RoiSet,
    registration: Registration | None,
    frame: str = FRAME,
    subject: str = "subject",
    placement: str = "manual",
    mni_rois: RoiSet | None = None,
    detection: dict | None = None,
    min_fa: float | None = None,
    sensitivity_mm: Sequence[float] = (),
) -> AlpsResult:
    """The ALPS index for subject-space ROIs (no registration is run here).

    The anatomical frame needs ``registration``; without it only the image frame is computed and
    asking for ``frame='anatomical'`` is an error. ``min_fa`` drops ROI voxels of lower FA;
    ``sensitivity_mm`` lists ROI diameters for ``diameter_sensitivity`` (alps.json).
    """
    if frame == "anatomical" and registration is None:
        raise GlymphError("--frame anatomical needs a registration to the template, which failed or was not run")
    fa, md = dti.fit.fa(), dti.fit.md()
    masks, counts = roi_masks(dti, rois, fa, min_fa)
    image, anatomical = _indices(dti, masks, registration, fa, md)
    reported = anatomical if frame == "anatomical" else image
    for warning in reported.warnings():  # also in alps.json ("warnings" of each frame)
        log.warning("ROI quality: %s", warning)
    sensitivity = diameter_sensitivity(dti, rois, registration, sensitivity_mm, min_fa) if sensitivity_mm else ()
    return AlpsResult(
        subject, dti, rois, masks, registration, image, anatomical, frame, placement, mni_rois, detection,
        min_fa, counts, sensitivity,
    )  # fmt: skip


def register_dti(dti: DTIResult, contrast: str = REGISTRATION_CONTRAST, b0: Volume | None = None) -> Registration:
    """Affine registration of the FA (or of ``b0``) to MNI152, with the DTI's brain mask."""
    if contrast == "b0" and b0 is None:
        raise GlymphError("registration on the b0 needs the DWI; with tensors only, register the FA")
    with step(f"affine registration of the {contrast.upper()} to MNI152"):
        image = dti.fa() if contrast == "fa" else b0
        return register_to_mni(image, dti.mask, contrast)  # type: ignore[arg-type]


def place_by_detector(
    dti: DTIResult,
    mni_rois: RoiSet,
    registration: Registration,
    model_dir: str | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
) -> tuple[RoiSet, str, dict]:
    """Subject-space ROIs from the learned detector (``glymph.alps.detector``), the placement
    name, and what the detector found; the atlas placement when the detection is implausible."""
    from glymph.alps.detector import detect_rois, detected_roi_set

    with step("ROI detector (level CNN + YOLO) on the colour FA"):
        detection, model = detect_rois(dti.tensor, registration.transform, model_dir, threads, device)
    found = {**detection.as_dict(), "model": model}
    if detection.plausible:
        return map_rois_to_subject(detected_roi_set(detection, mni_rois), registration), "detector", found
    log.warning("ROI detector: %s; the ROIs are placed by the atlas instead", "; ".join(detection.problems))
    return map_rois_to_subject(mni_rois, registration), "atlas (detector fallback)", found


def alps_from_dti(
    dti: DTIResult,
    *,
    b0: Volume | None = None,
    roi_set: str = ROI_SET,
    rois: RoiSet | None = None,
    roi_diameter_mm: float = ROI_DIAMETER_MM,
    frame: str = FRAME,
    contrast: str = REGISTRATION_CONTRAST,
    subject: str = "subject",
    placement: str = PLACEMENT,
    model_dir: str | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
    roi_min_fa: float | None = None,
    sensitivity_mm: Sequence[float] = (),
    registering: Future[Registration] | None = None,
) -> AlpsResult:
    """DTI-ALPS from fitted tensors: registration to MNI152, ROI placement, the index in both frames.

    Without ``rois`` the ROIs of ``roi_set`` are placed by ``placement``: ``atlas`` (the MNI
    centres through the affine registration) or ``detector`` (the learned detector, with the atlas
    as fallback; ``model_dir``, ``device`` and ``threads`` go to its networks). ``rois`` (subject
    space, e.g. from ``read_markups``) replaces both; the registration still runs for the
    anatomical frame, and if it fails with manual ROIs only the image frame is reported (with a
    warning). ``registering``: that registration of these tensors, already started
    (``register_dti`` on a thread, as ``run_alps`` does).
    """
    check_frame(frame)
    if placement not in AUTOMATIC_PLACEMENTS:
        raise GlymphError(f"unknown ROI placement '{placement}'; choose one of: {', '.join(AUTOMATIC_PLACEMENTS)}")
    mni_rois = None if rois is not None else builtin_roi_set(roi_set, roi_diameter_mm)
    try:
        registration: Registration | None = (
            registering.result() if registering is not None else register_dti(dti, contrast, b0)
        )
    except GlymphError as error:
        if rois is None:
            raise
        log.warning("%s; reporting the image frame only", error)
        registration = None
    detection = None
    if rois is None and placement == "detector":
        rois, placement, detection = place_by_detector(dti, mni_rois, registration, model_dir, device, threads)  # type: ignore[arg-type]
    elif rois is None:
        rois = map_rois_to_subject(mni_rois, registration)  # type: ignore[arg-type]
    else:
        rois = RoiSet(rois.centres, roi_diameter_mm, "subject", rois.name)
        placement = "manual"
    return alps_from_rois(
        dti, rois, registration, frame, subject, placement, mni_rois, detection, roi_min_fa, sensitivity_mm
    )


def run_alps(
    dwi: DWI,
    *,
    mask: Volume | None = None,
    roi_set: str = ROI_SET,
    rois: RoiSet | None = None,
    roi_diameter_mm: float = ROI_DIAMETER_MM,
    frame: str = FRAME,
    contrast: str = REGISTRATION_CONTRAST,
    max_b: float = MAX_B,
    subject: str = "subject",
    mask_source: str | None = None,
    placement: str = PLACEMENT,
    model_dir: str | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
    roi_min_fa: float | None = None,
    sensitivity_mm: Sequence[float] = (),
    preprocessing: Preprocessing | None = None,
    gradient_check: str = GRADIENT_CHECK,
    on_fitted: Callable[[], object] | None = None,
) -> AlpsResult:
    """DTI-ALPS from a DWI: ``preprocessing``, the tensor fit and the gradient-table check
    (``fit_dti``), then ``alps_from_dti``. The registration starts as soon as the tensors are
    fitted, on a thread, while the gradient-table check runs (SimpleITK releases the GIL).
    ``on_fitted`` runs on a thread of its own at that moment too, beside the registration, which
    leaves a core free (the ``glymph alps`` command loads matplotlib there)."""
    check_frame(frame)
    registrations: list[Future[Registration]] = []  # one per fit; the last is of the tensors returned

    def start_registration(fitted: DTIResult) -> None:
        registrations.append(in_background(register_dti, fitted, contrast, fitted.mean_b0))
        if on_fitted is not None and len(registrations) == 1:
            in_background(on_fitted)

    dti = fit_dti(
        dwi,
        mask,
        max_b,
        mask_source=mask_source,
        preprocessing=preprocessing,
        gradient_check=gradient_check,
        on_fitted=start_registration,
    )
    return alps_from_dti(
        dti,
        b0=dti.mean_b0,
        roi_set=roi_set,
        rois=rois,
        roi_diameter_mm=roi_diameter_mm,
        frame=frame,
        contrast=contrast,
        subject=subject,
        placement=placement,
        model_dir=model_dir,
        device=device,
        threads=threads,
        roi_min_fa=roi_min_fa,
        sensitivity_mm=sensitivity_mm,
        registering=registrations[-1],
    )
