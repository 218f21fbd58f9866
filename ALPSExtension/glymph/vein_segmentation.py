"""Superficial vein segmentation on a 2D MinIP, behind the same method interface as EPVS.

``classical`` needs no trained model: multi-scale Frangi vesselness of dark ridges (scikit-image,
2D) on the MinIP divided by its brain median, hysteresis thresholding, inside the brain (minus a
``RIM_MM`` rim where the brain edge itself looks like a dark ridge). Parameters below; they were
set on one phantom (seed 1) and are reported on others (README, tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from glymph.segmentation import choose

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
    from scipy import ndimage

    return ndimage.binary_erosion(inputs.brain, iterations=max(round(RIM_MM / inputs.spacing_mm), 1))


def segment_classical(inputs: VeinInputs) -> np.ndarray:
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


METHODS: dict[str, Callable[[VeinInputs], np.ndarray]] = {"classical": segment_classical}
PLANNED = {"learned": "a trained DeepLabV3+ network is not shipped yet"}


def get_method(name: str) -> Callable[[VeinInputs], np.ndarray]:
    """The vein segmentation method called ``name``."""
    return choose(METHODS, PLANNED, name)
