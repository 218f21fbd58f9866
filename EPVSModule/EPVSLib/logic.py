"""EPVS on MRML nodes: read the T1 (T2, mask) nodes, run glymph's EPVS pipeline, show the result.

As in ALPSLib, ``compute`` touches no node, so a GUI can run it in a worker thread; or
``start_process`` runs it as a ``glymph epvs`` command in a process of its own (what the panel does
when a network runs) and reads its folder back. Results: a segmentation node with an "EPVS" segment
and one segment per region (regions hidden), a summary table (one measure per row) and a lesion
table (one lesion per row, with its RAS centroid so a viewer can jump to it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glymph import defaults
from glymph.epvs import EPVSFolder, EPVSResult, run_epvs
from glymph.epvs.files import LESION_COLUMNS as CSV_LESION_COLUMNS
from glymph.errors import GlymphError
from glymph.process import ProcessTask, start_command
from glymph.volume import Volume
from glymph_mrml import fill, labelmap_to_segmentation, rows_from_table, table_from_rows, volume_from_node

SEGMENTS = {1: "EPVS", 2: "basal ganglia", 3: "centrum semiovale", 4: "midbrain"}
COLOURS = {1: (0.9, 0.1, 0.1), 2: (0.95, 0.85, 0.2), 3: (0.2, 0.8, 0.9), 4: (0.6, 0.4, 0.9)}
LESION_COLUMNS = tuple(c for c in CSV_LESION_COLUMNS if c not in ("subject", "region"))  # of the lesion table
RESOURCES = Path(__file__).resolve().parents[1] / "Resources"


def install_plan(mask_given: bool, method: str = defaults.EPVS_METHOD) -> list[str | Path]:
    """What the panel makes sure is installed before a run, in order (``glymph_gui.ensure_dependencies``).

    Without a mask, deepbet's networks extract the brain; a learned method runs glymph's network
    with ONNX Runtime through MONAI's sliding window. Either way ``"torch"`` (PyTorch from Slicer's
    PyTorch extension, the right build for this computer) comes first, so that deepbet's and MONAI's
    requirement on torch is already met and pip never pulls a build from PyPI. With a mask and the
    classical method no network runs, and neither torch nor deepbet is installed.
    """
    plan: list[str | Path] = [RESOURCES / "requirements.txt"]
    if defaults.EPVS_METHODS.runs_network(method):
        plan.append(RESOURCES / "requirements-learned.txt")
    if not mask_given:
        plan.append(RESOURCES / "requirements-brain-extraction.txt")
    return plan if len(plan) == 1 else ["torch", *plan]


@dataclass(frozen=True)
class EpvsOptions:
    """What to compute (the parameter node's values)."""

    method: str = defaults.EPVS_METHOD
    min_length_mm: float = defaults.MIN_LENGTH_MM
    subject: str = ""
    model_dir: str | None = None  # where network weights are looked for first (None: the usual places)
    device: str = defaults.DEVICE  # where networks run
    contrast: str = "t1"  # of the main volume: "t2" for a T2 alone (learned method)
    flips: bool = False  # learned method: test-time flips


@dataclass
class EpvsInputs:
    t1: Volume
    t2: Volume | None = None
    mask: Volume | None = None
    subject: str = "subject"


def runs_network(inputs: EpvsInputs, options: EpvsOptions) -> bool:
    """Whether a run needs a network: brain extraction (no mask given) or a learned segmentation."""
    return inputs.mask is None or defaults.EPVS_METHODS.runs_network(options.method)


@dataclass
class EpvsOutputs:
    """The nodes the results go into; ``None`` ones are created by ``show``."""

    segmentation: object = None
    summary_table: object = None
    lesion_table: object = None
    created: list[str] = field(default_factory=list)


def segment_labels(result: EPVSResult | EPVSFolder) -> Volume:
    """One label map on the T1 grid for the segmentation node: 1 EPVS, then the regions (2-4)."""
    labels = result.labels_on_input_grid()
    regions = result.regions_on_input_grid().data
    combined = np.where(regions > 0, regions + 1, 0).astype(np.uint8)
    combined[labels.data > 0] = 1
    return labels.with_data(combined)


def summary_rows(result: EPVSResult | EPVSFolder) -> list[dict[str, object]]:
    return [
        {"Measure": key, "Value": float(value) if not isinstance(value, str) else value}
        for key, value in result.summary().items()
        if key != "subject"
    ]


class EpvsNodeLogic:
    """EPVS on the nodes of one MRML scene."""

    def __init__(self, scene) -> None:
        self.scene = scene

    def read_inputs(self, t1_node, options: EpvsOptions, t2_node=None, mask_node=None) -> EpvsInputs:
        if t1_node is None:
            raise GlymphError("select a T1-weighted volume")
        t1 = volume_from_node(t1_node)
        t2 = volume_from_node(t2_node) if t2_node is not None else None
        mask = volume_from_node(mask_node) if mask_node is not None else None
        return EpvsInputs(t1, t2, mask, options.subject or t1_node.GetName())

    @staticmethod
    def compute(inputs: EpvsInputs, options: EpvsOptions) -> EPVSResult:
        """glymph's EPVS pipeline; safe outside the main thread (touches no node)."""
        return run_epvs(
            inputs.t1,
            inputs.t2,
            inputs.mask,
            options.method,
            options.min_length_mm,
            inputs.subject,
            options.model_dir,
            options.device,
            options.contrast,
            flips=options.flips,
        )

    @staticmethod
    def start_process(
        inputs: EpvsInputs,
        options: EpvsOptions,
        work_dir: str | os.PathLike,
        python: str | None = None,
        scratch: bool = False,
    ) -> ProcessTask:
        """``compute`` as ``glymph epvs`` in a separate process (``python``: PythonSlicer in Slicer):
        the inputs are written into ``work_dir``, the result folder (``work_dir/result``) is read back
        by ``read_epvs``. Poll the returned task; ``cancel()`` ends it. ``scratch``: ``work_dir`` is
        removed once the result is read."""
        from glymph.epvs.files import read_epvs
        from glymph.image_io import write_nifti

        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
        write_nifti(inputs.t1, work / "t1.nii.gz")
        argv = ["epvs", str(work / "t1.nii.gz"), "--subject", inputs.subject]
        argv += ["--method", options.method, "--min-length-mm", repr(options.min_length_mm)]
        argv += ["--device", options.device, "--contrast", options.contrast]
        if options.flips:
            argv.append("--flips")
        if inputs.t2 is not None:
            write_nifti(inputs.t2, work / "t2.nii.gz")
            argv += ["--t2", str(work / "t2.nii.gz")]
        if options.model_dir:
            argv += ["--model-dir", str(options.model_dir)]
        return start_command(argv, work, read_epvs, python, scratch, inputs.mask)

    def show(self, result: EPVSResult | EPVSFolder, outputs: EpvsOutputs | None = None) -> EpvsOutputs:
        outputs = outputs or EpvsOutputs()
        scene, created, base = self.scene, outputs.created, result.subject
        outputs.segmentation = fill(
            outputs.segmentation,
            lambda n: labelmap_to_segmentation(segment_labels(result), SEGMENTS, scene, f"{base} EPVS", COLOURS, n),
            created,
        )
        if outputs.segmentation.GetDisplayNode() is None:
            outputs.segmentation.CreateDefaultDisplayNodes()
        display = outputs.segmentation.GetDisplayNode()
        segmentation = outputs.segmentation.GetSegmentation()
        for value, name in SEGMENTS.items():  # the regions are there to check, hidden by default
            segment_id = segmentation.GetSegmentIdBySegmentName(name)
            if segment_id and display is not None:
                display.SetSegmentVisibility(segment_id, value == 1)
        outputs.summary_table = fill(
            outputs.summary_table,
            lambda n: table_from_rows(summary_rows(result), scene, f"{base} EPVS summary", n),
            created,
        )
        lesions = [{column: row[column] for column in LESION_COLUMNS} for row in result.lesion_rows()]
        outputs.lesion_table = fill(
            outputs.lesion_table,
            lambda n: table_from_rows(lesions, scene, f"{base} EPVS lesions", n, LESION_COLUMNS),
            created,
        )
        return outputs

    def run(
        self,
        t1_node,
        options: EpvsOptions,
        t2_node=None,
        mask_node=None,
        outputs: EpvsOutputs | None = None,
    ) -> tuple[EPVSResult, EpvsOutputs]:
        """All three steps in the calling thread (batch scripts, tests)."""
        result = self.compute(self.read_inputs(t1_node, options, t2_node, mask_node), options)
        return result, self.show(result, outputs)


def lesion_centroid(table_node, lesion_id: int) -> tuple[float, float, float]:
    """RAS centroid of lesion ``lesion_id`` in a lesion table (to centre the views on it)."""
    for row in rows_from_table(table_node):
        if int(row["id"]) == lesion_id:
            return float(row["centroid_x"]), float(row["centroid_y"]), float(row["centroid_z"])
    raise GlymphError(f"lesion {lesion_id} is not in table '{table_node.GetName()}'")
