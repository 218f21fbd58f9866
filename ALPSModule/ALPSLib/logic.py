"""DTI-ALPS on MRML nodes.

Three steps, so that a GUI can run the middle one in a worker thread:

1. ``read_inputs`` (main thread): nodes -> glymph objects (DWI or tensors, mask, ROIs).
2. ``compute`` (any thread): glymph's pipeline; touches no MRML node. Or ``start_process``: the
   same as a ``glymph alps`` command in a process of its own, its result folder read back (what
   the panel does when a network runs, so that a crash in it cannot take Slicer down).
3. ``show`` (main thread): results -> nodes: ROI spheres (markups), tensor, FA and colour-FA
   volumes made with Slicer's ``vtkDiffusionTensorMathematics``, and a results table.

``recompute`` turns moved ROI points into a new index from the tensor node and the registration
stored on the markups node, without registering again, so it also works on a reopened scene.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from glymph import defaults
from glymph.alps import AlpsResult, RoiSet, alps_from_dti, alps_from_rois
from glymph.alps.pipeline import sensitivity_diameters
from glymph.dti import DWI, DTIResult, fit_dti
from glymph.dti.preprocess import Preprocessing
from glymph.errors import GlymphError
from glymph.process import ProcessTask, start_command
from glymph.registration import Registration
from glymph.volume import Volume, mask_on_grid
from glymph_mrml import (
    dti_maps_with_slicer,
    dwi_from_node,
    fill,
    rois_from_markups_node,
    rois_to_markups_node,
    table_from_rows,
    tensor_from_node,
    tensor_to_node,
    volume_from_node,
    volume_to_node,
)

RESOURCES = Path(__file__).resolve().parents[1] / "Resources"
REGISTRATION_ATTRIBUTE = "glymph.registration"  # JSON of Registration.as_dict(), kept on the ROI markups node
FRAME_ATTRIBUTE = "glymph.frame"


def install_plan(placement: str) -> list[str | Path]:
    """What the panel makes sure is installed before a run (``glymph_gui.ensure_dependencies``):
    the backend's packages, and ONNX Runtime only for the learned detector (never PyTorch: the
    detector's networks are shipped as ONNX files)."""
    plan: list[str | Path] = [RESOURCES / "requirements.txt"]
    return [*plan, RESOURCES / "requirements-detector.txt"] if placement == "detector" else plan


@dataclass(frozen=True)
class AlpsOptions:
    """What to compute (the parameter node's values)."""

    roi_set: str = defaults.ROI_SET
    roi_diameter_mm: float = defaults.ROI_DIAMETER_MM
    frame: str = defaults.FRAME  # one of defaults.FRAMES
    placement: str = defaults.PLACEMENT  # "atlas", "detector", or "markups": centres from an existing point list
    model_dir: str | None = None  # where the detector's weights are looked for first (None: the usual places)
    registration_contrast: str = defaults.REGISTRATION_CONTRAST
    max_b: float = defaults.MAX_B
    subject: str = ""
    roi_min_fa: float | None = None  # ROI voxels of lower FA are dropped
    other_diameters_mm: tuple[float, ...] = ()  # the index for these diameters too (alps.json sensitivity table)
    denoise: str = defaults.DENOISE  # preprocessing of a DWI: one of defaults.DENOISERS
    unring: bool = False
    motion_correct: str = defaults.MOTION_CORRECTION  # one of defaults.MOTION_MODELS
    gradient_check: str = defaults.GRADIENT_CHECK  # one of defaults.GRADIENT_CHECKS

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(self.denoise, self.unring, self.motion_correct)

    @property
    def diameters_mm(self) -> tuple[float, ...]:
        """``--roi-diameter`` of the command: the reported diameter first, then the other ones."""
        return (self.roi_diameter_mm, *(d for d in self.other_diameters_mm if d != self.roi_diameter_mm))


@dataclass
class AlpsInputs:
    """Glymph objects read from the input nodes."""

    dwi: DWI | None = None
    tensor: Volume | None = None
    mask: Volume | None = None
    rois: RoiSet | None = None
    subject: str = "subject"


@dataclass
class AlpsOutputs:
    """The nodes the results go into; ``None`` ones are created by ``show``."""

    markups: object = None
    tensor: object = None
    fa: object = None
    colour_fa: object = None
    table: object = None
    created: list[str] = field(default_factory=list)


