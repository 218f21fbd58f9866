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
    return distance_to_segments(points, line[:-1], line[1:])


def distance_to_segments(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (mm) of points (M, d) to the nearest of the segments from ``a`` (N, d) to ``b``."""
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


def subsamples_for(
    voxel_mm: np.ndarray | tuple[float, ...], step_mm: float = 0.25, minimum: int = 3
) -> tuple[int, ...]:
    """Sub-samples per voxel axis for partial volumes: at most ``step_mm`` apart, at least
    ``minimum``. A thick slice needs more than its in-plane pixels: three points across a 2 mm slice
    are 0.67 mm apart, and a sub-millimetre tube then darkens its voxels by whole thirds (a
    flat-topped profile) instead of by its chord."""
    return tuple(max(minimum, int(np.ceil(float(v) / step_mm - 1e-9))) for v in voxel_mm)


def subvoxel_offsets(subsamples: int | tuple[int, ...], d: int) -> np.ndarray:
    """(S, d) regularly spaced offsets (voxel units) of ``subsamples`` points per axis in a voxel."""
    counts = (subsamples,) * d if isinstance(subsamples, int) else tuple(subsamples)
    steps = [(np.arange(n) + 0.5) / n - 0.5 for n in counts]
    return np.stack(np.meshgrid(*steps, indexing="ij"), -1).reshape(-1, d)


def within_reach(points: np.ndarray, line: np.ndarray, reach_mm: float, chunk: int = 20_000) -> np.ndarray:
    """Whether each of ``points`` (M, d) lies within ``reach_mm`` of the polyline ``line`` (N, d):
    ``distance_to_polyline(points, line) <= reach_mm``, measured ``chunk`` points at a time against
    only the segments whose bounding box, grown by the reach, overlaps the chunk's (the same answer;
    a tube's box holds far more points than come near any one stretch of it)."""
    a, b = line[:-1], line[1:]
    low, high = np.minimum(a, b) - reach_mm, np.maximum(a, b) + reach_mm
    inside = np.zeros(len(points), bool)
    for i in range(0, len(points), chunk):
        block = points[i : i + chunk]
        reach = np.all((low <= block.max(axis=0)) & (high >= block.min(axis=0)), axis=1)
        if reach.any():
            inside[i : i + chunk] = distance_to_segments(block, a[reach], b[reach]) <= reach_mm
    return inside


def tube_fraction(
    voxels: np.ndarray,
    affine: np.ndarray,
    line: np.ndarray,
    radius_mm: float,
    subsamples: int | tuple[int, ...],
    chunk: int = 20_000,
) -> np.ndarray:
    """Fraction of each voxel (N, d indices) inside the tube of ``radius_mm`` around the polyline
    ``line`` (M, d world mm), from ``subsamples`` regularly spaced points per voxel axis (one count
    for all axes, or one per axis for anisotropic voxels).

    ``affine`` is the (d+1, d+1) voxel-to-world matrix. Voxels whose centre is farther from the
    line than the radius plus half the voxel's diagonal cannot touch the tube and are not sampled;
    points are measured ``chunk`` at a time (``within_reach``).
    """
    d = voxels.shape[1]
    linear, origin = affine[:d, :d], affine[:d, d]
    fraction = np.zeros(len(voxels))
    half_diagonal = float(np.linalg.norm(0.5 * np.abs(linear).sum(axis=1)))
    near = within_reach(voxels @ linear.T + origin, line, radius_mm + half_diagonal, chunk)
    if not near.any():
        return fraction
    offsets = subvoxel_offsets(subsamples, d)
    points = ((voxels[near][:, None, :] + offsets[None]) @ linear.T + origin).reshape(-1, d)
    inside = within_reach(points, line, radius_mm, chunk)
    fraction[near] = inside.reshape(near.sum(), -1).mean(axis=1)
    return fraction
