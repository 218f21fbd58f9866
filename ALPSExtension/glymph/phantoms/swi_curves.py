"""A second SWI vein generator, made unlike ``glymph.phantoms.swi`` on purpose: a check of the vein
pipeline on veins it was not tuned on (``benchmarks/vein.py --curving``).

The head, its brain, skull and scalp are ``swi_phantom``'s (MNI152 tissue maps). The veins differ
in everything else:

- shape: a curve driven by its curvature (the sum of three sinusoids of random wavelength 5-25 mm
  and random signed amplitude along the arc, times ``curl``), not a sinusoidal wiggle about a
  chord: bends of every size, never periodic;
- calibre: the radius varies by +-25 % along each vein about a mean radius of 0.4-1.2 mm (diameters
  0.6-3.0 mm along the vein);
- depth: each vein crosses the slab obliquely (its height changes by up to 0.15 mm per mm along
  it, within +-6 mm of the level), so its darkness on the MinIP changes as it passes between slices;
- contrast: veins 0.15-0.3 (relative), not the other generator's fixed 0.12.

Truth, on the MinIP plane: each vein's projected centreline, its arc / chord tortuosity, its mean
diameter (arc-weighted), hemisphere; ``truth_2d`` marks the pixels within the local radius (at
least half a pixel) of the projected centreline.
"""

from __future__ import annotations

import numpy as np

from glymph.phantoms.geometry import rotation_matrix, subsamples_for, subvoxel_offsets, voxel_box
from glymph.phantoms.swi import SWIPhantom, TrueVein, _analysis_plane, swi_phantom

STEP_MM = 0.2  # the curves' sampling


def curvature_curve(
    rng: np.random.Generator, start: np.ndarray, angle: float, length: float, curl: float
) -> np.ndarray:
    """A 2D curve (mm, points ``STEP_MM`` apart) from ``start`` heading at ``angle`` (radians) for
    ``length`` mm. Its curvature (1/mm) is ``curl`` times the sum of three sinusoids along the arc,
    each of random wavelength L (5-25 mm), phase, and amplitude 2 pi / L times a standard normal."""
    s = np.arange(int(length / STEP_MM)) * STEP_MM
    curvature = np.zeros_like(s)
    for _ in range(3):
        wavelength = rng.uniform(5.0, 25.0)
        curvature += (
            rng.normal() * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi)) * 2 * np.pi / wavelength
        )
    heading = angle + np.cumsum(curl * curvature) * STEP_MM
    return start + np.cumsum(np.column_stack([np.cos(heading), np.sin(heading)]) * STEP_MM, axis=0)


def _self_approaches(curve: np.ndarray, radius: np.ndarray) -> bool:
    """Whether two points more than 4 mm apart along the curve come within 2 r + 1 mm of each other."""
    from scipy.spatial import cKDTree

    pairs = np.array(list(cKDTree(curve).query_pairs(2 * float(radius.max()) + 1.0)), dtype=int).reshape(-1, 2)
    return bool(np.any(np.abs(pairs[:, 0] - pairs[:, 1]) * STEP_MM > 4.0))


