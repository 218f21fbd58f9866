"""The two networks of the ALPS ROI detector, run with ONNX Runtime on plain arrays.

* ``level_cnn.onnx``: (n, 3, 64, 64) colour-FA slices in [0, 1] -> (n, 4) offset of each ROI's
  level above each slice (``LABELS`` order), in units of 10 mm (glymph 1.0's model: (n, 1), one
  level for all four).
* ``roi_yolo.onnx``: an ultralytics YOLOv8 detector exported to ONNX, (n, 3, 128, 128) colour FA
  in [0, 1] -> (n, 4 + 4 classes, anchors): box centre, size (pixels) and per-class scores.
  Each class's best-scoring anchor is its box (no NMS needed: one box per class per slice).

The domain side (which slices, template space, plausibility) is in ``glymph.alps.detector``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glymph.defaults import DEVICE
from glymph.models.inference import in_batches, onnx_predictor
from glymph.models.loader import model_files, provenance
from glymph.models.runtime import onnx_session

MODEL_ID = "alps-roi-detector"
LEVEL_UNIT_MM = 10.0
FILES = ("level_cnn.onnx", "roi_yolo.onnx")  # the level network, the box detector


@dataclass(frozen=True)
class RoiDetectorNetworks:
    """The loaded level network and box detector, and where their files came from."""

    level_session: object
    box_session: object
    provenance: dict

    @classmethod
    def load(
        cls, model_dir: str | None = None, threads: int | None = None, device: str = DEVICE
    ) -> RoiDetectorNetworks:
        """Locate and check both files (``glymph.models.loader``) and open them with ONNX Runtime."""
        paths = model_files(MODEL_ID, model_dir)
        return cls.open(paths, provenance(MODEL_ID, paths), threads, device)

    @classmethod
    def from_folder(
        cls, folder: str | os.PathLike, threads: int | None = None, device: str = DEVICE
    ) -> RoiDetectorNetworks:
        """Open the files of a model folder as they are (a training run's output), unchecked."""
        paths = {name: Path(folder) / name for name in FILES}
        files = {name: {"path": str(path)} for name, path in paths.items()}
        return cls.open(paths, {"name": MODEL_ID, "version": "unregistered", "files": files}, threads, device)

    @classmethod
    def open(cls, paths: dict[str, Path], source: dict, threads: int | None, device: str) -> RoiDetectorNetworks:
        """ONNX Runtime sessions for ``paths`` (``{file name: path}``), with where they came from."""
        return cls(*(onnx_session(paths[name], device, threads) for name in FILES), source)

    def level_offsets(self, slices: np.ndarray) -> np.ndarray:
        """(n, k) mm: how far above each (n, 3, 64, 64) slice each ROI's level lies (k = 4, or 1
        for a one-level model)."""
        out = in_batches(onnx_predictor(self.level_session), slices)
        return out.reshape(len(slices), -1).astype(np.float64) * LEVEL_UNIT_MM

    def boxes(self, slices: np.ndarray) -> np.ndarray:
        """(n, 4, 3): per slice and class (``LABELS`` order), the best box's centre column, row
        (pixels, 0 at the left/top edge) and confidence."""
        return decode_yolo(in_batches(onnx_predictor(self.box_session), slices))


def decode_yolo(prediction: np.ndarray) -> np.ndarray:
    """Best box per class from raw YOLOv8 output (n, 4 + C, A): (n, C, 3) column, row, score."""
    scores = prediction[:, 4:, :]
    best = scores.argmax(axis=2)  # (n, C)
    n, classes = best.shape
    rows = np.arange(n)[:, None]
    centre_x = prediction[:, 0, :][rows, best]
    centre_y = prediction[:, 1, :][rows, best]
    score = scores[rows, np.arange(classes)[None, :], best]
    return np.stack([centre_x, centre_y, score], axis=-1).astype(np.float64)
