"""Whole `glymph alps` runs timed as a user runs them (a fresh process per run), and `glymph --help`.

Data: the MNI152 DWI phantom at 2 mm with 1 b0 + 64 directions and 2 b0 + 32 directions (tilted
head, SNR 30), written as NIfTI + FSL files. Prints wall times and the per-step times glymph logs,
and the error of the index against the phantom's truth.
Run: .venv/bin/python benchmarks/alps_pipeline.py
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from glymph.phantoms import HeadPose, alps_phantom, write_fsl

GLYMPH = str(Path(sys.executable).with_name("glymph"))


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stderr


def main() -> None:
    help_s = min(timed([GLYMPH, "--help"])[0] for _ in range(5))
    print(f"glymph --help: {help_s:.2f} s")
    pose = HeadPose(tilt_deg=(10.0, -5.0, 4.0), shift_mm=(3.0, -6.0, 8.0), scale=1.04)
    with tempfile.TemporaryDirectory() as tmp:
        for n_b0, n_dirs in ((1, 64), (2, 32)):
            phantom = alps_phantom(1.3, 1.6, pose=pose, voxel_mm=2.0, n_directions=n_dirs, n_b0=n_b0, snr=30.0, seed=1)
            image, _, _ = write_fsl(phantom.dwi, f"{tmp}/dwi{n_dirs}.nii.gz", storage="LAS")
            out = f"{tmp}/out{n_dirs}"
            seconds, log = timed([GLYMPH, "alps", image, "--out", out, "--frame", "anatomical"])
            steps = re.findall(r"glymph: (.*): done in ([\d.]+) s", log)
            with open(f"{out}/alps.csv") as f:
                row = next(csv.DictReader(f))
            shape = "x".join(map(str, phantom.dwi.data.shape))
            print(f"\nglymph alps on {shape} (2 mm): {seconds:.1f} s wall")
            for what, s in steps:
                print(f"  {float(s):5.1f} s  {what}")
            print(
                f"  ALPS left {float(row['alps_L']):.3f} (truth 1.3), right {float(row['alps_R']):.3f} (truth 1.6), anatomical frame"
            )


if __name__ == "__main__":
    main()
