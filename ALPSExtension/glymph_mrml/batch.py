"""What the headless module scripts share: arguments, error handling, and how they leave Slicer.

A script parses the same options as its ``glymph`` command, loads its inputs into MRML nodes,
runs its module's logic and writes that command's files::

    exit_with(run("alps", script_arguments(), work))

where ``work(args, scene)`` reads the inputs into nodes and runs the module logic (the part each
module has of its own) and returns the result; ``run`` then writes and reports it exactly as the
``glymph`` command does (``glymph.cli.requests.finish_*``).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable


def script_arguments() -> list[str]:
    """Arguments after ``--`` (``Slicer --python-script s.py -- ARGS``), or all of them."""
    args = sys.argv[1:]
    return args[args.index("--") + 1 :] if "--" in args else args


def run(command: str, argv: list[str], work: Callable) -> int:
    """Parse ``argv`` as ``glymph COMMAND``'s options, run ``work(args, scene)``, write its result as
    ``glymph COMMAND`` does; return the exit status (0 done, 2 user error reported on one line,
    1 anything else, with its traceback)."""
    import slicer

    from glymph.cli import build_parser, setup_logging
    from glymph.cli.requests import FINISH
    from glymph.errors import GlymphError

    args = build_parser().parse_args([command, *argv])
    setup_logging(getattr(args, "quiet", False))
    finish = FINISH[command]
    scene = getattr(slicer, "mrmlScene", None) or slicer.vtkMRMLScene()
    started = time.perf_counter()
    try:
        finish(args, work(args, scene), started)
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
