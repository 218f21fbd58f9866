"""The ``glymph`` command line.

``parser`` builds the argument parser (nothing heavy imported, so ``glymph --help`` is fast),
``commands`` runs each command, ``requests`` holds the steps before and after computing that the
headless Slicer batch scripts share with the commands. ``main`` turns a user error into one line
on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from glymph.cli.commands import COMMANDS
from glymph.cli.parser import build_parser
from glymph.errors import GlymphError

__all__ = ["build_parser", "main", "setup_logging"]

log = logging.getLogger("glymph")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "glymph: " if record.levelno < logging.WARNING else f"glymph: {record.levelname.lower()}: "
        return prefix + record.getMessage()


def setup_logging(quiet: bool = False) -> None:
    """Progress and warnings of the ``glymph`` logger on stderr, prefixed ``glymph:``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``glymph`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 1):  # `glymph vein import-labelme`, `glymph alps reanalyze`: their own commands
        if argv[i : i + 2] in (["vein", "import-labelme"], ["alps", "reanalyze"]):
            argv[i : i + 2] = ["-".join(argv[i : i + 2])]
            break
    args = build_parser().parse_args(argv)
    setup_logging(args.quiet)
    with _terminate_as_interrupt():
        try:
            status = COMMANDS[args.command](args)
        except GlymphError as error:
            print(f"glymph: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("glymph: interrupted", file=sys.stderr)
            return 130
    return status or 0


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a GUI's Cancel, a cluster's time limit; Ctrl-Break on Windows) ends a command as
    Ctrl-C does: the half of a result folder being written is removed, earlier results are left
    as they were."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    names = [name for name in ("SIGTERM", "SIGBREAK") if hasattr(signal, name)]
    previous = {name: signal.signal(getattr(signal, name), interrupt) for name in names}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
