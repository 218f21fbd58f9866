"""Progress of long steps, reported through the ``glymph`` logger.

The command line prints these records on stderr; the Slicer modules show them in the status bar
and progress dialog by attaching their own handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("glymph")


@contextmanager
def step(what: str) -> Iterator[None]:
    """Log ``what`` when it starts and its duration when it ends (INFO level)."""
    log.info("%s ...", what)
    start = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", what, time.perf_counter() - start)


class BackgroundTask:
    """Run ``function(*args)`` in a worker thread, collecting the glymph logger's messages.

    For GUIs that must stay responsive: start it, then poll ``messages()`` and ``done`` from the
    main thread; afterwards ``result`` holds the return value or ``error`` the exception.
    Touching MRML nodes or widgets from ``function`` is not allowed (they are not thread-safe).
    """

    def __init__(self, function, *args) -> None:
        import queue
        import threading

        self._queue: queue.Queue[str] = queue.Queue()
        self._handler = _QueueHandler(self._queue)
        self.result = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)

    def _run(self, function, args) -> None:
        try:
            self.result = function(*args)
        except BaseException as error:  # handed to the main thread
            self.error = error

    def start(self) -> BackgroundTask:
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)  # progress is INFO; a host application may leave the level at WARNING
        log.addHandler(self._handler)
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        finished = not self._thread.is_alive()
        if finished:
            log.removeHandler(self._handler)
        return finished

    def messages(self) -> list[str]:
        """Progress messages logged since the last call."""
        out = []
        while not self._queue.empty():
            out.append(self._queue.get())
        return out


class _QueueHandler(logging.Handler):
    def __init__(self, messages) -> None:
        super().__init__(logging.INFO)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.put(record.getMessage())
