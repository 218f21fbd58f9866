"""Accuracy of the DTI-ALPS backend, printed for the README's claims.

1. The tensor fit against dipy's WLS (1 reweighting) and MRtrix3 `dwi2tensor -iter 5` on dipy's
   real `small_64D` crop: worst difference of the six components, over each voxel's MD, in the
   brain voxels with all samples positive (and, for dipy, positive-definite tensors).
2. Registration: ROI-centre error (mm) from the FA and from the b0, on posed phantoms.
3. The index on phantoms: exact without noise; a 15 degree nod in both frames; the scatter of single
   runs with Rician noise (SNR 30, 2 mm voxels).
Run: .venv/bin/python benchmarks/alps_accuracy.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from glymph.alps import run_alps
from glymph.alps.rois import builtin_roi_set
from glymph.dti import fit_dti
from glymph.dti.dwi import read_dwi
from glymph.dti.gradients import fsl_to_world, world_to_fsl
from glymph.dti.tensor import TensorModel, from_matrix
from glymph.phantoms import HeadPose, alps_phantom
from glymph.registration import register_to_mni

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Testing"))  # the reference implementations
from references import dwi2tensor


def fit_agreement() -> None:
    from dipy.core.gradients import gradient_table
    from dipy.data import get_fnames
    from dipy.reconst.dti import TensorModel as DipyTensorModel
    from dipy.segment.mask import median_otsu

    image, bval, bvec = get_fnames(name="small_64D")
    dwi = read_dwi(image, bval, bvec)
    _, mask = median_otsu(dwi.data[..., dwi.is_b0].mean(-1), median_radius=2, numpass=1)
    voxels = mask & (dwi.data > 0).all(-1)
    reference = DipyTensorModel(gradient_table(dwi.bvals, bvecs=dwi.bvecs, b0_threshold=50), fit_method="WLS").fit(
        dwi.data, mask=voxels
    )
    selected = voxels & (reference.evals > 1e-9).all(-1)
    ours = TensorModel(dwi.bvals, dwi.bvecs, iterations=1).fit(dwi.data, voxels).tensor[selected]
    print(
        f"fit vs dipy WLS ({selected.sum()} voxels): worst difference of the six components "
        f"{worst_of_md(ours, from_matrix(reference.quadratic_form[selected])):.1e} of the MD"
    )
    if shutil.which("dwi2tensor") is None:
        print("fit vs MRtrix3: dwi2tensor not installed")
        return
    mrtrix = dwi2tensor(image, bval, bvec, iterations=5)[voxels]
    ours = TensorModel(dwi.bvals, dwi.bvecs, iterations=5).fit(dwi.data, voxels).tensor[voxels]
    print(
        f"fit vs dwi2tensor -iter 5 ({voxels.sum()} voxels): worst difference of the six components "
        f"{worst_of_md(ours, mrtrix):.2%} of the MD"
    )
    # the same fit with FSL's x flip applied the wrong way round: what the comparison must catch
    flipped = fsl_to_world(world_to_fsl(dwi.bvecs, dwi.affine) * [-1.0, 1.0, 1.0], dwi.affine)
    wrong = TensorModel(dwi.bvals, flipped, iterations=5).fit(dwi.data, voxels).tensor[voxels]
    print(f"  with the b-vectors' x flipped: worst difference {worst_of_md(wrong, mrtrix):.0%} of the MD")


def worst_of_md(ours: np.ndarray, reference: np.ndarray) -> float:
    """Largest |difference| of (N, 6) tensors over each voxel's mean diffusivity (as the tests measure)."""
    md = np.abs(reference[:, [0, 3, 5]]).mean(axis=1, keepdims=True)
    return float(np.max(np.abs(ours - reference) / md))


def registration_error() -> None:
    centres = builtin_roi_set("chen2025").array()
    for seed, pose in enumerate(
        [HeadPose((12.0, -8.0, 6.0), (6.0, -9.0, 12.0), 0.93), HeadPose((-10.0, 5.0, -7.0), (-4.0, 8.0, -5.0), 1.06)]
    ):
        phantom = alps_phantom(pose=pose, voxel_mm=2.5, n_directions=20, snr=30.0, seed=seed)
        dti = fit_dti(phantom.dwi)
        truth = centres @ pose.matrix()[:3, :3].T + pose.matrix()[:3, 3]
        errors = {}
        for contrast, image in (("fa", dti.fa()), ("b0", phantom.dwi.mean_b0())):
            registration = register_to_mni(image, dti.mask, contrast)
            errors[contrast] = np.linalg.norm(registration.transform.to_subject(centres) - truth, axis=1)
        print(
            f"registration, pose {seed}: ROI centre error FA {errors['fa'].min():.2f}-{errors['fa'].max():.2f} mm, b0 {errors['b0'].min():.2f}-{errors['b0'].max():.2f} mm"
        )


def index_accuracy() -> None:
    clean = run_alps(alps_phantom(voxel_mm=2.5, n_directions=20, snr=np.inf).dwi, frame="anatomical")
    print(f"noise-free, upright: ALPS left {clean.image.alps_L:.5f} right {clean.image.alps_R:.5f} (truth 1.3, 1.6)")
    tilted = run_alps(
        alps_phantom(pose=HeadPose((15.0, 0.0, 0.0)), voxel_mm=2.5, n_directions=20, snr=np.inf).dwi, frame="anatomical"
    )
    print(
        f"noise-free, 15 degree nod: image frame {tilted.image.alps_L:.3f}/{tilted.image.alps_R:.3f}, anatomical frame {tilted.anatomical.alps_L:.3f}/{tilted.anatomical.alps_R:.3f}"
    )
    errors, voxels = [], []
    for seed in range(6):
        result = run_alps(
            alps_phantom(pose=HeadPose.random(np.random.default_rng(seed)), snr=30.0, seed=seed).dwi, frame="anatomical"
        )
        errors += [result.anatomical.alps_L / 1.3 - 1, result.anatomical.alps_R / 1.6 - 1]
        voxels += [m.n_voxels for m in result.anatomical.rois.values()]
    print(
        f"SNR 30, 2 mm, 6 random poses: relative error of single-hemisphere indices sd {np.std(errors):.1%}, range {min(errors):+.1%} to {max(errors):+.1%}; {min(voxels)}-{max(voxels)} voxels per ROI"
    )


if __name__ == "__main__":
    fit_agreement()
    registration_error()
    index_accuracy()
