"""The learned EPVS method: glymph's 3D U-Net (``glymph.models.epvs_network``) on the scan's own grid.

The network reads the T1, the T2 or both where they were acquired (no resampling to 1 mm that
would smear thick slices); its probability is then carried to the 1 mm analysis grid (trilinear),
kept inside the classical method's search region (white matter, basal ganglia and midbrain, away
from the ventricles, sulci and the brain's edge: where perivascular spaces are counted) and
thresholded, so components, the length filter, regions and measures are exactly those of the
classical method.
"""

from __future__ import annotations

import os

import numpy as np

from glymph.defaults import DEVICE, THREADS
from glymph.epvs.preprocess import NativeImages
from glymph.preprocess import resample
from glymph.volume import Volume

# Probability above which a voxel is perivascular space: the threshold of highest mean Dice on
# Colin27 phantoms of seeds 7 and 8 (not the benchmark's; benchmarks/epvs.py --calibrate, epvs-unet
# 1.1.0, inside the search region). 1 mm: 0.3, 0.5, 0.7, 0.85, 0.95 gave Dice 0.56/0.60, 0.61/0.64,
# 0.64/0.68, 0.67/0.72, 0.70/0.74 (precision 0.21 to 0.55, the same sensitivity). 1x1x3 mm: Dice
# 0.26/0.36, 0.29/0.39, 0.25/0.36, 0.22/0.34, 0.20/0.29 (sensitivity 0.50 at 0.3, 0.40-0.50 above;
# precision 0.20-0.25 at 0.3, 0.29-0.34 at 0.5, 0.68-0.77 at 0.95): thick slices blur a space's
# contrast and the network is less sure of it, so a scan whose thickest voxel side reaches THICK_MM
# is thresholded lower.
THRESHOLD = 0.95
THRESHOLD_THICK = 0.5
THICK_MM = 2.0


def segment_learned(
    native: NativeImages,
    grid: Volume,
    region: np.ndarray,
    model_dir: str | os.PathLike | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
    flips: bool = False,
) -> tuple[np.ndarray, dict]:
    """Boolean EPVS mask on ``grid`` (the 1 mm analysis grid), inside ``region`` (the search
    region on that grid), and the network's provenance. ``flips``: test-time augmentation (the
    mean over the image and its three axis flips)."""
    from glymph.models.epvs_network import EPVSNetwork

    network = EPVSNetwork.load(model_dir, threads, device)
    probability = network.probability(native.t1, native.t2, native.brain, flips)
    on_grid = resample(native.grid.with_data(probability), grid, order=1).data
    threshold = threshold_for(native.grid.spacing)
    return (np.asarray(on_grid) >= threshold) & region, {**network.provenance, "threshold": threshold}


def threshold_for(spacing_mm: np.ndarray) -> float:
    """The probability threshold for a scan with these voxel sides (mm): see ``THRESHOLD``."""
    return THRESHOLD_THICK if float(np.max(spacing_mm)) >= THICK_MM else THRESHOLD
