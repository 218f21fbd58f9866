"""Brain extraction of T1-weighted images with deepbet's pretrained networks.

deepbet (Fisch et al. 2024, MIT licence; card: ``glymph/models/cards/deepbet.md``) is two 3D U-Nets
run one after the other, with the input contract they were trained with:

1. the image in RAS voxel order, resampled (nearest) to 128^3, intensities clipped to their
   0.5-99.5 % quantiles, scaled to [0, 1], standardised and mapped to mean 0.449, sd 0.226;
   the first network gives a coarse brain (largest component); its bounding box (slices over
   2 % brain), widened by 10 % on each side, is cut from the full-resolution image;
2. that box resampled to 256^3 with the same intensity mapping, the second network's brain
   probability resampled back to the box; the mask is probability > 0.5, largest component,
   holes filled.

The implementation is glymph's own: only the networks come from the deepbet package.
"""

from __future__ import annotations

import numpy as np

from glymph.components import largest_component
from glymph.defaults import DEVICE
from glymph.errors import GlymphError
from glymph.models.loader import load_torchscript, model_files, provenance, torch_device
from glymph.volume import Volume, axis_codes, reoriented

COARSE_SHAPE = (128, 128, 128)
FINE_SHAPE = (256, 256, 256)
BOX_MARGIN = 0.1
BOX_MIN_FRACTION = 0.02  # a coarse-brain slice counts for the box when over 2 % of it is brain


def _network_input(x, low, high):
    scaled = ((x - low) / (high - low)).clamp(0, 1)
    return (0.226 * (scaled - scaled.mean()) / scaled.std() + 0.449)[None, None]


def _bounding_box(mask: np.ndarray, scale: np.ndarray, full_shape: tuple[int, ...]) -> tuple[slice, ...]:
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.mean(axis=others) > BOX_MIN_FRACTION)
        if present.size == 0:
            raise GlymphError("brain extraction found no brain; is this a T1-weighted head image?")
        start, stop = present[0] * scale[axis], (present[-1] + 1) * scale[axis]
        pad = (stop - start) * BOX_MARGIN
        box.append(slice(max(round(start - pad), 0), min(round(stop + pad), full_shape[axis])))
    return tuple(box)


def brain_mask_deepbet(t1: Volume, model_dir: str | None = None, device: str = DEVICE) -> tuple[Volume, dict]:
    """Brain mask of a 3D T1 (bool, same grid) and the provenance of the networks used.

    ``model_dir`` is searched first for the weights (``glymph.models.loader``); ``device`` is
    ``auto`` (a CUDA GPU when present), ``cpu`` or ``cuda``.
    """
    import torch
    import torch.nn.functional as F
    from scipy import ndimage

    paths = model_files("deepbet", model_dir)
    where = torch_device(device)
    coarse_net, fine_net = (load_torchscript(paths[name], where.type) for name in ("bbox_model.pt", "model.pt"))
    canonical = reoriented(t1, "RAS")
    x = torch.nan_to_num(torch.from_numpy(np.ascontiguousarray(canonical.data, dtype=np.float32))).to(where)
    with torch.no_grad():
        small = F.interpolate(x[None, None], COARSE_SHAPE, mode="nearest-exact")[0, 0]
        low, high = small.quantile(0.005), small.quantile(0.995)
        if not high > low:
            raise GlymphError("the T1 has no contrast (constant intensities); check the file")
        coarse = coarse_net(_network_input(small, low, high))[0, 1].cpu().numpy() > 0.5
        box = _bounding_box(largest_component(coarse), np.array(x.shape) / np.array(COARSE_SHAPE), tuple(x.shape))
        crop = x[box]
        fine = F.interpolate(crop[None, None], FINE_SHAPE, mode="nearest-exact")
        probability = fine_net(_network_input(fine[0, 0], low, high))[:, 1:2]
        probability = F.interpolate(probability, tuple(crop.shape), mode="nearest-exact")[0, 0].cpu().numpy()
    mask = np.zeros(x.shape, dtype=bool)
    mask[box] = ndimage.binary_fill_holes(largest_component(probability > 0.5))
    return reoriented(Volume(mask, canonical.affine), axis_codes(t1.affine)), provenance("deepbet", paths)
