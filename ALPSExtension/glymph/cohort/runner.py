"""Running a cohort's tasks on Dask, from one laptop to a cluster; failures isolated, reruns resumed.

* Engine: Dask. An embedded ``LocalCluster`` by default (one single-threaded worker process per
  core, a memory limit per worker), an existing scheduler (``scheduler="tcp://..."``), or a
  batch-system cluster through dask-jobqueue (``cluster="slurm"``, ``pbs``, ``sge``, ``lsf``).
  One task per subject and measure, run in a worker by ``execute``.
* Failures: a user error or a crash in a task, or a worker that dies under it, becomes one row of
  ``failed.csv`` (subject, measure, one-line reason); the other tasks go on.
* Never half-written: a task writes into ``.<measure>.running`` beside its folder and, once the
  command has finished and its record (``cohort.json``: protocol hash, input and output SHA-256)
  is written, renames it into place. A run killed at any moment leaves only such hidden folders,
  which the next run removes.
* Resume: a task is skipped when its folder holds a record whose protocol hash (measure, options,
  software versions) is the current one and whose input and output files still have the recorded
  checksums.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from glymph.cohort.tasks import Task
from glymph.errors import GlymphError
from glymph.outputs import sha256, software_versions, timestamp, write_table

log = logging.getLogger("glymph")
RECORD = "cohort.json"
CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}


@dataclass(frozen=True)
class Outcome:
    """How one task ended: ``done``, ``failed`` or ``skipped`` (complete from an earlier run)."""

    subject: str
    measure: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    worker: str = ""


def staging_folder(out: Path) -> Path:
    return out.with_name(f".{out.name}.running")


def remove_leftovers(task: Task) -> None:
    """What a killed run may have left beside the task's folder: its staging folder, the command's
    own staging folders, a folder moved aside while being replaced."""
    parent = task.out.parent
    if not parent.is_dir():
        return
    for path in parent.glob(f".{task.out.name}.*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in parent.glob(f".{staging_folder(task.out).name}.*.partial"):
        shutil.rmtree(path, ignore_errors=True)


def is_complete(task: Task, versions: dict[str, str]) -> bool:
    """Whether the task's folder is a finished result of the same protocol on the same inputs."""
    try:
        record = json.loads((task.out / RECORD).read_text())
    except (OSError, ValueError):
        return False
    if record.get("protocol") != task.protocol_hash(versions):
        return False
    recorded = record.get("inputs", {})
    if set(recorded) != {str(p) for p in task.inputs.values()}:
        return False
    for path, digest in recorded.items():
        if not Path(path).is_file() or sha256(path) != digest:
            return False
    outputs = record.get("outputs", {})
    return bool(outputs) and all((task.out / n).is_file() and sha256(task.out / n) == d for n, d in outputs.items())


THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
)


def thread_environment(threads: int | None) -> dict[str, str]:
    """The environment of a task's process with its thread pools (NumPy's BLAS, OpenMP, ITK) capped
    at ``threads``, so that workers side by side do not compete for the cores; None: uncapped."""
    environment = dict(os.environ)
    if threads:
        environment |= dict.fromkeys(THREAD_VARIABLES, str(threads))
    return environment


def execute(task: Task, versions: dict[str, str], threads: int | None = 1) -> Outcome:
    """Run one task from a Dask worker: ``python -m glymph.cli`` into a staging folder (a process of
    its own, so that a crash or running out of memory ends only it; ``threads`` per task), then its
    record, then the folder renamed into place. A user error or a crash is returned as ``failed``
    with its reason."""
    import subprocess
    import sys

    started = time.perf_counter()
    worker = _worker_name()
    staging = staging_folder(task.out)
    remove_leftovers(task)
    task.out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "glymph.cli", *task.argv(staging)],
        capture_output=True,
        text=True,
        check=False,
        env=thread_environment(threads),
    )
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        reason = failure_reason(done.returncode, done.stderr)
        return Outcome(task.subject, task.measure, "failed", reason, time.perf_counter() - started, worker)
    return finish_task(task, staging, versions, started, worker)


def finish_task(task: Task, staging: Path, versions: dict[str, str], started: float, worker: str = "local") -> Outcome:
    """After the command wrote ``staging``: its record (``cohort.json``), then the folder renamed
    into place."""
    record = {
        "subject": task.subject,
        "measure": task.measure,
        "command": ["glymph", *task.argv(task.out)],
        "protocol": task.protocol_hash(versions),
        "software": versions,
        "inputs": {str(p): sha256(p) for p in task.inputs.values()},
        "outputs": {p.name: sha256(p) for p in sorted(staging.iterdir()) if p.is_file()},
        "time_s": round(time.perf_counter() - started, 2),
    }
    (staging / RECORD).write_text(json.dumps(record, indent=2))
    _publish(staging, task.out)
    return Outcome(task.subject, task.measure, "done", "", time.perf_counter() - started, worker)


def failure_reason(status: int, stderr: str) -> str:
    """One line: the command's ``glymph: error:`` message, or how it ended."""
    errors = [
        line.removeprefix("glymph: error: ") for line in stderr.splitlines() if line.startswith("glymph: error: ")
    ]
    if errors:
        return errors[-1]
    if status < 0:
        return f"killed by signal {-status}" + (" (out of memory?)" if status == -9 else "")
    last = [line for line in stderr.splitlines() if line.strip()]
    return f"crashed (status {status}): {last[-1] if last else 'no message'}"


