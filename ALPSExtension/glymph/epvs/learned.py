"""The learned EPVS method: glymph's 3D U-Net (``glymph.models.epvs_network``) on the scan's own grid.

The network reads the T1, the T2 or both where they were acquired (no resampling to 1 mm that would
smear a fine grid); a thick-slice scan's thick sides are interpolated to 1 mm first, where the
network finds many more spaces (``glymph.epvs.preprocess.network_grid``). Its probability is then
carried to the 1 mm analysis grid (trilinear), kept inside the classical method's search region
(white matter, basal ganglia and midbrain, away from the ventricles, sulci and the brain's edge:
where perivascular spaces are counted) and thresholded. Of the components found, those that are not
tubes on the image itself (mean vesselness below ``MIN_TUBE_RESPONSE``) are dropped: on Colin27
phantoms the network's false components had means <= 0.20, its true ones >= 0.25
(``benchmarks/epvs.py --calibrate``). The spaces found are then shaped on the 1 mm grid by the
image's own partial volume (``glymph.epvs.shaping``). Components, the length filter, regions and
measures are then exactly those of the classical method.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from glymph.defaults import DEVICE, THREADS
from glymph.epvs.preprocess import NativeImages
from glymph.epvs.segmentation import SegmentationInputs, keep_tubes, search_region, tube_response
from glymph.epvs.shaping import MIN_FLUID_SHARE, MIN_FLUID_SHARE_THICK, is_thick, shaped_by_fluid_share
from glymph.preprocess import resample
from glymph.volume import Volume

# Probability above which a voxel is perivascular space: the threshold of highest mean Dice on
# Colin27 phantoms of seeds 7 and 8 (not the benchmark's; benchmarks/epvs.py --calibrate, epvs-unet
# 1.1.0, inside the search region). 1 mm: 0.3, 0.5, 0.7, 0.85, 0.95 gave Dice 0.56/0.60, 0.61/0.64,
# 0.64/0.68, 0.67/0.72, 0.70/0.74 (precision 0.21 to 0.55, the same sensitivity). 1x1x3 mm: Dice
# 0.26/0.36, 0.29/0.39, 0.25/0.36, 0.22/0.34, 0.20/0.29 (sensitivity 0.50 at 0.3, 0.40-0.50 above;
# precision 0.20-0.25 at 0.3, 0.29-0.34 at 0.5, 0.68-0.77 at 0.95): thick slices blur a space's
# contrast and the network is less sure of it, so a thick-slice scan (``glymph.epvs.shaping.THICK_MM``)
# is thresholded lower. Re-checked when the network began reading thick slices interpolated to 1 mm
# (``glymph.epvs.preprocess.network_grid``; seeds 7 / 8, with the tube check and the shaping,
# before the length filter, a script outside the repository): 0.3 / 0.5 / 0.8 / 0.95 gave Dice
# 0.56 / 0.58, 0.58 / 0.58, 0.57 / 0.58, 0.55 / 0.57, and a tube check of 0.15 instead of 0.08
# 0.45-0.50: both stay (and the thick-slice shaping: glymph.epvs.shaping, the EPVS card).
THRESHOLD = 0.95
THRESHOLD_THICK = 0.5
# A component the network finds is kept only if it is also a tube on the image: its mean vesselness
# (``glymph.epvs.segmentation.tube_response``, the response the classical method thresholds) at
# least this. Chosen on the same seeds 7 and 8 (``benchmarks/epvs.py --calibrate``, components of
# >= 3 voxels): at 1 mm the true components' means were >= 0.25 with a T1 (>= 0.32 with a T1 and a
# T2, >= 0.40 with a T2 alone) and the false ones' <= 0.20 (0.30 and 0.38): 0.22 drops 8 of 8 false
# components with a T1, 7 of 8 with both, 2 of 12 with a T2 alone (a T2's strong contrast makes
# blobs' rims read as tubes), and no true one. Thick slices blur the tubes: with 1x1x3 mm voxels
# the true means were >= 0.08 and the false ones' <= 0.09 (21 of 22 below 0.08).
MIN_TUBE_RESPONSE = 0.22
MIN_TUBE_RESPONSE_THICK = 0.08
# A thick-slice main image with a T2 of fine voxels beside it (a 2D T1 beside a 3D T2): the network
# reads the sharp T2 and is surer of the spaces, and the tube check's geometric mean reads its sharp
# tubes, so both lie between the two cases above. Calibration heads (seeds 7 / 8, 1x1x3 mm T1 and
# 1 mm T2, after the shaping and the 2 mm length filter; a script outside the repository; Dice,
# spaces found for 20): 0.5 / 0.08 (the thick-slice pair) 0.55 / 0.57, 27 / 26 (precision 0.78 /
# 0.73); 0.95 / 0.22 (the fine pair) 0.52 / 0.53, 13 / 10; 0.95 / 0.08 0.57 / 0.58, 24 / 20;
# 0.5 / 0.22 0.51 / 0.49; 0.8 / 0.15 0.57 / 0.58, 21 / 18 (precision 0.90 / 0.89).
THRESHOLD_THICK_WITH_FINE_T2 = 0.8
MIN_TUBE_RESPONSE_THICK_WITH_FINE_T2 = 0.15


def segment_learned(
    native: NativeImages,
    grid: Volume,
    inputs: SegmentationInputs,
    model_dir: str | os.PathLike | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
    flips: bool = False,
) -> tuple[np.ndarray, dict]:
    """Boolean EPVS mask on ``grid`` (the 1 mm analysis grid, where ``inputs`` lie), inside the
    search region, keeping the components that are tubes on the image (``MIN_TUBE_RESPONSE``), and
    the network's provenance. ``flips``: test-time augmentation (the mean over the image and its
    three axis flips)."""
    from glymph.models.epvs_network import EPVSNetwork

    network = EPVSNetwork.load(model_dir, threads, device)
    native = native.stored_ras()
    on_grid = probability_on_grid(network, native, grid, flips)
    region = search_region(inputs)
    threshold, minimum, share = thresholds_for(inputs.scan_spacing_mm, inputs.t2_spacing_mm)
    found = keep_tubes((np.asarray(on_grid) >= threshold) & region, tube_response(inputs, region), minimum)
    found = shaped_by_fluid_share(found, inputs, region, share)
    return found, {
        **network.provenance, "grid_mm": [round(float(side), 4) for side in native.grid.spacing],
        "threshold": threshold, "min_tube_response": minimum, "min_fluid_share": share,
    }  # fmt: skip


def probability_on_grid(network, native: NativeImages, grid: Volume, flips: bool = False) -> np.ndarray:
    """The network's probability of perivascular space on its grid (``native``: the scan's, thick
    slices interpolated), carried to ``grid`` (trilinear): before the search region, threshold and
    tube check.

    The network reads its grid stored RAS whatever the file's storage order: it is not exactly
    equivariant to axis flips and permutations, nor are its sliding windows (they start at the
    array's corner), and a head must give the same spaces however its file stores it (the seed-2
    Colin27 phantom stored RAS, LPS, SRA, PIL gave 18-19 spaces, Dice 0.815-0.834, when the network
    read each file's own storage; a script outside the repository)."""
    native = native.stored_ras()
    probability = network.probability(native.t1, native.t2, native.brain, flips)
    return resample(native.grid.with_data(probability), grid, order=1).data


def thresholds_for(
    spacing_mm: Sequence[float], t2_spacing_mm: Sequence[float] | None = None
) -> tuple[float, float, float]:
    """The probability threshold, the least mean vesselness of a component and the least share of
    fluid of a voxel for a scan with these voxel sides (mm), and those of a T2 beside it if any: see
    ``THRESHOLD``, ``MIN_TUBE_RESPONSE``, ``THRESHOLD_THICK_WITH_FINE_T2`` and ``glymph.epvs.shaping``."""
    if not is_thick(spacing_mm):
        return THRESHOLD, MIN_TUBE_RESPONSE, MIN_FLUID_SHARE
    if t2_spacing_mm is not None and not is_thick(t2_spacing_mm):
        return THRESHOLD_THICK_WITH_FINE_T2, MIN_TUBE_RESPONSE_THICK_WITH_FINE_T2, MIN_FLUID_SHARE_THICK
    return THRESHOLD_THICK, MIN_TUBE_RESPONSE_THICK, MIN_FLUID_SHARE_THICK
