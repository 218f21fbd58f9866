"""Superficial veins: MinIP of SWI, vein segmentation and per-hemisphere morphometry.

Module, widget, thin logic and self-test in Slicer's scripted-module layout. All computation lives
in ``VeinLib`` (MRML nodes, no qt) and the ``glymph`` backend; the widget collects parameters,
runs the logic off the main thread and shows the MinIP, the veins and their centrelines.
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
            "vein segmentation, and per hemisphere the vein count, diameter (a tube model fitted to the intensity "
            "profile across each vein; area / length beside it) and tortuosity (sub-pixel centreline length / "
            "end-point distance). Each vein's centreline is a markups curve named by hemisphere and "
            "number. See the <a href='https://github.com/glymph-project/glymph'>glymph documentation</a>."
        )
        self.parent.acknowledgementText = _(
            "Definitions after the SCV study (MinIP of SWI, Labelme annotations, DeepLabV3+ segmentation). Skeletons "
            "with scikit-image, split into branches as skan (Nunez-Iglesias et al. 2018) does."
        )


@parameterNodeWrapper
class VeinParameterNode:
    """Everything the module panel holds; saved with the scene."""

    swiVolume: vtkMRMLScalarVolumeNode
    maskVolume: vtkMRMLScalarVolumeNode
    slabThickness: Annotated[float, WithinRange(2.0, 60.0)] = defaults.SLAB_MM
    automaticLevel: bool = True
    slabCenter: Annotated[float, WithinRange(-200.0, 200.0)] = 0.0
    method: Annotated[str, Choice(list(defaults.VEIN_METHODS.names))] = defaults.VEIN_METHOD
    flips: bool = False
    minipVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    hemisphereTable: vtkMRMLTableNode
    veinTable: vtkMRMLTableNode


class VeinWidget(GlymphModuleWidget):
    """Thin GUI: parameters in, logic run in a worker thread, results shown."""

    UI_FILE = "UI/Vein.ui"
    TITLE = "Superficial veins"
    REQUIREMENTS = REQUIREMENTS
    INPUT_PARAMETER = "swiVolume"
    INPUT_CLASSES = ("vtkMRMLScalarVolumeNode",)

    def createLogic(self):
        return VeinLogic()

    def updateModuleButtons(self, p, busy: bool) -> None:
        self.ui.slabCenterSpinBox.enabled = bool(p) and not p.automaticLevel

    def installPlan(self) -> list:
        from VeinLib import install_plan

        return install_plan(self._parameterNode.method)

    def task(self, p):
        options = self.logic.options(p)
        inputs = self.logic.nodeLogic().read_inputs(p.swiVolume, options, p.maskVolume)
        if defaults.VEIN_METHODS.runs_network(options.method):  # a network: in its own process
            return self.processTask(self.logic.nodeLogic().start_process, inputs, options)
        return self.logic.nodeLogic().compute, (inputs, options)

    def showResult(self, result) -> str:
        outputs = self.logic.storeResult(result, self._parameterNode)
        slicer.util.setSliceViewerLayers(background=outputs.minip, fit=True)
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(outputs.hemisphere_table.GetID())
        applicationLogic.PropagateTableSelection()
        rows = {row["hemisphere"]: row for row in result.hemisphere_rows()}
        return _("left {left} veins, right {right} veins (MinIP at z = {z:.1f} mm)").format(
            left=rows["left"]["count"], right=rows["right"]["count"], z=result.level_z_mm
        )


class VeinLogic(ScriptedLoadableModuleLogic):
    """Thin wrapper: parameter node <-> ``VeinLib.VeinNodeLogic``. Usable without the widget."""

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
            slab_mm=p.slabThickness,
            slab_center_mm=None if p.automaticLevel else p.slabCenter,
            method=p.method,
            flips=p.flips,
        )

    @staticmethod
    def outputs(parameterNode):
        from VeinLib import VeinOutputs

        p = parameterNode
        return VeinOutputs(p.minipVolume, p.segmentation, p.hemisphereTable, p.veinTable)

    def process(self, parameterNode):
        """Run everything in the calling thread (scripts and the self-test); returns the glymph result."""
        p = parameterNode
        result, outputs = self.nodeLogic().run(p.swiVolume, self.options(p), p.maskVolume, self.outputs(p))
        self._remember(outputs, p)
        return result

    def storeResult(self, result, parameterNode):
        """Put a result computed in the background into the output nodes (created when missing),
        remembered in the parameter node; returns the ``VeinOutputs``. Views are the widget's."""
        outputs = self.nodeLogic().show(result, self.outputs(parameterNode))
        self._remember(outputs, parameterNode)
        return outputs

    @staticmethod
    def _remember(outputs, p) -> None:
        """The output nodes into the parameter node (the curves hang off the segmentation node)."""
        p.minipVolume, p.segmentation, p.hemisphereTable, p.veinTable = (
            outputs.minip,
            outputs.segmentation,
            outputs.hemisphere_table,
            outputs.vein_table,
        )


class VeinTest(ScriptedLoadableModuleTest):
    """Runs in real Slicer: the logic on an SWI phantom with known veins per hemisphere."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_phantom_veins()

    def test_phantom_veins(self):
        from glymph.phantoms import swi_phantom
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
