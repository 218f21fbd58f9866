"""DWI preprocessing: the time of each step against MRtrix3 on the same file, and what each does
to the ALPS index on phantoms with a known truth.

1. Time: `glymph dti` with and without each step (a fresh process per run, so reading, masking,
   fitting and writing are in both) against MRtrix3 `dwidenoise` and `mrdegibbs` on the same
   NIfTI. Data: the MNI152 DWI phantom at 2.5 mm, 2 b0 + 32 directions, SNR 30.
2. Motion: the same phantom with the head moved between volumes (every volume after the first
   turned up to 4 degrees and shifted up to 2.5 mm); the index without correction, with rigid and
   with affine correction, against the truth (left 1.3, right 1.6).
3. Denoising: RMS error of the signal inside the brain against the noise-free phantom, and the index,
   at SNR 15.
Run: .venv/bin/python benchmarks/dwi_preprocess.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from glymph.alps import run_alps
from glymph.dti.preprocess import Preprocessing, denoise
from glymph.phantoms import HeadPose, alps_phantom, write_fsl

GLYMPH = str(Path(sys.executable).with_name("glymph"))
TRUTH = (1.3, 1.6)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def index_error(index) -> str:
    return (
        f"left {index.alps_L:.3f} right {index.alps_R:.3f} "
        f"(worst error {max(abs(index.alps_L / TRUTH[0] - 1), abs(index.alps_R / TRUTH[1] - 1)):.1%})"
    )


def step_times(tmp: Path) -> None:
    phantom = alps_phantom(*TRUTH, voxel_mm=2.5, n_directions=32, snr=30.0, seed=1)
    image, _, _ = write_fsl(phantom.dwi, str(tmp / "dwi.nii.gz"))
    print(f"1. time on {'x'.join(map(str, phantom.dwi.data.shape))} (2.5 mm), a fresh process per run")
    plain = timed([GLYMPH, "dti", image, "--out", str(tmp / "plain")])
    print(f"   glymph dti, no preprocessing       {plain:6.1f} s")
    for name, options in (
        ("--denoise mppca", ["--denoise", "mppca"]),
        ("--denoise patch2self", ["--denoise", "patch2self"]),
        ("--unring", ["--unring"]),
        ("--motion-correct rigid", ["--motion-correct", "rigid"]),
        ("--motion-correct affine", ["--motion-correct", "affine"]),
    ):
        out = tmp / name.strip("-").replace(" ", "_")
        seconds = timed([GLYMPH, "dti", image, "--out", str(out), *options])
        steps = json.loads((out / "dti.json").read_text())["dti"]["preprocessing"]["steps"]
        print(f"   glymph dti {name:<24}{seconds:6.1f} s   (the step itself {steps[0]['time_s']:.1f} s)")
    for tool, argv in (
        ("dwidenoise", ["dwidenoise", image, str(tmp / "mrtrix_denoised.nii.gz"), "-nthreads", "1", "-force"]),
        ("mrdegibbs", ["mrdegibbs", image, str(tmp / "mrtrix_unrung.nii.gz"), "-nthreads", "1", "-force"]),
    ):
        if shutil.which(tool) is None:
            print(f"   MRtrix3 {tool}: not installed (apt-get install mrtrix3)")
            continue
        print(f"   MRtrix3 {tool:<27}{timed(argv):6.1f} s   (one thread, as glymph's steps)")


def motion() -> None:
    rng = np.random.default_rng(11)
    n = 2 + 32
    poses = [HeadPose()] + [
        HeadPose(tuple(rng.uniform(-4, 4, 3)), tuple(rng.uniform(-2.5, 2.5, 3))) for _ in range(n - 1)
    ]
    still = alps_phantom(*TRUTH, voxel_mm=2.5, n_directions=32, snr=30.0, seed=2)
    moved = alps_phantom(*TRUTH, voxel_mm=2.5, n_directions=32, snr=30.0, seed=2, motion=poses)
    print("\n2. head motion (up to 4 degrees, 2.5 mm per volume), SNR 30, anatomical frame")
    print(f"   still head                {index_error(run_alps(still.dwi, frame='anatomical').index)}")
    print(f"   moved, not corrected      {index_error(run_alps(moved.dwi, frame='anatomical').index)}")
    for model in ("rigid", "affine"):
        start = time.perf_counter()
        result = run_alps(moved.dwi, frame="anatomical", preprocessing=Preprocessing(motion=model))
        seconds = time.perf_counter() - start
        found = result.dti.motion
        print(
            f"   moved, {model:<6} correction  {index_error(result.index)}; "
            f"mean displacement found {found.displacement_mm.mean():.2f} mm; whole run {seconds:.1f} s"
        )
    result = run_alps(still.dwi, frame="anatomical", preprocessing=Preprocessing(motion="affine"))
    print(
        f"   still head, affine        {index_error(result.index)}; spurious displacement "
        f"{result.dti.motion.displacement_mm.max():.2f} mm at most"
    )


def denoising() -> None:
    clean = alps_phantom(*TRUTH, voxel_mm=2.5, n_directions=32, snr=np.inf)
    noisy = alps_phantom(*TRUTH, voxel_mm=2.5, n_directions=32, snr=15.0, seed=3)
    inside = clean.brain_mask
    truth = clean.dwi.data[inside]

    def rms(data: np.ndarray) -> float:
        return float(np.sqrt(np.mean((data[inside] - truth) ** 2)))

    print("\n3. denoising at SNR 15 (white-matter b0 over sigma): RMS signal error in the brain, index")
    print(f"   none        RMS {rms(noisy.dwi.data):6.2f}   {index_error(run_alps(noisy.dwi).index)}")
    for method in ("mppca", "patch2self"):
        start = time.perf_counter()
        cleaned = denoise(noisy.dwi, method)
        seconds = time.perf_counter() - start
        print(
            f"   {method:<11} RMS {rms(cleaned.data):6.2f}   {index_error(run_alps(cleaned).index)}   ({seconds:.1f} s)"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        step_times(Path(tmp))
    motion()
    denoising()


if __name__ == "__main__":
    main()
