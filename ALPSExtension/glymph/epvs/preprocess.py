"""EPVS preprocessing, the same for every segmentation method (after Chen et al. 2025).

Brain mask (deepbet, or given) -> N4 bias correction -> 1 mm isotropic resampling -> intensities
divided by the brain median -> the T2, if given, rigidly registered to the T1 and treated alike ->
affine registration to MNI152 to map the regions -> a check that the T1 is T1-weighted -> three
tissue classes. ``prepare`` runs them all and returns a ``Prepared`` subject on the analysis grid,
and, for a network, the same images on the scan's own grid, thick slices interpolated
(``NativeImages``, ``network_grid``).

With ``contrast="t2"`` the one image given is a T2 (CSF bright): it is checked to be one, and no
tissue classes are made (they are read from a T1's contrast; only the classical method uses them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from glymph.defaults import DEVICE
from glymph.epvs.regions import regions_in_subject
from glymph.epvs.segmentation import SegmentationInputs
from glymph.epvs.shaping import is_thick
from glymph.errors import GlymphError
from glymph.parallel import in_background
from glymph.preprocess import (
    grid_with_spacing,
    isotropic_grid,
    n4_bias_correction,
    normalise_intensity,
    resample,
    tissue_classes,
)
from glymph.progress import log, step
from glymph.registration import Registration, register_rigid, register_to_mni
from glymph.volume import Volume, check_image, mask_on_grid, reoriented

ANALYSIS_SPACING_MM = 1.0
BRAIN_VOLUME_RANGE_MM3 = (500e3, 2500e3)  # outside this the image is not an adult head (or the mask failed)
MAX_T1_CSF_TO_WM = 1.0  # in a T1 the ventricles are darker than the white matter, in a T2 brighter
VENTRICLE_BOX_MNI = ((-25.0, 25.0), (-40.0, 25.0), (0.0, 30.0))  # MNI RAS mm around the lateral ventricles


CONTRASTS = ("t1", "t2")
# A thick-slice scan's sides longer than this (mm) are interpolated to it for the network (see ``network_grid``).
NETWORK_SIDE_MM = 1.0


def network_grid(scan: Volume) -> Volume:
    """The grid a network reads ``scan`` on: the scan itself; for a thick-slice scan
    (``glymph.epvs.shaping.is_thick``) its axes and field of view with each side over
    ``NETWORK_SIDE_MM`` interpolated to it. Only upsampled, never averaged: a fine in-plane grid
    stays as acquired (0.5 x 0.5 x 3 mm -> 0.5 x 0.5 x 1 mm).

    Why: epvs-unet finds far more spaces in thick slices read this way than on the thick grid
    itself, chiefly those lying across the slices (Colin27 phantoms of seeds 7 and 8, 1x1x3 mm,
    at the thick-slice thresholds, before the length filter; a script outside the repository):
    Dice 0.43 / 0.49 -> 0.58 / 0.58, lesion sensitivity 0.40 / 0.50 -> 0.80 / 0.55.
    """
    if not is_thick(scan.spacing):
        return scan
    return grid_with_spacing(scan, np.minimum(scan.spacing, NETWORK_SIDE_MM))


@dataclass(frozen=True)
class NativeImages:
    """The scan on the network's grid (``network_grid``: its own, thick slices interpolated), each
    image bias-corrected, divided by its brain median and zero outside the brain; a contrast not
    acquired is None."""

    t1: np.ndarray | None
    t2: np.ndarray | None
    brain: np.ndarray  # bool
    grid: Volume = field(repr=False)  # network_grid of the scan (the first image given)

    def stored_ras(self) -> NativeImages:
        """The same images with their voxel arrays stored RAS (exact: axes permuted and flipped);
        themselves when they already are."""
        grid = reoriented(self.grid, "RAS")
        if grid is self.grid:
            return self

        def ras(image: np.ndarray | None) -> np.ndarray | None:
            return None if image is None else reoriented(self.grid.with_data(image), "RAS").data

        return NativeImages(ras(self.t1), ras(self.t2), ras(self.brain), grid)


@dataclass(frozen=True)
class Prepared:
    """A subject ready for segmentation, on the 1 mm analysis grid (RAS, the T1's axes)."""

    t1: Volume  # the main image (a T1, or a T2 with contrast "t2"): bias-corrected, divided by the brain median
    t2: Volume | None  # registered to the T1, bias-corrected, divided by its brain median
    brain: Volume = field(repr=False)  # bool
    tissues: Volume | None = field(repr=False)  # 0 background, 1 CSF, 2 grey matter, 3 white matter (T1 only)
    regions: Volume = field(repr=False)  # 1 basal ganglia, 2 centrum semiovale, 3 midbrain
    registration: Registration  # MNI152 -> subject, which placed the regions
    brain_source: dict  # how the brain mask was made (network files and checksums, or "given")
    native: NativeImages | None = field(default=None, repr=False)  # made when asked for (networks)
    scan_spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)  # the main image's voxel sides as acquired
    t2_spacing_mm: tuple[float, float, float] | None = None  # the T2's voxel sides as acquired

    @property
    def t2_vesselness(self) -> bool:
        """Whether the T2's vesselness joins the main image's (``t2_reads_tubes``)."""
        return self.t2 is not None and t2_reads_tubes(self.scan_spacing_mm, self.t2_spacing_mm)

    def segmentation_inputs(self, contrast: str) -> SegmentationInputs:
        """What the segmentation methods read: these images' arrays on the analysis grid (the T2
        only where its vesselness is read: ``t2_vesselness``)."""
        t2 = self.t2.data if self.t2_vesselness else None
        return SegmentationInputs(
            self.t1.data,
            self.tissues.data,
            self.regions.data,
            self.brain.data,
            t2,
            ANALYSIS_SPACING_MM,
            contrast,
            self.scan_spacing_mm,
            self.t2_spacing_mm if self.t2_vesselness else None,
        )


