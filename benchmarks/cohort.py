"""The cohort runner on this machine: subjects per hour with 1 and 2 Dask workers, the scaling
efficiency, and the overhead per subject that the runner adds to the commands themselves.

A BIDS dataset of phantom subjects (DWI 2.5 mm, 20 directions: ``glymph alps`` per subject) is run

* as a plain loop of ``glymph alps`` commands, one after the other, each capped at one thread
  (what the runner's tasks do), and the same loop uncapped (what a hand-written loop does today);
* with ``glymph bids ... --workers 1`` and ``--workers 2`` (one thread per task).

Overhead per subject = (runner with 1 worker - capped loop) / subjects: scheduling, the record's
checksums and the rename, and the one-off start (Python, Dask, the local cluster: measured alone
as ``glymph bids`` on the finished dataset plus starting and closing a one-worker cluster), shown
both with and without that start, which 65,000 subjects share. Scaling efficiency = time(1 worker) /
(2 x time(2 workers)). Run: .venv/bin/python benchmarks/cohort.py [--subjects N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from glymph.cohort.runner import open_client, thread_environment
from glymph.phantoms import alps_phantom, write_fsl

GLYMPH = str(Path(sys.executable).with_name("glymph"))


def make_dataset(root: Path, subjects: int) -> list[Path]:
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "benchmark", "BIDSVersion": "1.9.0"}))
    images = []
    for number in range(subjects):
        folder = root / f"sub-{number:02d}" / "dwi"
        folder.mkdir(parents=True)
        phantom = alps_phantom(1.3, 1.5, voxel_mm=2.5, n_directions=20, snr=40.0, seed=100 + number)
        images.append(Path(write_fsl(phantom.dwi, str(folder / f"sub-{number:02d}_dwi.nii.gz"))[0]))
    return images


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def loop(images: list[Path], out: Path, threads: int | None) -> float:
    out.mkdir()
    started = time.perf_counter()
    for image in images:
        name = image.name.split("_")[0]
        timed(
            [GLYMPH, "alps", str(image), "--out", str(out / name), "--subject", name, "-q"], thread_environment(threads)
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=8, help="phantom subjects (default 8)")
    args = parser.parse_args()
    n = args.subjects
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        images = make_dataset(work / "bids", n)
        capped = loop(images, work / "loop1", threads=1)
        uncapped = loop(images, work / "loop", threads=None)
        runner = {}
        for workers in (1, 2):
            argv = [
                GLYMPH,
                "bids",
                str(work / "bids"),
                str(work / f"dask{workers}"),
                "participant",
                "--measures",
                "alps",
            ]
            runner[workers] = timed([*argv, "--workers", str(workers)])
        rerun = timed([*argv, "--workers", "1"])  # everything complete: discovery, checksums, tables, report
        started = time.perf_counter()
        client = open_client(workers=1)
        cluster = client.cluster
        client.close()
        cluster.close()
        start = rerun + time.perf_counter() - started
    per_hour = {k: 3600 * n / v for k, v in runner.items()}
    print(f"{n} subjects, glymph alps each (phantom DWI 2.5 mm, 20 directions), this machine's 2 cores")
    print(f"  plain loop, one thread per command: {capped:.1f} s ({3600 * n / capped:.0f} subjects/hour)")
    print(f"  plain loop, uncapped threads:       {uncapped:.1f} s ({3600 * n / uncapped:.0f} subjects/hour)")
    for workers, seconds in runner.items():
        print(f"  glymph bids --workers {workers}:          {seconds:.1f} s ({per_hour[workers]:.0f} subjects/hour)")
    print(f"  scaling efficiency 1 -> 2 workers: {runner[1] / (2 * runner[2]):.2f} (goal >= 0.85)")
    overhead = (runner[1] - capped) / n
    print(f"  one-off start (a rerun with nothing to do, and a 1-worker cluster started and closed): {start:.1f} s")
    print(
        f"  runner overhead per subject (1 worker vs the capped loop): {overhead:.2f} s with the start, "
        f"{overhead - start / n:.2f} s without it (goal < 0.5)"
    )
    print(f"  speed-up of glymph bids --workers 2 over the uncapped loop: {uncapped / runner[2]:.2f}")


if __name__ == "__main__":
    main()