def results_table_rows(result: AlpsResult) -> list[dict[str, object]]:
    """Rows of the results table: one measure per row, left / right / mean of both in columns."""
    index = result.index

    def row(measure: str, left: float, right: float) -> dict[str, object]:
        return {"Measure": measure, "Left": left, "Right": right, "Mean": (left + right) / 2}

    r = index.rois
    return [
        row(f"ALPS index ({index.frame} frame)", index.alps_L, index.alps_R),
        row("Dxx projection (mm2/s)", r["proj_L"].dxx, r["proj_R"].dxx),
        row("Dxx association (mm2/s)", r["assoc_L"].dxx, r["assoc_R"].dxx),
        row("Dyy projection (mm2/s)", r["proj_L"].dyy, r["proj_R"].dyy),
        row("Dzz association (mm2/s)", r["assoc_L"].dzz, r["assoc_R"].dzz),
        row("FA projection", r["proj_L"].fa, r["proj_R"].fa),
        row("FA association", r["assoc_L"].fa, r["assoc_R"].fa),
        row("MD projection (mm2/s)", r["proj_L"].md, r["proj_R"].md),
        row("MD association (mm2/s)", r["assoc_L"].md, r["assoc_R"].md),
        row("Voxels projection", float(r["proj_L"].n_voxels), float(r["proj_R"].n_voxels)),
        row("Voxels association", float(r["assoc_L"].n_voxels), float(r["assoc_R"].n_voxels)),
    ]


