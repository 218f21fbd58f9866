"""Superficial veins on MRML nodes: read the SWI (and mask) nodes, run glymph's vein pipeline, show
the MinIP, a segmentation with one segment per vein, each vein's centreline as a markups curve
named by hemisphere and number, and the per-hemisphere and per-vein tables.

As in the other modules, ``compute`` touches no node, so a GUI can run it in a worker thread; or
``start_process`` runs it as a ``glymph vein`` command in a process of its own (what the panel does
for a method that runs a network) and reads its folder back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glymph import defaults
from glymph.errors import GlymphError
from glymph.process import ProcessTask, start_command
from glymph.vein import VeinResult, run_vein
from glymph.volume import Volume
from glymph_mrml import fill, labelmap_to_segmentation, table_from_rows, volume_from_node, volume_to_node

RESOURCES = Path(__file__).resolve().parents[1] / "Resources"
CURVE_COLOURS = {"left": (0.2, 0.6, 1.0), "right": (1.0, 0.45, 0.2)}
CURVE_REFERENCE = "glymph.centreline"  # node-reference role: the vein segmentation -> its centreline curves
VEIN_COLUMNS = (
    "id",
    "name",
    "hemisphere",
    "length_mm",
    "diameter_mm",
    "diameter_area_mm",
    "tortuosity",
    "tortuosity_vmtk",
    "area_mm2",
    "branches",
    "end_distance_mm",
)


@dataclass(frozen=True)
class VeinOptions:
    slab_mm: float = defaults.SLAB_MM
    slab_center_mm: float | None = None
    method: str = defaults.VEIN_METHOD
    subject: str = ""
    model_dir: str | None = None  # where network weights are looked for first (None: the usual places)
    device: str = defaults.DEVICE  # where networks run
    flips: bool = False  # learned method: test-time left-right mirror


def install_plan(method: str = defaults.VEIN_METHOD) -> list[Path]:
    """What the panel makes sure is installed before a run, in order (``glymph_gui.ensure_dependencies``):
    a learned method also needs ONNX Runtime (no PyTorch)."""
    plan = [RESOURCES / "requirements.txt"]
    if defaults.VEIN_METHODS.runs_network(method):
        plan.append(RESOURCES / "requirements-learned.txt")
    return plan


@dataclass
class VeinInputs:
    swi: Volume
    mask: Volume | None = None
    subject: str = "subject"


@dataclass
class VeinOutputs:
    """The nodes the results go into; ``None`` ones are created by ``show``. The centreline curves
    are found from the segmentation node (node references, saved with the scene) and replaced on
    every run."""

    minip: object = None
    segmentation: object = None
    hemisphere_table: object = None
    vein_table: object = None
    curves: list = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def vein_name(vein) -> str:
    """'left 3': hemisphere and the vein's number."""
    return f"{vein.hemisphere} {vein.id}"


def vein_rows(result: VeinResult) -> list[dict[str, object]]:
    rows = []
    for vein in result.veins:
        row = vein.as_row()
        row["name"] = vein_name(vein)
        rows.append({column: row[column] for column in VEIN_COLUMNS})
    return rows


def centreline_curves(segmentation_node) -> list:
    """The centreline curve nodes of the veins in a vein segmentation node (none for None)."""
    if segmentation_node is None:
        return []
    n = segmentation_node.GetNumberOfNodeReferences(CURVE_REFERENCE)
    curves = (segmentation_node.GetNthNodeReference(CURVE_REFERENCE, i) for i in range(n))
    return [curve for curve in curves if curve is not None]


