"""Superficial cerebral veins on SWI: MinIP, hemispheres, segmentation and morphometry.

Pipeline (after the SCV study): the SWI resliced to axial RAS; a brain mask (given, or dipy's
``median_otsu`` on a 2 mm copy cut off from the scalp, brought back to the SWI grid); the analysis level (the lateral
ventricle bodies' slice with the largest brain cross-section, or ``slab_center_mm``); the
brain-only MinIP over a ``slab_mm`` slab there (voxels outside the brain count as the brain's
median intensity, so skull and scalp veins never enter; the analysis region is the brain in any
slab slice; ``glymph.vein.minip``); the mid-sagittal line from left-right symmetry; segmentation
(``method``, from ``glymph.defaults.VEIN_METHODS``), its pieces followed into their faint ends and
a vein's pieces joined across faint stretches (``glymph.vein.segmentation.bridge_gaps``); per-vein
morphometry (``glymph.vein.morphometry``; depth and diameters read where the segmentation found each
vein, the diameters on the slab's own slices, ``glymph.vein.centreline.SlabSlices``);
per-hemisphere summaries. A 2D MinIP (one slice) can be the input instead of the SWI: it is
analysed as is. ``glymph.vein.files`` writes the result folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from glymph.components import largest_component
from glymph.defaults import DEVICE, SLAB_MM, THREADS, VEIN_METHOD, VEIN_METHODS
from glymph.errors import GlymphError
from glymph.masks import brain_mask_from_b0
from glymph.preprocess import isotropic_grid, resample
from glymph.progress import step
from glymph.vein.midline import Midline, find_midline
from glymph.vein.minip import analysis_plane, axial_ras, plane_affine
from glymph.vein.morphometry import Vein, measure_veins
from glymph.vein.segmentation import VeinInputs, bridge_gaps
from glymph.volume import Volume, check_image, mask_on_grid

HEMISPHERES = ("left", "right")


@dataclass(frozen=True)
class VeinResult:
    subject: str
    minip: Volume  # the analysis MinIP as a one-slice volume on the axial RAS grid
    minip_volume: Volume | None  # the sliding MinIP of the whole SWI (None for a 2D input)
    labels: np.ndarray = field(repr=False)  # vein id per MinIP pixel
    brain: np.ndarray = field(repr=False)  # brain mask of the MinIP plane
    veins: list[Vein] = field(repr=False)
    midline: Midline = field(repr=False)
    level_z_mm: float
    level_reason: str
    slab_mm: float
    method: str
    network: dict | None = None  # the learned method's network: provenance and threshold
    slab: np.ndarray | None = field(repr=False, default=None)  # the slices the MinIP was taken over (X, Y, K)

    @property
    def plane_affine(self) -> np.ndarray:
        """3x3 pixel (i, j) -> RAS (x, y) mm of the MinIP plane."""
        return plane_affine(self.minip.affine)

    @property
    def inputs(self) -> VeinInputs:
        """What the segmentation read: the analysis MinIP divided by its brain median, the brain, the
        pixel size and the slab's slices on the same scale (for re-running the segmentation and
        morphometry without the MinIP step)."""
        return VeinInputs.scaled(self.minip.data[:, :, 0], self.brain, pixel_mm(self.plane_affine), self.slab)

    def hemisphere_rows(self) -> list[dict[str, object]]:
        """One row per hemisphere: count, mean and median diameter (profile fit) and tortuosity, the
        mean VMTK tortuosity, length and area / length diameter."""

        def stat(values: list[float], how) -> float:
            return float(how(values)) if values else float("nan")

        rows = []
        for hemisphere in HEMISPHERES:
            side = [v for v in self.veins if v.hemisphere == hemisphere]
            diameters = [v.diameter_mm for v in side]
            tortuosities = [v.tortuosity for v in side]
            rows.append(
                {
                    "subject": self.subject,
                    "hemisphere": hemisphere,
                    "count": len(side),
                    "diameter_mm": stat(diameters, np.mean),
                    "tortuosity": stat(tortuosities, np.mean),
                    "diameter_median_mm": stat(diameters, np.median),
                    "tortuosity_median": stat(tortuosities, np.median),
                    "tortuosity_vmtk": stat([v.tortuosity_vmtk for v in side], np.mean),
                    "length_mm": stat([v.length_mm for v in side], np.mean),
                    "diameter_area_mm": stat([v.diameter_area_mm for v in side], np.mean),
                }
            )
        return rows


BRAIN_MARGIN_MM = 2.0  # the mask is shrunk by this much so that no skull voxel darkens the MinIP
BRAIN_SECTION_CM2 = (70.0, 300.0)  # the brain in a 20 mm slab at the ventricles: 218 cm^2 in the phantoms
# anatomy: neighbouring MinIP pixels alike; noise: unrelated. Measured on the MinIP binned to about
# ANATOMY_BIN_MM pixels (noise averages out, anatomy stays): random-noise volumes 0.38-0.39; SWI
# phantoms 0.46 (1 mm pixels, SNR 5), 0.55 (1 mm, SNR 10), 0.60-0.71 (0.5 mm, SNR 5-10), 0.69 (0.8 mm,
# SNR 40). Unbinned, a 1 mm phantom at SNR 10 read 0.42, below the noise-free rule's 0.45.
MIN_NEIGHBOUR_CORRELATION = 0.42
ANATOMY_BIN_MM = 2.0


def neighbour_correlation(image: np.ndarray, inside: np.ndarray) -> float:
    """Correlation of each pixel inside the region with its right-hand and lower neighbours."""
    pairs = [
        (image[:-1, :][inside[:-1, :] & inside[1:, :]], image[1:, :][inside[:-1, :] & inside[1:, :]]),
        (image[:, :-1][inside[:, :-1] & inside[:, 1:]], image[:, 1:][inside[:, :-1] & inside[:, 1:]]),
    ]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    return float(np.corrcoef(a, b)[0, 1]) if a.size > 2 and a.std() > 0 and b.std() > 0 else 0.0


def pixel_mm(plane: np.ndarray) -> float:
    """The side (mm) of a MinIP pixel, from the plane's 3x3 pixel -> RAS (x, y) affine."""
    return float(np.sqrt(abs(np.linalg.det(plane[:2, :2]))))


