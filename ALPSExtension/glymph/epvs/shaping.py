"""EPVS shaped by the image's own partial volume, after either segmentation method.

Neither method puts a space's edge where its partial volume does. The network's probability,
carried to 1 mm, keeps a space's core at 1 mm and, on thick slices, marks the space's thick voxels,
not where in them it lies; the classical method's hysteresis on vesselness keeps a tube's core too.
The image says where the edge is: a voxel a space half fills is half as dark (T1) or bright (T2)
as fluid against its tissue. So the spaces found are grown by ``GROWTH_VOXELS`` (1 mm) and kept
where the 1 mm image's share of fluid against its local background (the median over
``BACKGROUND_MM`` of the tissue around the spaces) reaches a least share: ``MIN_FLUID_SHARE``
(0.5) at 1 mm, a voxel at least half inside a space, the training label's own rule;
``MIN_FLUID_SHARE_THICK`` (0.35) on thick slices, the best share for the benchmark's thick-slice
oracle (0.34).

Chosen on Colin27 phantoms of seeds 7 and 8 (not the benchmark's; a script outside the
repository, at the shipped thresholds; lesions found the same throughout). Learned: 1 mm Dice
0.77 / 0.80 before, grown by 1 or 2 and kept at 0.35 / 0.5 / 0.65: 0.79-0.81 / 0.83-0.86 /
0.68-0.75; with 1x1x3 mm voxels 0.35 / 0.43 before, shares 0.25 / 0.3 / 0.35: 0.38-0.42 /
0.47-0.49 grown by 1, 0.40-0.43 / 0.48-0.51 by 2 (0.43 / 0.50 at 0.35). ``benchmarks/epvs.py
--calibrate`` prints the learned method's ("and shaped"). Classical at 1 mm: 0.79 / 0.81 ->
0.82 / 0.86 at 0.5; on 1x1x3 mm voxels the classical method's thresholded vesselness is not a
space's core but a blur of it, and shaping it did not help (0.32 / 0.43 -> 0.32 / 0.40): the
classical method is shaped at 1 mm only (``classical_fluid_share``). The background was a plain
median until 2026-12-06; the tissue's (spaces filled from their surroundings first) moved those
Dice by at most 0.003 and keeps a cluster of spaces from darkening its own background.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class ImageOnGrid(Protocol):
    """What the shaping reads of ``glymph.epvs.segmentation.SegmentationInputs`` (named by its
    fields, so that the segmentation module can import this one)."""

    t1: np.ndarray  # the main image, a T1 or a T2 alone
    tissues: np.ndarray  # 1 is CSF
    brain: np.ndarray
    spacing_mm: float


# A scan whose thickest voxel side reaches this (mm) is thick-slice: its spaces' contrast is
# blurred, so the learned method's thresholds are lower (``glymph.epvs.learned.thresholds_for``).
THICK_MM = 2.0
GROWTH_VOXELS = 2
# A single voxel found is not grown: a space's partial volume would lengthen it past the 2 mm
# length filter that drops it (on the unmodified Colin27 two such dots of the learned method
# became detections of 3 and 4 voxels, ``benchmarks/epvs.py --learned`` and a script).
MIN_CORE_VOXELS = 2
BACKGROUND_MM = 7
MIN_FLUID_SHARE = 0.5
MIN_FLUID_SHARE_THICK = 0.35


def is_thick(scan_spacing_mm) -> bool:
    """Whether a scan with these voxel sides (mm, as acquired) is thick-slice (``THICK_MM``)."""
    return float(np.max(scan_spacing_mm)) >= THICK_MM


def classical_fluid_share(scan_spacing_mm) -> float | None:
    """The least share of fluid the classical method's spaces are shaped to, or None (thick
    slices: left as found)."""
    return None if is_thick(scan_spacing_mm) else MIN_FLUID_SHARE


def shaped_by_fluid_share(
    found: np.ndarray, inputs: ImageOnGrid, region: np.ndarray, minimum_share: float
) -> np.ndarray:
    """``found`` (bool, the 1 mm grid) grown by ``GROWTH_VOXELS`` and kept, inside ``region``, where
    the image's share of fluid reaches ``minimum_share``: (image - background) / (fluid -
    background), fluid the median of the image's CSF (for a T1 and a T2 alike: the sign cancels),
    the background the median over ``BACKGROUND_MM`` of the tissue around the spaces: each grown
    space's voxels take the value of the nearest voxel outside it, so that spaces in a cluster do
    not darken each other's background. Components of fewer than ``MIN_CORE_VOXELS`` are left as
    they are."""
    from scipy import ndimage

    from glymph.components import label_components

    labels, n = label_components(found)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    cores = found & (sizes[labels] >= MIN_CORE_VOXELS)
    if not cores.any():
        return found
    grown = ndimage.binary_dilation(cores, iterations=GROWTH_VOXELS) & region
    image = inputs.t1
    fluid = float(np.median(image[(inputs.tissues == 1) & inputs.brain]))
    reach = int(np.ceil(BACKGROUND_MM / 2 / inputs.spacing_mm))
    box = tuple(  # the grown spaces' bounding box with room for the background's window
        slice(max(int(i.min()) - reach, 0), int(i.max()) + reach + 1) for i in np.nonzero(grown)
    )
    nearest = ndimage.distance_transform_edt(grown[box], return_distances=False, return_indices=True)
    tissue = np.pad(image[box][tuple(nearest)], reach, mode="symmetric")  # scipy's "reflect" edges
    at = np.nonzero(grown[box])
    # the median of each grown voxel's window only (scipy's median_filter over the whole box, the
    # same values, took 10 s on a brain-sized box)
    windows = np.lib.stride_tricks.sliding_window_view(tissue, (2 * reach + 1,) * 3)[at]
    background = np.median(windows.reshape(len(at[0]), -1), axis=1)
    contrast = fluid - background
    share = (image[box][at] - background) / np.where(np.abs(contrast) > 1e-6, contrast, np.inf)  # 0 where no contrast
    shaped = np.zeros_like(found)
    shaped[tuple(i + s.start for i, s in zip(at, box, strict=True))] = share >= minimum_share
    return shaped | (found & ~cores)
