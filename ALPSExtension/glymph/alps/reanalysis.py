"""The index again from a finished ALPS result folder, with other ROIs, diameters, FA cut or frame:
the saved tensors and registration are reused, nothing is fitted or registered
(``glymph alps reanalyze``)."""

from __future__ import annotations

from collections.abc import Sequence

from glymph.alps.files import SavedAlps
from glymph.alps.pipeline import AlpsResult, alps_from_rois, map_rois_to_subject
from glymph.alps.rois import RoiSet, builtin_roi_set
from glymph.errors import GlymphError


def reanalyze(
    saved: SavedAlps,
    *,
    rois: RoiSet | None = None,
    roi_set: str | None = None,
    roi_diameter_mm: float | None = None,
    frame: str | None = None,
    min_fa: float | None = None,
    sensitivity_mm: Sequence[float] = (),
    subject: str | None = None,
) -> AlpsResult:
    """The ALPS index of ``saved`` (``read_alps_folder``) recomputed.

    ROIs: ``rois`` (subject space, e.g. from markups: placement "manual"), else the built-in
    ``roi_set`` mapped through the saved registration (placement "atlas"), else the saved centres.
    ``roi_diameter_mm``, ``frame``, ``min_fa`` and ``subject`` default to the saved run's.
    """
    if rois is not None and roi_set is not None:
        raise GlymphError("give either --roi-set (atlas placement) or --rois (your own points), not both")
    previous = saved.sidecar
    diameter = saved.rois.diameter_mm if roi_diameter_mm is None else roi_diameter_mm
    frame = previous["alps"]["frame_in_csv"] if frame is None else frame
    min_fa = previous["rois"].get("min_fa") if min_fa is None else min_fa
    subject = previous["subject"] if subject is None else subject
    mni_rois, placement, detection = None, "manual", None
    if rois is not None:
        subject_rois = RoiSet(rois.centres, diameter, "subject", rois.name)
    elif roi_set is not None:
        if saved.registration is None:
            raise GlymphError(
                f"{saved.folder} has no registration to the template (its ROIs were placed by hand and the "
                "registration failed), so --roi-set cannot be mapped; give --rois instead"
            )
        mni_rois = builtin_roi_set(roi_set, diameter)
        subject_rois, placement = map_rois_to_subject(mni_rois, saved.registration), "atlas"
    else:
        subject_rois = RoiSet(saved.rois.centres, diameter, "subject", saved.rois.name)
        if saved.mni_rois is not None:
            mni_rois = RoiSet(saved.mni_rois.centres, diameter, "MNI152", saved.mni_rois.name)
        placement, detection = saved.placement, saved.detection
    return alps_from_rois(
        saved.dti,
        subject_rois,
        saved.registration,
        frame,
        subject,
        placement,
        mni_rois,
        detection,
        min_fa,
        sensitivity_mm,
    )
