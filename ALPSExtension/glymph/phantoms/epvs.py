"""EPVS phantoms: tubular perivascular spaces of known size, number and position inserted into a
real T1 (Colin27, the ITK example head, or any T1), with a T2-like contrast from its tissue classes.

Where lesions go comes from outside glymph's own EPVS code, so that a phantom cannot favour the
method it tests: the caller gives the regions (``placement``: basal ganglia, centrum semiovale;
the tests use the AAL atlas), and the generator classifies tissue itself (k-means of the brain's
intensities, not glymph's Otsu classes).

Each lesion is a curved tube (quadratic Bezier centreline, radius r, rounded ends) rendered with
partial volume (4x4x4 sub-samples per voxel). Basal-ganglia tubes run near S-I, like the
lenticulostriate arteries they surround; centrum-semiovale tubes run near the radial direction
from the ventricles, like medullary arteries. Lesion voxels take CSF's T1 and T2 intensity in
proportion to the tube's volume fraction. The truth is the voxels at least half inside a tube
and those its centreline runs through (a thin tube stays one connected lesion), and per lesion
its region, its geometric length (centreline arc + 2r) and diameter (2r).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from glymph.phantoms.geometry import bezier, random_direction, tube_fraction, voxel_box
from glymph.registration import AffineMap
from glymph.volume import Volume

SUBSAMPLES = 4
T2_OF_CLASS = {1: 1.0, 2: 0.55, 3: 0.35}  # CSF, GM, WM: T2-weighted contrast relative to CSF
MIN_SEPARATION_MM = 8.0  # lesion centres are at least this far apart (when room allows)


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
    regions: Volume = field(repr=False)  # the placement regions: 1 basal ganglia, 2 centrum semiovale
    tissues: Volume = field(repr=False)  # the generator's own classes: 1 CSF, 2 grey, 3 white matter

    def truth_at_least(self, min_length_mm: float) -> list[TrueLesion]:
        return [lesion for lesion in self.lesions if lesion.length_mm >= min_length_mm]


def tissue_classes_kmeans(t1: Volume, brain: Volume) -> Volume:
    """0 background, 1 CSF, 2 grey matter, 3 white matter: three-cluster k-means (SciPy) of the
    brain's T1 intensities, started at their 10th, 50th and 90th percentiles."""
    from scipy.cluster.vq import kmeans2

    inside = np.asarray(brain.data, dtype=bool)
    values = np.asarray(t1.data, dtype=np.float64)[inside]
    start = np.percentile(values, [10.0, 50.0, 90.0])[:, None]
    centres, labels = kmeans2(values[:, None], start, minit="matrix")
    classes = np.zeros(t1.shape, dtype=np.uint8)
    classes[inside] = np.argsort(np.argsort(centres[:, 0]))[labels] + 1  # darkest cluster is CSF
    return t1.with_data(classes)


def _t2_like(t1: np.ndarray, classes: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """A T2-weighted contrast: each voxel's T2 interpolated from its T1 between the class medians."""
    medians = [float(np.median(t1[classes == c])) for c in (1, 2, 3)]
    return np.interp(t1, medians, [T2_OF_CLASS[c] for c in (1, 2, 3)]) * brain


def _centreline(rng: np.random.Generator, centre: np.ndarray, axis: np.ndarray, arc: float) -> tuple[np.ndarray, float]:
    """A gently bent tube centreline of chord ``arc`` mm through ``centre`` near ``axis``, and its arc length."""
    direction = random_direction(rng, axis, 20.0)
    bend = np.cross(direction, rng.normal(size=3))
    bend = bend / np.linalg.norm(bend) * rng.uniform(0, 0.15) * arc
    line = bezier(centre - direction * arc / 2, centre + bend, centre + direction * arc / 2)
    return line, float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum())


def _free_centre(rng: np.random.Generator, candidates: np.ndarray, t1: Volume, centres: list[np.ndarray]) -> np.ndarray:
    """A random candidate voxel's centre (RAS mm) at least ``MIN_SEPARATION_MM`` from ``centres``
    (the last one tried, after 200 tries)."""
    for _ in range(200):
        centre = t1.voxel_to_world(candidates[rng.integers(len(candidates))])
        if all(np.linalg.norm(centre - c) > MIN_SEPARATION_MM for c in centres):
            break
    return centre


