"""DTI-ALPS: the diffusion index along the perivascular space, with editable ROI spheres.

Module, widget, thin logic and self-test in Slicer's scripted-module layout. All computation
lives in ``ALPSLib`` (MRML nodes, no qt) and the ``glymph`` backend; the widget only collects
parameters, runs the logic off the main thread and shows the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import slicer
from glymph_gui.widget import GlymphModuleWidget
from slicer import (
    vtkMRMLDiffusionTensorVolumeNode,
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLTableNode,
    vtkMRMLVectorVolumeNode,
    vtkMRMLVolumeNode,
)
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

from glymph import defaults

REQUIREMENTS = Path(__file__).parent / "Resources" / "requirements.txt"


class ALPS(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel and help."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("DTI-ALPS")
        self.parent.categories = [_("Diffusion"), _("Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = ["glymph contributors"]
        self.parent.helpText = _(
            "Computes the DTI-ALPS index (diffusion tensor image analysis along the perivascular space) from a "
            "diffusion-weighted or diffusion tensor volume. Four 5 mm spheres (projection and association fibres, "
            "left and right) are placed by affine registration to MNI152 and shown as markups: drag one and press "
            "Recompute. ALPS = mean(Dxx proj, Dxx assoc) / mean(Dyy proj, Dzz assoc) per hemisphere; the "
            "'anatomical' frame rotates tensors into template axes to remove head tilt. "
            "See the <a href='https://github.com/glymph-project/glymph'>glymph documentation</a>."
        )
        self.parent.acknowledgementText = _(
            "Built on dipy, SimpleITK, nibabel and the ICBM 2009a MNI152 template (Fonov et al. 2009, 2011; "
            "McConnell Brain Imaging Centre). Method: Taoka et al. 2017; ROI coordinates: Chen et al. 2025 and the "
            "JHU white-matter atlas placement of Liu et al. 2024."
        )


@parameterNodeWrapper
class ALPSParameterNode:
    """Everything the module panel holds; saved with the scene."""

    inputVolume: vtkMRMLVolumeNode
    maskVolume: vtkMRMLScalarVolumeNode
    roiSet: Annotated[str, Choice(list(defaults.ROI_SETS))] = defaults.ROI_SET
    roiDiameter: Annotated[float, WithinRange(1.0, 20.0)] = defaults.ROI_DIAMETER_MM
    frame: Annotated[str, Choice(list(defaults.FRAMES))] = defaults.FRAME
    placement: Annotated[str, Choice(list(defaults.PLACEMENTS))] = defaults.PLACEMENT
    registrationContrast: Annotated[str, Choice(list(defaults.REGISTRATION_CONTRASTS))] = defaults.REGISTRATION_CONTRAST
    denoise: Annotated[str, Choice(list(defaults.DENOISERS))] = defaults.DENOISE
    unring: bool = False
    motionCorrection: Annotated[str, Choice(list(defaults.MOTION_MODELS))] = defaults.MOTION_CORRECTION
    gradientCheck: Annotated[str, Choice(list(defaults.GRADIENT_CHECKS))] = defaults.GRADIENT_CHECK
    roiMinFa: Annotated[float, WithinRange(0.0, 0.95)] = defaults.ROI_MIN_FA
    roiMarkups: vtkMRMLMarkupsFiducialNode
    tensorVolume: vtkMRMLDiffusionTensorVolumeNode
    faVolume: vtkMRMLScalarVolumeNode
    colourFaVolume: vtkMRMLVectorVolumeNode
    resultTable: vtkMRMLTableNode


class ALPSWidget(GlymphModuleWidget):
    """Thin GUI: parameters in, logic run in a worker thread, results shown."""

    UI_FILE = "UI/ALPS.ui"
    TITLE = "DTI-ALPS"
    REQUIREMENTS = REQUIREMENTS
    INPUT_PARAMETER = "inputVolume"
    INPUT_CLASSES = ("vtkMRMLDiffusionWeightedVolumeNode", "vtkMRMLDiffusionTensorVolumeNode")

    def createLogic(self):
        return ALPSLogic()

    def setupModule(self) -> None:
        self.ui.recomputeButton.connect("clicked(bool)", self.onRecomputeButton)

    def updateModuleButtons(self, p, busy: bool) -> None:
        self.ui.recomputeButton.enabled = bool(p and p.roiMarkups and p.tensorVolume and p.resultTable) and not busy

    def installPlan(self) -> list:
        from ALPSLib.logic import install_plan

        return install_plan(self._parameterNode.placement)

    def task(self, p):
        options = self.logic.options(p)
        markups = p.roiMarkups if p.placement == "markups" else None
        inputs = self.logic.nodeLogic().read_inputs(p.inputVolume, options, p.maskVolume, markups)
        if options.placement == "detector" and inputs.dwi is not None:  # a network: in its own process
            return self.processTask(self.logic.nodeLogic().start_process, inputs, options)
        return self.logic.nodeLogic().compute, (inputs, options)

    def showResult(self, result) -> str:
        outputs = self.logic.storeResult(result, self._parameterNode)
        slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        slicer.util.setSliceViewerLayers(background=outputs.colour_fa, fit=True)
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(outputs.table.GetID())
        applicationLogic.PropagateTableSelection()
        self._centreOnRois(outputs.markups)
        return self.logic.summary(result)

    @staticmethod
    def _centreOnRois(markups) -> None:
        centre = [0.0, 0.0, 0.0]
        n = markups.GetNumberOfControlPoints()
        for i in range(n):
            p = [0.0, 0.0, 0.0]
            markups.GetNthControlPointPosition(i, p)
            centre = [c + v / n for c, v in zip(centre, p, strict=True)]
        slicer.modules.markups.logic().JumpSlicesToLocation(*centre, True)

    def onRecomputeButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not recompute the index."), waitCursor=True):
            self.ui.statusLabel.text = self.logic.summary(self.logic.recompute(self._parameterNode))


class ALPSLogic(ScriptedLoadableModuleLogic):
    """Thin wrapper: parameter node <-> ``ALPSLib.AlpsNodeLogic``. Usable without the widget."""

    def getParameterNode(self):
        return ALPSParameterNode(super().getParameterNode())

    @staticmethod
    def nodeLogic():
        from ALPSLib import AlpsNodeLogic

        return AlpsNodeLogic(slicer.mrmlScene)

    @staticmethod
    def options(parameterNode):
        from ALPSLib import AlpsOptions

        return AlpsOptions(
            roi_set=parameterNode.roiSet,
            roi_diameter_mm=parameterNode.roiDiameter,
            frame=parameterNode.frame,
            placement=parameterNode.placement,
            registration_contrast=parameterNode.registrationContrast,
            roi_min_fa=parameterNode.roiMinFa or None,
            denoise=parameterNode.denoise,
            unring=parameterNode.unring,
            motion_correct=parameterNode.motionCorrection,
            gradient_check=parameterNode.gradientCheck,
        )

    @staticmethod
    def outputs(parameterNode):
        from ALPSLib import AlpsOutputs

        p = parameterNode
        return AlpsOutputs(p.roiMarkups, p.tensorVolume, p.faVolume, p.colourFaVolume, p.resultTable)

    def process(self, parameterNode):
        """Run everything in the calling thread (scripts and the self-test); returns the glymph result."""
        p = parameterNode
        markups = p.roiMarkups if p.placement == "markups" else None
        result, outputs = self.nodeLogic().run(p.inputVolume, self.options(p), p.maskVolume, markups, self.outputs(p))
        self._remember(outputs, p)
        return result

    def storeResult(self, result, parameterNode):
        """Put a result computed in the background into the output nodes (created when missing),
        remembered in the parameter node; returns the ``AlpsOutputs``. Views are the widget's."""
        outputs = self.nodeLogic().show(result, self.outputs(parameterNode), parameterNode.inputVolume)
        self._remember(outputs, parameterNode)
        return outputs

    def recompute(self, parameterNode):
        return self.nodeLogic().recompute(self.outputs(parameterNode), parameterNode.frame, parameterNode.maskVolume)

    @staticmethod
    def summary(result) -> str:
        from ALPSLib.logic import index_summary

        return index_summary(result)

    @staticmethod
    def _remember(outputs, p) -> None:
        p.roiMarkups, p.tensorVolume, p.faVolume, p.colourFaVolume, p.resultTable = (
            outputs.markups,
            outputs.tensor,
            outputs.fa,
            outputs.colour_fa,
            outputs.table,
        )


