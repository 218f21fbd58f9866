"""What the headless module scripts share: arguments, error handling, and how they leave Slicer.

A script parses the same options as its ``glymph`` command, loads its inputs into MRML nodes,
runs its module's logic and writes that command's files::

    exit_with(run("alps", script_arguments(), work))

where ``work(args, scene)`` does the module-specific part and returns the result to report.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable


def script_arguments() -> list[str]:
    """Arguments after ``--`` (``Slicer --python-script s.py -- ARGS``), or all of them."""
    args = sys.argv[1:]
    return args[args.index("--") + 1 :] if "--" in args else args


def run(command: str, argv: list[str], work: Callable) -> int:
    """Parse ``argv`` as ``glymph COMMAND``'s options, run ``work(args, scene)``; return the exit status
    (0 done, 2 user error reported on one line, 1 anything else, with its traceback)."""
    import slicer

    from glymph.cli import build_parser, setup_logging
    from glymph.errors import GlymphError

    args = build_parser().parse_args([command, *argv])
    setup_logging(getattr(args, "quiet", False))
    scene = getattr(slicer, "mrmlScene", None) or slicer.vtkMRMLScene()
    try:
        work(args, scene)
    except GlymphError as error:
        print(f"glymph: error: {error}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        return 1
    return 0


def exit_with(status: int) -> None:
    """Leave with ``status``: through ``slicer.util.exit`` inside Slicer, else ``sys.exit``."""
    import slicer

    if hasattr(slicer, "app"):  # inside Slicer: the application has to quit with this status
        slicer.util.exit(status)
    sys.exit(status)
