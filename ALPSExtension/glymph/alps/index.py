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


@dataclass(frozen=True)
class RoiMeasures:
    """Means over one ROI's voxels: diagonal tensor elements (mm^2/s, in the index's frame), FA, MD."""

    n_voxels: int
    dxx: float
    dyy: float
    dzz: float
    fa: float
    md: float


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
        }


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