def check_head(minip: np.ndarray, brain_plane: np.ndarray, spacing_mm: float) -> None:
    """Refuse an image that is not an SWI of a head: the brain's section in the analysis plane
    must be that of an adult brain, and the MinIP in it must show anatomy (neighbouring pixels of
    the MinIP binned to about 2 mm alike), not noise; the level search already refuses a volume without lateral ventricles."""
    area_cm2 = float(brain_plane.sum()) * spacing_mm**2 / 100
    low, high = BRAIN_SECTION_CM2
    if not low <= area_cm2 <= high:
        raise GlymphError(
            f"the brain in the analysis plane covers {area_cm2:.0f} cm^2, not an adult brain's axial section "
            f"({low:.0f}-{high:.0f} cm^2); is this an SWI of a head (and the mask right)?"
        )
    f = max(1, round(ANATOMY_BIN_MM / spacing_mm))
    n0, n1 = (minip.shape[0] // f) * f, (minip.shape[1] // f) * f
    filled = np.where(brain_plane, minip, np.median(minip[brain_plane]) if brain_plane.any() else 0.0)
    binned = filled[:n0, :n1].reshape(n0 // f, f, n1 // f, f).mean(axis=(1, 3))
    inside = brain_plane[:n0, :n1].reshape(n0 // f, f, n1 // f, f).all(axis=(1, 3))
    correlation = neighbour_correlation(binned, inside)
    if correlation < MIN_NEIGHBOUR_CORRELATION:
        raise GlymphError(
            f"the MinIP shows no anatomy (neighbouring pixels correlate {correlation:.2f}, below "
            f"{MIN_NEIGHBOUR_CORRELATION}): is this an SWI of a head?"
        )


def brain_mask_swi(axial: Volume) -> np.ndarray:
    """Brain mask of an axial SWI: ``median_otsu`` on a 2 mm copy (fast), cut off from the scalp
    (``without_scalp``), shrunk by ``BRAIN_MARGIN_MM`` there, brought back to the SWI grid by
    linear interpolation (smooth edges)."""
    from scipy import ndimage

    coarse = resample(axial, isotropic_grid(axial, 2.0), order=1)
    mask = brain_mask_from_b0(coarse)
    mask = mask.with_data(without_scalp(np.asarray(mask.data, bool), np.asarray(coarse.data, np.float32)))
    shrunk = ndimage.distance_transform_edt(mask.data, sampling=mask.spacing) > BRAIN_MARGIN_MM
    return resample(mask.with_data(shrunk.astype(np.float32)), axial, order=1).data > 0.5


def without_scalp(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``mask`` (``median_otsu`` on a 2 mm ``image``) without the scalp it caught. The median filter
    (a 10 mm cube) blurs the dark skull away where it is thin, so the mask runs on into the bright
    scalp: on SWI phantoms up to 11 mm outside the brain, 3-12 thousand pixels of the analysis plane
    (scalp veins then counted as veins). The skull is dark on the image itself: the mask's voxels
    above the image's Otsu threshold, opened by one voxel (bridges through the skull are thin), the
    largest component; then closed by two voxels within the first mask and its holes filled, so that
    dark veins on the brain's surface (and inside it) stay in."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.morphology import ball

    bright = mask & (image > threshold_otsu(image))
    core = ndimage.binary_opening(bright, structure=ball(1))
    if not core.any():
        return mask
    brain = ndimage.binary_closing(largest_component(core), structure=ball(2)) & mask
    return ndimage.binary_fill_holes(brain)


def axial_brain_mask(swi: Volume, axial: Volume, mask: Volume | None) -> np.ndarray:
    """The brain on the axial grid of ``axial`` (the SWI resliced): the given ``mask`` (on the SWI's
    grid) resliced with it, or an automatic mask (of the MinIP itself for a 2D input)."""
    if mask is not None:
        inside = mask_on_grid(mask, swi, "SWI")
        brain = resample(inside.with_data(inside.data.astype(np.uint8)), axial, order=0).data > 0
    elif axial.shape[2] == 1:
        brain = brain_mask_from_b0(axial).data
    else:
        brain = brain_mask_swi(axial)
    if not brain.any():
        raise GlymphError("the brain mask is empty; check the image or give --mask")
    return brain


def run_vein(
    swi: Volume,
    mask: Volume | None = None,
    slab_mm: float = SLAB_MM,
    slab_center_mm: float | None = None,
    method: str = VEIN_METHOD,
    subject: str = "subject",
    model_dir: str | os.PathLike | None = None,
    device: str = DEVICE,
    threads: int | None = THREADS,
    flips: bool = False,
) -> VeinResult:
    """Measure the superficial veins of an SWI magnitude (or of a 2D MinIP). See the module docstring.
    ``model_dir``, ``device``, ``threads`` and ``flips`` (left-right test-time augmentation) are for
    the methods that run a network."""
    segmenter = VEIN_METHODS.get(method)
    check_image(swi, "SWI", "or a 2D MinIP")
    if VEIN_METHODS.runs_network(method):  # a missing or damaged weight file, or no ONNX Runtime, stops it here
        from glymph.models.runtime import check_network
        from glymph.models.vein_network import MODEL_ID

        check_network(MODEL_ID, model_dir, device)
    with step("reslicing to axial and brain mask"):
        axial = axial_ras(swi)
        brain = axial_brain_mask(swi, axial, mask)
    with step("MinIP at the analysis level"):
        analysis = analysis_plane(axial, brain, slab_mm, slab_center_mm)
    # the brain's axial section is one region: scalp that the mask caught in some slab slice is not analysed
    minip, brain_plane = analysis.minip.data[:, :, 0], largest_component(analysis.brain)
    plane = plane_affine(analysis.minip.affine)
    spacing = pixel_mm(plane)
    check_head(minip, brain_plane, spacing)
    with step(f"mid-line and vein segmentation ({method})"):
        inputs = VeinInputs.scaled(minip, brain_plane, spacing, analysis.slab)
        midline = find_midline(minip, brain_plane, plane)
        network = None
        if VEIN_METHODS.runs_network(method):
            found, network = segmenter(inputs, model_dir, device, threads, flips)
        else:
            found = segmenter(inputs)
        segmentation = bridge_gaps(found, inputs)
    with step("vein morphometry"):
        labels, veins = measure_veins(
            segmentation,
            plane,
            midline.side,
            image=inputs.minip,
            noise=inputs.noise_sd,
            slab=inputs.slab,
            slice_mm=float(analysis.minip.spacing[2]),
            found=found,
        )
    return VeinResult(
        subject,
        analysis.minip,
        analysis.sliding,
        labels,
        brain_plane,
        veins,
        midline,
        float(analysis.minip.affine[2, 3]),
        analysis.reason,
        slab_mm,
        method,
        network,
        analysis.slab,
    )