class AlpsNodeLogic:
    """DTI-ALPS on the nodes of one MRML scene."""

    def __init__(self, scene) -> None:
        self.scene = scene

    # 1. nodes -> glymph
    def read_inputs(self, input_node, options: AlpsOptions, mask_node=None, markups_node=None) -> AlpsInputs:
        """Read a DWI or DTI node (and optional mask and ROI point list) into glymph objects."""
        if input_node is None:
            raise GlymphError("select an input: a diffusion-weighted (DWI) or diffusion tensor (DTI) volume")
        inputs = AlpsInputs(subject=options.subject or input_node.GetName())
        if input_node.IsA("vtkMRMLDiffusionWeightedVolumeNode"):
            inputs.dwi = dwi_from_node(input_node)
            grid = inputs.dwi.volume
        elif input_node.IsA("vtkMRMLDiffusionTensorVolumeNode"):
            inputs.tensor = tensor_from_node(input_node)
            grid = inputs.tensor
        else:
            raise GlymphError(f"'{input_node.GetName()}' is neither a DWI nor a DTI volume")
        if mask_node is not None:
            inputs.mask = mask_on_grid(volume_from_node(mask_node), grid, f"'{input_node.GetName()}'")
        if options.placement == "markups":
            if markups_node is None:
                raise GlymphError(
                    "ROI placement 'from markups' needs a point list with proj_L, proj_R, assoc_L, assoc_R"
                )
            inputs.rois = rois_from_markups_node(markups_node, options.roi_diameter_mm)
        elif options.placement not in defaults.PLACEMENTS:
            raise GlymphError(
                f"unknown ROI placement '{options.placement}'; choose one of: {', '.join(defaults.PLACEMENTS)}"
            )
        return inputs

    # 2. glymph only
    @staticmethod
    def compute(inputs: AlpsInputs, options: AlpsOptions) -> AlpsResult:
        """The glymph pipeline; safe to run outside the main thread (touches no node)."""
        if inputs.dwi is not None:
            dti = fit_dti(
                inputs.dwi,
                inputs.mask,
                options.max_b,
                preprocessing=options.preprocessing,
                gradient_check=options.gradient_check,
            )
            b0 = dti.mean_b0
        else:
            dti = DTIResult.from_tensor(inputs.tensor, inputs.mask)  # type: ignore[arg-type]
            b0 = None
        return alps_from_dti(
            dti,
            b0=b0,
            roi_set=options.roi_set,
            rois=inputs.rois,
            roi_diameter_mm=options.roi_diameter_mm,
            frame=options.frame,
            contrast=options.registration_contrast,
            subject=inputs.subject,
            placement=options.placement if options.placement in defaults.AUTOMATIC_PLACEMENTS else defaults.PLACEMENT,
            model_dir=options.model_dir,
            roi_min_fa=options.roi_min_fa,
            sensitivity_mm=sensitivity_diameters(options.diameters_mm),
        )

    @staticmethod
    def start_process(
        inputs: AlpsInputs,
        options: AlpsOptions,
        work_dir: str | os.PathLike,
        python: str | None = None,
        scratch: bool = False,
    ) -> ProcessTask:
        """Step 2 as ``glymph alps`` in a separate process (``python``: PythonSlicer in Slicer): the
        inputs are written into ``work_dir``, the command's result folder (``work_dir/result``) is
        read back by ``read_alps`` when it ends. Poll the returned task; ``cancel()`` ends it.
        ``scratch``: ``work_dir`` is removed once the result is read."""
        from glymph.alps.files import read_alps
        from glymph.alps.markups import write_markups
        from glymph.dti.files import write_dwi_fsl

        if inputs.dwi is None:
            raise GlymphError("a separate process needs a DWI input; tensors are measured in Slicer's process")
        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
        dwi_path, _, _ = write_dwi_fsl(inputs.dwi, work / "dwi.nii.gz")
        argv = ["alps", dwi_path, "--subject", inputs.subject]
        argv += ["--roi-diameter", *map(repr, options.diameters_mm), "--frame", options.frame]
        if options.roi_min_fa is not None:
            argv += ["--roi-min-fa", repr(options.roi_min_fa)]
        argv += ["--denoise", options.denoise] + ["--unring"] * options.unring
        if options.motion_correct != "none":
            argv += ["--motion-correct", options.motion_correct]
        argv += {"fix": ["--fix-gradients"], "off": ["--no-gradient-check"]}.get(options.gradient_check, [])
        argv += ["--registration-contrast", options.registration_contrast, "--max-b", repr(options.max_b)]
        if inputs.rois is not None:
            write_markups(inputs.rois, work / "rois.mrk.json")
            argv += ["--rois", str(work / "rois.mrk.json")]
        else:
            argv += ["--roi-set", options.roi_set, "--placement", options.placement]
        if options.model_dir:
            argv += ["--model-dir", str(options.model_dir)]
        return start_command(argv, work, read_alps, python, scratch, inputs.mask)

    # 3. glymph -> nodes
    def show(self, result: AlpsResult, outputs: AlpsOutputs | None = None, input_node=None) -> AlpsOutputs:
        """Write the result into nodes (created when ``outputs`` lacks them)."""
        outputs = outputs or AlpsOutputs()
        base, scene, created = result.subject, self.scene, outputs.created
        if input_node is not None and input_node.IsA("vtkMRMLDiffusionTensorVolumeNode"):
            outputs.tensor = input_node
        else:
            outputs.tensor = fill(
                outputs.tensor, lambda n: tensor_to_node(result.dti.tensor, scene, f"{base} DTI", n), created
            )
        fa, colour = dti_maps_with_slicer(result.dti.tensor)
        outputs.fa = fill(outputs.fa, lambda n: volume_to_node(fa, scene, f"{base} FA", n), created)
        outputs.colour_fa = fill(
            outputs.colour_fa,
            lambda n: volume_to_node(colour, scene, f"{base} colour orientation", n, "vtkMRMLVectorVolumeNode"),
            created,
        )
        outputs.markups = fill(
            outputs.markups, lambda n: rois_to_markups_node(result.rois, scene, f"{base} ALPS ROIs", n), created
        )
        self._store_state(outputs.markups, result)
        outputs.table = fill(
            outputs.table, lambda n: table_from_rows(results_table_rows(result), scene, f"{base} ALPS", n), created
        )
        return outputs

    def run(
        self, input_node, options: AlpsOptions, mask_node=None, markups_node=None, outputs: AlpsOutputs | None = None
    ) -> tuple[AlpsResult, AlpsOutputs]:
        """All three steps in the calling thread (batch scripts, tests)."""
        result = self.compute(self.read_inputs(input_node, options, mask_node, markups_node), options)
        return result, self.show(result, outputs, input_node)

    def recompute(self, outputs: AlpsOutputs, frame: str | None = None, mask_node=None) -> AlpsResult:
        """The index for the ROI points as they are now (moved by the user), without registering again."""
        if outputs.markups is None or outputs.tensor is None:
            raise GlymphError("run ALPS once (Apply) before recomputing from moved ROIs")
        mask = volume_from_node(mask_node) if mask_node is not None else None
        dti = DTIResult.from_tensor(tensor_from_node(outputs.tensor), mask)
        stored = outputs.markups.GetAttribute(REGISTRATION_ATTRIBUTE)
        registration = Registration.from_dict(json.loads(stored)) if stored else None
        frame = frame or outputs.markups.GetAttribute(FRAME_ATTRIBUTE) or defaults.FRAME
        rois = rois_from_markups_node(outputs.markups)
        subject = outputs.markups.GetAttribute("glymph.subject") or "subject"
        result = alps_from_rois(dti, rois, registration, frame, subject, "manual")
        table_from_rows(results_table_rows(result), self.scene, f"{subject} ALPS", outputs.table)
        return result

    @staticmethod
    def _store_state(markups, result: AlpsResult) -> None:
        markups.SetAttribute(
            REGISTRATION_ATTRIBUTE, json.dumps(result.registration.as_dict()) if result.registration else ""
        )
        markups.SetAttribute(FRAME_ATTRIBUTE, result.frame)
        markups.SetAttribute("glymph.subject", result.subject)
        markups.SetAttribute("glymph.roi_set", result.mni_rois.name if result.mni_rois else "manual")


def index_summary(result: AlpsResult) -> str:
    """One line for a status bar or log."""
    i = result.index
    return f"ALPS left {i.alps_L:.3f}, right {i.alps_R:.3f}, mean {i.alps:.3f} ({i.frame} frame)"
