"""Learned ALPS ROI placement (the dALPS approach: a CNN picks the level, YOLO finds the ROIs).

The networks look at colour FA, as a radiologist does, on axial slices of a fixed box in the
affine-registered template space: the affine registration glymph already runs removes head pose,
scanner axes and head size, so the networks only learn what an affine map cannot follow (a
non-linear shape, atrophy pushing the corona radiata outward). The tensors are sampled there and
rotated into template axes, so red is always L-R, green A-P and blue S-I.

1. **Level**: a small 2D CNN reads each slice of ``LEVEL_Z`` (2 mm pixels) and regresses how far
   (mm) each ROI's level (at the lateral ventricle bodies) lies above it, one answer per ROI, so
   that a head whose anatomy is tilted left against right gets a level per side; the median of
   the slices' answers near the level is each ROI's level.
2. **ROIs**: a YOLO detector finds the four boxes (``proj_L``, ``proj_R``, ``assoc_L``,
   ``assoc_R``) on each ROI's level slice and its neighbours (1 mm pixels); each ROI's box centre,
   weighted by confidence over its slices, is its centre.

Detections that are implausible (a box missing or below ``MIN_CONFIDENCE``, projection lateral to
association, left and right swapped, more than ``MAX_FROM_ATLAS_MM`` from the atlas position) are
reported as problems; ``glymph.alps.pipeline`` then falls back to the atlas placement.

The networks are trained on one ROI protocol (``TRAINED_ROI_SET``); for another set, each ROI is
moved from its atlas position by the displacement the detector found for the same ROI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from glymph.alps.rois import LABELS, RoiSet
from glymph.defaults import DEVICE, ROI_SETS, THREADS
from glymph.dti.tensor import TensorFit
from glymph.registration import AffineMap
from glymph.volume import Volume

MODEL_ID = "alps-roi-detector"
TRAINED_ROI_SET = "chen2025"
GRID_X = (-64.0, 64.0)  # template RAS mm covered by the slices (L-R)
GRID_Y = (-72.0, 56.0)  # (P-A)
BOX_PIXEL_MM = 1.0  # 128 x 128 slices for the ROI detector
LEVEL_PIXEL_MM = 2.0  # 64 x 64 slices for the level network
LEVEL_Z = np.arange(0.0, 50.0, 2.0)  # template z (mm) of the slices the level network reads
LEVEL_RANGE_MM = 20.0  # the level network is trained on slices up to this far from the level
NEIGHBOURS_MM = (-2.0, 0.0, 2.0)  # the ROI detector reads the level slice and these neighbours
BOX_MM = 12.0  # side of the training boxes
MIN_CONFIDENCE = 0.25
MAX_FROM_ATLAS_MM = 15.0


def slice_points(z_mm: float, pixel_mm: float) -> np.ndarray:
    """Template RAS points (H, W, 3) of the pixel centres of an axial slice: column 0 at the
    left edge of ``GRID_X`` (the subject's left, x < 0), row 0 at the anterior edge of ``GRID_Y``."""
    x = np.arange(GRID_X[0] + pixel_mm / 2, GRID_X[1], pixel_mm)
    y = np.arange(GRID_Y[1] - pixel_mm / 2, GRID_Y[0], -pixel_mm)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return np.stack([xx, yy, np.full_like(xx, z_mm)], axis=-1)


def pixel_to_template(column: float, row: float, z_mm: float, pixel_mm: float) -> np.ndarray:
    """Template RAS mm of a continuous pixel position (0 is the left/top edge of the slice)."""
    return np.array([GRID_X[0] + column * pixel_mm, GRID_Y[1] - row * pixel_mm, z_mm])


def template_to_pixel(point: np.ndarray, pixel_mm: float) -> tuple[float, float]:
    """Inverse of ``pixel_to_template`` in the slice plane: (column, row)."""
    return (float(point[0]) - GRID_X[0]) / pixel_mm, (GRID_Y[1] - float(point[1])) / pixel_mm


def colour_fa_slices(tensor: Volume, transform: AffineMap, z_levels, pixel_mm: float) -> np.ndarray:
    """(n, 3, H, W) float32 colour FA in [0, 1] on axial template slices at ``z_levels`` (mm).

    ``tensor`` is (I, J, K, 6), FSL order, subject RAS axes; ``transform`` maps template RAS to
    subject RAS. Tensors are interpolated (trilinear) at the slice points mapped into the subject
    and rotated into template axes, so R, G, B are the template's L-R, A-P and S-I. Points outside
    the tensor field (or the fitted brain) are black.
    """
    from scipy.ndimage import map_coordinates

    points = np.stack([slice_points(z, pixel_mm) for z in np.atleast_1d(z_levels)])
    voxels = tensor.world_to_voxel(transform.to_subject(points.reshape(-1, 3))).T
    data = np.asarray(tensor.data, dtype=np.float32)
    sampled = np.stack(
        [map_coordinates(data[..., c], voxels, order=1, mode="constant", cval=0.0) for c in range(6)], axis=-1
    )
    inside = np.any(sampled != 0, axis=-1).reshape(points.shape[:3])
    fit = TensorFit(sampled.reshape(*points.shape[:3], 6), np.zeros(points.shape[:3], np.float32), inside)
    # the principal direction in template axes, R^T v (the same as rotating the tensors first)
    principal = fit.evecs[..., :, 0] @ transform.rotation
    colour = np.clip(np.abs(principal) * fit.fa()[..., None], 0, 1)
    return np.ascontiguousarray(colour.transpose(0, 3, 1, 2), dtype=np.float32)


@dataclass(frozen=True)
class Detection:
    """What the detector found, in template space: ROI centres (mm), per-ROI confidence, the level."""

    centres: dict[str, np.ndarray]
    confidence: dict[str, float]
    level_z_mm: dict[str, float]  # each ROI's level (template z, mm)
    level_spread_mm: dict[str, float]  # median absolute deviation of the level network's slice estimates
    problems: list[str] = field(default_factory=list)

    @property
    def plausible(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {
            "level_z_template_mm": {k: round(v, 2) for k, v in self.level_z_mm.items()},
            "level_spread_mm": {k: round(v, 2) for k, v in self.level_spread_mm.items()},
            "confidence": {k: round(v, 4) for k, v in self.confidence.items()},
            "template_ras_mm": {k: [round(float(v), 2) for v in c] for k, c in self.centres.items()},
            "problems": self.problems,
        }


def estimate_level(offsets_mm: np.ndarray, z_levels: np.ndarray = LEVEL_Z) -> tuple[np.ndarray, np.ndarray]:
    """Levels (mm) from each slice's predicted offsets ((n,) or (n, k): one column per ROI): per
    column, the median of ``z + offset`` over the slices that place the level within half the
    trained range of themselves, and its spread (MAD). Returns two (k,) arrays."""
    offsets = np.asarray(offsets_mm, dtype=np.float64).reshape(len(z_levels), -1)
    levels, spreads = [], []
    for column in offsets.T:
        estimates = np.asarray(z_levels) + column
        near = np.abs(column) <= LEVEL_RANGE_MM / 2
        chosen = estimates[near] if near.sum() >= 3 else estimates
        levels.append(np.median(chosen))
        spreads.append(np.median(np.abs(chosen - levels[-1])))
    return np.array(levels), np.array(spreads)


def roi_slices_z(levels_mm: np.ndarray) -> np.ndarray:
    """(4, len(NEIGHBOURS_MM)) template z (mm) of the slices the ROI detector reads for each ROI
    (``LABELS`` order): the ROI's level and its neighbours."""
    return np.asarray(levels_mm, dtype=np.float64).reshape(-1, 1) + np.asarray(NEIGHBOURS_MM)[None, :]


def combine_boxes(boxes: np.ndarray, z_mm) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """ROI centres (template mm) and confidences from per-slice boxes (n_slices, 4 labels, 3:
    column, row, confidence): confidence-weighted mean position, the best confidence. ``z_mm``:
    the centres' level, one for all or one per label (``LABELS`` order)."""
    levels = np.broadcast_to(np.asarray(z_mm, dtype=np.float64), (len(LABELS),))
    centres, confidence = {}, {}
    for index, label in enumerate(LABELS):
        column, row, score = boxes[:, index, 0], boxes[:, index, 1], boxes[:, index, 2]
        weights = score / score.sum() if score.sum() > 0 else np.full(score.size, 1 / score.size)
        centres[label] = pixel_to_template(
            float(weights @ column), float(weights @ row), float(levels[index]), BOX_PIXEL_MM
        )
        confidence[label] = float(score.max())
    return centres, confidence


def plausibility_problems(centres: dict[str, np.ndarray], confidence: dict[str, float]) -> list[str]:
    """Why a detection cannot be trusted (empty when it can)."""
    problems = [
        f"{label} confidence {confidence[label]:.2f} < {MIN_CONFIDENCE}"
        for label in LABELS
        if confidence[label] < MIN_CONFIDENCE
    ]
    x = {label: centres[label][0] for label in LABELS}
    if not (x["proj_L"] < 0 < x["proj_R"] and x["assoc_L"] < 0 < x["assoc_R"]):
        problems.append("left and right ROIs on the wrong side of the mid-line")
    if not (x["assoc_L"] < x["proj_L"] and x["proj_R"] < x["assoc_R"]):
        problems.append("projection ROI lateral to the association ROI")
    atlas = ROI_SETS[TRAINED_ROI_SET]
    for label in LABELS:
        distance = float(np.linalg.norm(centres[label] - np.asarray(atlas[label])))
        if distance > MAX_FROM_ATLAS_MM:
            problems.append(f"{label} {distance:.0f} mm from its atlas position (> {MAX_FROM_ATLAS_MM:g})")
    for label in LABELS:
        if not LEVEL_Z[0] <= centres[label][2] <= LEVEL_Z[-1]:
            problems.append(f"{label} level z {centres[label][2]:.0f} mm outside the searched slab")
    return problems


def detect_rois(
    tensor: Volume,
    transform: AffineMap,
    model_dir: str | None = None,
    threads: int | None = THREADS,
    device: str = DEVICE,
) -> tuple[Detection, dict]:
    """Run both networks on a tensor field registered to the template (``transform``: template
    RAS -> subject RAS): the ROI centres of ``TRAINED_ROI_SET`` in template space, with checks,
    and the provenance of the networks used."""
    from glymph.models.roi_detector import RoiDetectorNetworks

    networks = RoiDetectorNetworks.load(model_dir, threads, device)
    offsets = networks.level_offsets(colour_fa_slices(tensor, transform, LEVEL_Z, LEVEL_PIXEL_MM))
    levels, spreads = estimate_level(offsets)
    levels = np.broadcast_to(levels, (len(LABELS),))  # a one-level model (glymph 1.0) serves all ROIs
    spreads = np.broadcast_to(spreads, (len(LABELS),))
    z_slices = roi_slices_z(levels)
    boxes = networks.boxes(colour_fa_slices(tensor, transform, z_slices.reshape(-1), BOX_PIXEL_MM))
    own = boxes.reshape(len(LABELS), z_slices.shape[1], len(LABELS), 3)  # (ROI's slices, slice, class, 3)
    per_label = np.stack([own[k, :, k] for k in range(len(LABELS))], axis=1)  # each class on its own slices
    centres, confidence = combine_boxes(per_label, levels)
    detection = Detection(
        centres,
        confidence,
        dict(zip(LABELS, map(float, levels), strict=True)),
        dict(zip(LABELS, map(float, spreads), strict=True)),
        plausibility_problems(centres, confidence),
    )
    return detection, networks.provenance


def detected_roi_set(detection: Detection, roi_set: RoiSet) -> RoiSet:
    """``roi_set`` (template space) moved by what the detector found: each ROI of the trained set
    is the detected centre; another set's ROI moves by the detected displacement of the same ROI."""
    trained = ROI_SETS[TRAINED_ROI_SET]
    points = np.array(
        [np.asarray(roi_set.centres[label]) + detection.centres[label] - np.asarray(trained[label]) for label in LABELS]
    )
    return roi_set.mapped(points, "MNI152 (affine space, detector)")
