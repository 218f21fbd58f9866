"""Labelme polygon annotations (the tool of the SCV study) to label maps on a MinIP grid.

Annotators draw on ``minip.png`` written by ``glymph vein``: subject's right on the left,
anterior at the top, one image pixel per MinIP pixel. A point (x, y) of a Labelme polygon (x
to the right, y down, in pixels, pixel centres at integer + 0.5) is MinIP pixel
(i, j) = (I - x, J - y) in continuous voxel coordinates minus 0.5. Every polygon becomes one
label (1, 2, ...) in file order; pixels whose centres lie inside it take its label.
"""

from __future__ import annotations

import json
import os

import numpy as np

from glymph.errors import GlymphError
from glymph.image_io import existing_file
from glymph.volume import Volume


def read_labelme(path: str | os.PathLike) -> dict:
    """The shapes and image size of a Labelme JSON file."""
    p = existing_file(path, "Labelme file")
    try:
        document = json.loads(p.read_text())
        shapes = document["shapes"]
        size = (int(document["imageWidth"]), int(document["imageHeight"]))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        raise GlymphError(f"{p} is not a Labelme annotation (JSON with shapes, imageWidth, imageHeight)") from None
    return {"shapes": shapes, "size": size, "path": p}


def labelme_to_labels(path: str | os.PathLike, reference: Volume, labels: tuple[str, ...] | None = None) -> Volume:
    """Rasterise a Labelme file onto the one-slice MinIP ``reference`` (e.g. ``minip.nii.gz``).

    ``labels`` keeps only shapes with these label names (default: all). Errors when the
    annotation was made on an image of another size.
    """
    from skimage.draw import polygon

    annotation = read_labelme(path)
    width, height = reference.shape[0], reference.shape[1]
    if reference.shape[2] != 1:
        raise GlymphError("the reference must be a one-slice MinIP (minip.nii.gz written by glymph vein)")
    if annotation["size"] != (width, height):
        raise GlymphError(
            f"{annotation['path']} was drawn on a {annotation['size'][0]}x{annotation['size'][1]} image but the MinIP is "
            f"{width}x{height}; annotate the minip.png of this subject"
        )
    out = np.zeros((width, height), dtype=np.uint16)
    value = 0
    for shape in annotation["shapes"]:
        if labels is not None and shape.get("label") not in labels:
            continue
        if shape.get("shape_type", "polygon") != "polygon":
            continue
        points = np.asarray(shape.get("points", []), dtype=float)
        if points.ndim != 2 or points.shape[0] < 3:
            continue
        value += 1
        # display (x, y) -> MinIP pixel centres: i = width - x - 0.5, j = height - y - 0.5
        rows, cols = polygon(width - points[:, 0] - 0.5, height - points[:, 1] - 0.5, shape=out.shape)
        out[rows, cols] = value
    return reference.with_data(out[:, :, None])
