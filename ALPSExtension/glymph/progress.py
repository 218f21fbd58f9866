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
