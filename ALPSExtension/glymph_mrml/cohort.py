"""A cohort through the modules' logic, for users who only have Slicer.

    Slicer --no-main-window --python-script cohort_batch.py -- bids BIDS_DIR OUT_DIR participant [options]
    Slicer --no-main-window --python-script cohort_batch.py -- cohort LIST.csv OUT_DIR [options]

The options are those of ``glymph bids`` / ``glymph cohort`` (the Dask engine's are ignored). Each
subject's measures run one after the other in this process, each on a fresh MRML scene through the
module's headless logic (``<Module>Lib.batch.work``), and the folders are written, recorded,
resumed, reported and merged exactly as by ``glymph bids``: the same output folder can be continued
by either.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from importlib import import_module

from glymph.cohort import Outcome, Task
from glymph.errors import GlymphError

log = logging.getLogger("glymph")
WORK = {"alps": "ALPSLib.batch", "epvs": "EPVSLib.batch", "vein": "VeinLib.batch"}


def execute_with_module_logic(task: Task, versions: dict[str, str]) -> Outcome:
    """One task on a fresh scene through its module's logic; a user error or a crash is ``failed``."""
    import slicer

    from glymph.cli.parser import build_parser
    from glymph.cli.requests import FINISH
    from glymph.cohort.runner import finish_task, remove_leftovers, staging_folder

    started = time.perf_counter()
    staging = staging_folder(task.out)
    remove_leftovers(task)
    task.out.parent.mkdir(parents=True, exist_ok=True)
    args = build_parser().parse_args(task.argv(staging))
    try:
        result = import_module(WORK[task.measure]).work(args, slicer.vtkMRMLScene())
        FINISH[task.measure](args, result, started)
    except Exception as error:  # one subject's failure must not stop the cohort
        shutil.rmtree(staging, ignore_errors=True)
        reason = str(error) if isinstance(error, GlymphError) else f"crashed: {type(error).__name__}: {error}"
        return Outcome(task.subject, task.measure, "failed", reason.splitlines()[0], time.perf_counter() - started)
    return finish_task(task, staging, versions, started, "slicer")


def execute_all(tasks: list[Task]) -> list[Outcome]:
    """The tasks one after the other, each reported as one progress line."""
    from glymph.outputs import software_versions

    versions, outcomes = software_versions(), []
    for count, task in enumerate(tasks, start=1):
        outcome = execute_with_module_logic(task, versions)
        detail = f"done in {outcome.seconds:.1f} s" if outcome.status == "done" else f"FAILED: {outcome.reason}"
        log.info("[%d/%d] %s: %s", count, len(tasks), task.name, detail)
        outcomes.append(outcome)
    return outcomes


def run(argv: list[str]) -> int:
    """``argv`` as for ``glymph bids`` / ``glymph cohort``; the exit status (0 all done, 1 something
    failed, 2 a user error reported on one line)."""
    from glymph.cli import build_parser, setup_logging
    from glymph.cli.commands import run_cohort

    args = build_parser().parse_args(argv)
    if args.command not in ("bids", "cohort"):
        raise SystemExit("the first argument must be 'bids' or 'cohort'")
    setup_logging(args.quiet)
    try:
        return run_cohort(args, execute_all)
    except GlymphError as error:
        print(f"glymph: error: {error}", file=sys.stderr, flush=True)
        return 2
