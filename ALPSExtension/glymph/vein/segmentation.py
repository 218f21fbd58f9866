"""Superficial vein segmentation on a 2D MinIP: each method takes ``VeinInputs`` and returns a
boolean mask; the registry of methods is ``glymph.defaults.VEIN_METHODS``.

``classical`` needs no trained model: multi-scale Frangi vesselness of dark ridges (scikit-image,
2D) on the MinIP divided by its brain median, hysteresis thresholding, inside the brain (minus a
``RIM_MM`` rim where the brain edge itself looks like a dark ridge). Parameters below; they were
set on one phantom (seed 1) and are reported on others (README, tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIGMAS_MM = (0.5, 1.0, 1.5)
FRANGI_BETA, FRANGI_GAMMA = 0.5, 0.15
HIGH, LOW = 0.10, 0.03  # hysteresis thresholds on the vesselness
MAX_RATIO = 0.92  # a vein pixel is darker than this fraction of the brain median
RIM_MM = 2.0


@dataclass(frozen=True)
class VeinInputs:
    """The analysis slice: MinIP (divided by its brain median), brain mask, pixel size (mm)."""

    minip: np.ndarray
    brain: np.ndarray
    spacing_mm: float


def analysis_region(inputs: VeinInputs) -> np.ndarray:
    """The brain less a ``RIM_MM`` rim, where the brain's own edge would look like a dark ridge."""
    from scipy import ndimage

    return ndimage.binary_erosion(inputs.brain, iterations=max(round(RIM_MM / inputs.spacing_mm), 1))


def segment_classical(inputs: VeinInputs) -> np.ndarray:
    """The classical vein segmentation (see the module docstring)."""
    from skimage.filters import apply_hysteresis_threshold, frangi

    region = analysis_region(inputs)
    sigmas = [s / inputs.spacing_mm for s in SIGMAS_MM]
    response = frangi(
        inputs.minip.astype(np.float32),
        sigmas=sigmas,
        beta=FRANGI_BETA,
        gamma=FRANGI_GAMMA,
        black_ridges=True,
        mode="reflect",
    )
    response = np.where(region, response, 0.0)
    return apply_hysteresis_threshold(response, LOW, HIGH) & (inputs.minip < MAX_RATIO) & region
