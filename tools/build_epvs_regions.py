"""Build the EPVS region atlas shipped in ``glymph/data/regions`` (maintainer tool).

Labels on a 1 mm MNI152 grid (182 x 218 x 182, voxel (0, 0, 0) at RAS (-91, -126, -72) mm):

1 basal ganglia: caudate, putamen and pallidum of the AAL atlas (labels 71-76), left and right;
2 centrum semiovale: white matter (ICBM 2009a WM probability >= 0.5) above the top of the lateral
  ventricle bodies (z > Z_TOP, found here from the template's CSF, see below);
3 midbrain: the brain (GM + WM probability >= 0.5) inside |x| <= 14, -36 <= y <= -10,
  -20 <= z <= -4 mm, a box around the mesencephalon between pons and thalami.

Z_TOP: the largest connected CSF region (brain voxels with GM + WM probability < 0.5) within
|x| < 20, -40 < y < 20, 0 < z < 40 mm is the lateral ventricles; its highest voxel is Z_TOP.

Sources: AAL (Tzourio-Mazoyer et al. 2002) from Debian's mricron-data (`aal.nii.gz`, BSD-3-clause
per the Debian package); ICBM 2009a nonlinear symmetric GM/WM maps from nilearn (licence in
``data/mni152/README.md``). Run: .venv/bin/python tools/build_epvs_regions.py
"""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from nilearn.datasets import load_mni152_gm_template, load_mni152_template, load_mni152_wm_template
from scipy import ndimage
from scipy.ndimage import map_coordinates

OUT = Path(__file__).resolve().parents[1] / "ALPSExtension" / "glymph" / "data" / "regions"
AAL = Path("/usr/share/mricron/templates/aal.nii.gz")
SHAPE = (182, 218, 182)
AFFINE = np.array([[1.0, 0, 0, -91], [0, 1.0, 0, -126], [0, 0, 1.0, -72], [0, 0, 0, 1]])
BASAL_GANGLIA_AAL = (71, 72, 73, 74, 75, 76)
MIDBRAIN_BOX = ((-14, 14), (-36, -10), (-20, -4))


def sample(img: nib.Nifti1Image, order: int) -> np.ndarray:
    grid = np.indices(SHAPE, dtype=np.float64).reshape(3, -1)
    to_source = np.linalg.inv(img.affine) @ AFFINE
    points = to_source[:3, :3] @ grid + to_source[:3, 3:]
    return map_coordinates(np.asarray(img.dataobj, dtype=np.float64), points, order=order, mode="constant").reshape(
        SHAPE
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    t1 = sample(load_mni152_template(resolution=1), 1)
    gm = sample(load_mni152_gm_template(resolution=1), 1)
    wm = sample(load_mni152_wm_template(resolution=1), 1)
    gm, wm = gm / gm.max(), wm / wm.max()
    aal = sample(nib.load(AAL), 0)
    xyz = (AFFINE[:3, :3] @ np.indices(SHAPE).reshape(3, -1) + AFFINE[:3, 3:]).T.reshape((*SHAPE, 3))
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    brain = t1 > 0.2 * t1.max()
    csf = brain & (gm + wm < 0.5)
    central = (np.abs(x) < 20) & (y > -40) & (y < 20) & (z > 0) & (z < 40)
    labels, _ = ndimage.label(csf & central)
    ventricles = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    z_top = float(z[ventricles].max())
    regions = np.zeros(SHAPE, dtype=np.uint8)
    regions[np.isin(aal, BASAL_GANGLIA_AAL)] = 1
    regions[brain & (wm >= 0.5) & (z > z_top) & (regions == 0)] = 2
    (x0, x1), (y0, y1), (z0, z1) = MIDBRAIN_BOX
    regions[
        brain
        & (gm + wm >= 0.5)
        & (x >= x0)
        & (x <= x1)
        & (y >= y0)
        & (y <= y1)
        & (z >= z0)
        & (z <= z1)
        & (regions == 0)
    ] = 3
    img = nib.Nifti1Image(regions, AFFINE)
    img.header.set_sform(AFFINE, code=4)
    img.header.set_qform(AFFINE, code=4)
    nib.save(img, OUT / "epvs_regions.nii.gz")
    volumes = {
        name: int((regions == value).sum())
        for value, name in ((1, "basal_ganglia"), (2, "centrum_semiovale"), (3, "midbrain"))
    }
    (OUT / "epvs_regions.json").write_text(
        json.dumps(
            {
                "labels": {"1": "basal_ganglia", "2": "centrum_semiovale", "3": "midbrain"},
                "ventricle_top_z_mm": z_top,
                "volumes_mm3": volumes,
            },
            indent=2,
        )
        + "\n"
    )
    print(z_top, volumes)


if __name__ == "__main__":
    main()
