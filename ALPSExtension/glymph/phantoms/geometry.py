"""Geometry shared by the phantoms: rotations, distances to polylines, tubes drawn with partial volume."""

from __future__ import annotations

import numpy as np


def rotation_matrix(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation about the x (L-R: nod), then y (A-P: roll), then z (S-I: turn) axes, degrees."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance (mm) of points (M, d) to the polyline through the vertices ``line`` (N, d), any d."""
    a, b = line[:-1], line[1:]
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(points[:, None, :] - (a[None] + t[..., None] * ab[None]), axis=-1).min(axis=1)


def voxel_box(lo: np.ndarray, hi: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Integer indices (N, d) of the voxels in the box ``lo`` <= index < ``hi``, clipped to ``shape``."""
    ranges = (np.arange(max(int(a), 0), min(int(b), n)) for a, b, n in zip(lo, hi, shape, strict=True))
    return np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, len(shape))


def tube_fraction(
    voxels: np.ndarray, affine: np.ndarray, line: np.ndarray, radius_mm: float, subsamples: int
) -> np.ndarray:
    """Fraction of each voxel (N, d indices) inside the tube of ``radius_mm`` around the polyline
    ``line`` (M, d world mm), from ``subsamples``^d regularly spaced points per voxel.

    ``affine`` is the (d+1, d+1) voxel-to-world matrix. Voxels whose centre is farther from the
    line than the radius plus half the voxel's diagonal cannot touch the tube and are not sampled.
    """
    d = voxels.shape[1]
    linear, origin = affine[:d, :d], affine[:d, d]
    fraction = np.zeros(len(voxels))
    half_diagonal = float(np.linalg.norm(0.5 * np.abs(linear).sum(axis=1)))
    near = distance_to_polyline(voxels @ linear.T + origin, line) <= radius_mm + half_diagonal
    if not near.any():
        return fraction
    steps = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    offsets = np.stack(np.meshgrid(*[steps] * d, indexing="ij"), -1).reshape(-1, d)
    points = ((voxels[near][:, None, :] + offsets[None]) @ linear.T + origin).reshape(-1, d)
    fraction[near] = (distance_to_polyline(points, line) <= radius_mm).reshape(near.sum(), -1).mean(axis=1)
    return fraction
