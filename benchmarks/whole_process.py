"""Whole-process times as a user sees them: `glymph dti` and `glymph alps` against MRtrix3
`dwi2tensor` on the same gzipped NIfTI, each a fresh process, alternated, best of ``--repeats``.

Data: the 96 x 96 x 60 x 66 DWI of ``benchmarks/tensor_fit.py`` (MNI152 phantom at 2 mm, SNR 30,
1 b0 + 65 directions at b = 1000 s/mm^2), written as .nii.gz + FSL files. `dwi2tensor` runs with
its defaults (all CPU threads, no mask: every voxel fitted). glymph's per-step times (its log) are
printed for the last run of each command. Goals (issue 15): `glymph dti` at most 0.5x
`dwi2tensor`, `glymph alps` at most 6 s.
Run: .venv/bin/python benchmarks/whole_process.py [--repeats 3]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tensor_fit import benchmark_volume

from glymph.dti.dwi import DWI
from glymph.phantoms import write_fsl

GLYMPH = str(Path(sys.executable).with_name("glymph"))


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stderr


def main(repeats: int) -> None:
    volume, bvals, bvecs = benchmark_volume()
    with tempfile.TemporaryDirectory() as tmp:
        image, bval, bvec = write_fsl(DWI(volume, bvals, bvecs), f"{tmp}/dwi.nii.gz")
        size_mb = Path(image).stat().st_size / 1e6
        print(f"{'x'.join(map(str, volume.data.shape))} DWI, {size_mb:.0f} MB gzipped; best of {repeats}")
        runs: dict[str, list[float]] = {"dwi2tensor": [], "glymph dti": [], "glymph alps": []}
        logs: dict[str, str] = {}
        for _ in range(repeats):
            for name in runs:
                out = Path(tmp) / name.replace(" ", "_")
                shutil.rmtree(out, ignore_errors=True)
                if name == "dwi2tensor":
                    command = ["dwi2tensor", "-quiet", "-fslgrad", bvec, bval, image, f"{out}.nii.gz", "-force"]
                else:
                    command = [GLYMPH, *name.split()[1:], image, "--out", str(out)]
                seconds, logs[name] = timed(command)
                runs[name].append(seconds)
        mrtrix = min(runs["dwi2tensor"])
        for name, seconds in runs.items():
            print(f"{name:12s} {min(seconds):6.2f} s  ({min(seconds) / mrtrix:.2f}x dwi2tensor)")
        for name in ("glymph dti", "glymph alps"):
            print(f"\n{name} steps (last run):")
            for what, s in re.findall(r"glymph: (.*): done in ([\d.]+) s", logs[name]):
                print(f"  {float(s):5.2f} s  {what}")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3)