class ALPSTest(ScriptedLoadableModuleTest):
    """Runs in real Slicer (Developer mode, Reload and Test): the logic on a phantom with a known index."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_phantom_index()

    def test_phantom_index(self):
        import numpy as np

        from glymph.phantoms import alps_phantom
        from glymph_mrml import dwi_to_node

        self.delayDisplay("Building a DWI phantom with ALPS left 1.3, right 1.6")
        phantom = alps_phantom(1.3, 1.6, voxel_mm=2.5, n_directions=20, snr=np.inf)
        node = dwi_to_node(phantom.dwi, slicer.mrmlScene, "ALPS phantom")
        logic = ALPSLogic()
        parameters = logic.getParameterNode()
        parameters.inputVolume = node
        parameters.frame = "anatomical"
        result = logic.process(parameters)
        self.assertAlmostEqual(result.index.alps_L, 1.3, places=3)
        self.assertAlmostEqual(result.index.alps_R, 1.6, places=3)
        self.assertEqual(parameters.roiMarkups.GetNumberOfControlPoints(), 4)
        self.assertEqual(parameters.resultTable.GetNumberOfRows(), 11)
        self.delayDisplay("Moving proj_L by 2.5 mm and recomputing")
        p = [0.0, 0.0, 0.0]
        parameters.roiMarkups.GetNthControlPointPosition(0, p)
        parameters.roiMarkups.SetNthControlPointPosition(0, p[0], p[1] + 2.5, p[2])
        moved = logic.recompute(parameters)
        self.assertAlmostEqual(moved.index.alps_L, 1.3, places=3)
        self.delayDisplay("Test passed")
