"""SWI phantoms: a brain-shaped head (MNI152 tissue maps, skull and scalp) with dark tortuous
superficial veins of known count, diameter, length and end points per hemisphere.

Contrast (SWI magnitude, relative): CSF 1.0, white matter 0.8, grey matter 0.65, skull 0.08,
scalp 0.75, veins 0.12. Veins are tubes whose centrelines are wavy curves in the cortex of each
hemisphere, at most 6 mm above or below the analysis level, so a 20 mm MinIP shows them whole;
scalp veins (outside the brain, which the analysis must ignore) are added too. The head can be
turned and shifted in the scanner, so its mid-line is not the image's middle column.

Truth, on the MinIP plane: each vein's projected centreline (RAS x, y mm), its length (arc length
of that projection), end points, diameter and hemisphere, and a label map of the pixels at least
half inside the projected tubes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from glymph.phantoms import rotation_matrix
from glymph.templates import mni152
from glymph.volume import Volume

CONTRAST = {"csf": 1.0, "wm": 0.8, "gm": 0.65, "skull": 0.08, "scalp": 0.75, "vein": 0.12}
LEVEL_Z = 20.0  # template z (mm) of the analysis level: lateral ventricle bodies


@dataclass(frozen=True)
class TrueVein:
    id: int
    hemisphere: str
    length_mm: float
    diameter_mm: float
    tortuosity: float
    start: tuple[float, float]
    end: tuple[float, float]
    centreline: list[tuple[float, float]] = field(repr=False)


@dataclass(frozen=True)
class SWIPhantom:
    swi: Volume
    brain_mask: Volume
    veins: list[TrueVein]
    level_z_mm: float  # scanner z of the analysis level
    truth_2d: np.ndarray = field(repr=False)  # vein id per pixel of the axial plane (i along R, j along A)
    plane_affine: np.ndarray = field(repr=False)  # 3x3 pixel -> RAS x, y
    yaw_deg: float = 0.0

    def count(self, hemisphere: str) -> int:
        return sum(v.hemisphere == hemisphere for v in self.veins)


def _wavy_curve(
    rng: np.random.Generator,
    start: np.ndarray,
    direction: np.ndarray,
    length: float,
    amplitude: float,
    wavelength: float,
    n: int = 80,
) -> np.ndarray:
    """A 2D curve: straight chord along ``direction`` with a sinusoidal wiggle across it."""
    t = np.linspace(0, 1, n)[:, None]
    across = np.array([-direction[1], direction[0]])
    phase = rng.uniform(0, 2 * np.pi)
    return start + t * length * direction + amplitude * np.sin(2 * np.pi * t * length / wavelength + phase) * across


def _distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    a, b = line[:-1], line[1:]
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(points[:, None, :] - (a[None] + t[..., None] * ab[None]), axis=-1).min(axis=1)


def swi_phantom(
    veins_per_hemisphere: tuple[int, int] = (6, 5),
    voxel_mm: tuple[float, float, float] = (0.8, 0.8, 2.0),
    yaw_deg: float = 6.0,
    shift_mm: tuple[float, float] = (7.0, -5.0),
    noise: float = 0.03,
    seed: int = 0,
) -> SWIPhantom:
    """An SWI phantom with (left, right) vein counts; see the module docstring."""
    from scipy import ndimage
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(seed)
    t = mni152()
    rotation = rotation_matrix((0.0, 0.0, yaw_deg))
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = [shift_mm[0], shift_mm[1], 0.0]
    to_template = np.linalg.inv(pose)
    spacing = np.array(voxel_mm)
    shape = tuple(int(n) for n in np.ceil(np.array([230.0, 250.0, 120.0]) / spacing))
    affine = np.eye(4)
    affine[:3, :3] = np.diag(spacing)
    affine[:3, 3] = [-115.0 + shift_mm[0], -135.0 + shift_mm[1], LEVEL_Z - 60.0]
    grid = Volume(np.zeros(shape, np.float32), affine)

    # tissue maps in the scanner, through the pose; skull and scalp as shells around the brain
    points = grid.voxel_centres().reshape(-1, 3) @ to_template[:3, :3].T + to_template[:3, 3]
    voxels = t.t1.world_to_voxel(points).T
    sample = lambda v: map_coordinates(np.asarray(v.data, np.float32), voxels, order=1, mode="constant").reshape(shape)  # noqa: E731
    brain = sample(t.brain_mask.with_data(t.brain_mask.data.astype(np.float32))) > 0.5
    gm, wm = sample(t.gm), sample(t.wm)
    csf = np.clip(1 - gm - wm, 0, 1)
    image = CONTRAST["gm"] * gm + CONTRAST["wm"] * wm + CONTRAST["csf"] * csf
    outside = ndimage.distance_transform_edt(~brain, sampling=spacing)
    image = np.where(brain, image, 0.0)
    image[(outside > 0) & (outside <= 6)] = CONTRAST["skull"]
    image[(outside > 6) & (outside <= 11)] = CONTRAST["scalp"]

    # the analysis plane and its truth grid (in-plane pixels of the SWI)
    level_k = round(grid.world_to_voxel(np.array([0.0, 0.0, LEVEL_Z]))[2])
    plane_affine = np.array([[spacing[0], 0, affine[0, 3]], [0, spacing[1], affine[1, 3]], [0, 0, 1.0]])
    xy = (
        np.stack(np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij"), -1).reshape(-1, 2)
        @ plane_affine[:2, :2].T
        + plane_affine[:2, 2]
    )
    brain_plane = brain[:, :, level_k]
    depth = ndimage.distance_transform_edt(brain_plane, sampling=spacing[:2])
    cortex = (depth > 3) & (depth < 20)
    depth_gradient = np.stack(np.gradient(ndimage.gaussian_filter(depth, 3.0)), -1)

    veins, lines = [], []
    truth = np.zeros(shape[:2], np.int32)
    vein_map = np.zeros(shape, np.float32)
    for hemisphere, count in (("left", veins_per_hemisphere[0]), ("right", veins_per_hemisphere[1])):
        sign = -1.0 if hemisphere == "left" else 1.0
        template_xy = (xy - np.array(shift_mm)) @ rotation[:2, :2]
        candidates = np.flatnonzero(
            cortex.ravel() & (np.sign(template_xy[:, 0]) == sign) & (np.abs(template_xy[:, 0]) > 12)
        )
        made = 0
        for _ in range(4000):
            if made == count:
                break
            pick = rng.choice(candidates)
            start = xy[pick]
            length = rng.uniform(18.0, 36.0)
            radius = rng.uniform(0.5, 1.0)
            inward = depth_gradient.reshape(-1, 2)[pick]
            tangent = np.array([-inward[1], inward[0]]) * rng.choice([-1.0, 1.0])  # along the brain surface
            angle = np.arctan2(tangent[1], tangent[0]) + np.deg2rad(rng.uniform(-25, 25))
            direction = np.array([np.cos(angle), np.sin(angle)])
            curve = _wavy_curve(rng, start, direction, length, rng.uniform(1.0, 4.0), rng.uniform(12.0, 25.0))
            ij = np.round((curve - plane_affine[:2, 2]) / spacing[:2]).astype(int)
            inside = (ij >= 0).all(1) & (ij < np.array(shape[:2])).all(1)
            if not inside.all() or not cortex[ij[:, 0], ij[:, 1]].all():
                continue
            if any(_distance(curve, other).min() < 5.0 for other in lines):
                continue
            if np.any(sign * ((curve - np.array(shift_mm)) @ rotation[:2, :2])[:, 0] < 8.0):  # wholly in its hemisphere
                continue
            lines.append(curve)
            made += 1
            vein_id = len(veins) + 1
            # 3D tube: the curve lifted to heights within +-6 mm of the level, slowly varying
            heights = (
                LEVEL_Z + rng.uniform(-4, 4) + 2.0 * np.sin(np.linspace(0, np.pi, len(curve)) * rng.uniform(0.5, 1.5))
            )
            tube = np.column_stack([curve, heights])
            lo = np.floor(grid.world_to_voxel(tube.min(0) - radius - 2)).astype(int)
            hi = np.ceil(grid.world_to_voxel(tube.max(0) + radius + 2)).astype(int) + 1
            lo, hi = np.maximum(lo, 0), np.minimum(hi, shape)
            box = np.stack(
                np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1
            ).reshape(-1, 3)
            box = box[_distance(grid.voxel_to_world(box), tube) <= radius + np.linalg.norm(spacing) / 2]
            sub = np.stack(np.meshgrid(*[(np.arange(3) + 0.5) / 3 - 0.5] * 3, indexing="ij"), -1).reshape(-1, 3)
            world = grid.voxel_to_world(box[:, None, :] + sub[None]).reshape(-1, 3)
            fraction = (_distance(world, tube) <= radius).reshape(len(box), -1).mean(axis=1)
            hit = fraction > 0
            vein_map[tuple(box[hit].T)] = np.maximum(vein_map[tuple(box[hit].T)], fraction[hit])
            # truth on the plane: pixels at least half inside the projected tube
            lo2, hi2 = lo[:2], hi[:2]
            box2 = np.stack(
                np.meshgrid(*(np.arange(a, b) for a, b in zip(lo2, hi2, strict=True)), indexing="ij"), -1
            ).reshape(-1, 2)
            sub2 = np.stack(np.meshgrid(*[(np.arange(3) + 0.5) / 3 - 0.5] * 2, indexing="ij"), -1).reshape(-1, 2)
            world2 = ((box2[:, None, :] + sub2[None]) * spacing[:2] + plane_affine[:2, 2]).reshape(-1, 2)
            inside2 = (_distance(world2, curve) <= radius).reshape(len(box2), -1).mean(axis=1) >= 0.5
            truth[tuple(box2[inside2].T)] = vein_id
            arc = float(np.linalg.norm(np.diff(curve, axis=0), axis=1).sum())
            chord = float(np.linalg.norm(curve[-1] - curve[0]))
            veins.append(
                TrueVein(
                    vein_id,
                    hemisphere,
                    arc,
                    2 * radius,
                    arc / chord,
                    tuple(curve[0]),
                    tuple(curve[-1]),
                    [tuple(p) for p in curve],
                )
            )

    # scalp veins: dark lines in the scalp shell at the level, outside the brain
    scalp = (outside > 6) & (outside <= 11)
    for _ in range(4):
        k = level_k + int(rng.integers(-2, 3))
        rows = np.argwhere(scalp[:, :, k])
        if len(rows):
            i, j = rows[rng.integers(len(rows))]
            vein_map[max(i - 12, 0) : i + 12, j : j + 2, k] = np.maximum(
                vein_map[max(i - 12, 0) : i + 12, j : j + 2, k], scalp[max(i - 12, 0) : i + 12, j : j + 2, k]
            )
    image = (1 - vein_map) * image + vein_map * CONTRAST["vein"]
    image = np.abs(image + rng.normal(0, noise, shape))
    level_z = float(grid.voxel_to_world(np.array([0, 0, level_k]))[2])
    return SWIPhantom(
        grid.with_data((image * 1000).astype(np.float32)),
        grid.with_data(brain),
        veins,
        level_z,
        truth,
        plane_affine,
        yaw_deg,
    )