def _publish(staging: Path, out: Path) -> None:
    """Rename the finished staging folder to ``out``, replacing an earlier result (moved aside first,
    so that ``out`` is at every moment either the old result, absent, or the new one)."""
    if out.exists():
        aside = out.with_name(f".{out.name}.replaced")
        shutil.rmtree(aside, ignore_errors=True)
        out.rename(aside)
        staging.rename(out)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        staging.rename(out)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "local"


def open_client(
    scheduler: str | None = None,
    workers: int | None = None,
    memory_limit: str = "4GB",
    cluster: str | None = None,
    jobs: int = 1,
    queue: str | None = None,
    walltime: str | None = None,
):
    """A Dask client: on ``scheduler``, on a dask-jobqueue ``cluster`` of ``jobs`` batch jobs (one
    single-threaded worker each), or on an embedded ``LocalCluster`` (``workers``: default one per
    core; one thread each; ``memory_limit`` per worker)."""
    import dask
    from distributed import Client, LocalCluster

    # a task whose worker dies is tried once more on another worker, then reported as failed
    dask.config.set({"distributed.scheduler.allowed-failures": 1})
    if scheduler:
        try:
            return Client(scheduler, timeout="20s")
        except OSError as error:
            raise GlymphError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    if cluster:
        batch = batch_cluster(cluster, memory_limit, queue, walltime)
        batch.scale(jobs=jobs)
        return Client(batch)
    local = LocalCluster(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=":0",
    )
    return Client(local)


def batch_cluster(kind: str, memory_limit: str, queue: str | None = None, walltime: str | None = None):
    """A dask-jobqueue cluster of the batch system ``kind`` (``CLUSTERS``) whose jobs each run one
    single-threaded worker with ``memory_limit``; nothing is submitted until it is scaled."""
    try:
        import dask_jobqueue
    except ImportError:
        raise GlymphError(f"--cluster {kind} needs dask-jobqueue: pip install 'glymph[cohort]'") from None
    options = {"cores": 1, "processes": 1, "memory": memory_limit, "queue": queue, "walltime": walltime}
    return getattr(dask_jobqueue, CLUSTERS[kind])(**{k: v for k, v in options.items() if v is not None})


def run_tasks(tasks: list[Task], client, threads: int | None = 1) -> list[Outcome]:
    """Submit every task to the Dask ``client`` and collect the outcomes as they come, each
    reported as one progress line; a worker that dies under a task makes that task ``failed``."""
    from distributed import as_completed

    versions = software_versions()
    total = len(tasks)
    futures = {
        client.submit(execute, task, versions, threads, key=f"glymph-{task.subject}-{task.measure}", pure=False): task
        for task in tasks
    }
    outcomes = []
    for count, future in enumerate(as_completed(futures), start=1):
        task = futures[future]
        try:
            outcome = future.result()
        except Exception as error:  # KilledWorker: the worker itself died twice under it
            reason = f"the worker running it died ({type(error).__name__}); try a larger --memory-limit"
            outcome = Outcome(task.subject, task.measure, "failed", reason)
        outcomes.append(outcome)
        detail = f"done in {outcome.seconds:.1f} s" if outcome.status == "done" else f"FAILED: {outcome.reason}"
        log.info("[%d/%d] %s: %s", count, total, task.name, detail)
    return outcomes


def write_run_files(out_dir: Path, outcomes: list[Outcome], unrunnable: list[tuple[str, str, str]]) -> None:
    """``failed.csv`` (subject, measure, reason; replaced on every run, removed when nothing failed)
    and ``runs.csv`` (one row per task and run: status, seconds, worker, time stamp), appended."""
    failed = [
        {"subject": o.subject, "measure": o.measure, "reason": o.reason} for o in outcomes if o.status == "failed"
    ]
    failed += [{"subject": s, "measure": m, "reason": r} for s, m, r in unrunnable]
    path = out_dir / "failed.csv"
    if failed:
        write_table(failed, path)
    else:
        path.unlink(missing_ok=True)
    log_path, now = out_dir / "runs.csv", timestamp()
    columns = ["time", "subject", "measure", "status", "seconds", "worker", "reason"]
    rows = [
        {"time": now, "subject": o.subject, "measure": o.measure, "status": o.status,
         "seconds": round(o.seconds, 2), "worker": o.worker, "reason": o.reason}
        for o in outcomes
    ]  # fmt: skip
    new = not log_path.exists()
    with open(log_path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def merge_tables(out_dir: Path, tasks: list[Task]) -> dict[str, int]:
    """The group tables: each measure's per-subject CSV (``alps.csv``, ``epvs.csv``, ``vein.csv``)
    of every complete subject, concatenated into one file of that name in ``out_dir``; rows per table."""
    from glymph.cohort.tasks import SUMMARY

    merged: dict[str, int] = {}
    for measure, name in SUMMARY.items():
        folders = sorted({t.out for t in tasks if t.measure == measure and (t.out / RECORD).is_file()})
        rows: list[dict] = []
        for folder in folders:
            with open(folder / name, newline="") as f:
                rows += list(csv.DictReader(f))
        if rows:
            write_table(rows, out_dir / name)
            merged[name] = len(rows)
    return merged
