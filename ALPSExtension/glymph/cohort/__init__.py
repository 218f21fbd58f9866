"""Cohorts: every subject of a study through glymph's measures on Dask, as a BIDS App.

``discovery`` (which images each subject has: a BIDS dataset or a CSV list), ``tasks`` (one
``glymph`` command per subject and measure, its protocol hash), ``runner`` (Dask: local, an
existing scheduler or a batch system; failures isolated, nothing half-written, reruns resumed;
failed.csv, runs.csv, the merged tables), ``report`` (report.html and flags.csv). ``run_cohort``
ties them together for ``glymph bids`` and ``glymph cohort``; ``group_stage`` redoes the tables and
the report from the subject folders.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from glymph.cohort.discovery import Subject, discover_bids, read_subject_list
from glymph.cohort.runner import Outcome, is_complete, merge_tables, open_client, run_tasks
from glymph.cohort.tasks import MEASURES, RESERVED, Task, build_tasks
from glymph.errors import GlymphError

__all__ = [
    "MEASURES",
    "RESERVED",
    "CohortPlan",
    "Outcome",
    "Subject",
    "Task",
    "build_tasks",
    "discover_bids",
    "group_stage",
    "read_subject_list",
    "run_cohort",
]

log = logging.getLogger("glymph")


@dataclass(frozen=True)
class CohortPlan:
    """What to run and where: the measures and their options, and the Dask engine's settings."""

    measures: tuple[str, ...] = MEASURES
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)  # measure -> its command options
    scheduler: str | None = None
    workers: int | None = None
    memory_limit: str = "4GB"
    cluster: str | None = None
    jobs: int = 1
    queue: str | None = None
    walltime: str | None = None
    threads_per_task: int | None = 1  # threads of each task's process (None: uncapped)
    alps_from: Path | None = None  # earlier results whose ALPS folders are reanalysed instead of rerun


def write_dataset_description(out_dir: Path, source: str) -> None:
    """The BIDS derivatives ``dataset_description.json`` (kept when it exists)."""
    from glymph import __version__

    path = out_dir / "dataset_description.json"
    if path.exists():
        return
    description = {
        "Name": "glymph derivatives",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {"Name": "glymph", "Version": __version__, "CodeURL": "https://github.com/glymph-project/glymph"}
        ],
        "SourceDatasets": [{"URL": Path(source).resolve().as_uri()}],
    }
    path.write_text(json.dumps(description, indent=2))


def group_stage(out_dir: Path, tasks: list[Task]) -> dict[str, int]:
    """The merged tables (rows per table) and ``report.html`` from the complete subject folders."""
    from glymph.cohort.report import write_report

    merged = merge_tables(out_dir, tasks)
    write_report(out_dir, tasks)
    return merged


def run_cohort(
    subjects: list[Subject],
    out_dir: Path,
    plan: CohortPlan,
    source: str,
    dry_run: bool = False,
    execute: Callable[[list[Task]], list[Outcome]] | None = None,
) -> int:
    """Run every task not already complete, then write failed.csv, runs.csv, the merged tables and
    the report. ``execute`` runs a list of tasks (default: on Dask, ``plan``'s engine). Returns the
    exit status: 0 when every subject has every measure, 1 when anything failed."""
    from glymph.cohort.runner import write_run_files
    from glymph.outputs import software_versions

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GlymphError(f"{out_dir} exists and is not a folder")
    tasks, unrunnable = build_tasks(subjects, plan.measures, plan.options, out_dir, plan.alps_from)
    versions = software_versions()
    complete = [task for task in tasks if is_complete(task, versions)]
    to_run = [task for task in tasks if task not in complete]
    log.info("%d subjects, %d tasks: %d complete from an earlier run, %d to run, %d cannot run",
             len(subjects), len(tasks), len(complete), len(to_run), len(unrunnable))  # fmt: skip
    if dry_run:
        for task in tasks:
            print(f"{'skip' if task in complete else 'run '} {task.subject} {task.measure}")
        for subject, measure, reason in unrunnable:
            print(f"cannot run {subject} {measure}: {reason}")
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dataset_description(out_dir, source)
    outcomes = [Outcome(t.subject, t.measure, "skipped") for t in complete]
    if to_run and execute is not None:
        outcomes += execute(to_run)
    elif to_run:
        client = open_client(
            plan.scheduler, plan.workers, plan.memory_limit, plan.cluster, plan.jobs, plan.queue, plan.walltime
        )
        try:
            if find_spec("bokeh") is not None:  # Dask serves its dashboard only with bokeh
                log.info("Dask dashboard: %s", client.dashboard_link)
            outcomes += run_tasks(to_run, client, plan.threads_per_task)
        finally:
            cluster = client.cluster
            client.close()
            if cluster is not None and plan.scheduler is None:
                cluster.close()
    write_run_files(out_dir, outcomes, unrunnable)
    merged = group_stage(out_dir, tasks)
    failed = [o for o in outcomes if o.status == "failed"]
    print(
        f"glymph cohort: {sum(o.status == 'done' for o in outcomes)} done, {len(complete)} kept from an earlier run, "
        f"{len(failed) + len(unrunnable)} failed or not runnable"
        + (f" (see {out_dir / 'failed.csv'})" if failed or unrunnable else "")
        + "; tables: " + (", ".join(f"{name} ({n} rows)" for name, n in merged.items()) or "none")
        + f"; report: {out_dir / 'report.html'}"
    )  # fmt: skip
    return 1 if failed or unrunnable else 0
