"""EPVS lesions: the connected components of a segmentation and their measures (count, volume, length, diameter).

Definitions (all in mm, on the analysis grid):

* a lesion is a 26-connected component of the segmentation;
* length: its longest extent, the largest distance between two of its voxel centres plus one
  voxel (the mean voxel edge), so a single 1 mm voxel is 1 mm long and two touching voxels 2 mm;
* maximal diameter: its largest extent across the length axis (the line through the two farthest
  voxel centres), measured the same way;
* region: the region label most of its voxels lie in (0: none of the three regions);
* centroid: mean RAS position of its voxels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from glymph.volume import Volume


@dataclass(frozen=True)
class Lesion:
    """One connected component."""

    id: int
    region: int
    volume_mm3: float
    length_mm: float
    max_diameter_mm: float
    centroid_x: float
    centroid_y: float
    centroid_z: float
    n_voxels: int

    def as_row(self) -> dict:
        return asdict(self)


def _hull_candidates(points: np.ndarray) -> np.ndarray:
    """Indices of points among which the farthest pair lies: the convex hull's vertices, found in
    the subspace the points span (a component in one slice is flat, a straight one a line), so
    that no component is too large to measure."""
    from scipy.spatial import ConvexHull

    if len(points) <= 64:
        return np.arange(len(points))
    centred = points - points.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    rank = int((singular > 1e-6 * max(singular[0], 1e-12)).sum())
    if rank <= 1:
        along = centred @ axes[0]
        return np.array([np.argmin(along), np.argmax(along)])
    return ConvexHull(centred @ axes[:rank].T).vertices


def _extent(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest distance between points (N, d) and the unit direction joining the two farthest."""
    from scipy.spatial.distance import pdist, squareform

    if len(points) < 2:
        return 0.0, np.array([0.0, 0.0, 1.0])
    candidates = points[_hull_candidates(points)]
    distances = squareform(pdist(candidates))
    i, j = np.unravel_index(np.argmax(distances), distances.shape)
    if distances[i, j] == 0:
        return 0.0, np.array([0.0, 0.0, 1.0])
    return float(distances[i, j]), (candidates[j] - candidates[i]) / distances[i, j]


def measure_lesions(labels: np.ndarray, grid: Volume, regions: np.ndarray | None = None) -> list[Lesion]:
    """Measures of every component of a label map on ``grid`` (see the module docstring)."""
    from scipy import ndimage

    voxel_volume = grid.voxel_volume_mm3
    voxel_edge = float(np.cbrt(voxel_volume))
    lesions = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        local = labels[found] == index
        ijk = np.argwhere(local) + np.array([s.start for s in found])
        points = grid.voxel_to_world(ijk)
        length, axis = _extent(points)
        across = points - np.outer(points @ axis, axis)
        width, _ = _extent(across)
        region = 0 if regions is None else int(np.argmax(np.bincount(regions[tuple(ijk.T)])))
        centroid = points.mean(axis=0)
        lesions.append(
            Lesion(
                index,
                region,
                len(points) * voxel_volume,
                length + voxel_edge,
                width + voxel_edge,
                *map(float, centroid),
                len(points),
            )
        )
    return lesions


def remove_short(labels: np.ndarray, lesions: list[Lesion], min_length_mm: float) -> tuple[np.ndarray, list[Lesion]]:
    """Drop components shorter than ``min_length_mm`` and renumber the rest 1..n (in order)."""
    kept = [lesion for lesion in lesions if lesion.length_mm >= min_length_mm]
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    renumbered = []
    for new_id, lesion in enumerate(kept, start=1):
        lookup[lesion.id] = new_id
        renumbered.append(replace(lesion, id=new_id))
    return lookup[labels], renumbered