class VeinNodeLogic:
    """Superficial-vein analysis on the nodes of one MRML scene."""

    def __init__(self, scene) -> None:
        self.scene = scene

    def read_inputs(self, swi_node, options: VeinOptions, mask_node=None) -> VeinInputs:
        if swi_node is None:
            raise GlymphError("select an SWI magnitude volume (or a MinIP)")
        mask = volume_from_node(mask_node) if mask_node is not None else None
        return VeinInputs(volume_from_node(swi_node), mask, options.subject or swi_node.GetName())

    @staticmethod
    def compute(inputs: VeinInputs, options: VeinOptions) -> VeinResult:
        """glymph's vein pipeline; safe outside the main thread (touches no node)."""
        return run_vein(
            inputs.swi,
            inputs.mask,
            options.slab_mm,
            options.slab_center_mm,
            options.method,
            inputs.subject,
            options.model_dir,
            options.device,
            flips=options.flips,
        )

    @staticmethod
    def start_process(
        inputs: VeinInputs,
        options: VeinOptions,
        work_dir: str | os.PathLike,
        python: str | None = None,
        scratch: bool = False,
    ) -> ProcessTask:
        """``compute`` as ``glymph vein`` in a separate process (``python``: PythonSlicer in Slicer):
        the inputs are written into ``work_dir``, the result folder (``work_dir/result``) is read back
        by ``read_vein``. Poll the returned task; ``cancel()`` ends it. ``scratch``: ``work_dir`` is
        removed once the result is read."""
        from glymph.image_io import write_nifti
        from glymph.vein.files import read_vein

        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
        write_nifti(inputs.swi, work / "swi.nii.gz")
        argv = ["vein", str(work / "swi.nii.gz"), "--subject", inputs.subject]
        argv += ["--slab-mm", repr(options.slab_mm), "--method", options.method, "--device", options.device]
        if options.slab_center_mm is not None:
            argv += ["--slab-center-mm", repr(options.slab_center_mm)]
        if options.flips:
            argv.append("--flips")
        if options.model_dir:
            argv += ["--model-dir", str(options.model_dir)]
        return start_command(argv, work, read_vein, python, scratch, inputs.mask)

    def show(self, result: VeinResult, outputs: VeinOutputs | None = None) -> VeinOutputs:
        outputs = outputs or VeinOutputs()
        scene, created, base = self.scene, outputs.created, result.subject
        outputs.minip = fill(outputs.minip, lambda n: volume_to_node(result.minip, scene, f"{base} MinIP", n), created)
        names = {vein.id: vein_name(vein) for vein in result.veins}
        labels = result.minip.with_data(result.labels[:, :, None].astype(np.int16))
        colours = {vein.id: CURVE_COLOURS[vein.hemisphere] for vein in result.veins}
        outputs.segmentation = fill(
            outputs.segmentation,
            lambda n: labelmap_to_segmentation(labels, names, scene, f"{base} veins", colours, n),
            created,
        )
        for curve in centreline_curves(outputs.segmentation):  # the curves of an earlier run are replaced
            scene.RemoveNode(curve)
        outputs.segmentation.RemoveNodeReferenceIDs(CURVE_REFERENCE)
        outputs.curves = [self._curve(vein, result.level_z_mm) for vein in result.veins]
        for curve in outputs.curves:
            outputs.segmentation.AddNodeReferenceID(CURVE_REFERENCE, curve.GetID())
        created += [curve.GetID() for curve in outputs.curves]
        outputs.hemisphere_table = fill(
            outputs.hemisphere_table,
            lambda n: table_from_rows(result.hemisphere_rows(), scene, f"{base} veins per hemisphere", n),
            created,
        )
        outputs.vein_table = fill(
            outputs.vein_table,
            lambda n: table_from_rows(vein_rows(result), scene, f"{base} veins", n, list(VEIN_COLUMNS)),
            created,
        )
        return outputs

    def run(
        self, swi_node, options: VeinOptions, mask_node=None, outputs: VeinOutputs | None = None
    ) -> tuple[VeinResult, VeinOutputs]:
        """All three steps in the calling thread (batch scripts, tests)."""
        result = self.compute(self.read_inputs(swi_node, options, mask_node), options)
        return result, self.show(result, outputs)

    def _curve(self, vein, z_mm: float):
        curve = self.scene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", vein_name(vein))
        points = np.asarray(vein.centreline)
        step = max(len(points) // 30, 1)  # about 30 control points: editable, yet faithful
        chosen = np.concatenate([points[::step], points[-1:]]) if (len(points) - 1) % step else points[::step]
        for x, y in chosen:
            curve.AddControlPoint(float(x), float(y), float(z_mm))
        curve.SetAttribute("glymph.vein_id", str(vein.id))
        curve.SetAttribute("glymph.length_mm", f"{vein.length_mm:.3f}")
        if curve.GetDisplayNode() is None:
            curve.CreateDefaultDisplayNodes()
        display = curve.GetDisplayNode()
        display.SetSelectedColor(*CURVE_COLOURS[vein.hemisphere])
        display.SetPointLabelsVisibility(False)
        return curve
