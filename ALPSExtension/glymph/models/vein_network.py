"""The learned vein network (DeepLabV3+), run with ONNX Runtime on a MinIP.

``vein_deeplab.onnx`` (``glymph.training.vein``): (n, 1, h, w) images -> (n, 1, h, w) logit of
"vein", h and w any multiple of 16. The input is the MinIP divided by its brain median, minus 1
(so 0 outside the brain, negative where darker than the median), on pixels of
``NETWORK_PIXEL_MM``: DeepLabV3+ predicts at a quarter of its input's resolution, so the MinIP is
first resized to finer pixels (bilinear) and the probability brought back to the MinIP's own
pixels (averaged: a pixel's probability is that of its area), where glymph thresholds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glymph.defaults import DEVICE
from glymph.models.loader import model_files, provenance
from glymph.models.runtime import onnx_session

MODEL_ID = "vein-deeplab"
FILES = ("vein_deeplab.onnx",)
STATE = "vein_deeplab.pt"  # the PyTorch weights (half precision) that fine-tuning starts from
NETWORK_PIXEL_MM = 0.5
MULTIPLE = 16  # the encoder's output stride: the input's sides must be multiples of it


def network_shape(shape: tuple[int, ...], pixel_mm: float) -> tuple[int, int]:
    """The size of a MinIP of ``shape`` pixels of ``pixel_mm`` once resized to ``NETWORK_PIXEL_MM``."""
    return tuple(max(round(n * pixel_mm / NETWORK_PIXEL_MM), 1) for n in shape[:2])  # type: ignore[return-value]


def network_input(minip: np.ndarray, brain: np.ndarray, pixel_mm: float) -> np.ndarray:
    """``minip`` (divided by its brain median) as the network reads it: resized to
    ``NETWORK_PIXEL_MM`` pixels, minus 1, zero outside the brain (see the module docstring)."""
    from skimage.transform import resize

    image = np.where(brain, minip, 1.0).astype(np.float32) - 1.0
    return resize(image, network_shape(minip.shape, pixel_mm), order=1, anti_aliasing=False).astype(np.float32)


def padded(image: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]]:
    """``image`` (h, w) zero-padded to multiples of ``MULTIPLE``, and the slices that crop it back."""
    pad = [(-n) % MULTIPLE for n in image.shape]
    return np.pad(image, [(0, pad[0]), (0, pad[1])]), (slice(0, image.shape[0]), slice(0, image.shape[1]))


@dataclass(frozen=True)
class VeinNetwork:
    """The loaded network and where its file came from."""

    session: object
    provenance: dict

    @classmethod
    def load(
        cls, model_dir: str | os.PathLike | None = None, threads: int | None = None, device: str = DEVICE
    ) -> VeinNetwork:
        """Locate and check the file (``glymph.models.loader``) and open it with ONNX Runtime."""
        paths = model_files(MODEL_ID, model_dir)
        return cls(onnx_session(paths[FILES[0]], device, threads), provenance(MODEL_ID, paths))

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, threads: int | None = None, device: str = DEVICE) -> VeinNetwork:
        """Open a training run's output folder as it is, unchecked."""
        path = Path(folder) / FILES[0]
        source = {"name": MODEL_ID, "version": "unregistered", "files": {FILES[0]: {"path": str(path)}}}
        return cls(onnx_session(path, device, threads), source)

    def logits(self, image: np.ndarray) -> np.ndarray:
        """The network's logits on a network-grid image (h, w), any size."""
        from glymph.models.inference import onnx_predictor

        x, crop = padded(image)
        return onnx_predictor(self.session)(x[None, None])[0, 0][crop]

    def probability(self, minip: np.ndarray, brain: np.ndarray, pixel_mm: float, flips: bool = False) -> np.ndarray:
        """Probability (0-1) of vein at every MinIP pixel: ``vein_probability`` with this network."""
        return vein_probability(self.logits, minip, brain, pixel_mm, flips)


def vein_probability(
    logits: Callable[[np.ndarray], np.ndarray],
    minip: np.ndarray,
    brain: np.ndarray,
    pixel_mm: float,
    flips: bool = False,
) -> np.ndarray:
    """Probability (0-1) of vein at every MinIP pixel (zero outside the brain), from ``logits`` (a
    network-grid image (h, w) -> its logits). ``minip``: divided by its brain median; ``flips``:
    also run on the left-right mirrored image and average (test-time augmentation)."""
    from scipy.special import expit
    from skimage.transform import resize

    image = network_input(minip, brain, pixel_mm)
    probability = expit(logits(image))
    if flips:
        mirrored = expit(logits(np.ascontiguousarray(image[::-1])))
        probability = (probability + mirrored[::-1]) / 2
    back = resize(probability, minip.shape, order=1, anti_aliasing=True)
    return (back * brain).astype(np.float32)
