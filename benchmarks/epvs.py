"""EPVS pipeline time and accuracy on Colin27 phantoms, next to a plain single-scale Frangi baseline.

Both run in this process on the same phantom: glymph's full pipeline (deepbet brain extraction,
N4, 1 mm resampling, registration, regions, classical segmentation, length filter) and
``skimage.filters.frangi`` at one scale (sigma 1 mm) on the same bias-corrected, normalised T1,
thresholded at the same level inside the same brain mask. Seeds 2, 3, 5, 6 (not the tuning seed).
Run: .venv/bin/python benchmarks/epvs.py
"""

from __future__ import annotations

import time

import numpy as np

from glymph.brain import brain_mask_deepbet
from glymph.epvs import run_epvs
from glymph.epvs_phantom import epvs_phantom
from glymph.evaluation import agreement
from glymph.image_io import read_volume
from glymph.preprocess import n4_bias_correction, normalise_intensity
from glymph.registration import AffineMap
from glymph.segmentation import HIGH

COLIN27 = "/usr/share/mricron/templates/ch2.nii.gz"


def baseline(t1, mask) -> np.ndarray:
    from skimage.filters import frangi

    image = normalise_intensity(n4_bias_correction(t1, mask), mask).data
    response = frangi(image, sigmas=[1.0], black_ridges=True, alpha=0.5, beta=0.5, gamma=0.15)
    return (response > HIGH) & np.asarray(mask.data, bool)


def main() -> None:
    t1 = read_volume(COLIN27)
    mask, _ = brain_mask_deepbet(t1)
    rows = []
    for seed in (2, 3, 5, 6):
        phantom = epvs_phantom(t1, mask, AffineMap(np.eye(4)), seed=seed)
        truth = phantom.truth.with_data(
            np.isin(phantom.truth.data, [lesion.id for lesion in phantom.truth_at_least(2.0)])
        )
        start = time.perf_counter()
        result = run_epvs(phantom.t1)  # everything, brain extraction included
        glymph_s = time.perf_counter() - start
        ours = agreement(result.labels_on_input_grid(), truth)
        start = time.perf_counter()
        plain = baseline(phantom.t1, mask)
        baseline_s = time.perf_counter() - start
        theirs = agreement(truth.with_data(plain), truth)
        rows.append((seed, glymph_s, ours, baseline_s, theirs, len(result.lesions), len(phantom.truth_at_least(2.0))))
        print(
            f"seed {seed}: glymph {glymph_s:5.1f} s  Dice {ours.dice:.2f}  lesion sensitivity {ours.lesion_sensitivity:.2f}  precision {ours.lesion_precision:.2f}  "
            f"count {len(result.lesions)} (truth {len(phantom.truth_at_least(2.0))})  |  single-scale Frangi {baseline_s:5.1f} s  Dice {theirs.dice:.2f}  "
            f"sensitivity {theirs.lesion_sensitivity:.2f}  precision {theirs.lesion_precision:.2f}"
        )
    times = np.array([r[1] for r in rows])
    print(
        f"\nglymph: mean {times.mean():.1f} s per 1 mm T1 (goal < 60 s); Dice {np.mean([r[2].dice for r in rows]):.2f}, "
        f"sensitivity {np.mean([r[2].lesion_sensitivity for r in rows]):.2f}, precision {np.mean([r[2].lesion_precision for r in rows]):.2f}, "
        f"mean |count error| {np.mean([abs(r[5] - r[6]) for r in rows]):.1f}"
    )
    print(
        f"single-scale Frangi baseline: Dice {np.mean([r[4].dice for r in rows]):.2f}, sensitivity {np.mean([r[4].lesion_sensitivity for r in rows]):.2f}, "
        f"precision {np.mean([r[4].lesion_precision for r in rows]):.3f}"
    )


if __name__ == "__main__":
    main()
