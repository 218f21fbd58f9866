"""A ``glymph`` command run in a process of its own, for GUIs (as SlicerNNUnet and MONAIAuto3DSeg
run their networks): a crash or a long network run cannot take the application down or freeze it.

Start it, then poll ``messages()`` and ``done`` (from a timer); ``cancel()`` ends it (the command
removes what it was writing); afterwards ``returncode`` and, on failure, ``error`` (the command's
one-line user error, or the last line a crash printed) tell what happened.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from glymph.errors import GlymphError

PREFIX = "glymph: "
ERROR_PREFIX = "glymph: error: "


class CommandProcess:
    """``python -m glymph.cli ARGV`` in a separate process, its progress collected as it comes.

    ``python`` is the interpreter to use: inside Slicer, ``PythonSlicer`` (so the command sees the
    packages Slicer's Python has); elsewhere, this interpreter.
    """

    def __init__(self, argv: Sequence[str], python: str | None = None, env: dict[str, str] | None = None) -> None:
        self.argv = [python or sys.executable, "-m", "glymph.cli", *argv]
        self.env = env
        self.output: list[str] = []  # what the command printed on stdout (its summary lines)
        self._stderr: list[str] = []
        self._progress: queue.Queue[str] = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []

    def start(self) -> CommandProcess:
        environment = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        # its own process group, so that cancel ends it and anything it started
        group = (
            {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {"start_new_session": True}
        )
        self._process = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, **group
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self._process.stdout, self.output), daemon=True),
            threading.Thread(target=self._read, args=(self._process.stderr, self._stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return self

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            lines.append(line)
            if stream is self._process.stderr and line.startswith(PREFIX) and not line.startswith(ERROR_PREFIX):
                self._progress.put(line.removeprefix(PREFIX))

    def messages(self) -> list[str]:
        """Progress lines (without the ``glymph: `` prefix) printed since the last call."""
        out = []
        while not self._progress.empty():
            out.append(self._progress.get())
        return out

    @property
    def done(self) -> bool:
        """True once the process has ended and all it printed has been read."""
        if self._process is None or self._process.poll() is None:
            return False
        self._read_to_the_end()
        return True

    def _read_to_the_end(self) -> None:
        for reader in self._readers:
            reader.join()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; the exit status."""
        self._process.wait(timeout)
        self._read_to_the_end()
        return self.returncode

    @property
    def returncode(self) -> int | None:
        """0 done, 2 a user error, 130 cancelled, anything else a crash; None while running."""
        code = None if self._process is None else self._process.poll()
        # Cancelled within its first moments (while modules are imported), the command handles the
        # interrupt (it prints "interrupted" and returns 130) yet Python ends itself by SIGINT, as it
        # does for an interrupt it thinks unhandled: read that as 130, as a shell does (128 + 2).
        return 128 + signal.SIGINT if code == -signal.SIGINT else code

    @property
    def error(self) -> str | None:
        """Why it failed: the command's ``glymph: error:`` message, else the last line it printed."""
        if not self.returncode:
            return None
        errors = [line.removeprefix(ERROR_PREFIX) for line in self._stderr if line.startswith(ERROR_PREFIX)]
        if errors:
            return errors[-1]
        lines = [line for line in self._stderr if line.strip()]
        return lines[-1] if lines else f"the glymph process ended with status {self.returncode}"

    def cancel(self, timeout: float = 10.0) -> None:
        """End the command (SIGTERM, or Ctrl-Break on Windows: it removes what it was writing),
        forcibly after ``timeout`` s."""
        if self._process is None or self._process.poll() is not None:
            return
        try:
            if os.name == "nt":
                self._process.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill() if os.name == "nt" else os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        except ProcessLookupError:
            pass
        self._read_to_the_end()


class ProcessTask:
    """A ``glymph`` command in its own process whose result folder is read back when it succeeds.

    It polls like ``glymph.progress.BackgroundTask`` (``messages()``, ``done``, then ``result`` or
    ``error``), so a panel runs either the same way, and adds ``cancel()``. ``read_result(out)``
    turns the folder into the result object (e.g. ``glymph.alps.files.read_alps``); a failed
    command, a cancel, or a folder that cannot be read becomes ``error`` (a ``GlymphError``).
    """

    def __init__(
        self,
        argv: Sequence[str],
        out: str | os.PathLike,
        read_result: Callable[[Path], object],
        python: str | None = None,
        env: dict[str, str] | None = None,
        scratch: str | os.PathLike | None = None,
    ) -> None:
        self.process = CommandProcess(argv, python, env)
        self.out = Path(out)
        self.scratch = None if scratch is None else Path(scratch)
        self._read_result = read_result
        self.result: object = None
        self.error: BaseException | None = None
        self._finished = False
        self._cancelled = False

    def start(self) -> ProcessTask:
        self.process.start()
        return self

    def messages(self) -> list[str]:
        return self.process.messages()

    @property
    def done(self) -> bool:
        if self._finished:
            return True
        if not self.process.done:
            return False
        self._finished = True
        code = self.process.returncode
        if code == 130 or (code and self._cancelled):
            self.error = GlymphError("cancelled")
        elif code:
            self.error = GlymphError(self.process.error or f"the glymph process ended with status {code}")
        else:
            try:
                self.result = self._read_result(self.out)
            except GlymphError as error:
                self.error = error
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return True

    def cancel(self, timeout: float = 10.0) -> None:
        """End the process (it removes what it was writing)."""
        self._cancelled = True
        self.process.cancel(timeout)


def start_command(
    argv: Sequence[str],
    work_dir: str | os.PathLike,
    read_result: Callable[[Path], object],
    python: str | None = None,
    scratch: bool = False,
    mask=None,
) -> ProcessTask:
    """``glymph ARGV [--mask WORK_DIR/mask.nii.gz] --out WORK_DIR/result`` started as a ``ProcessTask``
    that reads the result folder back with ``read_result``: what each module's ``start_process``
    does once it has written its own inputs into ``work_dir``. ``mask`` (a ``Volume``, non-zero
    inside) is written there too; ``scratch``: ``work_dir`` is removed once the result is read."""
    work = Path(work_dir)
    argv = list(argv)
    if mask is not None:
        import numpy as np

        from glymph.image_io import write_nifti

        write_nifti(mask.with_data(mask.data > 0), work / "mask.nii.gz", np.uint8)
        argv += ["--mask", str(work / "mask.nii.gz")]
    argv += ["--out", str(work / "result")]
    return ProcessTask(argv, work / "result", read_result, python, scratch=work if scratch else None).start()
