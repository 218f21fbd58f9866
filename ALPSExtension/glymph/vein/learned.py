"""The learned vein method: glymph's DeepLabV3+ (``glymph.models.vein_network``) on the MinIP.

The network's probability is brought back to the MinIP's own pixels and kept where it reaches
``THRESHOLD`` inside the classical method's analysis region (the brain less its rim), so the
morphometry that follows is exactly the classical method's.
"""

from __future__ import annotations

import os

import numpy as np

from glymph.defaults import DEVICE, THREADS
from glymph.vein.segmentation import VeinInputs, analysis_region

THRESHOLD = 0.5


def segment_learned(
    inputs: VeinInputs,
    model_dir: str | os.PathLike | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
    flips: bool = False,
) -> tuple[np.ndarray, dict]:
    """Boolean vein mask of the MinIP in ``inputs`` and the network's provenance. ``flips``:
    test-time augmentation (the mean over the MinIP and its left-right mirror)."""
    from glymph.models.vein_network import VeinNetwork

    network = VeinNetwork.load(model_dir, threads, device)
    probability = network.probability(inputs.minip, inputs.brain, inputs.spacing_mm, flips)
    return (probability >= THRESHOLD) & analysis_region(inputs), {**network.provenance, "threshold": THRESHOLD}
