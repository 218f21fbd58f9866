"""Superficial veins: MinIP of SWI, vein segmentation and per-hemisphere morphometry.

Module, widget, thin logic and self-test in Slicer's scripted-module layout. All computation lives
in ``VeinLib`` (MRML nodes, no qt) and the ``glymph`` backend; the widget collects parameters,
runs the logic off the main thread and shows the MinIP, the veins and their centrelines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

REQUIREMENTS = Path(__file__).parent / "Resources" / "requirements.txt"


class Vein(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel and help."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Superficial veins")
        self.parent.categories = [_("Quantification"), _("Vascular Modeling Toolkit")]
        self.parent.dependencies = []
        self.parent.contributors = ["glymph contributors"]
        self.parent.helpText = _(
            "Measures superficial cerebral veins on SWI: a minimum-intensity projection (MinIP) over an axial slab "
            "(20 mm) at the level of the lateral ventricle bodies, the mid-sagittal line from left-right symmetry, "
            "vein segmentation, and per hemisphere the vein count, diameter (area / centreline length) and tortuosity "
            "(centreline length / end-point distance). Each vein's centreline is a markups curve named by hemisphere and "
            "number. See the <a href='https://github.com/glymph-project/glymph'>glymph documentation</a>."
        )
        self.parent.acknowledgementText = _(
            "Definitions after the SCV study (MinIP of SWI, Labelme annotations, DeepLabV3+ segmentation). Skeleton "
            "analysis with skan (Nunez-Iglesias et al. 2018) and scikit-image."
        )


@parameterNodeWrapper
class VeinParameterNode:
    """Everything the module panel holds; saved with the scene."""

    swiVolume: vtkMRMLScalarVolumeNode
    maskVolume: vtkMRMLScalarVolumeNode
    slabThickness: Annotated[float, WithinRange(2.0, 60.0)] = 20.0
    automaticLevel: bool = True
    slabCenter: Annotated[float, WithinRange(-200.0, 200.0)] = 0.0
    method: Annotated[str, Choice(["classical"])] = "classical"
    minipVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    hemisphereTable: vtkMRMLTableNode
    veinTable: vtkMRMLTableNode


class VeinWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Thin GUI: parameters in, logic run in a worker thread, results shown."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._task = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/Vein.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = VeinLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.progressBar.setVisible(False)
        from glymph_gui import TaskPoller

        self._task = TaskPoller(self._onProgress, self._onResult, self._onFailure)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self._task:
            self._task.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.swiVolume:
            node = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if node:
                self._parameterNode.swiVolume = node

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
            self._updateButtons()

    def _updateButtons(self, caller=None, event=None) -> None:
        p = self._parameterNode
        busy = bool(self._task and self._task.busy)
        self.ui.applyButton.enabled = bool(p and p.swiVolume) and not busy
        self.ui.slabCenterSpinBox.enabled = bool(p) and not p.automaticLevel

    def onApplyButton(self) -> None:
        from glymph_gui import ensure_requirements

        if not ensure_requirements(REQUIREMENTS, "Superficial veins"):
            return
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("The vein analysis could not start."), waitCursor=True):
            options = self.logic.options(p)
            inputs = self.logic.nodeLogic().read_inputs(p.swiVolume, options, p.maskVolume)
            self._task.start(self.logic.nodeLogic().compute, inputs, options)
            self.ui.progressBar.setVisible(True)
            self.ui.progressBar.setRange(0, 0)
            self.ui.statusLabel.text = _("Running...")
            self._updateButtons()

    def _onProgress(self, message: str) -> None:
        self.ui.statusLabel.text = message
        slicer.util.showStatusMessage(f"Superficial veins: {message}", 3000)

    def _onFailure(self, error: BaseException) -> None:
        self.ui.progressBar.setVisible(False)
        self.ui.statusLabel.text = _("Failed")
        self._updateButtons()
        slicer.util.errorDisplay(_("The vein analysis failed: {error}").format(error=error))

    def _onResult(self, result) -> None:
        self.ui.progressBar.setVisible(False)
        with slicer.util.tryWithErrorDisplay(_("Could not show the results."), waitCursor=True):
            self.logic.showResult(result, self._parameterNode)
            rows = {row["hemisphere"]: row for row in result.hemisphere_rows()}
            self.ui.statusLabel.text = _("left {left} veins, right {right} veins (MinIP at z = {z:.1f} mm)").format(
                left=rows["left"]["count"], right=rows["right"]["count"], z=result.level_z_mm
            )
        self._updateButtons()


class VeinLogic(ScriptedLoadableModuleLogic):
    """Thin wrapper: parameter node <-> ``VeinLib.VeinNodeLogic``. Usable without the widget."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._curves = []

    def getParameterNode(self):
        return VeinParameterNode(super().getParameterNode())

    @staticmethod
    def nodeLogic():
        from VeinLib import VeinNodeLogic

        return VeinNodeLogic(slicer.mrmlScene)

    @staticmethod
    def options(parameterNode):
        from VeinLib import VeinOptions

        p = parameterNode
        return VeinOptions(
            slab_mm=p.slabThickness, slab_center_mm=None if p.automaticLevel else p.slabCenter, method=p.method
        )

    def outputs(self, parameterNode):
        from VeinLib import VeinOutputs

        p = parameterNode
        return VeinOutputs(p.minipVolume, p.segmentation, p.hemisphereTable, p.veinTable, list(self._curves))

    def process(self, parameterNode):
        """Run everything in the calling thread (scripts and the self-test); returns the glymph result."""
        p = parameterNode
        result, outputs = self.nodeLogic().run(p.swiVolume, self.options(p), p.maskVolume, self.outputs(p))
        self._remember(outputs, p)
        return result

    def showResult(self, result, parameterNode) -> None:
        outputs = self.nodeLogic().show(result, self.outputs(parameterNode))
        self._remember(outputs, parameterNode)
        slicer.util.setSliceViewerLayers(background=outputs.minip, fit=True)
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(outputs.hemisphere_table.GetID())
        applicationLogic.PropagateTableSelection()

    def _remember(self, outputs, p) -> None:
        p.minipVolume, p.segmentation, p.hemisphereTable, p.veinTable = (
            outputs.minip,
            outputs.segmentation,
            outputs.hemisphere_table,
            outputs.vein_table,
        )
        self._curves = outputs.curves


class VeinTest(ScriptedLoadableModuleTest):
    """Runs in real Slicer: the logic on an SWI phantom with known veins per hemisphere."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_phantom_veins()

    def test_phantom_veins(self):
        from glymph.vein_phantom import swi_phantom
        from glymph_mrml import volume_to_node

        self.delayDisplay("Building an SWI phantom: 6 veins on the left, 5 on the right")
        phantom = swi_phantom(seed=3)
        logic = VeinLogic()
        parameters = logic.getParameterNode()
        parameters.swiVolume = volume_to_node(phantom.swi, slicer.mrmlScene, "SWI phantom")
        result = logic.process(parameters)
        counts = {h: sum(v.hemisphere == h for v in result.veins) for h in ("left", "right")}
        self.assertLessEqual(abs(counts["left"] - 6), 2)
        self.assertLessEqual(abs(counts["right"] - 5), 2)
        self.assertEqual(parameters.hemisphereTable.GetNumberOfRows(), 2)
        self.assertEqual(len(slicer.util.getNodesByClass("vtkMRMLMarkupsCurveNode")), len(result.veins))
        self.delayDisplay("Test passed")
