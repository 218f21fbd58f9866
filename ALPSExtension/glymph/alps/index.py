"""The DTI-ALPS index from tensors and the four ROI masks.

Per hemisphere h (Taoka et al. 2017)::

    ALPS_h = mean(Dxx_proj_h, Dxx_assoc_h) / mean(Dyy_proj_h, Dzz_assoc_h)

where Dxx, Dyy, Dzz are the ROI means of the tensor's diagonal elements along x (L-R), y (A-P)
and z (S-I), and ALPS is the mean of ALPS_L and ALPS_R. In the ``image`` frame the axes are the
scanner's RAS world axes (the classic definition); in the ``anatomical`` frame the tensors are
first rotated into the template-aligned axes found by registration, which removes head tilt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glymph.alps.rois import LABELS
from glymph.defaults import FRAME, FRAMES
from glymph.dti.tensor import FSL_ORDER, rotate
from glymph.errors import GlymphError

CSV_COLUMNS = (
    "x_proj_L", "x_assoc_L", "y_proj_L", "z_assoc_L",
    "x_proj_R", "x_assoc_R", "y_proj_R", "z_assoc_R",
    "alps_L", "alps_R", "alps",
)  # fmt: skip


EXPECTED_AXIS = {"proj": 2, "assoc": 1}  # the fibres an ROI samples run along z (S-I) or y (A-P)
ALIGNED_WITHIN_DEG = 30.0
# quality warnings (alps.json "warnings", the log): below / above these an ROI's index is suspect
MIN_ALIGNED_FRACTION = 0.5
MAX_DISPERSION_DEG = 30.0
MAX_L2_L3 = 2.0


@dataclass(frozen=True)
class RoiMeasures:
    """Means over one ROI's voxels: diagonal tensor elements (mm^2/s, in the index's frame), FA, MD;
    and how well the voxels' fibres suit the method (``roi_quality``)."""

    n_voxels: int
    dxx: float
    dyy: float
    dzz: float
    fa: float
    md: float
    aligned_fraction: float = float("nan")  # principal direction within 30 degrees of the expected axis
    dispersion_deg: float = float("nan")  # mean angle of the principal directions from their mean
    l2_l3: float = float("nan")  # mean second over mean third eigenvalue (above 2: crossing fibres)


def roi_quality(tensors: np.ndarray, axis: int) -> tuple[float, float, float]:
    """(aligned fraction, dispersion in degrees, mean lambda2 / mean lambda3) of an ROI's tensors (n, 6;
    FSL order, in the index's frame); ``axis``: 0 x, 1 y, 2 z, the axis its fibres should follow.

    Aligned: the principal eigenvector within ``ALIGNED_WITHIN_DEG`` of the axis. Dispersion: the
    mean angle between each principal eigenvector and their mean direction (the principal
    eigenvector of the mean dyadic tensor, which ignores the vectors' signs)."""
    from glymph.dti.tensor import to_matrix

    values, vectors = np.linalg.eigh(to_matrix(tensors))
    principal = vectors[:, :, 2]  # eigh sorts ascending
    cos_axis = np.abs(principal[:, axis])
    aligned = float(np.mean(cos_axis >= np.cos(np.deg2rad(ALIGNED_WITHIN_DEG))))
    dyadic = np.einsum("ni,nj->ij", principal, principal) / len(principal)
    mean_direction = np.linalg.eigh(dyadic)[1][:, 2]
    dispersion = float(np.degrees(np.arccos(np.clip(np.abs(principal @ mean_direction), 0, 1))).mean())
    l2_l3 = float(values[:, 1].mean() / max(values[:, 0].mean(), 1e-12 * float(np.abs(values).max())))
    return aligned, dispersion, l2_l3


