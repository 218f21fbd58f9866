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

# probability above which a voxel is perivascular space; set on Colin27 phantoms of seeds 7 and 8
# (not the benchmark's; benchmarks/epvs.py --calibrate): on seed 7, 0.5, 0.7, 0.85, 0.95 gave Dice
# 0.62, 0.66, 0.69, 0.71 inside the search region (precision 0.28 to 0.59) with the same sensitivity
THRESHOLD = 0.95


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
    return (np.asarray(on_grid) >= THRESHOLD) & region, network.provenance
