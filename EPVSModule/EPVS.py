"""EPVS: enlarged perivascular spaces segmented, counted and measured from a T1 (and T2).

Module, widget, thin logic and self-test in Slicer's scripted-module layout. All computation lives
in ``EPVSLib`` (MRML nodes, no qt) and the ``glymph`` backend; the widget collects parameters,
runs the logic off the main thread and shows the segmentation and tables.
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


class EPVS(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel and help."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("EPVS")
        self.parent.categories = [_("Segmentation"), _("Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = ["glymph contributors"]
        self.parent.helpText = _(
            "Segments enlarged perivascular spaces (EPVS) in a T1-weighted volume (optionally with a T2), removes "
            "components shorter than the minimum length, and reports count, volume and regional fractions in the "
            "basal ganglia, centrum semiovale and midbrain. Select a row of the lesion table to centre the views on "
            "that lesion. See the <a href='https://github.com/glymph-project/glymph'>glymph documentation</a>."
        )
        self.parent.acknowledgementText = _(
            "Brain extraction: deepbet (Fisch et al. 2024, MIT licence). Regions: AAL (Tzourio-Mazoyer et al. 2002) and "
            "the ICBM 2009a MNI152 template (Fonov et al.). Pipeline after Chen et al. 2025 (Front. Aging Neurosci.)."
        )


@parameterNodeWrapper
class EPVSParameterNode:
    """Everything the module panel holds; saved with the scene."""

    t1Volume: vtkMRMLScalarVolumeNode
    t2Volume: vtkMRMLScalarVolumeNode
    maskVolume: vtkMRMLScalarVolumeNode
    method: Annotated[str, Choice(["classical"])] = "classical"
    minLength: Annotated[float, WithinRange(0.0, 20.0)] = 2.0
    segmentation: vtkMRMLSegmentationNode
    summaryTable: vtkMRMLTableNode
    lesionTable: vtkMRMLTableNode


class EPVSWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
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
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/EPVS.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = EPVSLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.lesionTableView.connect("clicked(QModelIndex)", self.onLesionClicked)
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
        if not self._parameterNode.t1Volume:
            node = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if node:
                self._parameterNode.t1Volume = node

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
        self.ui.applyButton.enabled = bool(p and p.t1Volume) and not busy
        self.ui.lesionTableView.setMRMLTableNode(p.lesionTable if p else None)

    def onApplyButton(self) -> None:
        from glymph_gui import ensure_requirements, ensure_torch

        p = self._parameterNode
        if not ensure_requirements(REQUIREMENTS, "EPVS"):
            return
        if p.maskVolume is None and not ensure_torch("EPVS brain extraction"):
            return
        with slicer.util.tryWithErrorDisplay(_("EPVS could not start."), waitCursor=True):
            options = self.logic.options(p)
            inputs = self.logic.nodeLogic().read_inputs(p.t1Volume, options, p.t2Volume, p.maskVolume)
            self._task.start(self.logic.nodeLogic().compute, inputs, options)
            self.ui.progressBar.setVisible(True)
            self.ui.progressBar.setRange(0, 0)
            self.ui.statusLabel.text = _("Running...")
            self._updateButtons()

    def _onProgress(self, message: str) -> None:
        self.ui.statusLabel.text = message
        slicer.util.showStatusMessage(f"EPVS: {message}", 3000)

    def _onFailure(self, error: BaseException) -> None:
        self.ui.progressBar.setVisible(False)
        self.ui.statusLabel.text = _("Failed")
        self._updateButtons()
        slicer.util.errorDisplay(_("EPVS failed: {error}").format(error=error))

    def _onResult(self, result) -> None:
        self.ui.progressBar.setVisible(False)
        with slicer.util.tryWithErrorDisplay(_("Could not show the results."), waitCursor=True):
            self.logic.showResult(result, self._parameterNode)
            summary = result.summary()
            self.ui.statusLabel.text = _("{count} EPVS, {volume:.0f} mm3").format(
                count=summary["count"], volume=summary["total_volume_mm3"]
            )
        self._updateButtons()

    def onLesionClicked(self, index) -> None:
        """Centre the slice views on the lesion of the clicked row (found by its id: rows may be sorted)."""
        p = self._parameterNode
        if p is None or p.lesionTable is None:
            return
        from EPVSLib.logic import lesion_centroid

        lesion_id = int(float(index.sibling(index.row(), 0).data()))
        slicer.modules.markups.logic().JumpSlicesToLocation(*lesion_centroid(p.lesionTable, lesion_id), True)


class EPVSLogic(ScriptedLoadableModuleLogic):
    """Thin wrapper: parameter node <-> ``EPVSLib.EpvsNodeLogic``. Usable without the widget."""

    def getParameterNode(self):
        return EPVSParameterNode(super().getParameterNode())

    @staticmethod
    def nodeLogic():
        from EPVSLib import EpvsNodeLogic

        return EpvsNodeLogic(slicer.mrmlScene)

    @staticmethod
    def options(parameterNode):
        from EPVSLib import EpvsOptions

        return EpvsOptions(method=parameterNode.method, min_length_mm=parameterNode.minLength)

    @staticmethod
    def outputs(parameterNode):
        from EPVSLib import EpvsOutputs

        p = parameterNode
        return EpvsOutputs(p.segmentation, p.summaryTable, p.lesionTable)

    def process(self, parameterNode):
        """Run everything in the calling thread (scripts and the self-test); returns the glymph result."""
        p = parameterNode
        result, outputs = self.nodeLogic().run(p.t1Volume, self.options(p), p.t2Volume, p.maskVolume, self.outputs(p))
        self._remember(outputs, p)
        return result

    def showResult(self, result, parameterNode) -> None:
        outputs = self.nodeLogic().show(result, self.outputs(parameterNode))
        self._remember(outputs, parameterNode)
        slicer.util.setSliceViewerLayers(background=parameterNode.t1Volume, fit=True)
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(outputs.summary_table.GetID())
        applicationLogic.PropagateTableSelection()

    @staticmethod
    def _remember(outputs, p) -> None:
        p.segmentation, p.summaryTable, p.lesionTable = (
            outputs.segmentation,
            outputs.summary_table,
            outputs.lesion_table,
        )


class EPVSTest(ScriptedLoadableModuleTest):
    """Runs in real Slicer: the logic on a Colin27-like phantom with known lesions (needs mricron-data)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_phantom_lesions()

    def test_phantom_lesions(self):
        import numpy as np

        from glymph.epvs_phantom import epvs_phantom
        from glymph.preprocess import isotropic_grid, resample
        from glymph.registration import AffineMap
        from glymph.templates import mni152
        from glymph_mrml import volume_to_node

        self.delayDisplay("Inserting lesions into the MNI152 template")
        template = mni152()
        grid = isotropic_grid(template.t1, 1.0)
        t1 = resample(template.t1.with_data(template.t1.data * 200), grid, order=3)
        mask = resample(template.brain_mask.with_data(template.brain_mask.data.astype(np.uint8)), grid, order=0)
        phantom = epvs_phantom(t1, mask, AffineMap(np.eye(4)), seed=7)
        logic = EPVSLogic()
        parameters = logic.getParameterNode()
        parameters.t1Volume = volume_to_node(phantom.t1, slicer.mrmlScene, "EPVS phantom")
        parameters.maskVolume = volume_to_node(
            mask, slicer.mrmlScene, "EPVS phantom mask", class_name="vtkMRMLLabelMapVolumeNode"
        )
        result = logic.process(parameters)
        self.assertGreater(len(result.lesions), 0)
        self.assertEqual(parameters.segmentation.GetSegmentation().GetNumberOfSegments(), 4)
        self.assertEqual(parameters.lesionTable.GetNumberOfRows(), len(result.lesions))
        self.delayDisplay("Test passed")