def _draw_tube(
    t1: Volume,
    line: np.ndarray,
    radius: float,
    centre: np.ndarray,
    reach_mm: float,
    fraction: np.ndarray,
    truth: np.ndarray,
    lesion_id: int,
) -> None:
    """Draw a tube that lies within ``reach_mm`` of ``centre`` (RAS mm): its volume fraction into
    ``fraction`` (the larger where tubes meet) and into ``truth`` its voxels at least half inside
    and those its centreline runs through."""
    at = t1.world_to_voxel(centre)
    reach = reach_mm / t1.spacing
    box = voxel_box(np.floor(at - reach), np.ceil(at + reach) + 1, t1.shape)
    inside = tube_fraction(box, t1.affine, line, radius, SUBSAMPLES)
    hit = box[inside > 0]
    fraction[tuple(hit.T)] = np.maximum(fraction[tuple(hit.T)], inside[inside > 0])
    truth[tuple(box[inside >= 0.5].T)] = lesion_id
    # and every voxel the centreline runs through, so that a thin tube's truth stays one lesion
    course = np.unique(np.rint(t1.world_to_voxel(line)).astype(int), axis=0)
    course = course[((course >= 0) & (course < np.array(t1.shape))).all(axis=1)]
    truth[tuple(course.T)] = lesion_id


def epvs_phantom(
    t1: Volume,
    brain_mask: Volume,
    template_to_subject: AffineMap,
    placement: Volume,
    counts: dict[int, int] | None = None,
    n_short: int = 4,
    radius_mm: tuple[float, float] = (0.6, 1.0),
    length_mm: tuple[float, float] = (4.0, 12.0),
    noise: float = 0.02,
    seed: int = 0,
) -> EPVSPhantom:
    """Insert ``counts`` lesions per region label (default 8 in the basal ganglia, 12 in the centrum
    semiovale) plus ``n_short`` lesions shorter than 2 mm into a T1 on its own grid.

    ``placement`` (on the T1's grid) holds the regions lesions go into: 1 basal ganglia, 2 centrum
    semiovale (there, only into the generator's own white matter). ``template_to_subject`` maps
    MNI152 into the subject (identity for an MNI-aligned T1 such as Colin27); it orients the tubes.
    ``noise`` is the Gaussian noise sd relative to the white-matter median.
    """
    from scipy import ndimage

    if not placement.same_grid(t1):
        raise ValueError("the placement regions must be on the T1's grid")
    rng = np.random.default_rng(seed)
    counts = counts or {1: 8, 2: 12}
    tissues = tissue_classes_kmeans(t1, brain_mask)
    classes = tissues.data
    regions = placement.with_data(np.asarray(placement.data, dtype=np.uint8))
    data = np.asarray(t1.data, dtype=np.float64)
    csf_t1 = float(np.median(data[classes == 1]))
    wm_t1 = float(np.median(data[classes == 3]))
    t2 = _t2_like(data, classes, np.asarray(brain_mask.data, dtype=bool))

    room = {  # where lesion centres go: inside the basal ganglia, and the centrum semiovale's white matter
        1: ndimage.binary_erosion(regions.data == 1, iterations=2),
        2: ndimage.binary_erosion((regions.data == 2) & (classes == 3), iterations=4),
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
    for region, short in plan:
        centre = _free_centre(rng, np.argwhere(room[region]), t1, centres)
        centres.append(centre)
        radius = rng.uniform(0.5, 0.6) if short else rng.uniform(*radius_mm)
        arc = rng.uniform(0.3, 0.6) if short else rng.uniform(*length_mm)
        line, arc_length = _centreline(rng, centre, superior if region == 1 else centre - ventricle_centre, arc)
        _draw_tube(t1, line, radius, centre, arc / 2 + radius + 2.0, fraction, truth, len(lesions) + 1)
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
        tissues,
    )


def thick_slices(volume: Volume, factor: int = 3, axis: int = 2) -> Volume:
    """A thick-slice acquisition of ``volume``: ``factor`` voxels averaged along voxel ``axis`` (1 mm
    -> 3 mm slices; partial volume), the last incomplete slice dropped, the world position kept."""
    data = np.moveaxis(np.asarray(volume.data, dtype=np.float32), axis, -1)
    k = data.shape[-1] // factor * factor
    thick = data[..., :k].reshape(*data.shape[:-1], k // factor, factor).mean(axis=-1)
    affine = volume.affine.copy()
    affine[:3, axis] *= factor
    affine[:3, 3] += volume.affine[:3, axis] * (factor - 1) / 2
    return Volume(np.moveaxis(thick, -1, axis), affine)
