"""The gradient-table check against MRtrix3 ``dwigradcheck`` on the same files: verdict and time.

Data: the MNI152 DWI phantom at 2 mm, 2 b0 + 32 directions, SNR 30, whose white matter runs
along the JHU tracts (``Testing/references.jhu_fibres``), written as NIfTI + FSL files with the
right table and with each mistake (x, y, z flipped; x/y, x/z, y/z swapped). For each: the change
glymph's check names and its time (the check alone, after the fit), the change ``dwigradcheck``
ranks first (its whole run: mask, 24 x 2 tractograms) and its time, both on one thread; and the
fan phantom (fibres unrelated to the anatomy) with the right table, where no change should stand out.
``--quick``: the right table and a y flip only (dwigradcheck takes minutes per file).
Run: .venv/bin/python benchmarks/gradient_check.py [--quick]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Testing"))

from references import jhu_fibres

from glymph.dti import fit_dti
from glymph.dti.gradient_check import BY_NAME, changed_table, check_gradient_table
from glymph.phantoms import alps_phantom, write_fsl

MISTAKES = ("as given", "flip y", "flip x", "flip z", "swap x and y", "swap x and z", "swap y and z")


def mrtrix_verdict(image: str, bval: str, bvec: str) -> tuple[str, float, float, float]:
    """dwigradcheck's first-ranked change (axis flipped, permutation), its mean length and the
    unchanged table's (mm), and the run's seconds."""
    start = time.perf_counter()
    done = subprocess.run(
        ["dwigradcheck", image, "-fslgrad", bvec, bval, "-nthreads", "1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    rows = re.findall(r"^\s*([\d.]+)\s+(none|\d)\s+\(([\d, ]+)\)\s+image", done.stdout + done.stderr, re.M)
    best = rows[0]
    unchanged = next(float(r[0]) for r in rows if r[1] == "none" and r[2] == "0, 1, 2")
    return f"flip {best[1]}, order ({best[2]})", float(best[0]), unchanged, seconds


def main(quick: bool) -> None:
    import torch

    torch.set_num_threads(1)
    phantom = alps_phantom(voxel_mm=2.0, n_directions=32, snr=30.0, fibres=jhu_fibres())
    dwi = phantom.dwi
    names = MISTAKES[:2] if quick else MISTAKES
    print(f"JHU-tract phantom {dwi.data.shape}, 2 mm; times on one thread")
    print(
        f"{'mistake':14s} {'glymph names':22s} {'ratio':>6s} {'check s':>8s}   {'dwigradcheck first':30s} {'mm':>6s} {'as given mm':>12s} {'s':>7s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            wrong = changed_table(dwi, BY_NAME[name])
            fitted = fit_dti(wrong, gradient_check="off")
            start = time.perf_counter()
            check = check_gradient_table(fitted.fit, fitted.affine)
            seconds = time.perf_counter() - start
            verdict = check.best.describe() if check.wrong else "nothing (passes)"
            image, bval, bvec = write_fsl(wrong, str(Path(tmp) / f"{name.replace(' ', '_')}.nii.gz"))
            first, best_mm, given_mm, mrtrix_s = mrtrix_verdict(image, bval, bvec)
            print(
                f"{name:14s} {verdict:22s} {check.ratio:6.2f} {seconds:8.2f}   {first:30s} {best_mm:6.1f} {given_mm:12.1f} {mrtrix_s:7.1f}"
            )
    fan = fit_dti(alps_phantom(voxel_mm=2.0, n_directions=32, snr=30.0).dwi, gradient_check="off")
    check = check_gradient_table(fan.fit, fan.affine)
    print(
        f"fan phantom, right table: best '{check.best.describe()}', runner-up/best {check.distinct:.3f}, "
        f"as given/best {check.ratio:.3f}, called wrong: {check.wrong}"
    )


if __name__ == "__main__":
    main("--quick" in sys.argv)