def t2_reads_tubes(main_spacing_mm, t2_spacing_mm) -> bool:
    """Whether a T2 given beside the main image, with these voxel sides (mm, as acquired), is read for
    tubes too: its vesselness joined to the main image's (the classical method's response, the
    learned method's tube check). Not when the T2 is thick-slice and the main image is not (a 1 mm
    3D T1 beside a 2D T2 of thick slices, a common protocol): the T2's spaces are blurred across its
    slices, so their vesselness is low and the geometric mean with the T1's dropped true spaces. On
    the calibration heads (Colin27 seeds 7 / 8, 1 mm T1 beside a 1x1x3 mm T2; Dice, lesion
    sensitivity) the classical method fell from 0.82 / 0.86 with the T1 alone to 0.46 / 0.58
    (sensitivity 0.35 / 0.40), the learned method's tube check took it from 0.85 / 0.85 (its network
    reading both, the tube check the T1) to 0.73 / 0.74 (scripts outside the repository). The
    network still reads such a T2: its sensitivity was 0.90 / 0.85 with it, 0.85 / 0.80 without."""
    return t2_spacing_mm is not None and not (is_thick(t2_spacing_mm) and not is_thick(main_spacing_mm))


def check_images(t1: Volume, t2: Volume | None) -> None:
    """Each image is a 3D finite non-empty volume, and a T2 overlaps the T1 in space."""
    check_image(t1, "T1")
    if t2 is None:
        return
    check_image(t2, "T2")
    (a0, a1), (b0, b1) = t1.world_bounds(), t2.world_bounds()
    common = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None)
    if np.prod(common) < 0.25 * min(np.prod(a1 - a0), np.prod(b1 - b0)):
        raise GlymphError(
            "the T1 and T2 do not overlap in space (their fields of view share less than a quarter); are they from the same session?"
        )


