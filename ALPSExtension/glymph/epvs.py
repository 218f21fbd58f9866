"""EPVS: enlarged perivascular spaces from a T1 (and optionally a T2), counted and measured.

Pipeline (Chen et al. 2025, adapted): brain mask (deepbet, or given) -> N4 bias correction ->
T2 rigidly registered to the T1 -> 1 mm isotropic resampling -> intensities divided by the brain
median -> affine registration to MNI152 for the regions -> segmentation (``--method``) -> 26-connected
components -> components shorter than ``min_length_mm`` removed -> measures.

Measures are made on the 1 mm analysis grid; the label maps are written on the input T1's grid.
Regional fractions: EPVS volume in a region / that region's volume, and / the brain volume.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glymph.errors import GlymphError
from glymph.lesions import Lesion, label_components, measure_lesions, remove_short
from glymph.progress import step
from glymph.regions import REGIONS, SHORT
from glymph.registration import Registration
from glymph.volume import Volume, check_image, mask_on_grid

ANALYSIS_SPACING_MM = 1.0
DEFAULT_MIN_LENGTH_MM = 2.0
BRAIN_VOLUME_RANGE_MM3 = (500e3, 2500e3)  # outside this the image is not an adult head (or the mask failed)
EPVS_FILES = ("epvs.csv", "lesions.csv", "epvs_seg.nii.gz", "regions.nii.gz", "epvs.json", "qc_epvs.png")


@dataclass(frozen=True)
class EPVSResult:
    """Segmentation, lesions and summary of one subject."""

    subject: str
    t1: Volume  # the input T1 (its grid receives the label maps)
    grid_t1: Volume  # bias-corrected, normalised T1 on the 1 mm analysis grid
    labels: np.ndarray = field(repr=False)  # lesion id per analysis voxel
    regions: np.ndarray = field(repr=False)  # region label per analysis voxel
    brain: np.ndarray = field(repr=False)
    lesions: list[Lesion] = field(repr=False)
    n_short_removed: int
    registration: Registration
    method: str
    min_length_mm: float
    with_t2: bool
    brain_source: dict

    @property
    def brain_volume_mm3(self) -> float:
        return float(self.brain.sum()) * self.grid_t1.voxel_volume_mm3

    def region_volume_mm3(self, label: int) -> float:
        return float((self.regions == label).sum()) * self.grid_t1.voxel_volume_mm3

    def summary(self) -> dict[str, object]:
        """One row: subject, count, total volume, then per region count, volume and fractions."""
        total = sum(lesion.volume_mm3 for lesion in self.lesions)
        brain_volume = self.brain_volume_mm3
        region_volumes = {label: self.region_volume_mm3(label) for label in REGIONS}
        row: dict[str, object] = {"subject": self.subject, "count": len(self.lesions), "total_volume_mm3": total}
        for label, name in REGIONS.items():
            short = SHORT[name]
            in_region = [lesion for lesion in self.lesions if lesion.region == label]
            volume = sum(lesion.volume_mm3 for lesion in in_region)
            region_volume = region_volumes[label]
            row[f"count_{short}"] = len(in_region)
            row[f"volume_{short}_mm3"] = volume
            row[f"fraction_{short}_of_region"] = volume / region_volume if region_volume else float("nan")
            row[f"fraction_{short}_of_brain"] = volume / brain_volume
        row["fraction_of_brain"] = total / brain_volume
        row["brain_volume_mm3"] = brain_volume
        for label, name in REGIONS.items():
            row[f"region_{SHORT[name]}_mm3"] = region_volumes[label]
        return row

    def lesion_rows(self) -> list[dict[str, object]]:
        """One row per lesion (``LESION_COLUMNS``): its measures and its region's name."""
        return [
            {"subject": self.subject, **lesion.as_row(), "region_name": REGIONS.get(lesion.region, "other")}
            for lesion in self.lesions
        ]

    def labels_on_input_grid(self) -> Volume:
        """Lesion ids on the input T1's grid (nearest neighbour)."""
        return self._on_input_grid("labels", np.int32)

    def regions_on_input_grid(self) -> Volume:
        """Region labels on the input T1's grid (nearest neighbour)."""
        return self._on_input_grid("regions", np.uint8)

    def _on_input_grid(self, name: str, dtype: type) -> Volume:
        """Resampled once per result: the module's segmentation and the written files both need them."""
        from glymph.preprocess import resample

        cache = self.__dict__.setdefault("_input_grid", {})  # a frozen dataclass may still keep a cache
        if name not in cache:
            cache[name] = resample(self.grid_t1.with_data(getattr(self, name).astype(dtype)), self.t1, order=0)
        return cache[name]


def _check_overlap(t1: Volume, t2: Volume) -> None:
    """T1 and T2 must cover a common region of space (before registration refines it)."""
    (a0, a1), (b0, b1) = t1.world_bounds(), t2.world_bounds()
    common = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None)
    if np.prod(common) < 0.25 * min(np.prod(a1 - a0), np.prod(b1 - b0)):
        raise GlymphError(
            "the T1 and T2 do not overlap in space (their fields of view share less than a quarter); are they from the same session?"
        )