@dataclass(frozen=True)
class AlpsIndex:
    """The ALPS index in one frame, with the ROI measures it came from."""

    frame: str
    rois: dict[str, RoiMeasures]
    alps_L: float
    alps_R: float

    @property
    def alps(self) -> float:
        """Bilateral index: mean of left and right."""
        return (self.alps_L + self.alps_R) / 2

    def columns(self) -> dict[str, float]:
        """The FSL-script-compatible values, in ``CSV_COLUMNS`` order."""
        r = self.rois
        values = {}
        for h in ("L", "R"):
            values[f"x_proj_{h}"] = r[f"proj_{h}"].dxx
            values[f"x_assoc_{h}"] = r[f"assoc_{h}"].dxx
            values[f"y_proj_{h}"] = r[f"proj_{h}"].dyy
            values[f"z_assoc_{h}"] = r[f"assoc_{h}"].dzz
        values.update(alps_L=self.alps_L, alps_R=self.alps_R, alps=self.alps)
        return {name: values[name] for name in CSV_COLUMNS}

    def as_dict(self) -> dict:
        return {
            **self.columns(),
            "rois": {label: vars(m) for label, m in self.rois.items()},
            "warnings": self.warnings(),
        }

    def warnings(self) -> list[str]:
        """ROIs whose fibres do not suit the method (thresholds above; README: ROI quality)."""
        found = []
        for label, m in self.rois.items():
            if m.aligned_fraction < MIN_ALIGNED_FRACTION:
                found.append(
                    f"{label}: {m.aligned_fraction:.0%} of voxels point within {ALIGNED_WITHIN_DEG:g} degrees of "
                    f"the expected axis (< {MIN_ALIGNED_FRACTION:.0%})"
                )
            if m.dispersion_deg > MAX_DISPERSION_DEG:
                found.append(
                    f"{label}: fibre directions disperse {m.dispersion_deg:.0f} degrees (> {MAX_DISPERSION_DEG:g})"
                )
            if m.l2_l3 > MAX_L2_L3:
                found.append(f"{label}: lambda2 / lambda3 {m.l2_l3:.1f} (> {MAX_L2_L3:g}: crossing fibres)")
        return found


def check_frame(frame: str) -> None:
    """Fail on a frame name other than ``FRAMES``."""
    if frame not in FRAMES:
        raise GlymphError(f"unknown frame '{frame}'; choose one of: {', '.join(FRAMES)}")


def alps_index(
    tensor: np.ndarray,
    fa: np.ndarray,
    md: np.ndarray,
    roi_masks: dict[str, np.ndarray],
    frame: str = FRAME,
    axes: np.ndarray | None = None,
) -> AlpsIndex:
    """ALPS index from tensors (I, J, K, 6; FSL order; RAS world frame) and ROI masks.

    For ``frame='anatomical'``, ``axes`` (3x3) holds the anatomical x, y, z axes as RAS columns
    (the rotation part of the template-to-subject registration); tensors are rotated into them.
    """
    check_frame(frame)
    if frame == "anatomical" and axes is None:
        raise GlymphError("the anatomical frame needs the registration's rotation")
    xx, yy, zz = FSL_ORDER.index("xx"), FSL_ORDER.index("yy"), FSL_ORDER.index("zz")
    measures = {}
    for label in LABELS:
        mask = roi_masks[label]
        t = tensor[mask].astype(np.float64)
        if frame == "anatomical":
            t = rotate(t, axes)
        mean = t.mean(axis=0)
        measures[label] = RoiMeasures(
            int(mask.sum()),
            float(mean[xx]),
            float(mean[yy]),
            float(mean[zz]),
            float(fa[mask].mean()),
            float(md[mask].mean()),
            *roi_quality(t, EXPECTED_AXIS[label.split("_")[0]]),
        )
    index = {}
    for h in ("L", "R"):
        proj, assoc = measures[f"proj_{h}"], measures[f"assoc_{h}"]
        numerator = (proj.dxx + assoc.dxx) / 2
        denominator = (proj.dyy + assoc.dzz) / 2
        if denominator <= 0 or numerator <= 0:
            raise GlymphError(
                f"non-positive diffusivity in the {h} ROIs; check that they lie in white matter and the fit is sane"
            )
        index[h] = numerator / denominator
    return AlpsIndex(frame, measures, index["L"], index["R"])
