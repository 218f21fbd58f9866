"""Tensor fitting speed: glymph vs dipy WLS vs MRtrix3 dwi2tensor, on one volume, in one run.

Data: the MNI152 DWI phantom (2 mm, SNR 30), cropped or padded to 96 x 96 x 60 voxels, with
1 b0 and 65 directions at b = 1000 s/mm^2; all three fit the same brain-mask voxels.
Run: .venv/bin/python benchmarks/tensor_fit.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from glymph.dti.gradients import world_to_fsl
from glymph.dti.tensor import TensorModel
from glymph.image_io import write_nifti
from glymph.masks import brain_mask_from_b0
from glymph.phantoms import alps_phantom
from glymph.volume import Volume

SHAPE = (96, 96, 60)


def benchmark_volume():
    phantom = alps_phantom(voxel_mm=2.0, n_directions=65, n_b0=1, snr=30.0, seed=0)
    data = phantom.dwi.data
    out = np.zeros((*SHAPE, data.shape[3]), np.float32)
    src, dst = [], []
    for n, m in zip(data.shape[:3], SHAPE, strict=True):
        start = max((n - m) // 2, 0)
        offset = max((m - n) // 2, 0)
        length = min(n, m)
        src.append(slice(start, start + length))
        dst.append(slice(offset, offset + length))
    out[tuple(dst)] = data[tuple(src)]
    return Volume(out, phantom.dwi.affine), phantom.dwi.bvals, phantom.dwi.bvecs


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    volume, bvals, bvecs = benchmark_volume()
    mask = brain_mask_from_b0(Volume(volume.data[..., 0], volume.affine)).data
    print(f"volume {volume.shape} x {bvals.size} volumes, {int(mask.sum()):,} brain voxels fitted")

    glymph_s = best_of(3, lambda: TensorModel(bvals, bvecs).fit(volume.data, mask))
    print(f"glymph WLS          {glymph_s:7.2f} s   (OLS start + 1 reweighting, the default)")
    glymph_2_s = best_of(3, lambda: TensorModel(bvals, bvecs, iterations=2).fit(volume.data, mask))
    print(f"glymph IWLS x2      {glymph_2_s:7.2f} s   (2 reweightings, as many as dwi2tensor's default)")

    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel as DipyTensorModel

    gtab = gradient_table(bvals, bvecs=bvecs, b0_threshold=50)
    dipy_s = best_of(1, lambda: DipyTensorModel(gtab, fit_method="WLS").fit(volume.data, mask=mask))
    print(f"dipy WLS            {dipy_s:7.2f} s   glymph is {dipy_s / glymph_s:.1f}x faster")

    if shutil.which("dwi2tensor") is None:
        print("MRtrix3 dwi2tensor  not installed (apt-get install mrtrix3)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_nifti(volume, folder / "dwi.nii")
        write_nifti(Volume(mask, volume.affine), folder / "mask.nii", np.uint8)
        np.savetxt(folder / "dwi.bval", bvals[None])
        np.savetxt(folder / "dwi.bvec", world_to_fsl(bvecs, volume.affine).T)
        command = [
            "dwi2tensor",
            "-quiet",
            "-force",
            "-nthreads",
            "2",
            "-mask",
            folder / "mask.nii",
            "-fslgrad",
            folder / "dwi.bvec",
            folder / "dwi.bval",
            folder / "dwi.nii",
            folder / "dt.nii",
        ]
        mrtrix_s = best_of(3, lambda: subprocess.run(command, check=True))

        def glymph_from_file() -> None:
            from glymph.dti.dwi import read_dwi

            dwi = read_dwi(folder / "dwi.nii", folder / "dwi.bval", folder / "dwi.bvec")
            TensorModel(dwi.bvals, dwi.bvecs).fit(dwi.data, mask)

        glymph_file_s = best_of(3, glymph_from_file)
    print(
        f"MRtrix3 dwi2tensor  {mrtrix_s:7.2f} s   (2 threads, file in and out) glymph fit is {mrtrix_s / glymph_s:.1f}x faster ({mrtrix_s / glymph_2_s:.1f}x with 2 reweightings)"
    )
    print(
        f"glymph incl. read   {glymph_file_s:7.2f} s   (same file, like dwi2tensor) ratio {mrtrix_s / glymph_file_s:.1f}x"
    )


if __name__ == "__main__":
    main()
