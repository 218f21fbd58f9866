"""EPVS: enlarged perivascular spaces from a T1 (and optionally a T2), counted and measured.

Pipeline (Chen et al. 2025, adapted): the preprocessing of ``glymph.epvs.preprocess`` (brain mask,
N4, 1 mm resampling, T2 registration, intensity normalisation, MNI152 regions, tissue classes) ->
segmentation (``--method``, from ``glymph.defaults.EPVS_METHODS``: ``classical`` on the 1 mm
grid, ``learned`` on the scan's own grid, thick slices interpolated to 1 mm, ``glymph.epvs.learned``)
-> 26-connected components -> components shorter than ``min_length_mm`` removed -> measures.
``glymph.epvs.files`` writes them.

Measures are made on the 1 mm analysis grid; the label maps are written on the input T1's grid.
Regional fractions: EPVS volume in a region / that region's volume, and / the brain volume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from glymph.components import label_components
from glymph.defaults import DEVICE, EPVS_METHOD, EPVS_METHODS, MIN_LENGTH_MM, THREADS
from glymph.epvs.lesions import Lesion, measure_lesions, remove_short
from glymph.epvs.preprocess import prepare
from glymph.epvs.regions import REGIONS, SHORT
from glymph.errors import GlymphError
from glymph.preprocess import resample
from glymph.progress import step
from glymph.registration import Registration
from glymph.volume import Volume


@dataclass(frozen=True)
class EPVSResult:
    """Segmentation, lesions and summary of one subject."""

    subject: str
    t1: Volume  # the input image, a T1 or (contrast "t2") a T2 (its grid receives the label maps)
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
    contrast: str = "t1"  # of the main image
    network_source: dict | None = None  # the segmentation network's files and checksums (learned methods)
    t2_vesselness: bool = False  # a T2's tubes read: a T2 alone, or one beside the T1 (not thick beside a fine T1)

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
        """One row per lesion (``glymph.epvs.files.LESION_COLUMNS``): its measures and its region's name."""
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
        cache = self.__dict__.setdefault("_input_grid", {})  # a frozen dataclass may still keep a cache
        if name not in cache:
            cache[name] = resample(self.grid_t1.with_data(getattr(self, name).astype(dtype)), self.t1, order=0)
        return cache[name]


def run_epvs(
    t1: Volume,
    t2: Volume | None = None,
    mask: Volume | None = None,
    method: str = EPVS_METHOD,
    min_length_mm: float = MIN_LENGTH_MM,
    subject: str = "subject",
    model_dir: str | os.PathLike | None = None,
    device: str = DEVICE,
    contrast: str = "t1",
    threads: int | None = THREADS,
    flips: bool = False,
) -> EPVSResult:
    """Segment and measure EPVS (see the module docstring). ``t1`` is the main image, a T2 with
    ``contrast="t2"`` (learned method only). ``model_dir``, ``device`` and ``threads`` are for the
    networks (``glymph.models``: brain extraction without ``mask``, a learned method);
    ``flips``: the learned method's test-time flips."""
    segmenter = EPVS_METHODS.get(method)
    network = EPVS_METHODS.runs_network(method)
    if min_length_mm < 0:
        raise GlymphError("--min-length-mm must be >= 0")
    if contrast == "t2" and not network:
        raise GlymphError(f"the {method} method reads a T1; for a T2 alone use --method learned")
    if network:  # a missing or damaged weight file, or no ONNX Runtime, stops the run before any work
        from glymph.models.epvs_network import MODEL_ID
        from glymph.models.runtime import check_network

        check_network(MODEL_ID, model_dir, device)
    prepared = prepare(t1, t2, mask, model_dir, device, contrast, native=network)
    regions, brain = prepared.regions.data, prepared.brain.data
    network_source = None
    with step(f"EPVS segmentation ({method})"):
        inputs = prepared.segmentation_inputs(contrast)
        if network:
            segmentation, network_source = segmenter(
                prepared.native, prepared.t1, inputs, model_dir, device, threads, flips
            )
        else:
            segmentation = segmenter(inputs)
    with step("components and measures"):
        labels, _ = label_components(segmentation)
        lesions = measure_lesions(labels, prepared.t1, regions)
        labels, kept = remove_short(labels, lesions, min_length_mm)
    return EPVSResult(
        subject,
        t1,
        prepared.t1,
        labels,
        regions,
        brain,
        kept,
        len(lesions) - len(kept),
        prepared.registration,
        method,
        min_length_mm,
        t2 is not None or contrast == "t2",
        prepared.brain_source,
        contrast,
        network_source,
        prepared.t2_vesselness or contrast == "t2",
    )
