"""EPVS phantoms: tubular perivascular spaces of known size, number and position inserted into a
real T1 (Colin27, the ITK example head, or any T1), with a T2-like contrast from its tissue classes.

Each lesion is a curved tube (quadratic Bezier centreline, radius r, rounded ends) rendered with
partial volume (4x4x4 sub-samples per voxel). Basal-ganglia tubes run near S-I, like the
lenticulostriate arteries they surround; centrum-semiovale tubes run near the radial direction
from the ventricles, like medullary arteries. Lesion voxels take CSF's T1 and T2 intensity in
proportion to the tube's volume fraction. The truth is the voxels at least half inside a tube,
and per lesion its region, its geometric length (centreline arc + 2r) and diameter (2r).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from glymph.preprocess import tissue_classes
from glymph.regions import regions_in_subject
from glymph.registration import AffineMap
from glymph.volume import Volume

SUBSAMPLES = 4
T2_OF_CLASS = {1: 1.0, 2: 0.55, 3: 0.35}  # CSF, GM, WM: T2-weighted contrast relative to CSF


@dataclass(frozen=True)
class TrueLesion:
    """One inserted tube."""

    id: int
    region: int
    length_mm: float  # centreline arc length + 2 r
    diameter_mm: float
    centre: tuple[float, float, float]  # RAS mm


@dataclass(frozen=True)
class EPVSPhantom:
    """A T1 (and T2-like image) with inserted lesions, and their truth."""

    t1: Volume
    t2: Volume
    truth: Volume  # lesion id per voxel (0 background)
    lesions: list[TrueLesion]
    brain_mask: Volume
    regions: Volume = field(repr=False)

    def truth_at_least(self, min_length_mm: float) -> list[TrueLesion]:
        return [lesion for lesion in self.lesions if lesion.length_mm >= min_length_mm]


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of points (M, 3) to a polyline (N, 3)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=-1).min(axis=1)


def _random_direction(rng: np.random.Generator, around: np.ndarray, spread_deg: float) -> np.ndarray:
    around = around / np.linalg.norm(around)
    v = around + np.tan(np.deg2rad(spread_deg)) * rng.normal(size=3) / np.sqrt(3)
    return v / np.linalg.norm(v)


def epvs_phantom(
    t1: Volume,
    brain_mask: Volume,
    template_to_subject: AffineMap,
    counts: dict[int, int] | None = None,
    n_short: int = 4,
    radius_mm: tuple[float, float] = (0.6, 1.0),
    length_mm: tuple[float, float] = (4.0, 12.0),
    noise: float = 0.02,
    seed: int = 0,
) -> EPVSPhantom:
    """Insert ``counts`` lesions per region label (default 8 in the basal ganglia, 12 in the centrum
    semiovale) plus ``n_short`` lesions shorter than 2 mm into a T1 on its own grid.

    ``template_to_subject`` places the MNI152 regions in the subject (identity for an MNI-aligned
    T1 such as Colin27). ``noise`` is the Gaussian noise sd relative to the white-matter median.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    counts = counts or {1: 8, 2: 12}
    classes = tissue_classes(t1, brain_mask).data
    regions = regions_in_subject(t1, template_to_subject)
    data = np.asarray(t1.data, dtype=np.float64)
    csf_t1 = float(np.median(data[classes == 1]))
    wm_t1 = float(np.median(data[classes == 3]))
    # T2-like image: each voxel's T2 interpolated from its T1 between the class medians
    medians = [float(np.median(data[classes == c])) for c in (1, 2, 3)]
    t2 = np.interp(data, medians, [T2_OF_CLASS[c] for c in (1, 2, 3)]) * np.asarray(brain_mask.data, dtype=bool)

    wm = classes == 3
    room = {
        1: ndimage.binary_erosion(regions.data == 1, iterations=2),
        2: ndimage.binary_erosion((regions.data == 2) & wm, iterations=4),
    }
    ventricle_centre = template_to_subject.to_subject(np.array([0.0, -15.0, 15.0]))
    superior = template_to_subject.rotation @ np.array([0.0, 0.0, 1.0])
    fraction = np.zeros(t1.shape)
    truth = np.zeros(t1.shape, dtype=np.int32)
    lesions: list[TrueLesion] = []
    centres: list[np.ndarray] = []
    plan = [(region, False) for region, n in counts.items() for _ in range(n)] + [
        (int(rng.choice(list(counts))), True) for _ in range(n_short)
    ]
    sub = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    offsets = np.stack(np.meshgrid(sub, sub, sub, indexing="ij"), -1).reshape(-1, 3)
    for region, short in plan:
        candidates = np.argwhere(room[region])
        for _ in range(200):
            centre = t1.voxel_to_world(candidates[rng.integers(len(candidates))])
            if all(np.linalg.norm(centre - c) > 8.0 for c in centres):
                break
        centres.append(centre)
        radius = rng.uniform(0.5, 0.6) if short else rng.uniform(*radius_mm)
        arc = rng.uniform(0.3, 0.6) if short else rng.uniform(*length_mm)
        axis = superior if region == 1 else centre - ventricle_centre
        direction = _random_direction(rng, axis, 20.0)
        bend = np.cross(direction, rng.normal(size=3))
        bend = bend / np.linalg.norm(bend) * rng.uniform(0, 0.15) * arc
        line = _bezier(centre - direction * arc / 2, centre + bend, centre + direction * arc / 2)
        arc_length = float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum())
        # voxels near the tube, then their sub-samples
        reach = arc / 2 + radius + 2.0
        lo = np.floor(t1.world_to_voxel(centre) - reach / t1.spacing).astype(int)
        hi = np.ceil(t1.world_to_voxel(centre) + reach / t1.spacing).astype(int) + 1
        box = np.stack(
            np.meshgrid(
                *(np.arange(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, t1.shape, strict=True)), indexing="ij"
            ),
            -1,
        ).reshape(-1, 3)
        world = t1.voxel_to_world(box[:, None, :] + offsets[None]).reshape(-1, 3)
        inside = (_distance_to_polyline(world, line) <= radius).reshape(len(box), -1).mean(axis=1)
        hit = inside > 0
        i, j, k = box[hit].T
        fraction[i, j, k] = np.maximum(fraction[i, j, k], inside[hit])
        core = box[inside >= 0.5]
        truth[tuple(core.T)] = len(lesions) + 1
        lesions.append(
            TrueLesion(len(lesions) + 1, region, arc_length + 2 * radius, 2 * radius, tuple(float(v) for v in centre))
        )

    t1_out = (1 - fraction) * data + fraction * csf_t1
    t2_out = (1 - fraction) * t2 + fraction * T2_OF_CLASS[1]
    t1_out += rng.normal(0, noise * wm_t1, t1_out.shape)
    t2_out += rng.normal(0, noise * T2_OF_CLASS[3], t2_out.shape)
    return EPVSPhantom(
        t1.with_data(np.clip(t1_out, 0, None).astype(np.float32)),
        t1.with_data(np.clip(t2_out, 0, None).astype(np.float32)),
        t1.with_data(truth),
        lesions,
        brain_mask,
        regions,
    )
