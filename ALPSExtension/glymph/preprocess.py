"""Structural preprocessing: bias-field correction, resampling, intensity normalisation, tissue classes.

All functions take and return RAS ``Volume`` objects; SimpleITK is used for N4 and resampling
is done in world coordinates, so grids of any orientation are handled the same way.
"""

from __future__ import annotations

import numpy as np

from glymph.errors import GlymphError
from glymph.volume import Volume

N4_SHRINK = 4  # N4 is fitted on a 4x downsampled image, its field applied at full resolution
N4_ITERATIONS = (50, 50, 30)


def n4_bias_correction(image: Volume, mask: Volume | None = None) -> Volume:
    """N4 bias-field correction (SimpleITK, Tustison et al. 2010) inside ``mask``, on one ITK thread
    (``glymph.registration.one_thread``: the same result whatever the machine's thread count)."""
    import SimpleITK as sitk

    from glymph.registration import one_thread, sitk_mask, to_sitk

    data = np.asarray(image.data, dtype=np.float32)
    if np.any(data < 0):
        data = data - data.min()  # N4 works on a logarithm: intensities must be positive
    full = to_sitk(image.with_data(data + 1e-3))
    small = sitk.Shrink(full, [N4_SHRINK] * 3)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations(list(N4_ITERATIONS))
    with one_thread():
        if mask is not None:
            corrector.Execute(small, sitk.Shrink(sitk_mask(mask), [N4_SHRINK] * 3))
        else:
            corrector.Execute(small)
    log_field = corrector.GetLogBiasFieldAsImage(full)
    field = np.exp(sitk.GetArrayFromImage(log_field).transpose(2, 1, 0))
    return image.with_data((data / field).astype(np.float32))


def isotropic_grid(image: Volume, spacing_mm: float = 1.0) -> Volume:
    """An empty grid with the image's axes and extent and cubic voxels of ``spacing_mm``."""
    return grid_with_spacing(image, (spacing_mm,) * 3)


def grid_with_spacing(image: Volume, spacing_mm) -> Volume:
    """An empty grid with the image's axes and extent and voxel sides ``spacing_mm`` (mm, one per
    voxel axis of the image)."""
    spacing = np.asarray(spacing_mm, dtype=float)
    rotation = image.rotation
    extent = np.array(image.shape) * image.spacing
    shape = tuple(int(n) for n in np.maximum(np.round(extent / spacing), 1))
    # keep the field of view centred: the first new voxel centre sits half a new voxel inside
    first_corner = image.voxel_to_world(np.full(3, -0.5))
    affine = np.eye(4)
    affine[:3, :3] = rotation * spacing  # column j (voxel axis j) scaled by its side
    affine[:3, 3] = first_corner + rotation @ (spacing / 2)
    return Volume(np.zeros(shape, dtype=np.float32), affine)


def resample(image: Volume, grid: Volume, order: int = 1, world_to_image: np.ndarray | None = None) -> Volume:
    """``image`` sampled at the voxel centres of ``grid`` (order 0 nearest, 1 linear, 3 cubic).

    ``world_to_image`` (4x4, grid world -> image world) applies a spatial transform, e.g. a rigid
    registration; without it both share the world frame.
    """
    from scipy.ndimage import affine_transform

    data = np.asarray(image.data)
    out_dtype = data.dtype if order == 0 else np.float32
    if world_to_image is None and image.same_grid(grid):  # the same voxel centres: nothing to interpolate
        return Volume(data.astype(out_dtype), grid.affine)
    to_image = np.eye(4) if world_to_image is None else world_to_image
    voxel_map = np.linalg.inv(image.affine) @ to_image @ grid.affine
    linear = voxel_map[:3, :3]
    if np.count_nonzero(linear - np.diag(np.diag(linear))) == 0:
        linear = np.diag(linear)  # axes aligned: SciPy's separable path, the same values, faster
    resampled = affine_transform(
        data.astype(np.float32) if order else data,
        linear,
        voxel_map[:3, 3],
        output_shape=grid.shape,
        order=order,
        mode="constant",
        cval=0,
    )
    return Volume(resampled.astype(out_dtype), grid.affine)


def normalise_intensity(image: Volume, mask: Volume) -> Volume:
    """Intensities divided by the median inside the brain (so thresholds do not depend on the scanner's scale)."""
    inside = np.asarray(image.data)[np.asarray(mask.data, dtype=bool)]
    median = float(np.median(inside)) if inside.size else 0.0
    if median <= 0:
        raise GlymphError("the image is empty inside the brain mask; check the mask and the image")
    return image.with_data((np.asarray(image.data, dtype=np.float32) / median).astype(np.float32))


def tissue_classes(t1: Volume, mask: Volume, csf_bright: bool = False) -> Volume:
    """0 background, 1 CSF, 2 grey matter, 3 white matter: three-class Otsu on a bias-corrected T1
    (``csf_bright``: on a T2, where the order of the classes is reversed)."""
    from skimage.filters import threshold_multiotsu

    data = np.asarray(t1.data, dtype=np.float32)
    inside = np.asarray(mask.data, dtype=bool)
    values = data[inside]
    if values.size < 1000:
        raise GlymphError("the brain mask holds fewer than 1000 voxels; check the mask")
    thresholds = threshold_multiotsu(values, classes=3)
    classes = np.digitize(data, thresholds).astype(np.uint8) + 1
    if csf_bright:
        classes = 4 - classes
    classes[~inside] = 0
    return t1.with_data(classes)
