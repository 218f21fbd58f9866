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

from glymph.phantoms.geometry import distance_to_polyline, rotation_matrix, subsamples_for, tube_fraction, voxel_box
from glymph.templates import mni152
from glymph.volume import Volume

CONTRAST = {"csf": 1.0, "wm": 0.8, "gm": 0.65, "skull": 0.08, "scalp": 0.75, "vein": 0.12}
LEVEL_Z = 20.0  # template z (mm) of the analysis level: lateral ventricle bodies
SKULL_MM, SCALP_MM = 6.0, 11.0  # outer edges of the skull and scalp shells, mm from the brain
SUBSAMPLES = 3  # per pixel axis, for the truth's pixels on the MinIP plane


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


def _head(grid: Volume, to_template: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SWI contrast of the posed MNI152 head on ``grid``, its brain mask and each voxel's distance
    (mm) outside the brain (skull and scalp are shells at those distances)."""
    from scipy import ndimage
    from scipy.ndimage import map_coordinates

    t = mni152()
    points = grid.voxel_centres().reshape(-1, 3) @ to_template[:3, :3].T + to_template[:3, 3]
    voxels = t.t1.world_to_voxel(points).T

    def sample(v: Volume) -> np.ndarray:
        return map_coordinates(np.asarray(v.data, np.float32), voxels, order=1, mode="constant").reshape(grid.shape)

    brain = sample(t.brain_mask.with_data(t.brain_mask.data.astype(np.float32))) > 0.5
    gm, wm = sample(t.gm), sample(t.wm)
    csf = np.clip(1 - gm - wm, 0, 1)
    image = CONTRAST["gm"] * gm + CONTRAST["wm"] * wm + CONTRAST["csf"] * csf
    outside = ndimage.distance_transform_edt(~brain, sampling=np.diag(grid.affine)[:3])
    image = np.where(brain, image, 0.0)
    image[(outside > 0) & (outside <= SKULL_MM)] = CONTRAST["skull"]
    image[(outside > SKULL_MM) & (outside <= SCALP_MM)] = CONTRAST["scalp"]
    return image, brain, outside


@dataclass(frozen=True)
class _Plane:
    """The analysis plane: pixel -> RAS x, y, every pixel centre's x, y, the cortex band where veins
    run, and the in-plane direction into the brain at each pixel."""

    affine: np.ndarray
    xy: np.ndarray
    cortex: np.ndarray
    inward: np.ndarray


def _analysis_plane(brain: np.ndarray, grid: Volume, level_k: int) -> _Plane:
    from scipy import ndimage

    spacing = np.diag(grid.affine)[:3]  # an axis-aligned grid
    shape = grid.shape
    affine = np.array([[spacing[0], 0, grid.affine[0, 3]], [0, spacing[1], grid.affine[1, 3]], [0, 0, 1.0]])
    pixels = np.stack(np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij"), -1).reshape(-1, 2)
    xy = pixels @ affine[:2, :2].T + affine[:2, 2]
    depth = ndimage.distance_transform_edt(brain[:, :, level_k], sampling=spacing[:2])
    cortex = (depth > 3) & (depth < 20)
    inward = np.stack(np.gradient(ndimage.gaussian_filter(depth, 3.0)), -1).reshape(-1, 2)
    return _Plane(affine, xy, cortex, inward)


@dataclass(frozen=True)
class VeinShapes:
    """The ranges vein shapes are drawn from (uniform): chord length, radius, and the sinusoidal
    wiggle's amplitude and wavelength (tortuosity grows with amplitude / wavelength)."""

    length_mm: tuple[float, float] = (18.0, 36.0)
    radius_mm: tuple[float, float] = (0.5, 1.0)
    amplitude_mm: tuple[float, float] = (1.0, 4.0)
    wavelength_mm: tuple[float, float] = (12.0, 25.0)


def _vein_curve(
    rng: np.random.Generator,
    plane: _Plane,
    pick: int,
    in_hemisphere,
    lines: list[np.ndarray],
    shapes: VeinShapes = VeinShapes(),
) -> tuple[np.ndarray, float] | None:
    """A candidate vein starting at pixel ``pick``: a wavy curve along the brain surface, with its
    radius; None when it leaves the cortex band, its hemisphere, or comes within 5 mm of ``lines``."""
    start = plane.xy[pick]
    length = rng.uniform(*shapes.length_mm)
    radius = rng.uniform(*shapes.radius_mm)
    inward = plane.inward[pick]
    tangent = np.array([-inward[1], inward[0]]) * rng.choice([-1.0, 1.0])  # along the brain surface
    angle = np.arctan2(tangent[1], tangent[0]) + np.deg2rad(rng.uniform(-25, 25))
    direction = np.array([np.cos(angle), np.sin(angle)])
    amplitude, wavelength = rng.uniform(*shapes.amplitude_mm), rng.uniform(*shapes.wavelength_mm)
    n = max(80, int(np.ceil(25 * length / wavelength)))  # at least 25 points per wavelength
    curve = _wavy_curve(rng, start, direction, length, amplitude, wavelength, n)
    ij = np.round((curve - plane.affine[:2, 2]) / np.diag(plane.affine)[:2]).astype(int)
    if not ((ij >= 0).all(1) & (ij < np.array(plane.cortex.shape)).all(1)).all():
        return None
    if not plane.cortex[ij[:, 0], ij[:, 1]].all():
        return None
    if any(distance_to_polyline(curve, other).min() < 5.0 for other in lines):
        return None
    if not in_hemisphere(curve):
        return None
    return curve, radius


def _draw_vein(
    rng: np.random.Generator,
    grid: Volume,
    plane: _Plane,
    curve: np.ndarray,
    radius: float,
    vein_map: np.ndarray,
    truth: np.ndarray,
    vein_id: int,
) -> None:
    """The vein as a 3D tube in ``vein_map`` (partial volume, lifted to heights within +-6 mm of the
    level) and as the pixels at least half inside its projection in ``truth``."""
    heights = LEVEL_Z + rng.uniform(-4, 4) + 2.0 * np.sin(np.linspace(0, np.pi, len(curve)) * rng.uniform(0.5, 1.5))
    tube = np.column_stack([curve, heights])
    lo = np.floor(grid.world_to_voxel(tube.min(0) - radius - 2)).astype(int)
    hi = np.ceil(grid.world_to_voxel(tube.max(0) + radius + 2)).astype(int) + 1
    box = voxel_box(lo, hi, grid.shape)
    fraction = tube_fraction(box, grid.affine, tube, radius, subsamples_for(grid.spacing))
    hit = box[fraction > 0]
    vein_map[tuple(hit.T)] = np.maximum(vein_map[tuple(hit.T)], fraction[fraction > 0])
    pixels = voxel_box(np.maximum(lo[:2], 0), np.minimum(hi[:2], grid.shape[:2]), grid.shape[:2])
    inside = tube_fraction(pixels, plane.affine, curve, radius, SUBSAMPLES) >= 0.5
    truth[tuple(pixels[inside].T)] = vein_id


def _scalp_veins(rng: np.random.Generator, scalp: np.ndarray, level_k: int, vein_map: np.ndarray) -> None:
    """Four dark lines in the scalp shell near the level: outside the brain, to be ignored."""
    for _ in range(4):
        k = level_k + int(rng.integers(-2, 3))
        rows = np.argwhere(scalp[:, :, k])
        if len(rows):
            i, j = rows[rng.integers(len(rows))]
            box = (slice(max(i - 12, 0), i + 12), slice(j, j + 2), k)
            vein_map[box] = np.maximum(vein_map[box], scalp[box])


def _scanner_grid(voxel_mm: tuple[float, float, float], shift_mm: tuple[float, float]) -> Volume:
    """An axial grid of 230 x 250 x 120 mm around the shifted head, the level 60 mm above its bottom."""
    spacing = np.array(voxel_mm)
    shape = tuple(int(n) for n in np.ceil(np.array([230.0, 250.0, 120.0]) / spacing))
    affine = np.eye(4)
    affine[:3, :3] = np.diag(spacing)
    affine[:3, 3] = [-115.0 + shift_mm[0], -135.0 + shift_mm[1], LEVEL_Z - 60.0]
    return Volume(np.zeros(shape, np.float32), affine)


def _true_vein(vein_id: int, hemisphere: str, curve: np.ndarray, radius: float) -> TrueVein:
    """The truth of a drawn vein, measured on its projected centreline."""
    arc = float(np.linalg.norm(np.diff(curve, axis=0), axis=1).sum())
    chord = float(np.linalg.norm(curve[-1] - curve[0]))
    return TrueVein(
        vein_id, hemisphere, arc, 2 * radius, arc / chord, tuple(curve[0]), tuple(curve[-1]), [tuple(p) for p in curve]
    )


def swi_phantom(
    veins_per_hemisphere: tuple[int, int] = (6, 5),
    voxel_mm: tuple[float, float, float] = (0.8, 0.8, 2.0),
    yaw_deg: float = 6.0,
    shift_mm: tuple[float, float] = (7.0, -5.0),
    noise: float = 0.03,
    seed: int = 0,
    shapes: VeinShapes = VeinShapes(),
) -> SWIPhantom:
    """An SWI phantom with (left, right) vein counts, shapes drawn from ``shapes``; see the module
    docstring."""
    rng = np.random.default_rng(seed)
    rotation = rotation_matrix((0.0, 0.0, yaw_deg))
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = [shift_mm[0], shift_mm[1], 0.0]
    grid = _scanner_grid(voxel_mm, shift_mm)
    shape = grid.shape
    image, brain, outside = _head(grid, np.linalg.inv(pose))
    level_k = round(grid.world_to_voxel(np.array([0.0, 0.0, LEVEL_Z]))[2])
    plane = _analysis_plane(brain, grid, level_k)
    template_xy = (plane.xy - np.array(shift_mm)) @ rotation[:2, :2]

    veins, lines = [], []
    truth = np.zeros(shape[:2], np.int32)
    vein_map = np.zeros(shape, np.float32)
    for hemisphere, count in (("left", veins_per_hemisphere[0]), ("right", veins_per_hemisphere[1])):
        sign = -1.0 if hemisphere == "left" else 1.0

        def in_hemisphere(curve: np.ndarray, sign: float = sign) -> bool:
            """Wholly in its hemisphere, at least 8 mm from the mid-line."""
            return bool(np.all(sign * ((curve - np.array(shift_mm)) @ rotation[:2, :2])[:, 0] >= 8.0))

        candidates = np.flatnonzero(
            plane.cortex.ravel() & (np.sign(template_xy[:, 0]) == sign) & (np.abs(template_xy[:, 0]) > 12)
        )
        made = 0
        for _ in range(4000):
            if made == count:
                break
            found = _vein_curve(rng, plane, rng.choice(candidates), in_hemisphere, lines, shapes)
            if found is None:
                continue
            curve, radius = found
            lines.append(curve)
            made += 1
            vein_id = len(veins) + 1
            _draw_vein(rng, grid, plane, curve, radius, vein_map, truth, vein_id)
            veins.append(_true_vein(vein_id, hemisphere, curve, radius))

    _scalp_veins(rng, (outside > SKULL_MM) & (outside <= SCALP_MM), level_k, vein_map)
    image = (1 - vein_map) * image + vein_map * CONTRAST["vein"]
    image = np.abs(image + rng.normal(0, noise, shape))
    level_z = float(grid.voxel_to_world(np.array([0, 0, level_k]))[2])
    return SWIPhantom(
        grid.with_data((image * 1000).astype(np.float32)),
        grid.with_data(brain),
        veins,
        level_z,
        truth,
        plane.affine,
        yaw_deg,
    )


@dataclass(frozen=True)
class VeinImage:
    """One dark tube on a 2D image, with its segmentation and truth (``tortuous_vein_image``)."""

    image: np.ndarray
    segmentation: np.ndarray  # pixels whose darkness is above 15 % of the tube's depth
    affine: np.ndarray  # 3x3 pixel (i, j) -> mm
    length_mm: float  # arc length of the centreline
    tortuosity: float  # arc / chord
    diameter_mm: float


def tortuous_vein_image(
    wavelength_mm: float | None,
    amplitude_mm: float,
    diameter_mm: float,
    pixel_mm: float,
    snr: float = 50.0,
    chord_mm: float = 30.0,
    seed: int = 0,
) -> VeinImage:
    """A tube along a sinusoid (straight when ``wavelength_mm`` is None) on a 2D image, for
    morphometry: each pixel's darkness is the tube's half-chord (its depth along the line of
    sight, as a MinIP sees a tube lying in the slab) averaged over 6 x 6 points in the pixel, the
    tube's full depth 0.5 of the background (1), Gaussian noise of sd 0.5 / ``snr``. The truth
    (arc length and tortuosity) comes from 3000 points of the sinusoid."""
    t = np.linspace(0, chord_mm, 3000)
    along, across = np.array([np.cos(0.3), np.sin(0.3)]), np.array([-np.sin(0.3), np.cos(0.3)])
    wiggle = amplitude_mm * np.sin(2 * np.pi * t / wavelength_mm) if wavelength_mm else np.zeros_like(t)
    curve = 10.0 + t[:, None] * along + wiggle[:, None] * across
    arc = float(np.linalg.norm(np.diff(curve, axis=0), axis=1).sum())
    size = int(np.ceil((chord_mm + 25) / pixel_mm))
    xy = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1).reshape(-1, 2) * pixel_mm
    radius = diameter_mm / 2
    near = distance_to_polyline(xy, curve[::10]) < radius + pixel_mm
    steps = ((np.arange(6) + 0.5) / 6 - 0.5) * pixel_mm
    offsets = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2)
    distance = distance_to_polyline((xy[near][:, None, :] + offsets).reshape(-1, 2), curve[::3])
    darkness = np.zeros(size * size)
    darkness[near] = np.sqrt(np.clip(radius**2 - distance**2, 0, None)).reshape(near.sum(), -1).mean(1) / radius
    darkness = darkness.reshape(size, size)
    image = 1.0 - 0.5 * darkness + np.random.default_rng(seed).normal(0, 0.5 / snr, (size, size))
    affine = np.array([[pixel_mm, 0, 0.0], [0, pixel_mm, 0.0], [0, 0, 1.0]])
    chord = float(np.linalg.norm(curve[-1] - curve[0]))
    return VeinImage(image, darkness > 0.15, affine, arc, arc / chord, diameter_mm)
