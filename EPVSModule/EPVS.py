"""EPVS: enlarged perivascular spaces segmented, counted and measured from a T1 (and T2).

Module, widget, thin logic and self-test in Slicer's scripted-module layout. All computation lives
in ``EPVSLib`` (MRML nodes, no qt) and the ``glymph`` backend; the widget collects parameters,
runs the logic off the main thread and shows the segmentation and tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import slicer
from glymph_gui.widget import GlymphModuleWidget
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

from glymph import defaults

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
    method: Annotated[str, Choice(list(defaults.EPVS_METHODS.names))] = defaults.EPVS_METHOD
    minLength: Annotated[float, WithinRange(0.0, 20.0)] = defaults.MIN_LENGTH_MM
    t2Only: bool = False
    flips: bool = False
    segmentation: vtkMRMLSegmentationNode
    summaryTable: vtkMRMLTableNode
    lesionTable: vtkMRMLTableNode


class EPVSWidget(GlymphModuleWidget):
    """Thin GUI: parameters in, logic run in a worker thread, results shown."""

    UI_FILE = "UI/EPVS.ui"
    TITLE = "EPVS"
    REQUIREMENTS = REQUIREMENTS
    INPUT_PARAMETER = "t1Volume"
    INPUT_CLASSES = ("vtkMRMLScalarVolumeNode",)

    def createLogic(self):
        return EPVSLogic()

    def setupModule(self) -> None:
        self.ui.lesionTableView.connect("clicked(QModelIndex)", self.onLesionClicked)

    def updateModuleButtons(self, p, busy: bool) -> None:
        self.ui.lesionTableView.setMRMLTableNode(p.lesionTable if p else None)

    def installPlan(self) -> list:
        from EPVSLib import install_plan

        p = self._parameterNode
        return install_plan(mask_given=p.maskVolume is not None, method=p.method)

    def task(self, p):
        from EPVSLib.logic import runs_network

        options = self.logic.options(p)
        inputs = self.logic.nodeLogic().read_inputs(p.t1Volume, options, p.t2Volume, p.maskVolume)
        if runs_network(inputs, options):  # brain extraction or a learned segmentation: in its own process
            return self.processTask(self.logic.nodeLogic().start_process, inputs, options)
        return self.logic.nodeLogic().compute, (inputs, options)

    def showResult(self, result) -> str:
        outputs = self.logic.storeResult(result, self._parameterNode)
        slicer.util.setSliceViewerLayers(background=self._parameterNode.t1Volume, fit=True)
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(outputs.summary_table.GetID())
        applicationLogic.PropagateTableSelection()
        summary = result.summary()
        return _("{count} EPVS, {volume:.0f} mm3").format(count=summary["count"], volume=summary["total_volume_mm3"])

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

        p = parameterNode
        return EpvsOptions(
            method=p.method, min_length_mm=p.minLength, contrast="t2" if p.t2Only else "t1", flips=p.flips
        )

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

    def storeResult(self, result, parameterNode):
        """Put a result computed in the background into the output nodes (created when missing),
        remembered in the parameter node; returns the ``EpvsOutputs``. Views are the widget's."""
        outputs = self.nodeLogic().show(result, self.outputs(parameterNode))
        self._remember(outputs, parameterNode)
        return outputs

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

        from glymph.epvs.regions import regions_in_subject
        from glymph.phantoms import epvs_phantom
        from glymph.preprocess import isotropic_grid, resample
        from glymph.registration import AffineMap
        from glymph.templates import mni152
        from glymph_mrml import mask_to_node, volume_to_node

        self.delayDisplay("Inserting lesions into the MNI152 template")
        template = mni152()
        grid = isotropic_grid(template.t1, 1.0)
        t1 = resample(template.t1.with_data(template.t1.data * 200), grid, order=3)
        mask = resample(template.brain_mask.with_data(template.brain_mask.data.astype(np.uint8)), grid, order=0)
        # a smoke test: lesions placed in glymph's own regions (the test suite places them by the AAL atlas)
        placement = regions_in_subject(t1, AffineMap(np.eye(4)))
        phantom = epvs_phantom(t1, mask, AffineMap(np.eye(4)), placement, seed=7)
        logic = EPVSLogic()
        parameters = logic.getParameterNode()
        parameters.t1Volume = volume_to_node(phantom.t1, slicer.mrmlScene, "EPVS phantom")
        parameters.maskVolume = mask_to_node(mask, slicer.mrmlScene, "EPVS phantom mask")
        result = logic.process(parameters)
        self.assertGreater(len(result.lesions), 0)
        self.assertEqual(parameters.segmentation.GetSegmentation().GetNumberOfSegments(), 4)
        self.assertEqual(parameters.lesionTable.GetNumberOfRows(), len(result.lesions))
        self.delayDisplay("Test passed")
