"""Connected components of binary images (lesions, veins, brain masks)."""

from __future__ import annotations

import numpy as np


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a 3D mask (scikit-image), labels 1..n, and n."""
    from skimage.measure import label

    labels, n = label(np.asarray(mask, dtype=bool), connectivity=3, return_num=True)
    return labels.astype(np.int32), int(n)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest face-connected component of a boolean array (the array itself when empty)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n == 0:
        return np.asarray(mask, dtype=bool)
    return labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
