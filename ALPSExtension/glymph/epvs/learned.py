"""The learned EPVS method: glymph's 3D U-Net (``glymph.models.epvs_network``) on the scan's own grid.

The network reads the T1, the T2 or both where they were acquired (no resampling to 1 mm that
would smear thick slices); its probability is then carried to the 1 mm analysis grid (trilinear)
and thresholded, so components, the length filter, regions and measures are exactly those of
the classical method.
"""

from __future__ import annotations

import os

import numpy as np

from glymph.defaults import DEVICE, THREADS
from glymph.epvs.preprocess import NativeImages
from glymph.preprocess import resample
from glymph.volume import Volume

THRESHOLD = 0.5  # probability above which a voxel is perivascular space


def segment_learned(
    native: NativeImages,
    grid: Volume,
    model_dir: str | os.PathLike | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
    flips: bool = False,
) -> tuple[np.ndarray, dict]:
    """Boolean EPVS mask on ``grid`` (the 1 mm analysis grid) and the network's provenance.
    ``flips``: test-time augmentation (the mean over the image and its three axis flips)."""
    from glymph.models.epvs_network import EPVSNetwork

    network = EPVSNetwork.load(model_dir, threads, device)
    probability = network.probability(native.t1, native.t2, native.brain, flips)
    on_grid = resample(native.grid.with_data(probability), grid, order=1).data
    return np.asarray(on_grid) >= THRESHOLD, network.provenance
