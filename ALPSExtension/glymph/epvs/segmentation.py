"""EPVS segmentation methods: each takes ``SegmentationInputs`` and returns a boolean mask; the
registry of methods is ``glymph.defaults.EPVS_METHODS``.

``classical`` needs no trained model: multi-scale Frangi vesselness (``vesselness``, equal to scikit-image's) for dark tubes
on the T1 and, when given, bright tubes on the T2 (unless its slices are thick and the T1's are not:
``glymph.epvs.preprocess.t2_reads_tubes``), combined by the geometric mean, thresholded
with hysteresis, and kept only where the voxel is CSF-like (darker than white matter on the T1)
inside the search region (``search_region``): white matter, basal ganglia and midbrain, away
from the brain's surface and from large CSF spaces; then, unless the scan has thick slices, shaped
by the image's partial volume (``glymph.epvs.shaping``). Parameters below; they were
set on one Colin27 phantom (seed 1) and are reported on other phantoms (README, tests).

The learned method (``glymph.epvs.learned``) is registered beside it; it reads these inputs too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glymph.epvs.shaping import classical_fluid_share, shaped_by_fluid_share

SIGMAS_MM = (0.5, 0.75, 1.0)  # Frangi scales: PVS diameters of about 1-3 mm
FRANGI_ALPHA, FRANGI_BETA = 0.5, 0.5
FRANGI_GAMMA = 0.15  # structureness scale, for intensities normalised to the brain median (= 1)
HIGH, LOW = 0.4, 0.1  # hysteresis thresholds on the T1 vesselness
HIGH_WITH_T2, LOW_WITH_T2 = 0.5, 0.15  # ... on the geometric mean of T1 and T2 vesselness
MAX_T1_RATIO = 0.92  # a PVS voxel is darker than this fraction of the white-matter median on T1
WM_CLOSING_MM = 2  # closing radius that takes the dark tubes into the white-matter search region


@dataclass(frozen=True)
class SegmentationInputs:
    """Everything a method sees, on the 1 mm analysis grid (plain arrays)."""

    t1: np.ndarray  # bias-corrected, divided by the brain median
    tissues: np.ndarray  # 0 background, 1 CSF, 2 GM, 3 WM
    regions: np.ndarray  # 1 basal ganglia, 2 centrum semiovale, 3 midbrain
    brain: np.ndarray  # bool
    t2: np.ndarray | None = None  # registered and normalised like t1; None for a thick T2 beside a fine T1
    spacing_mm: float = 1.0
    contrast: str = "t1"  # of ``t1``, the main image: "t2" when a T2 alone is given (CSF bright)
    scan_spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)  # the voxel sides of the scan as acquired
    t2_spacing_mm: tuple[float, float, float] | None = None  # those of ``t2`` as acquired (None without it)


LARGE_CSF_VOXELS = 150  # CSF components at least this big are ventricles, cisterns or sulci, not PVS
CSF_MARGIN_MM = 2  # detections within this distance of large CSF are border effects
THICK_CSF_MM = 5  # CSF at least this thick everywhere around a voxel is a ventricle or cistern, never a PVS
SHEET_MM = 2.5  # thin CSF spread this much (sd) along its second principal axis is a slit (third ventricle, sulcus), not a tube


def large_csf(inputs: SegmentationInputs) -> np.ndarray:
    """Ventricles, cisterns and sulci: CSF components of at least ``LARGE_CSF_VOXELS``, except
    tubes in the basal ganglia joined to them. A wide perivascular space there is classified CSF
    and often touches a ventricle or the basal cisterns; joined to them it would count as one of
    them and hide itself. So the CSF thinner than ``THICK_CSF_MM`` is cut away from the thicker
    bodies (a morphological opening), and its pieces that are small, not spread like a sheet
    (``SHEET_MM``) and mostly in the basal ganglia are left out. Elsewhere thin CSF joined to a
    ventricle stays large: the cerebral aqueduct and the third ventricle are such tubes and slits."""
    from scipy import ndimage
    from skimage.morphology import ball

    from glymph.components import label_components

    csf = inputs.tissues == 1
    labels, _ = label_components(csf)
    large = (np.bincount(labels.ravel())[labels] >= LARGE_CSF_VOXELS) & (labels > 0)
    radius = max(round((THICK_CSF_MM - 1) / 2 / inputs.spacing_mm), 1)
    thick = ndimage.binary_opening(csf, structure=ball(radius))
    labels, n = label_components(large & ~ndimage.binary_dilation(thick, structure=ball(1)))
    if n == 0:
        return large
    size = np.bincount(labels.ravel(), minlength=n + 1)
    in_basal_ganglia = np.bincount(labels.ravel(), (inputs.regions == 1).ravel(), n + 1) / np.maximum(size, 1)
    tube = (size < LARGE_CSF_VOXELS) & (_second_axis_sd(labels, n) * inputs.spacing_mm < SHEET_MM)
    tube &= in_basal_ganglia >= 0.5
    tube[0] = False
    return large & ~tube[labels]


def _second_axis_sd(labels: np.ndarray, n: int) -> np.ndarray:
    """Per label 0..n: the standard deviation (voxels) of its voxels along their second principal axis.
    Vectorised over the labels with ``np.bincount``: for 15,064 labels 0.13 s, against 2.3 s for a
    loop over ``skimage.measure.regionprops`` giving the same values (to 1e-14)."""
    ijk = np.nonzero(labels)
    which = labels[ijk]
    points = np.stack(ijk, -1).astype(np.float64)
    count = np.maximum(np.bincount(which, minlength=n + 1), 1)
    mean = np.stack([np.bincount(which, points[:, a], n + 1) for a in range(3)], -1) / count[:, None]
    centred = points - mean[which]
    covariance = (
        np.stack(
            [np.bincount(which, centred[:, a] * centred[:, b], n + 1) for a in range(3) for b in range(3)], -1
        ).reshape(-1, 3, 3)
        / count[:, None, None]
    )
    return np.sqrt(np.clip(np.linalg.eigvalsh(covariance)[:, 1], 0, None))


def search_region(inputs: SegmentationInputs) -> np.ndarray:
    """Where PVS are looked for: white matter (closed, so the dark tubes inside it count), basal
    ganglia and midbrain, at least 3 mm inside the brain and 2 mm away from large CSF spaces
    (``large_csf``)."""
    from scipy import ndimage
    from skimage.morphology import ball

    radius = max(round(WM_CLOSING_MM / inputs.spacing_mm), 1)
    wm = ndimage.binary_closing(inputs.tissues == 3, structure=ball(radius))
    deep_grey = np.isin(inputs.regions, (1, 3))
    margin = max(round(CSF_MARGIN_MM / inputs.spacing_mm), 1)
    near_csf = ndimage.binary_dilation(large_csf(inputs), structure=ball(margin))
    inside = ndimage.binary_erosion(inputs.brain, iterations=max(round(3 / inputs.spacing_mm), 1))
    return (wm | deep_grey) & inside & ~near_csf


def vesselness(image: np.ndarray, region: np.ndarray, dark: bool, spacing_mm: float) -> np.ndarray:
    """Multi-scale Frangi vesselness (Frangi et al. 1998, eqs. 10-13) inside ``region``, 0 elsewhere.

    The Hessian is made of Gaussian derivatives (scipy) on the region's bounding box and the
    vesselness is evaluated only at region voxels. Written here because ``skimage.filters.frangi``
    evaluates every voxel with a slower derivative filter (47-56 s for a 1 mm brain against
    3-4 s here, benchmarks/epvs.py); the test suite checks both agree inside the region.
    """
    from scipy.ndimage import gaussian_filter

    out = np.zeros(image.shape, dtype=np.float32)
    if not region.any():
        return out
    pad = int(np.ceil(4 * max(SIGMAS_MM) / spacing_mm))
    present = np.argwhere(region)
    lo, hi = np.maximum(present.min(0) - pad, 0), np.minimum(present.max(0) + pad + 1, image.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    crop = np.asarray(image[box], dtype=np.float32)
    crop = crop if dark else -crop  # across a dark tube the image curves up: two large positive eigenvalues
    inside = region[box]
    best = np.zeros(int(inside.sum()), dtype=np.float32)
    for sigma in SIGMAS_MM:
        # as scikit-image does: two first-derivative passes at sigma / sqrt(2); a truncation at 8 sd
        # instead of its 100 gives the same values (the kernel is below 1e-13 there) far faster
        s = sigma / spacing_mm / np.sqrt(2)
        first = [gaussian_filter(crop, s, order=_unit(axis), mode="reflect", truncate=8.0) for axis in range(3)]
        pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # xx, xy, xz, yy, yz, zz
        h = [gaussian_filter(first[a], s, order=_unit(b), mode="reflect", truncate=8.0)[inside] for a, b in pairs]
        matrix = np.stack(
            [np.stack([h[0], h[1], h[2]], -1), np.stack([h[1], h[3], h[4]], -1), np.stack([h[2], h[4], h[5]], -1)], -2
        )
        eigenvalues = np.linalg.eigvalsh(matrix.astype(np.float64))
        eigenvalues = np.take_along_axis(eigenvalues, np.argsort(np.abs(eigenvalues), axis=1), axis=1)
        l1 = eigenvalues[:, 0]
        l2, l3 = np.maximum(eigenvalues[:, 1], 1e-10), np.maximum(eigenvalues[:, 2], 1e-10)
        ra = l2 / l3
        rb = np.abs(l1) / np.sqrt(l2 * l3)
        structure = np.sqrt((eigenvalues**2).sum(axis=1))
        v = (
            (1 - np.exp(-(ra**2) / (2 * FRANGI_ALPHA**2)))
            * np.exp(-(rb**2) / (2 * FRANGI_BETA**2))
            * (1 - np.exp(-(structure**2) / (2 * FRANGI_GAMMA**2)))
        )
        best = np.maximum(best, v.astype(np.float32))
    out[box][inside] = best
    return out


def _unit(axis: int) -> tuple[int, int, int]:
    return tuple(1 if a == axis else 0 for a in range(3))  # type: ignore[return-value]


def tube_response(inputs: SegmentationInputs, region: np.ndarray) -> np.ndarray:
    """Vesselness inside ``region`` (0 elsewhere): of dark tubes on the T1 (of bright tubes when the
    main image is a T2), combined with the bright tubes of a T2 given beside it by the geometric mean
    (``inputs.t2``: not a thick-slice T2 beside a fine T1, ``glymph.epvs.preprocess.t2_reads_tubes``)."""
    response = vesselness(inputs.t1, region, dark=inputs.contrast == "t1", spacing_mm=inputs.spacing_mm)
    if inputs.t2 is not None:
        response = np.sqrt(response * vesselness(inputs.t2, region, dark=False, spacing_mm=inputs.spacing_mm))
    return response


def keep_tubes(mask: np.ndarray, response: np.ndarray, minimum: float) -> np.ndarray:
    """``mask`` without its 26-connected components whose mean ``response`` is below ``minimum``."""
    from scipy import ndimage

    from glymph.components import label_components

    labels, n = label_components(mask)
    if n == 0:
        return mask.astype(bool)
    means = ndimage.mean(response, labels, index=np.arange(1, n + 1))
    return np.r_[False, np.asarray(means) >= minimum][labels]


def segment_classical(inputs: SegmentationInputs) -> np.ndarray:
    """The classical EPVS segmentation (see the module docstring)."""
    from skimage.filters import apply_hysteresis_threshold

    region = search_region(inputs)
    response = tube_response(inputs, region)
    wm_median = float(np.median(inputs.t1[inputs.tissues == 3])) if np.any(inputs.tissues == 3) else 1.0
    dark_enough = inputs.t1 < MAX_T1_RATIO * wm_median
    low, high = (LOW, HIGH) if inputs.t2 is None else (LOW_WITH_T2, HIGH_WITH_T2)
    found = apply_hysteresis_threshold(response, low, high) & dark_enough & region
    share = classical_fluid_share(inputs.scan_spacing_mm)
    return found if share is None else shaped_by_fluid_share(found, inputs, region, share)
