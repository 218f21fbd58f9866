"""Helpers shared by the glymph module widgets (imports slicer and qt: for the GUI only).

``ensure_dependencies`` installs what a module's install plan lists (PyTorch through the PyTorch
extension, then requirement files) on first use, after asking;
``TaskPoller`` runs a ``glymph.progress.BackgroundTask`` and reports it to the widget through a
QTimer, so long steps never freeze the interface.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable
from pathlib import Path

import qt
import slicer

from glymph.progress import BackgroundTask


def missing_requirements(requirements: list[str]) -> list[str]:
    missing = []
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def ensure_requirements(requirements_file: Path, requester: str) -> bool:
    """Install the packages of ``requirements_file`` that are missing, after asking (never at import).

    Uses ``slicer.packaging.pip_ensure`` where this Slicer has it (it asks, installs with progress
    and offers a restart), else asks here and calls ``slicer.util.pip_install``.
    """
    requirements = [
        line.strip()
        for line in Path(requirements_file).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    packaging = getattr(slicer, "packaging", None)
    if packaging is not None and hasattr(packaging, "pip_ensure"):
        packaging.pip_ensure(requirements, requester=requester)
        return bool(packaging.pip_check(requirements))
    missing = missing_requirements(requirements)
    if not missing:
        return True
    if not slicer.util.confirmOkCancelDisplay(
        f"{requester} needs these Python packages: {', '.join(missing)}. Install them now?"
    ):
        return False
    with slicer.util.WaitCursor():
        slicer.util.pip_install(" ".join(missing))
    return True


def ensure_torch(requester: str) -> bool:
    """PyTorch through the PyTorch extension (the right build for this computer), after asking."""
    try:
        import torch  # noqa: F401

        return True
    except ImportError:
        pass
    try:
        import PyTorchUtils
    except ImportError:
        slicer.util.errorDisplay(
            f"{requester} needs PyTorch: install the 'PyTorch' extension from the Extensions Manager, restart, and try again."
        )
        return False
    if not slicer.util.confirmOkCancelDisplay(
        f"{requester} needs PyTorch, which is not installed yet. Install it now (this can take a few minutes)?"
    ):
        return False
    return PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False) is not None


def ensure_dependencies(plan: list[str | Path], requester: str) -> bool:
    """Go through a module's install plan in order: ``"torch"`` is PyTorch from the PyTorch extension
    (``ensure_torch``), a path is a requirements file (``ensure_requirements``). False when the user
    declines or a step fails."""
    for step in plan:
        done = ensure_torch(requester) if step == "torch" else ensure_requirements(Path(step), requester)
        if not done:
            return False
    return True


class TaskPoller:
    """Runs a background task and calls back in the main thread: ``on_message(text)`` while it runs,
    then ``on_done(result)`` or ``on_error(exception)``."""

    def __init__(
        self,
        on_message: Callable[[str], None],
        on_done: Callable[[object], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.task: BackgroundTask | None = None
        self._on_message, self._on_done, self._on_error = on_message, on_done, on_error
        self._timer = qt.QTimer()
        self._timer.setInterval(200)
        self._timer.connect("timeout()", self._poll)

    @property
    def busy(self) -> bool:
        return self.task is not None

    def start(self, function, *args) -> None:
        """Run ``function(*args)`` in a worker thread."""
        self.follow(BackgroundTask(function, *args).start())

    def follow(self, task) -> None:
        """Poll a started task: a ``BackgroundTask`` or a ``glymph.process.ProcessTask``."""
        self.task = task
        self._timer.start()

    @property
    def cancellable(self) -> bool:
        """A command in its own process can be ended; a worker thread cannot."""
        return self.task is not None and hasattr(self.task, "cancel")

    def cancel(self) -> None:
        if self.cancellable:
            self.task.cancel()  # the next poll reports it as an error ("cancelled")

    def stop(self) -> None:
        self._timer.stop()

    def _poll(self) -> None:
        task = self.task
        if task is None:
            return
        for message in task.messages():
            self._on_message(message)
        if not task.done:
            return
        self._timer.stop()
        self.task = None
        if task.error is not None:
            self._on_error(task.error)
        else:
            self._on_done(task.result)
