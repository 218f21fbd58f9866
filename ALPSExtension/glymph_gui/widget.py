"""The panel behaviour all glymph modules share: parameter-node binding, Apply running the module's
logic in a background task with progress in the panel, errors shown in a message."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import slicer
import vtk
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from glymph_gui import TaskPoller, ensure_dependencies


class GlymphModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Base of the module widgets. A module sets the class attributes and implements
    ``createLogic``, ``task`` (what Apply runs in the background) and ``showResult``."""

    UI_FILE = ""  # e.g. "UI/ALPS.ui", relative to the module's Resources
    TITLE = ""  # shown in messages
    REQUIREMENTS: Path | None = None  # the module's Resources/requirements.txt
    INPUT_PARAMETER = ""  # the parameter that must be set before Apply
    INPUT_CLASSES: tuple[str, ...] = ()  # node classes tried, in order, to pre-select that input

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._task: TaskPoller | None = None

    # --- what a module provides
    def createLogic(self):
        raise NotImplementedError

    def task(self, parameterNode):
        """Read the inputs (main thread) and return ``(function, args)`` to run in a worker thread,
        or a started ``glymph.process.ProcessTask`` (a network in its own process: Cancel ends it)."""
        raise NotImplementedError

    def showResult(self, result) -> str:
        """Put the result into nodes and views (main thread); return a one-line summary."""
        raise NotImplementedError

    def setupModule(self) -> None:
        """Extra connections of the module's own widgets."""

    def updateModuleButtons(self, parameterNode, busy: bool) -> None:
        """Enable or disable the module's own widgets."""

    def installPlan(self) -> list:
        """What Apply makes sure is installed first, in order (see ``glymph_gui.ensure_dependencies``)."""
        return [] if self.REQUIREMENTS is None else [self.REQUIREMENTS]

    def ensureDependencies(self) -> bool:
        return ensure_dependencies(self.installPlan(), self.TITLE)

    def processTask(self, startProcess, inputs, options):
        """The logic's ``start_process`` run with PythonSlicer in a scratch folder of its own: what
        ``task`` returns when a network runs. As in SlicerNNUnet, a crash in the network cannot take
        Slicer down, the panel stays responsive, and Cancel ends the process."""
        work = tempfile.mkdtemp(prefix=f"glymph-{self.TITLE.lower()}-")
        return startProcess(inputs, options, work, shutil.which("PythonSlicer"), scratch=True)

    # --- shared behaviour
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath(self.UI_FILE))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = self.createLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.progressBar.setVisible(False)
        self._task = TaskPoller(self.onProgress, self._onResult, self.onFailure)
        self.setupModule()
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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not getattr(self._parameterNode, self.INPUT_PARAMETER):
            for className in self.INPUT_CLASSES:
                node = slicer.mrmlScene.GetFirstNodeByClass(className)
                if node:
                    setattr(self._parameterNode, self.INPUT_PARAMETER, node)
                    break

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
            self.updateButtons()

    @property
    def busy(self) -> bool:
        return bool(self._task and self._task.busy)

    def updateButtons(self, caller=None, event=None) -> None:
        p = self._parameterNode
        self.ui.applyButton.enabled = bool(p and getattr(p, self.INPUT_PARAMETER)) and not self.busy
        self.ui.cancelButton.enabled = bool(self._task and self._task.cancellable)
        self.updateModuleButtons(p, self.busy)

    def onApplyButton(self) -> None:
        if not self.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(f"{self.TITLE} could not start.", waitCursor=True):
            work = self.task(self._parameterNode)
            if isinstance(work, tuple):
                function, args = work
                self._task.start(function, *args)
            else:
                self._task.follow(work)
            self.ui.progressBar.setVisible(True)
            self.ui.progressBar.setRange(0, 0)
            self.ui.statusLabel.text = "Running..."
            self.updateButtons()

    def onCancelButton(self) -> None:
        self.ui.statusLabel.text = "Cancelling..."
        self._task.cancel()

    def onProgress(self, message: str) -> None:
        self.ui.statusLabel.text = message
        slicer.util.showStatusMessage(f"{self.TITLE}: {message}", 3000)

    def onFailure(self, error: BaseException) -> None:
        self.ui.progressBar.setVisible(False)
        self.ui.statusLabel.text = "Failed"
        self.updateButtons()
        slicer.util.errorDisplay(f"{self.TITLE} failed: {error}")

    def _onResult(self, result) -> None:
        self.ui.progressBar.setVisible(False)
        with slicer.util.tryWithErrorDisplay("Could not show the results.", waitCursor=True):
            self.ui.statusLabel.text = self.showResult(result)
        self.updateButtons()