def brain_mask(
    t1: Volume, mask: Volume | None, model_dir: str | os.PathLike | None = None, device: str = DEVICE
) -> tuple[Volume, dict]:
    """The brain mask on the T1 grid (given, or by deepbet on ``device``, weights looked for in
    ``model_dir`` first) and its provenance; an implausible brain volume is an error."""
    if mask is None:
        from glymph.models.deepbet import brain_mask_deepbet

        with step("brain extraction (deepbet)"):
            mask, source = brain_mask_deepbet(t1, model_dir, device)
    else:
        mask, source = mask_on_grid(mask, t1, "T1"), {"name": "given"}
    brain_mm3 = float(np.asarray(mask.data, bool).sum()) * t1.voxel_volume_mm3
    if not BRAIN_VOLUME_RANGE_MM3[0] <= brain_mm3 <= BRAIN_VOLUME_RANGE_MM3[1]:
        raise GlymphError(
            f"the brain mask holds {brain_mm3 / 1000:.0f} cm^3, not an adult brain (500-2500 cm^3); is this a T1 of a head, and the mask right?"
        )
    return mask, source


def csf_to_white_matter(image: Volume, registration: Registration) -> float:
    """Median intensity of the lateral ventricles over that of the white matter, both read from
    the MNI152 maps through the registration (ventricles: template brain with grey and white matter
    probabilities under 0.05 in ``VENTRICLE_BOX_MNI``; white matter: probability over 0.9)."""
    from scipy.ndimage import map_coordinates

    from glymph.templates import mni152

    template = mni152()
    ijk = np.stack(np.nonzero(template.brain_mask.data), axis=-1)
    points = template.brain_mask.voxel_to_world(ijk)
    gm, wm = template.gm.data[tuple(ijk.T)], template.wm.data[tuple(ijk.T)]
    in_box = np.all(
        [(points[:, a] >= lo) & (points[:, a] <= hi) for a, (lo, hi) in enumerate(VENTRICLE_BOX_MNI)], axis=0
    )

    def median_at(chosen: np.ndarray) -> float:
        voxels = image.world_to_voxel(registration.transform.to_subject(points[chosen])).T
        values = map_coordinates(np.asarray(image.data, np.float32), voxels, order=1, mode="constant", cval=np.nan)
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size else float("nan")

    return median_at(in_box & (gm < 0.05) & (wm < 0.05)) / median_at(wm > 0.9)


def check_t1_contrast(t1: Volume, registration: Registration) -> None:
    """Refuse a T2-weighted (or FLAIR-less CSF-bright) image given as the T1: its ventricles are
    brighter than its white matter. The classical method reads EPVS as dark T1 tubes."""
    ratio = csf_to_white_matter(t1, registration)
    if ratio > MAX_T1_CSF_TO_WM:
        raise GlymphError(
            f"the T1 looks T2-weighted: its ventricles (CSF) are {ratio:.1f} times as bright as its white matter, "
            "where a T1 shows them darker; give the T1-weighted image (a T2 of the same session goes with --t2)"
        )


def check_t2_contrast(t2: Volume, registration: Registration, beside: bool = False) -> None:
    """Refuse a T1-weighted (or FLAIR) image given as a T2, alone (``--contrast t2``) or ``beside``
    the T1 (``--t2``): its ventricles are darker than its white matter. The network would read its
    dark spaces as a T2's bright ones, and the classical method looks for bright tubes on it."""
    ratio = csf_to_white_matter(t2, registration)
    if not ratio > MAX_T1_CSF_TO_WM:
        given, fix = (
            ("with --t2", "give the T2-weighted image") if beside else ("as a T2", "leave out --contrast t2 for a T1")
        )
        raise GlymphError(
            f"the image given {given} looks T1-weighted or FLAIR: its ventricles (CSF) are {ratio:.2f} times as "
            f"bright as its white matter, where a T2 shows them brighter; {fix}"
        )


