"""Tensor fitting speed: glymph vs dipy WLS vs MRtrix3 dwi2tensor, on one volume, in one run;
and the two steps around the fit that glymph writes by hand: the eigen-decomposition of the fitted
tensors (closed form, against LAPACK through ``numpy.linalg.eigh`` as dipy calls it) and the b0
mask's 5x5x5 median filter (against ``scipy.ndimage.median_filter``), with the largest difference
of their values.

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


def eigen_and_median(fit, volume: Volume) -> None:
    """Print the two hand-written steps against their library peers, timed and compared."""
    from scipy.ndimage import median_filter

    from glymph.dti.eigen import symmetric_eig3
    from glymph.dti.tensor import to_matrix
    from glymph.masks import median_filter_cube
    from glymph.parallel import thread_map

    elements = fit.tensor[fit.mask].astype(np.float64).T
    matrices = to_matrix(elements.T)
    halves = np.array_split(np.arange(elements.shape[1]), 2)
    lapack_s = best_of(3, lambda: np.linalg.eigh(matrices))
    lapack_2_s = best_of(3, lambda: thread_map(lambda part: np.linalg.eigh(matrices[part]), halves))
    closed_s = best_of(3, lambda: symmetric_eig3(*elements))
    closed_2_s = best_of(3, lambda: thread_map(lambda part: symmetric_eig3(*elements[:, part]), halves))
    values, vectors = symmetric_eig3(*elements)
    reference, reference_vectors = np.linalg.eigh(matrices)
    value_error = np.abs(values - reference[:, ::-1]).max() / np.abs(reference).max()
    simple = reference[:, 2] - reference[:, 1] > 1e-3 * reference[:, 2]
    angle = np.degrees(
        np.arccos(np.clip(np.abs((vectors[simple, :, 0] * reference_vectors[simple, :, 2]).sum(1)), 0, 1))
    )
    print(
        f"eigen, {elements.shape[1]:,} tensors: closed form {closed_s:.3f} s, {closed_2_s:.3f} s on 2 threads; "
        f"numpy.linalg.eigh {lapack_s:.3f} s, {lapack_2_s:.3f} s on 2 threads ({lapack_2_s / closed_2_s:.1f}x); "
        f"largest differences: eigenvalues {value_error:.1e} of the largest, principal direction {angle.max():.1e} degrees"
    )
    b0 = np.ascontiguousarray(volume.data[..., 0])
    scipy_s = best_of(3, lambda: median_filter(b0, size=5))
    ours_s = best_of(3, lambda: median_filter_cube(b0, 5))
    same = np.array_equal(median_filter_cube(b0, 5), median_filter(b0, size=5))
    print(
        f"b0 median filter 5x5x5: glymph {ours_s:.3f} s (2 threads), scipy {scipy_s:.3f} s: {scipy_s / ours_s:.1f}x; "
        f"values {'identical' if same else 'DIFFERENT'}"
    )


def main() -> None:
    volume, bvals, bvecs = benchmark_volume()
    mask = brain_mask_from_b0(Volume(volume.data[..., 0], volume.affine)).data
    print(f"volume {volume.shape} x {bvals.size} volumes, {int(mask.sum()):,} brain voxels fitted")

    glymph_s = best_of(3, lambda: TensorModel(bvals, bvecs).fit(volume.data, mask))
    print(f"glymph WLS          {glymph_s:7.2f} s   (OLS start + 1 reweighting, the default)")
    eigen_and_median(TensorModel(bvals, bvecs).fit(volume.data, mask), volume)
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
