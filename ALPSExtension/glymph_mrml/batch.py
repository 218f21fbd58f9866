"""What the headless module scripts share: their arguments and how they leave Slicer."""

from __future__ import annotations

import sys


def script_arguments() -> list[str]:
    """Arguments after ``--`` (``Slicer --python-script s.py -- ARGS``), or all of them."""
    args = sys.argv[1:]
    return args[args.index("--") + 1 :] if "--" in args else args


def exit_with(status: int) -> None:
    """Leave with ``status``: through ``slicer.util.exit`` inside Slicer, else ``sys.exit``."""
    import slicer

    if hasattr(slicer, "app"):  # inside Slicer: the application has to quit with this status
        slicer.util.exit(status)
    sys.exit(status)
