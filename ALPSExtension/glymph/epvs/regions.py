"""EPVS regions (basal ganglia, centrum semiovale, midbrain) mapped from MNI152 into a subject.

The atlas and exactly how each region is defined: ``glymph/data/regions/README.md``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from glymph.registration import AffineMap
from glymph.volume import Volume

REGIONS = {1: "basal_ganglia", 2: "centrum_semiovale", 3: "midbrain"}
SHORT = {"basal_ganglia": "bg", "centrum_semiovale": "cso", "midbrain": "midbrain"}
ATLAS = Path(__file__).parents[1] / "data" / "regions" / "epvs_regions.nii.gz"


@lru_cache(maxsize=1)
def regions_mni() -> Volume:
    """The region labels on their 1 mm MNI152 grid."""
    from glymph.image_io import load_nifti

    img = load_nifti(ATLAS)
    return Volume(np.asarray(img.dataobj, dtype=np.uint8), np.asarray(img.affine, dtype=np.float64))


def regions_in_subject(grid: Volume, template_to_subject: AffineMap) -> Volume:
    """Region labels on ``grid`` (nearest neighbour through the template-to-subject registration)."""
    from scipy.ndimage import map_coordinates

    atlas = regions_mni()
    template_points = template_to_subject.to_template(grid.voxel_centres().reshape(-1, 3))
    atlas_voxels = atlas.world_to_voxel(template_points).T
    labels = map_coordinates(atlas.data, atlas_voxels, order=0, mode="constant", cval=0)
    return grid.with_data(labels.reshape(grid.shape).astype(np.uint8))
