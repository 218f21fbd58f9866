"""Why registration runs single-threaded: the same call, repeated, with ITK's default threads and with one.

ITK adds per-thread partial sums (image moments, the Mattes metric) in the order the threads
finish, so with more than one thread repeated calls on the same input can give different
transforms. Data: the ITK example head (Debian insighttoolkit5-examples) resampled to 1 mm,
deepbet brain mask, N4 and normalisation as in `glymph epvs`, registered to MNI152 three times each
way. Prints the time per call and the largest difference between the three transforms (matrix
entries, and the displacement of points on a 70 mm sphere around the origin, in mm).
Run: .venv/bin/python benchmarks/registration_threads.py
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from glymph import registration
from glymph.image_io import read_volume
from glymph.models.deepbet import brain_mask_deepbet
from glymph.preprocess import isotropic_grid, n4_bias_correction, normalise_intensity, resample

ITK_T1 = "/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz"


def repeated(image, mask, calls: int = 3) -> tuple[float, float, float]:
    """Mean seconds per call, largest matrix difference, largest point displacement (mm)."""
    directions = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float) * 70.0
    times, maps = [], []
    for _ in range(calls):
        start = time.perf_counter()
        maps.append(registration.register_to_mni(image, mask, "t1").transform)
        times.append(time.perf_counter() - start)
    matrix = max(np.abs(m.matrix - maps[0].matrix).max() for m in maps)
    moved = max(np.linalg.norm(m.to_subject(directions) - maps[0].to_subject(directions), axis=1).max() for m in maps)
    return float(np.mean(times)), float(matrix), float(moved)


def main() -> None:
    import SimpleITK as sitk

    raw = read_volume(ITK_T1)
    t1 = resample(raw, isotropic_grid(raw, 1.0), order=3)
    mask, _ = brain_mask_deepbet(t1)
    image = normalise_intensity(n4_bias_correction(t1, mask), mask)
    seconds, matrix, moved = repeated(image, mask)
    print(
        f"single-threaded (glymph): {seconds:.1f} s per call; differences: matrix {matrix:.1e}, points {moved:.2f} mm"
    )
    single_thread = registration.one_thread
    registration.one_thread = contextlib.nullcontext  # ITK's default: one thread per core
    try:
        threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        seconds, matrix, moved = repeated(image, mask)
        print(
            f"{threads} threads (ITK default): {seconds:.1f} s per call; differences: matrix {matrix:.1e}, points {moved:.2f} mm"
        )
    finally:
        registration.one_thread = single_thread


if __name__ == "__main__":
    main()