def run_epvs(
    t1: Volume,
    t2: Volume | None = None,
    mask: Volume | None = None,
    method: str = "classical",
    min_length_mm: float = DEFAULT_MIN_LENGTH_MM,
    subject: str = "subject",
    model_dir: str | os.PathLike | None = None,
) -> EPVSResult:
    """Segment and measure EPVS (see the module docstring)."""
    from glymph.preprocess import isotropic_grid, n4_bias_correction, normalise_intensity, resample, tissue_classes
    from glymph.regions import regions_in_subject
    from glymph.registration import register_rigid, register_to_mni
    from glymph.segmentation import SegmentationInputs, get_method

    segmenter = get_method(method)
    check_image(t1, "T1")
    if t2 is not None:
        check_image(t2, "T2")
        _check_overlap(t1, t2)
    if min_length_mm < 0:
        raise GlymphError("--min-length-mm must be >= 0")
    if mask is None:
        from glymph.brain import brain_mask_deepbet

        with step("brain extraction (deepbet)"):
            mask, brain_source = brain_mask_deepbet(t1, model_dir)
    else:
        mask = mask_on_grid(mask, t1, "T1")
        brain_source = {"name": "given"}
    brain_mm3 = float(np.asarray(mask.data, bool).sum()) * t1.voxel_volume_mm3
    if not BRAIN_VOLUME_RANGE_MM3[0] <= brain_mm3 <= BRAIN_VOLUME_RANGE_MM3[1]:
        raise GlymphError(
            f"the brain mask holds {brain_mm3 / 1000:.0f} cm^3, not an adult brain (500-2500 cm^3); is this a T1 of a head, and the mask right?"
        )

    with step("bias correction and 1 mm resampling"):
        corrected = n4_bias_correction(t1, mask)
        grid = isotropic_grid(t1, ANALYSIS_SPACING_MM)
        grid_t1 = resample(corrected, grid, order=1)
        brain = resample(mask.with_data(mask.data.astype(np.uint8)), grid, order=0).data > 0
        brain_volume = grid.with_data(brain)
        grid_t1 = normalise_intensity(grid_t1, brain_volume)
    grid_t2 = None
    if t2 is not None:
        with step("rigid registration of the T2 to the T1"):
            t1_to_t2 = register_rigid(n4_bias_correction(t2), corrected, mask)
            grid_t2 = normalise_intensity(resample(t2, grid, order=1, world_to_image=t1_to_t2.matrix), brain_volume)
    with step("affine registration of the T1 to MNI152 (regions)"):
        registration = register_to_mni(grid_t1, brain_volume, "t1")
        regions = regions_in_subject(grid, registration.transform).data
    with step(f"EPVS segmentation ({method})"):
        tissues = tissue_classes(grid_t1, brain_volume).data
        inputs = SegmentationInputs(
            grid_t1.data, tissues, regions, brain, None if grid_t2 is None else grid_t2.data, ANALYSIS_SPACING_MM
        )
        segmentation = segmenter(inputs)
    with step("components and measures"):
        labels, _ = label_components(segmentation)
        lesions = measure_lesions(labels, grid, regions)
        labels, kept = remove_short(labels, lesions, min_length_mm)
    return EPVSResult(
        subject,
        t1,
        grid_t1,
        labels,
        regions,
        brain,
        kept,
        len(lesions) - len(kept),
        registration,
        method,
        min_length_mm,
        t2 is not None,
        brain_source,
    )


LESION_COLUMNS = [
    "subject",
    "id",
    "region",
    "region_name",
    "volume_mm3",
    "length_mm",
    "max_diameter_mm",
    "centroid_x",
    "centroid_y",
    "centroid_z",
    "n_voxels",
]


def write_epvs(
    result: EPVSResult,
    out: str | os.PathLike,
    *,
    inputs: dict | None = None,
    parameters: dict | None = None,
    started: float | None = None,
    force: bool = False,
) -> Path:
    """Write the EPVS result files (``EPVS_FILES``) into ``out``, atomically."""
    from glymph.image_io import write_nifti
    from glymph.outputs import atomic_out_dir, write_csv, write_sidecar
    from glymph.qc import epvs_qc_figure
    from glymph.templates import template_provenance

    started = time.perf_counter() if started is None else started
    with step(f"writing results to {out}"), atomic_out_dir(out, EPVS_FILES, force) as tmp:
        summary = result.summary()
        write_csv(tmp / "epvs.csv", [summary])
        write_csv(tmp / "lesions.csv", result.lesion_rows(), LESION_COLUMNS)
        write_nifti(result.labels_on_input_grid(), tmp / "epvs_seg.nii.gz", np.uint16)
        write_nifti(result.regions_on_input_grid(), tmp / "regions.nii.gz", np.uint8)
        epvs_qc_figure(result, tmp / "qc_epvs.png")
        parameters = {
            **(parameters or {}),
            "method": result.method,
            "min_length_mm": result.min_length_mm,
            "analysis_spacing_mm": ANALYSIS_SPACING_MM,
            "with_t2": result.with_t2,
        }
        models = {"brain_extraction": result.brain_source, "template": template_provenance()}
        write_sidecar(
            tmp / "epvs.json",
            "epvs",
            started,
            inputs,
            parameters,
            models,
            subject=result.subject,
            summary=summary,
            short_components_removed=result.n_short_removed,
            definitions={
                "lesion": "26-connected component of the segmentation on the 1 mm analysis grid",
                "length_mm": "largest distance between two voxel centres of the lesion + 1 voxel",
                "max_diameter_mm": "largest extent across the length axis + 1 voxel",
                "fraction_X_of_region": "EPVS volume in region X / volume of region X",
                "fraction_X_of_brain": "EPVS volume in region X / brain volume",
                "regions": "glymph/data/regions/README.md",
                "labels_file": "epvs_seg.nii.gz holds lesion ids (lesions.csv) on the input T1 grid",
            },
            registration=result.registration.as_dict(),
        )
    return Path(out)
