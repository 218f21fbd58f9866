"""Build the MNI152 template files shipped in ``glymph/data/mni152`` (maintainer tool).

Source: the ICBM 2009a nonlinear symmetric MNI152 template (Fonov et al. 2009, 2011) as
distributed inside nilearn (``nilearn/datasets/data/mni_icbm152_*_tal_nlin_sym_09a_converted``,
1 mm, skull-stripped T1 and GM/WM probability maps scaled to 0-255). This script resamples them
to the standard FSL 2 mm MNI grid (91 x 109 x 91, origin -90, -126, -72) by 2x2x2 block
averaging after padding, and stores them as uint8. Run it with nilearn installed:

    .venv/bin/pip install nilearn && .venv/bin/python tools/build_mni152_template.py
"""

from pathlib import Path

import nibabel as nib
import numpy as np
from nilearn.datasets import load_mni152_gm_template, load_mni152_template, load_mni152_wm_template
from scipy.ndimage import map_coordinates

OUT = Path(__file__).resolve().parents[1] / "ALPSExtension" / "glymph" / "data" / "mni152"
SHAPE = (91, 109, 91)
AFFINE = np.array([[2.0, 0, 0, -90], [0, 2.0, 0, -126], [0, 0, 2.0, -72], [0, 0, 0, 1]])


def to_2mm(img: nib.Nifti1Image) -> np.ndarray:
    """Average each 1 mm image over the 2x2x2 block around each 2 mm voxel centre."""
    src = np.asarray(img.dataobj, dtype=np.float64)
    vox_to_src = np.linalg.inv(img.affine) @ AFFINE
    grid = np.indices(SHAPE, dtype=np.float64).reshape(3, -1)
    total = np.zeros(grid.shape[1])
    offsets = [-0.25, 0.25]  # in 2 mm voxel units: the centres of the 1 mm sub-voxels
    for dx in offsets:
        for dy in offsets:
            for dz in offsets:
                pts = grid + np.array([[dx], [dy], [dz]])
                src_pts = vox_to_src[:3, :3] @ pts + vox_to_src[:3, 3:]
                total += map_coordinates(src, src_pts, order=1, mode="constant")
    return (total / 8).reshape(SHAPE)


def save(array: np.ndarray, name: str) -> None:
    img = nib.Nifti1Image(np.clip(np.rint(array), 0, 255).astype(np.uint8), AFFINE)
    img.header.set_qform(AFFINE, code=4)  # MNI152
    img.header.set_sform(AFFINE, code=4)
    nib.save(img, OUT / name)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    t1 = to_2mm(load_mni152_template(resolution=1))
    gm = to_2mm(load_mni152_gm_template(resolution=1))
    wm = to_2mm(load_mni152_wm_template(resolution=1))
    # Scale the probability maps to 0-255 whatever nilearn returns (0-1 floats or 0-255).
    scale = 255.0 / max(gm.max(), wm.max())
    save(t1 * 255.0 / t1.max(), "t1.nii.gz")
    save(gm * scale, "gm.nii.gz")
    save(wm * scale, "wm.nii.gz")
    save((t1 > 0.2 * t1.max()) * 255.0, "brain_mask.nii.gz")


if __name__ == "__main__":
    main()