def prepare(
    t1: Volume,
    t2: Volume | None = None,
    mask: Volume | None = None,
    model_dir: str | os.PathLike | None = None,
    device: str = DEVICE,
    contrast: str = "t1",
    native: bool = False,
) -> Prepared:
    """Every preprocessing step (see the module docstring). ``t1`` is the main image (a T2 with
    ``contrast="t2"``); ``native``: also keep the images on the network's grid (``network_grid``)."""
    if contrast not in CONTRASTS:
        raise GlymphError(f"unknown contrast '{contrast}'; choose one of: {', '.join(CONTRASTS)}")
    if contrast == "t2" and t2 is not None:
        raise GlymphError(
            "--contrast t2 takes the T2 as the image itself; leave out --t2 (or give the T1 as the image)"
        )
    check_images(t1, t2)
    mask, source = brain_mask(t1, mask, model_dir, device)
    with step("bias correction and 1 mm resampling"):
        corrected = n4_bias_correction(t1, mask)
        grid = isotropic_grid(t1, ANALYSIS_SPACING_MM)
        brain = grid.with_data(resample(mask.with_data(mask.data.astype(np.uint8)), grid, order=0).data > 0)
        grid_t1 = normalise_intensity(resample(corrected, grid, order=1), brain)
    # the network's grid, at least as fine as the T1; the T2 is corrected on it, so a T2 finer than
    # thick T1 slices keeps its own resolution on both grids (it is not read through the T1's slices)
    fine = network_grid(t1)  # resample() returns an image already on it as it is
    inside = None
    if native or t2 is not None:
        inside = fine.with_data(resample(mask.with_data(np.asarray(mask.data, np.float32)), fine).data >= 0.5)
    grid_t2 = None
    to_mni = f"affine registration of the {contrast.upper()} to MNI152 (regions)"
    if t2 is None:
        with step(to_mni):
            registration = register_to_mni(grid_t1, brain, "t1")
            regions = regions_in_subject(grid, registration.transform)
    else:
        with step("bias correction of the T2"):
            corrected_t2 = n4_bias_correction(t2)
        # the two registrations are independent and single-threaded: one core each
        with step(f"rigid registration of the T2 to the T1, beside the {to_mni}"):
            registering = in_background(register_to_mni, grid_t1, brain, "t1")
            t1_to_t2 = register_rigid(corrected_t2, corrected, mask)
            registration = registering.result()
            regions = regions_in_subject(grid, registration.transform)
        # the first pass (for the registration) had no brain mask on the T2's grid; on the network's
        # grid, inside the T1's brain mask, N4 removes what it left (a 2.3-fold left-right field, white
        # matter's halves 1.29 apart: 1.22 after the first pass, 0.99 after this one, printed by
        # test_a_t2_beside_the_t1_is_bias_corrected_on_both_grids while it was written)
        with step("bias correction of the T2 inside the brain"):
            on_fine = resample(corrected_t2, fine, order=1, world_to_image=t1_to_t2.matrix)
            t2_on_fine = n4_bias_correction(on_fine, inside)
        grid_t2 = normalise_intensity(resample(t2_on_fine, grid, order=1), brain)
    if contrast == "t1":
        check_t1_contrast(grid_t1, registration)
        if grid_t2 is not None:
            check_t2_contrast(grid_t2, registration, beside=True)
        tissues = tissue_classes(grid_t1, brain)
    else:
        check_t2_contrast(grid_t1, registration)
        tissues = tissue_classes(grid_t1, brain, csf_bright=True)
    images = None
    if native:
        main = normalise_intensity(resample(corrected, fine), inside).data
        native_t2 = None if t2 is None else normalise_intensity(t2_on_fine, inside).data
        images = NativeImages(
            main if contrast == "t1" else None, main if contrast == "t2" else native_t2, inside.data, fine
        )
    spacing = tuple(float(side) for side in t1.spacing)
    t2_spacing = None if t2 is None else tuple(float(side) for side in t2.spacing)
    prepared = Prepared(grid_t1, grid_t2, brain, tissues, regions, registration, source, images, spacing, t2_spacing)
    if t2 is not None and not prepared.t2_vesselness:
        log.info(
            "the T2's voxels (%s mm) are thick-slice and the T1's are not: the tubes are read on the T1 alone%s",
            " x ".join(f"{side:g}" for side in t2_spacing),
            " (the network reads both)" if native else "",
        )
    return prepared
