"""The learned EPVS network, run with ONNX Runtime through MONAI's sliding window.

``epvs_unet.onnx`` (``glymph.training.epvs``): (n, 2, x, y, z) images (channel 0 the T1, 1 the
T2, each bias-corrected and divided by its brain median, zero outside the brain; a missing
contrast is all zero), any size divisible by 8 -> (n, 1, x, y, z) logit of "perivascular space".
It is trained on every voxel size from 0.6 mm to 1 x 1 x 5 mm with its axes in any order, so it
runs on the scan's own grid, whatever its storage order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glymph.defaults import DEVICE
from glymph.models.inference import SlidingWindow, onnx_predictor, sliding_window
from glymph.models.loader import model_files, provenance
from glymph.models.runtime import onnx_session

MODEL_ID = "epvs-unet"
FILES = ("epvs_unet.onnx",)
WINDOW = SlidingWindow((96, 96, 96), overlap=0.25, batch_size=1)
MARGIN_VOXELS = 4  # kept around the brain's bounding box, so that no window edge cuts the brain


@dataclass(frozen=True)
class EPVSNetwork:
    """The loaded network and where its file came from."""

    session: object
    provenance: dict

    @classmethod
    def load(
        cls, model_dir: str | os.PathLike | None = None, threads: int | None = None, device: str = DEVICE
    ) -> EPVSNetwork:
        """Locate and check the file (``glymph.models.loader``) and open it with ONNX Runtime."""
        paths = model_files(MODEL_ID, model_dir)
        return cls(onnx_session(paths[FILES[0]], device, threads), provenance(MODEL_ID, paths))

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, threads: int | None = None, device: str = DEVICE) -> EPVSNetwork:
        """Open a training run's output folder as it is, unchecked."""
        path = Path(folder) / FILES[0]
        source = {"name": MODEL_ID, "version": "unregistered", "files": {FILES[0]: {"path": str(path)}}}
        return cls(onnx_session(path, device, threads), source)

    def probability(
        self, t1: np.ndarray | None, t2: np.ndarray | None, brain: np.ndarray, flips: bool = False
    ) -> np.ndarray:
        """Probability (0-1) of perivascular space in every voxel of the images' grid (zero outside
        the brain). ``t1``/``t2``: normalised as in the module docstring, or None when not acquired;
        ``flips``: also run on the image flipped along each axis and average (test-time augmentation)."""
        from scipy.special import expit  # the logistic function without overflow warnings

        shape = brain.shape
        channels = [np.zeros(shape, np.float32) if image is None else np.where(brain, image, 0) for image in (t1, t2)]
        box = bounding_box(brain, MARGIN_VOXELS)
        image = np.stack(channels).astype(np.float32)[(slice(None), *box)]
        predictor = onnx_predictor(self.session)
        logits = sliding_window(predictor, image, WINDOW)[0]
        probability = expit(logits)
        if flips:
            for axis in range(3):
                flipped = sliding_window(predictor, np.flip(image, axis + 1), WINDOW)[0]
                probability += np.flip(expit(flipped), axis)
            probability /= 4
        out = np.zeros(shape, np.float32)
        out[box] = probability
        return out * brain


def bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, slice, slice]:
    """Slices of ``mask``'s bounding box grown by ``margin`` voxels (the whole array if empty)."""
    found = np.argwhere(mask)
    if not len(found):
        return tuple(slice(0, n) for n in mask.shape)  # type: ignore[return-value]
    lo = np.maximum(found.min(0) - margin, 0)
    hi = np.minimum(found.max(0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]