def _draw(grid, tube: np.ndarray, radius: np.ndarray, vein_map: np.ndarray) -> None:
    """The tube (3D centreline, per-point radius: ``geometry.tube_fraction`` takes one radius) into
    ``vein_map`` (on ``grid``) as partial volumes."""
    from scipy.spatial import cKDTree

    lo = np.floor(grid.world_to_voxel(tube.min(0) - 3)).astype(int)
    hi = np.ceil(grid.world_to_voxel(tube.max(0) + 3)).astype(int) + 1
    voxels = voxel_box(lo, hi, vein_map.shape)
    corners = subvoxel_offsets(subsamples_for(grid.spacing), 3)
    tree = cKDTree(tube)
    fraction = np.zeros(len(voxels))
    for chunk in np.array_split(np.arange(len(voxels)), max(1, len(voxels) * len(corners) // 2_000_000)):
        points = (voxels[chunk, None, :] + corners[None]).reshape(-1, 3) @ grid.affine[:3, :3].T + grid.affine[:3, 3]
        distance, nearest = tree.query(points, distance_upper_bound=3.0)
        inside = np.zeros(len(distance), bool)
        near = np.isfinite(distance)
        inside[near] = distance[near] <= radius[nearest[near]]
        fraction[chunk] = inside.reshape(len(chunk), -1).mean(axis=1)
    hit = voxels[fraction > 0]
    vein_map[tuple(hit.T)] = np.maximum(vein_map[tuple(hit.T)], fraction[fraction > 0])


def curving_swi_phantom(
    veins_per_hemisphere: tuple[int, int] = (5, 5),
    voxel_mm: tuple[float, float, float] = (0.8, 0.8, 2.0),
    noise: float = 0.03,
    seed: int = 0,
    curl: float = 0.6,
    yaw_deg: float = 4.0,
    shift_mm: tuple[float, float] = (3.0, -2.0),
) -> SWIPhantom:
    """An SWI phantom with (left, right) veins drawn as described in the module docstring; ``curl``
    scales their curvature (0.3: tortuosity about 1.05; 0.9: up to about 1.8)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    head = swi_phantom((0, 0), voxel_mm, yaw_deg, shift_mm, noise=0.0, seed=seed)
    grid, level_z = head.swi, head.level_z_mm
    image = np.asarray(grid.data, np.float32) / 1000.0
    plane = _analysis_plane(
        np.asarray(head.brain_mask.data, bool), grid, round(grid.world_to_voxel(np.array([0.0, 0.0, level_z]))[2])
    )
    rotation = rotation_matrix((0.0, 0.0, yaw_deg))[:2, :2]
    template_x = ((plane.xy - np.array(shift_mm)) @ rotation)[:, 0]
    vein_map = np.zeros(image.shape, np.float32)
    truth = np.zeros(image.shape[:2], np.int32)
    veins: list[TrueVein] = []
    lines: list[np.ndarray] = []
    for hemisphere, sign, count in (("left", -1.0, veins_per_hemisphere[0]), ("right", 1.0, veins_per_hemisphere[1])):
        candidates = np.flatnonzero(plane.cortex.ravel() & (np.sign(template_x) == sign) & (np.abs(template_x) > 12))
        made = 0
        for _ in range(6000):
            if made == count:
                break
            pick = rng.choice(candidates)
            inward = plane.inward[pick]
            along = np.array([-inward[1], inward[0]]) * rng.choice([-1.0, 1.0])
            angle = np.arctan2(along[1], along[0]) + np.deg2rad(rng.uniform(-30, 30))
            curve = curvature_curve(rng, plane.xy[pick], angle, rng.uniform(15.0, 40.0), curl)
            ij = np.round((curve - plane.affine[:2, 2]) / np.diag(plane.affine)[:2]).astype(int)
            if not ((ij >= 0) & (ij < np.array(plane.cortex.shape))).all() or not plane.cortex[tuple(ij.T)].all():
                continue
            if not np.all(sign * ((curve - np.array(shift_mm)) @ rotation)[:, 0] >= 8.0):
                continue
            arc_mm = np.arange(len(curve)) * STEP_MM
            radius = rng.uniform(0.4, 1.2) * (
                1 + 0.25 * np.sin(2 * np.pi * arc_mm / arc_mm[-1] * rng.uniform(0.5, 2.0) + rng.uniform(0, 2 * np.pi))
            )
            if _self_approaches(curve, radius) or any(cKDTree(o).query(curve)[0].min() < 5.0 for o in lines):
                continue
            lines.append(curve)
            made += 1
            height = level_z + rng.uniform(-3, 3) + rng.uniform(-0.15, 0.15) * (arc_mm - arc_mm[-1] / 2)
            _draw(grid, np.column_stack([curve, np.clip(height, level_z - 6, level_z + 6)]), radius, vein_map)
            distance, nearest = cKDTree(curve).query(plane.xy, distance_upper_bound=4.0)
            near = np.isfinite(distance)
            inside = np.zeros(len(distance), bool)
            inside[near] = distance[near] <= np.maximum(radius[nearest[near]], 0.5 * voxel_mm[0])
            truth.ravel()[inside] = len(veins) + 1
            step = np.linalg.norm(np.diff(curve, axis=0), axis=1)
            arc = float(step.sum())
            diameter = float(np.sum((radius[1:] + radius[:-1]) * step) / arc)  # arc-weighted mean of 2 r
            veins.append(
                TrueVein(
                    len(veins) + 1,
                    hemisphere,
                    arc,
                    diameter,
                    arc / float(np.linalg.norm(curve[-1] - curve[0])),
                    tuple(curve[0]),
                    tuple(curve[-1]),
                    [tuple(p) for p in curve[::5]],
                )
            )
    image = (1 - vein_map) * image + vein_map * rng.uniform(0.15, 0.3)
    image = np.abs(image + rng.normal(0, noise, image.shape))
    return SWIPhantom(
        grid.with_data((image * 1000).astype(np.float32)), head.brain_mask, veins, level_z, truth, plane.affine, yaw_deg
    )
