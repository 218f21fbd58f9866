"""The four DTI-ALPS regions of interest: built-in MNI coordinate sets and spheres on a grid.

Labels: ``proj_L``, ``proj_R`` (projection fibres, superior corona radiata) and ``assoc_L``,
``assoc_R`` (association fibres, superior longitudinal fasciculus), at the level of the lateral
ventricle bodies. Coordinates are MNI152 RAS mm: x > 0 is the subject's right, and the hemisphere
of every ROI follows the sign of x.

* ``chen2025``: Chen et al. 2025 (Front. Aging Neurosci. 17:1621106, after Zhang et al. 2021):
  projection (24, -12, 24) and (-28, -12, 24), association (36, -12, 24) and (-40, -12, 24).
  The paper calls the x > 0 spheres "left", the radiological (FSL display) convention; in RAS they
  lie in the right hemisphere, so glymph labels (24, ...) ``proj_R`` and (-28, ...) ``proj_L``.
* ``jhu``: projection (+-26, -16, 27), association (+-38, -16, 27), the placement of the widely
  used FSL-based ALPS script (Liu et al. 2024, after the JHU white-matter atlas).

The coordinates are in ``glymph.defaults.ROI_SETS``. Both use 5 mm diameter spheres by default;
an ROI is the set of voxels whose centres lie inside the sphere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glymph.defaults import ROI_DIAMETER_MM, ROI_SETS
from glymph.errors import GlymphError
from glymph.volume import Volume

LABELS = ("proj_L", "proj_R", "assoc_L", "assoc_R")


@dataclass(frozen=True)
class RoiSet:
    """Centres (RAS mm) of the four ALPS spheres, their diameter (mm), and the space they are in."""

    centres: dict[str, tuple[float, float, float]]
    diameter_mm: float = ROI_DIAMETER_MM
    space: str = "subject"  # "MNI152" or "subject"
    name: str = "manual"

    def __post_init__(self) -> None:
        missing = [label for label in LABELS if label not in self.centres]
        if missing:
            raise GlymphError(f"ROI set '{self.name}' lacks {', '.join(missing)}; it needs {', '.join(LABELS)}")
        if not np.isfinite(self.diameter_mm) or self.diameter_mm <= 0:
            raise GlymphError(f"ROI diameter must be a positive number of mm, got {self.diameter_mm}")

    def array(self) -> np.ndarray:
        """(4, 3) centres in ``LABELS`` order."""
        return np.array([self.centres[label] for label in LABELS], dtype=np.float64)

    def mapped(self, points: np.ndarray, space: str) -> RoiSet:
        """The same set with new centres ((4, 3), ``LABELS`` order) in another space."""
        centres = {label: tuple(float(v) for v in p) for label, p in zip(LABELS, points, strict=True)}
        return RoiSet(centres, self.diameter_mm, space, self.name)


def builtin_roi_set(name: str, diameter_mm: float = ROI_DIAMETER_MM) -> RoiSet:
    """One of the built-in MNI152 coordinate sets (``chen2025`` or ``jhu``)."""
    if name not in ROI_SETS:
        raise GlymphError(f"unknown ROI set '{name}'; choose one of: {', '.join(ROI_SETS)}")
    return RoiSet(dict(ROI_SETS[name]), diameter_mm, "MNI152", name)


def sphere_masks(rois: RoiSet, grid: Volume, brain_mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Boolean masks on ``grid`` of the voxels whose centres lie inside each ROI sphere.

    Raises GlymphError when a sphere lies outside the field of view, holds no voxel centre, or
    (given ``brain_mask``) lies entirely outside the brain. Voxels outside the brain are dropped.
    """
    radius = rois.diameter_mm / 2
    masks = {}
    for label in LABELS:
        centre = np.asarray(rois.centres[label])
        ijk = grid.world_to_voxel(centre)
        if np.any(ijk < -0.5) or np.any(ijk > np.array(grid.shape) - 0.5):
            raise GlymphError(
                f"ROI {label} at RAS {np.round(centre, 1).tolist()} mm lies outside the image field of view; move it or check the registration"
            )
        # only voxels within the sphere's bounding box need a distance test
        reach = np.ceil(radius / grid.spacing).astype(int) + 1
        lo = np.maximum(np.floor(ijk).astype(int) - reach, 0)
        hi = np.minimum(np.ceil(ijk).astype(int) + reach + 1, grid.shape)
        box = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), axis=-1)
        inside = np.linalg.norm(grid.voxel_to_world(box) - centre, axis=-1) <= radius
        mask = np.zeros(grid.shape, dtype=bool)
        mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = inside
        if not mask.any():
            raise GlymphError(
                f"ROI {label} ({rois.diameter_mm:g} mm) contains no voxel centre; use a larger --roi-diameter"
            )
        if brain_mask is not None:
            if not (mask & brain_mask).any():
                raise GlymphError(
                    f"ROI {label} at RAS {np.round(centre, 1).tolist()} mm lies outside the brain mask; move it or check the mask and registration"
                )
            mask &= brain_mask
        masks[label] = mask
    return masks


def check_min_fa(min_fa: float) -> None:
    """Fail on an FA cut outside [0, 1)."""
    if not 0.0 <= min_fa < 1.0:
        raise GlymphError(f"--roi-min-fa must lie in [0, 1), got {min_fa:g}")


def drop_low_fa(masks: dict[str, np.ndarray], fa: np.ndarray, min_fa: float) -> dict[str, np.ndarray]:
    """The ROI masks without voxels whose FA is below ``min_fa`` (``--roi-min-fa``).

    Raises GlymphError when an ROI keeps no voxel."""
    check_min_fa(min_fa)
    kept = {label: mask & (fa >= min_fa) for label, mask in masks.items()}
    for label, mask in kept.items():
        if not mask.any():
            raise GlymphError(
                f"ROI {label} keeps none of its {int(masks[label].sum())} voxels at FA >= {min_fa:g} "
                f"(its highest FA is {float(fa[masks[label]].max()):.2f}); lower --roi-min-fa or check the ROI's position"
            )
    return kept


def roi_label_map(masks: dict[str, np.ndarray]) -> np.ndarray:
    """uint8 label map: 1..4 for ``LABELS`` in order, 0 elsewhere."""
    labels = np.zeros(next(iter(masks.values())).shape, dtype=np.uint8)
    for value, label in enumerate(LABELS, start=1):
        labels[masks[label]] = value
    return labels
