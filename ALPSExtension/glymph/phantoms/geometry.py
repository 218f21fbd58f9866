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


def bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 24) -> np.ndarray:
    """(n, d) points of the quadratic Bezier curve from ``p0`` to ``p2`` pulled towards ``p1``."""
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def random_direction(rng: np.random.Generator, around: np.ndarray, spread_deg: float) -> np.ndarray:
    """A unit vector near ``around``: its tip moved by Gaussian noise of about ``tan(spread)``."""
    around = around / np.linalg.norm(around)
    v = around + np.tan(np.deg2rad(spread_deg)) * rng.normal(size=3) / np.sqrt(3)
    return v / np.linalg.norm(v)


def subvoxel_offsets(subsamples: int | tuple[int, ...], d: int) -> np.ndarray:
    """(S, d) regularly spaced offsets (voxel units) of ``subsamples`` points per axis in a voxel."""
    counts = (subsamples,) * d if isinstance(subsamples, int) else tuple(subsamples)
    steps = [(np.arange(n) + 0.5) / n - 0.5 for n in counts]
    return np.stack(np.meshgrid(*steps, indexing="ij"), -1).reshape(-1, d)


def tube_fraction(
    voxels: np.ndarray,
    affine: np.ndarray,
    line: np.ndarray,
    radius_mm: float,
    subsamples: int | tuple[int, ...],
    chunk: int = 200_000,
) -> np.ndarray:
    """Fraction of each voxel (N, d indices) inside the tube of ``radius_mm`` around the polyline
    ``line`` (M, d world mm), from ``subsamples`` regularly spaced points per voxel axis (one count
    for all axes, or one per axis for anisotropic voxels).

    ``affine`` is the (d+1, d+1) voxel-to-world matrix. Voxels whose centre is farther from the
    line than the radius plus half the voxel's diagonal cannot touch the tube and are not sampled;
    sub-samples are measured ``chunk`` at a time (memory: chunk x segments x d doubles).
    """
    d = voxels.shape[1]
    linear, origin = affine[:d, :d], affine[:d, d]
    fraction = np.zeros(len(voxels))
    half_diagonal = float(np.linalg.norm(0.5 * np.abs(linear).sum(axis=1)))
    near = distance_to_polyline(voxels @ linear.T + origin, line) <= radius_mm + half_diagonal
    if not near.any():
        return fraction
    offsets = subvoxel_offsets(subsamples, d)
    points = ((voxels[near][:, None, :] + offsets[None]) @ linear.T + origin).reshape(-1, d)
    inside = np.concatenate(
        [distance_to_polyline(points[i : i + chunk], line) <= radius_mm for i in range(0, len(points), chunk)]
    )
    fraction[near] = inside.reshape(near.sum(), -1).mean(axis=1)
    return fraction
